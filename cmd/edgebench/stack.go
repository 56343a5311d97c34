package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/accesslog"
	"github.com/gatehouse-dev/gatehouse/internal/edge"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// reloadInterval is the edge's safety-net version check, as in production
// (gatehouse edge --reload-interval), so that propagation is measured
// through the change feed rather than the poll.
const reloadInterval = 2 * time.Second

// originBody is what the origin answers to every request.
var originBody = []byte(strings.Repeat("edgebench origin", 4)) // 64 bytes

// stack is everything under measurement, on loopback: a control-plane API
// and an edge over a fresh database, an origin, and a bare reverse proxy
// in front of the same origin.
type stack struct {
	store   *store.Store
	loader  *edge.Loader
	issuer  string
	cp      *controlPlane
	app     access.App
	token   access.ServiceToken
	session string // a CF_Authorization value for the app
	origin  *url.URL
	edgeURL string
	// logEdgeURL is a second edge, on the same loader, that also writes
	// an access log row per request through accessLog.
	logEdgeURL string
	accessLog  *accesslog.Logger
	bareURL    string
	cleanups   []func()
}

// close stops everything started, newest first, and drops the database.
func (s *stack) close() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}

func (s *stack) onClose(f func()) { s.cleanups = append(s.cleanups, f) }

// startStack creates and migrates a database in the cluster of adminURL,
// starts the servers, configures the benchmark app through the API and
// waits until the edge enforces it. On error it undoes what it did.
func startStack(ctx context.Context, adminURL string, log *slog.Logger) (_ *stack, err error) {
	s := &stack{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	dbURL, err := createDatabase(ctx, adminURL)
	if err != nil {
		return nil, err
	}
	s.onClose(func() { dropDatabase(adminURL, dbURL, log) })
	if err := store.MigrateUp(dbURL); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if s.store, err = store.Open(ctx, dbURL); err != nil {
		return nil, err
	}
	s.onClose(s.store.Close)

	originURL, err := s.serve(http.HandlerFunc(serveOrigin))
	if err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	if s.origin, err = url.Parse(originURL); err != nil {
		return nil, err
	}
	if err := s.startAPI(ctx, log); err != nil {
		return nil, err
	}
	if err := s.startEdge(ctx, log); err != nil {
		return nil, err
	}
	if s.bareURL, err = s.serve(newBareProxy(s.origin)); err != nil {
		return nil, fmt.Errorf("bare proxy: %w", err)
	}
	if err := s.configure(ctx); err != nil {
		return nil, err
	}
	if err := s.waitForEdge(ctx); err != nil {
		return nil, err
	}
	if s.session, err = s.mintSession("bench@example.test", 24*time.Hour); err != nil {
		return nil, err
	}
	return s, nil
}

func createDatabase(ctx context.Context, adminURL string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", fmt.Errorf("database url: %w", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "edgebench_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", u.Redacted(), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// dropDatabase drops the benchmark's database, even after the run was
// interrupted.
func dropDatabase(adminURL, dbURL string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := url.Parse(dbURL)
	if err != nil {
		return
	}
	name := strings.TrimPrefix(u.Path, "/")
	conn, err := pgx.Connect(ctx, adminURL)
	if err == nil {
		_, err = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
		_ = conn.Close(ctx)
	}
	if err != nil {
		log.Error("drop benchmark database", "database", name, "err", err)
	}
}

// serve serves h on a fresh loopback port until the stack closes and
// returns its URL.
func (s *stack) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	s.onClose(func() {
		_ = srv.Close()
		<-done
	})
	return "http://" + ln.Addr().String(), nil
}

func serveOrigin(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(originBody)
}

// startAPI starts the control-plane API with an account and a read-write
// token, as an operator bootstraps one.
func (s *stack) startAPI(ctx context.Context, log *slog.Logger) error {
	acct, err := s.store.CreateAccount(ctx, "edgebench")
	if err != nil {
		return err
	}
	_, token, err := s.store.CreateAPIToken(ctx, acct.ID, "edgebench", false)
	if err != nil {
		return err
	}
	base, err := s.serve(api.New(s.store, log).Handler())
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	s.cp, err = newControlPlane(base, acct.ID, token)
	return err
}

// startEdge starts an edge following the database, wired as
// `gatehouse edge` wires it (edge.Start, key rotation included), with a
// fresh master key. It serves twice: without an access log at edgeURL and
// with one at logEdgeURL, on the same state.
func (s *stack) startEdge(ctx context.Context, log *slog.Logger) error {
	masterKey, err := session.ParseMasterKey(session.GenerateMasterKey())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	logLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return fmt.Errorf("edge: %w", err)
	}
	s.edgeURL = "http://" + ln.Addr().String()
	s.logEdgeURL = "http://" + logLn.Addr().String()
	s.issuer = s.edgeURL
	s.accessLog = accesslog.New(s.store, accesslog.Config{Log: log})
	keys := session.NewKeyStore(s.store, masterKey)
	e, err := edge.Start(ctx, edge.Deps{Store: s.store, Keys: keys, MasterKey: masterKey, Log: log, AccessLog: s.accessLog},
		edge.StartConfig{Issuer: s.issuer, ReloadInterval: reloadInterval, KeyRotation: session.DefaultRotationInterval})
	if err != nil {
		ln.Close()
		logLn.Close()
		return fmt.Errorf("edge: first load: %w", err)
	}
	s.loader = e.Loader
	srv := &http.Server{Handler: e.NewServer(nil), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	logSrv := &http.Server{Handler: e.Server, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	wg.Go(func() { _ = logSrv.Serve(logLn) })
	s.onClose(func() {
		_ = srv.Close()
		_ = logSrv.Close()
		wg.Wait()
		e.Stop()
	})
	return nil
}

// newBareProxy is the baseline: the standard library's reverse proxy with
// the edge's own origin transport and pooled copy buffers, so that the
// comparison isolates Gatehouse's work.
func newBareProxy(origin *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(origin)
			pr.SetXForwarded()
		},
		Transport:  edge.NewTransport(),
		BufferPool: bufferPool{},
	}
}

// bufferPool lends 32 KiB copy buffers to a reverse proxy.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}

func (bufferPool) Get() []byte  { return *(buffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

// waitForEdge waits until the edge enforces every change committed so far.
func (s *stack) waitForEdge(ctx context.Context) error {
	want, err := s.store.ConfigVersion(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.loader.State().Snap.Version < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("edge still at config version %d after 10s, want %d", s.loader.State().Snap.Version, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// mintSession signs an app token for email, as the login flow does, with
// the edge's current keys.
func (s *stack) mintSession(email string, ttl time.Duration) (string, error) {
	st := s.loader.State()
	if st == nil {
		return "", errors.New("edge has no state")
	}
	now := time.Now()
	return st.Keys.Sign(session.Claims{
		Audience: []string{s.app.AUD}, Email: email, Subject: "user-" + email, Issuer: s.issuer,
		IssuedAt: now, NotBefore: now, Expiry: now.Add(ttl), Type: session.TypeApp, LoginMethod: "edgebench",
	})
}
