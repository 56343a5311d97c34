// Package api is Gatehouse's control-plane HTTP API: Cloudflare's Access
// API wire format (base path /client/v4, the success/errors/result
// envelope) over the store. Handlers decode, validate, call the store and
// encode; nothing here decides who gets through an edge.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-playground/validator/v10"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Server serves the control-plane API.
type Server struct {
	store    *store.Store
	log      *slog.Logger
	validate *validator.Validate
	observer Observer

	dbTimeout  time.Duration                 // bound on each request's database work
	sessionTTL time.Duration                 // dashboard sessions' lifetime
	signIns    *ratelimit.PerKey[netip.Addr] // failed dashboard sign-ins per address

	keys        *session.KeyStore // nil: signing keys are not rotated over the API
	keyRotation time.Duration     // the installation's rotation period

	routes func() http.Handler // Handler, built once, through which a batch runs its operations
}

// Observer is told of every API request once it is answered: its route
// pattern (never the raw path), method, status and duration.
type Observer interface {
	ObserveRequest(route, method string, status int, took time.Duration)
}

// Option configures a Server.
type Option func(*Server)

// WithObserver reports every request to o (metrics).
func WithObserver(o Observer) Option { return func(s *Server) { s.observer = o } }

// DefaultDBTimeout bounds the database work of one API request.
const DefaultDBTimeout = 5 * time.Second

// WithDBTimeout bounds the database work of each request (waiting for a
// pooled connection, and every statement) by d: past it the request is
// answered 503 with Retry-After (default DefaultDBTimeout).
func WithDBTimeout(d time.Duration) Option { return func(s *Server) { s.dbTimeout = d } }

// New returns a Server over st that logs to log.
func New(st *store.Store, log *slog.Logger, opts ...Option) *Server {
	s := &Server{store: st, log: log, validate: newValidator(), dbTimeout: DefaultDBTimeout, sessionTTL: DefaultDashboardSessionTTL, signIns: ratelimit.New[netip.Addr](signInEvery, signInBurst, maxSignInAddrs)}
	for _, o := range opts {
		o(s)
	}
	s.routes = sync.OnceValue(s.Handler)
	return s
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	tokenKey
	viaDashboardKey // the request authenticated with a dashboard session cookie
	logTokenKey     // *string: where authentication leaves the token id for the request's log line
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// caller returns the API token that authenticated the request.
func caller(ctx context.Context) access.APIToken {
	t, _ := ctx.Value(tokenKey).(access.APIToken)
	return t
}

// actor describes the caller for the audit log, naming the dashboard when
// the token acted through a dashboard session.
func actor(r *http.Request) access.Actor {
	t := caller(r.Context())
	name := "token " + t.Name
	if via, _ := r.Context().Value(viaDashboardKey).(bool); via {
		name += " (dashboard)"
	}
	return access.Actor{TokenID: t.ID, Name: name, RequestID: requestID(r.Context())}
}

// accountID is the account the request is about (already checked against
// the caller's token).
func accountID(r *http.Request) string { return chi.URLParam(r, "account_id") }

// withRequestID gives every request an id (our "ray id"), returned in the
// CF-Ray and X-Request-Id headers and named in every log line.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requestID(r.Context()) != "" { // an operation of a batch: the batch's id
			next.ServeHTTP(w, r)
			return
		}
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set("X-Request-Id", id)
		w.Header().Set("CF-Ray", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// logRequests writes one structured line per request.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		// Authentication runs inside this handler and sets the caller on
		// its own request; it leaves the token id here for the log line.
		var tokenID string
		r = r.WithContext(context.WithValue(r.Context(), logTokenKey, &tokenID))
		next.ServeHTTP(rec, r)
		route := chi.RouteContext(r.Context()).RoutePattern()
		took := time.Since(start)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "api request",
			slog.String("request_id", requestID(r.Context())),
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", rec.status),
			slog.Duration("duration", took),
			slog.String("token_id", tokenID))
		if s.observer != nil {
			s.observer.ObserveRequest(route, r.Method, rec.status, took)
		}
	})
}

// authenticate requires a bearer API token for the account in the path,
// or, when there is no Authorization header, a dashboard session cookie
// with its CSRF header; the session acts as its API token. A token for
// another account gets 404, as if the account did not exist; a read-only
// token may only read.
func (s *Server) authenticate(next http.Handler) http.Handler { return s.authenticateFor(true, next) }

// authenticateToken is authenticate for the routes not under an account
// (/accounts, /user/tokens/verify): any valid token passes, for its own
// account.
func (s *Server) authenticateToken(next http.Handler) http.Handler {
	return s.authenticateFor(false, next)
}

func (s *Server) authenticateFor(accountRoute bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var tok access.APIToken
		if batchCaller, ok := ctx.Value(batchCallerKey).(access.APIToken); ok {
			tok = batchCaller // an operation of a batch, which authenticated its caller
		} else if _, err := r.Cookie(DashboardSessionCookie); err == nil && len(r.Header.Values("Authorization")) == 0 {
			d, err := s.dashboardSession(w, r)
			if err == nil {
				err = checkCSRF(r, d)
			}
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			tok = d.Token
			ctx = context.WithValue(ctx, viaDashboardKey, true)
		} else {
			value, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			value = strings.TrimSpace(value)
			if !ok || value == "" {
				writeError(w, r, s.log, access.Errorf(access.EUnauthorized, "missing API token: send Authorization: Bearer <token>"))
				return
			}
			var err error
			if tok, err = s.store.AuthenticateAPIToken(ctx, value); err != nil {
				writeError(w, r, s.log, err)
				return
			}
		}
		if p, ok := ctx.Value(logTokenKey).(*string); ok {
			*p = tok.ID // also when the token is refused below: who tried
		}
		if accountRoute && tok.AccountID != chi.URLParam(r, "account_id") {
			writeError(w, r, s.log, access.Errorf(access.ENotFound, "account not found"))
			return
		}
		if tok.ReadOnly && !readsOnly(r) {
			writeError(w, r, s.log, access.Errorf(access.EForbidden, "this API token is read-only"))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, tokenKey, tok)))
	})
}

// boundDB gives each request a deadline for its database work, so that
// a hung database answers 503 in bounded time instead of holding the
// request for as long as the database hangs.
func (s *Server) boundDB(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.dbTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// recoverPanics turns a panic in a handler into a logged internal error
// with the usual JSON envelope, instead of a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeError(w, r, s.log, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// readsOnly reports whether a request changes nothing: reads, and the
// policy tester, which is a POST only because it takes a body.
func readsOnly(r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/gatehouse/policy_test")
}

// handle adapts a handler that returns an error.
func (s *Server) handle(fn func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	}
}
