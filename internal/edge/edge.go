// Package edge is Gatehouse's enforcement server: the I/O around the
// policy engine. It matches each request to an app, handles CORS
// preflights, authenticates service tokens and session cookies, asks the
// engine for a decision and reverse-proxies allowed requests to the origin
// with a signed assertion.
package edge

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"

	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/authdomain"
	"github.com/gatehouse-dev/gatehouse/internal/forwarded"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/pages"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

// Config configures the edge.
type Config struct {
	// Issuer is the "iss" of every token: the auth domain's URL, e.g.
	// https://auth.example.com.
	Issuer string
	// CountryHeader names a request header, set by a trusted proxy in
	// front of the edge, that carries the client's ISO country code. Empty:
	// the country is unknown (geo include rules never match, geo exclude
	// rules always do). With Proxies declared, it is read only from them.
	CountryHeader string
	// Secure marks cookies Secure; set when serving HTTPS.
	Secure bool
	// Transport reaches origins; nil for a pooled default.
	Transport http.RoundTripper
	// MasterKey seals login state cookies.
	MasterKey []byte
	// Mailer sends one-time PINs; nil writes them to the log.
	Mailer authdomain.Mailer
	// Observers see a Record of every request (access log, metrics).
	Observers []Observer
	// Now is the clock; nil for time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Proxies are the trusted proxies in front of the edge, whose
	// forwarding headers give a request's client address, scheme and
	// host; nil trusts none. From other peers the headers are removed.
	Proxies *forwarded.Proxies
}

// Server handles edge traffic.
type Server struct {
	cfg      Config
	loader   *Loader
	proxies  sync.Map // origin URL string -> *httputil.ReverseProxy
	sessions verifyCache
	minted   sync.Map // mintKey -> *mintedToken
	certs    certCache
	lastSeen *LastSeen
	auth     *authdomain.Handler
	now      func() time.Time
}

// New returns an edge server enforcing what loader holds.
func New(cfg Config, loader *Loader, lastSeen *LastSeen) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Transport == nil {
		cfg.Transport = NewTransport()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, loader: loader, lastSeen: lastSeen, now: cfg.Now}
	s.auth = authdomain.New(authdomain.Config{Issuer: cfg.Issuer, Secure: cfg.Secure, MasterKey: cfg.MasterKey, Mailer: cfg.Mailer, Log: cfg.Log, Now: s.now},
		loader.store, authEdge{s})
	s.sessions.init(100_000)
	s.certs.init()
	return s
}

// NewTransport returns the origin transport: a large idle pool per
// origin, so that keep-alive connections are reused under load.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
}

type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}

func (bufferPool) Get() []byte  { return *(buffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

// target is where and how an allowed request goes upstream.
type target struct {
	origin     *url.URL
	assertion  string
	email      string
	tokenField string // the app's read_service_tokens_from_header, stripped
	// relayID and relaySecret are the service token a relay app presents
	// to its origin instead of the user's identity.
	relayID, relaySecret string
	// clientBody is the inbound request's body, to tell its read errors
	// from the origin's.
	clientBody io.Reader
	// host is the Host the origin is sent ("": the origin's address).
	host string
	// certFingerprint is the verified client certificate's SHA-256, or "".
	certFingerprint string
}

// proxyKey identifies a reverse proxy: its origin, and whether it relays.
type proxyKey struct {
	origin string
	relay  bool
}

// targetKey carries a request's *target to its proxy's Rewrite.
type targetKey struct{}

// proxyFor returns the reverse proxy for an origin, made once: the
// origin is fixed per proxy, and what differs per request (the identity
// it carries) comes in the request's context. A relay's proxy drops the
// upstream gateway's session cookie from responses: set on this host, it
// would replace the user's own session.
func (s *Server) proxyFor(origin *url.URL, relay bool) *httputil.ReverseProxy {
	key := proxyKey{origin.String(), relay}
	if p, ok := s.proxies.Load(key); ok {
		return p.(*httputil.ReverseProxy)
	}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(origin)
			pr.SetXForwarded()
			// The scheme the client used, which a trusted proxy may have
			// reported (SetXForwarded knows only this connection's).
			pr.Out.Header["X-Forwarded-Proto"] = []string{wire.Scheme(pr.In)}
			if t, ok := pr.In.Context().Value(targetKey{}).(*target); ok && t.host != "" {
				pr.Out.Host = t.host
			}
			// The client's hop-by-hop headers (those its Connection
			// header names) are gone from pr.Out by now: what the edge
			// sets here cannot be removed by a client naming it.
			if t, ok := pr.In.Context().Value(targetKey{}).(*target); ok {
				t.apply(pr.Out.Header, relay)
			}
		},
		Transport:    s.cfg.Transport,
		BufferPool:   bufferPool{},
		ErrorHandler: s.proxyError,
	}
	if relay {
		p.ModifyResponse = func(resp *http.Response) error {
			dropSessionSetCookie(resp.Header)
			return nil
		}
	}
	actual, _ := s.proxies.LoadOrStore(key, p)
	return actual.(*httputil.ReverseProxy)
}

// proxyError answers a failed forward. A client that failed to send its
// body (too slow, or a malformed chunk) is told so, and the connection is
// closed (its remaining bytes cannot be framed); only an origin that
// failed is a 502.
func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	// r is the outbound request; the client's body is the target's.
	var bodyErr error
	if t, ok := r.Context().Value(targetKey{}).(*target); ok {
		bodyErr = httpserver.BodyError(t.clientBody)
	}
	if bodyErr != nil {
		w.Header().Set("Connection", "close")
		if httpserver.IsTimeout(bodyErr) {
			wire.WriteJSON(w, http.StatusRequestTimeout, wire.ErrorBody{Error: "request_timeout", Message: "the request body did not arrive in time"})
			return
		}
		wire.WriteJSON(w, http.StatusBadRequest, wire.ErrorBody{Error: "bad_request_body", Message: "the request body is malformed"})
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	s.cfg.Log.Warn("origin unreachable", "host", r.Host, "err", err)
	wire.WriteJSON(w, http.StatusBadGateway, wire.ErrorBody{Error: "origin_unreachable", Message: "the application's origin did not answer"})
}

// ServesHost reports whether the edge answers for host (any case, with or
// without a port): the auth domain's host, or an app's host in the
// config in force; with wildcards also a host a "*." app domain covers.
// Certificates are issued only for what it reports without wildcards.
func (s *Server) ServesHost(host string, wildcards bool) bool {
	host = wire.CanonicalHost(host)
	if host == "" {
		return false
	}
	if host == s.auth.Host() {
		return true
	}
	st := s.loader.State()
	return st != nil && st.Snap.ServesHost(host, wildcards)
}

// ServeHTTP handles one edge request and reports it to the observers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.CountryHeader != "" && s.cfg.Proxies.Any() && !s.cfg.Proxies.Trusts(wire.ClientIP(r)) {
		// With proxies declared, the country is theirs to say.
		r.Header.Del(s.cfg.CountryHeader)
	}
	r = s.cfg.Proxies.Apply(r)
	if len(s.cfg.Observers) == 0 {
		s.serve(w, r, nil)
		return
	}
	rec := records.Get().(*Record)
	*rec = Record{Time: s.now(), RayID: newRayID(), Method: r.Method, Path: loggedPath(r.RequestURI)}
	w.Header()["Cf-Ray"] = []string{rec.RayID}
	s.serve(w, r, rec)
	if rec.Action != "" {
		for _, o := range s.cfg.Observers {
			o.Observe(rec)
		}
	}
	records.Put(rec)
}

// serve handles one request, filling in rec (when not nil) as it goes.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, rec *Record) {
	st := s.loader.State()
	if st == nil || st.Keys == nil { // Keys: a saved state without keys, until the database answers
		wire.WriteJSON(w, http.StatusServiceUnavailable, wire.ErrorBody{Error: "not_ready", Message: "the edge has not loaded its configuration yet"})
		return
	}
	if r.URL.Path == wire.CertsPath {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(st.Keys.CertsJSON())
		return
	}
	host := wire.CanonicalHost(r.Host)
	if !canonicalPath(r) {
		s.refusePath(w, r, rec, host, policy.ReasonBadPath)
		return
	}
	if host == s.auth.Host() {
		s.auth.ServeAuthHost(w, r, st.Snap, st.Keys)
		return
	}
	app, reason := st.Snap.Route(host, r.URL.RawPath)
	if strings.HasPrefix(r.URL.Path, wire.AccessPrefix) {
		// The sign-in endpoints: the authorized hop finds its app from its
		// redirect_url, so it works for apps on a path too.
		if handled, login := s.auth.ServeApp(w, r, st.Snap, st.Keys, app); handled {
			if login != nil && rec != nil {
				rec.AccountID, rec.AppID, rec.AppDomain = login.App.AccountID, login.App.ID, login.App.Domain
				rec.IP, rec.Country = wire.ClientIP(r), s.country(r)
				rec.Action, rec.Allowed, rec.Reason = ActionLogin, login.Allowed, login.Reason
				rec.Email, rec.Connection, rec.Purpose = login.Email, login.LoginMethod, login.Purpose
			}
			return
		}
	}
	if app == nil {
		s.refusePath(w, r, rec, host, reason)
		return
	}
	facts := policy.Facts{IP: wire.ClientIP(r), Country: s.country(r)}
	if rec != nil {
		rec.AccountID, rec.AppID, rec.AppDomain = app.AccountID, app.ID, app.Domain
		rec.IP, rec.Country = facts.IP, facts.Country
	}
	if policy.IsPreflight(r) {
		s.preflight(w, r, app, rec)
		return
	}
	now := s.now()
	facts.ClientCert = s.clientCert(r, st.Snap, app, host, now)
	var assertion string
	var sessionFailure policy.Reason
	if id, secret, present := serviceTokenHeaders(r, app); present {
		tok, reason := st.Snap.AuthenticateServiceToken(app, id, secret, now)
		if rec != nil {
			rec.Connection = "service_token"
		}
		if tok == nil {
			if rec != nil {
				rec.Action, rec.Reason = ActionDeny, reason
			}
			if app.CustomNonIdentityDenyURL != "" {
				redirectTo(w, app.CustomNonIdentityDenyURL)
				return
			}
			s.refuse(w, r, app, http.StatusUnauthorized, reason)
			return
		}
		facts.Token = tok
		s.tokenUsed(rec, tok, now)
	} else if raw := wire.SessionToken(r); raw != "" {
		claims, reason := s.verifySession(st.Snap, st.Keys, app, raw, now)
		if reason == "" && !bound(r, app, claims) {
			reason = policy.ReasonBindingCookieMismatch
		}
		switch {
		case reason != "":
			sessionFailure = reason
		case claims.CommonName != "":
			// The cookie set after a service-token request stands in for
			// the token's headers, for as long as its secret would.
			tok, reason := st.Snap.ServiceTokenSession(app, claims.CommonName, claims.ServiceTokenBinding, now)
			if rec != nil {
				rec.Connection = "service_token"
			}
			if tok == nil {
				sessionFailure = reason
				break
			}
			facts.Token, assertion = tok, raw
			s.tokenUsed(rec, tok, now)
		default:
			facts.Identity = &policy.Identity{Email: claims.Email, LoginMethod: claims.LoginMethod, Purpose: claims.Purpose, Claims: claims.Custom}
			assertion = raw
			if rec != nil {
				rec.Email, rec.Connection, rec.Purpose = claims.Email, claims.LoginMethod, claims.Purpose
			}
		}
	}
	d := st.Snap.Decide(app, facts)
	if rec != nil {
		rec.Reason, rec.NonIdentity, rec.Allowed = d.Reason, d.NonIdentity, d.Action == policy.Allow
		rec.Action = ActionDeny
		if rec.Allowed {
			rec.Action = ActionAllow
			if app.UpstreamClientID != "" {
				rec.Action = ActionRelay
			}
		}
		if d.Action == policy.Login && sessionFailure != "" {
			rec.Reason = sessionFailure
		}
		if facts.ClientCert != nil && rec.Connection == "" {
			rec.Connection = "mtls"
		}
		rec.Decision = time.Since(rec.Time)
	}
	switch d.Action {
	case policy.Allow:
		t := &target{origin: app.Origin, tokenField: app.ReadServiceTokensFromHeader}
		if facts.ClientCert != nil {
			t.certFingerprint = facts.ClientCert.Fingerprint
		}
		switch {
		case d.Reason == policy.ReasonBypassPolicy:
			// Bypass: no identity, and no token to the origin.
		case facts.Token != nil && assertion != "":
			// Came with the cookie minted for it: forward that.
			t.assertion = assertion
		case facts.Token != nil:
			m, err := s.mintForToken(r, st, app, facts.Token, now)
			if err != nil {
				s.cfg.Log.Error("sign service token assertion", "err", err)
				wire.WriteJSON(w, http.StatusInternalServerError, wire.ErrorBody{Error: "internal", Message: "could not sign the assertion"})
				return
			}
			t.assertion = m.jwt
			w.Header()["Set-Cookie"] = []string{m.cookie}
		case facts.Identity == nil && facts.ClientCert != nil:
			// Let in by a Service Auth policy on its client certificate.
			jwt, err := s.mintForCert(st, app, facts.ClientCert, now)
			if err != nil {
				s.cfg.Log.Error("sign client certificate assertion", "err", err)
				wire.WriteJSON(w, http.StatusInternalServerError, wire.ErrorBody{Error: "internal", Message: "could not sign the assertion"})
				return
			}
			t.assertion = jwt
		case facts.Identity == nil:
			// A Service Auth policy on other facts (ip, geo, everyone):
			// nobody to name.
		default:
			t.assertion = assertion
			t.email = facts.Identity.Email
		}
		if app.UpstreamClientID != "" {
			// Relay: the origin is another Access app, and it is shown
			// this app's service token, not the user's identity.
			t.assertion, t.email = "", ""
			t.relayID, t.relaySecret = app.UpstreamClientID, app.UpstreamClientSecret
		}
		s.forward(w, r, app, t, rec)
	case policy.Login:
		reason := d.Reason
		if sessionFailure != "" {
			reason = sessionFailure
		}
		s.login(w, r, app, reason)
	default:
		email := ""
		if facts.Identity != nil {
			email = facts.Identity.Email
		}
		s.deny(w, r, app, d, email, s.auth.SwitchAccountURL(r))
	}
}

// tokenUsed records that a service token authenticated a request, by its
// headers or by the cookie minted for it.
func (s *Server) tokenUsed(rec *Record, tok *policy.Token, now time.Time) {
	s.lastSeen.touch(tok.ID, now)
	if rec != nil {
		rec.TokenID, rec.TokenName = tok.ID, tok.Name
	}
}

func (s *Server) preflight(w http.ResponseWriter, r *http.Request, app *policy.App, rec *Record) {
	origin, method, headers := r.Header.Get("Origin"), r.Header.Get("Access-Control-Request-Method"), r.Header.Get("Access-Control-Request-Headers")
	pf := app.Preflight(origin, method, headers)
	if rec != nil {
		rec.Origin, rec.RequestMethod, rec.RequestHeaders, rec.Reason = origin, method, headers, pf.Reason
		rec.NonIdentity = true
		switch pf.Outcome {
		case policy.PreflightForward:
			rec.Action, rec.Allowed = ActionPreflightBypassed, true
		case policy.PreflightAnswer:
			rec.Action, rec.Allowed = ActionPreflightAnswered, pf.Reason == policy.ReasonPreflightAnswered
		default:
			rec.Action = ActionPreflightRefused
		}
		rec.Decision = time.Since(rec.Time)
	}
	switch pf.Outcome {
	case policy.PreflightForward:
		s.forward(w, r, app, &target{origin: app.Origin, tokenField: app.ReadServiceTokensFromHeader}, rec)
	case policy.PreflightAnswer:
		h := w.Header()
		for k, v := range pf.Headers {
			h[k] = v
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		wire.WriteJSON(w, http.StatusForbidden, wire.ErrorBody{Error: string(pf.Reason), Message: pf.Reason.Describe()})
	}
}

func (s *Server) forward(w http.ResponseWriter, r *http.Request, app *policy.App, t *target, rec *Record) {
	if t.origin == nil {
		wire.WriteJSON(w, http.StatusBadGateway, wire.ErrorBody{Error: "no_origin", Message: "the application has no origin configured"})
		return
	}
	// The outbound request copies the client's headers: strip every
	// credential and everything only the edge may say here; the proxy's
	// Rewrite then says it (target.apply).
	h := r.Header
	stripClientIdentity(h, t.tokenField)
	stripSessionCookie(h)
	relay := app.UpstreamClientID != ""
	if relay {
		// The user's cookies belong to this host, not to the upstream's.
		delete(h, "Cookie")
	}
	t.clientBody = r.Body
	t.host = hostHeader(r, app)
	r = r.WithContext(context.WithValue(r.Context(), targetKey{}, t))
	if rec == nil {
		s.proxyFor(t.origin, relay).ServeHTTP(w, r)
		return
	}
	uw := &upstreamWriter{ResponseWriter: w}
	start := time.Now()
	s.proxyFor(t.origin, relay).ServeHTTP(uw, r)
	rec.UpstreamStatus, rec.UpstreamLatency = uw.status, time.Since(start)
	if httpserver.BodyError(t.clientBody) != nil && uw.status >= 400 {
		rec.UpstreamStatus = 0 // the edge refused the client's body; the origin did not answer
	}
}

// apply sets the headers the edge tells the origin: the assertion and
// email of an allowed identity, or a relay's service token.
func (t *target) apply(h http.Header, relay bool) {
	if t.assertion != "" {
		h[wire.HeaderAssertion] = []string{t.assertion}
	}
	if t.email != "" {
		h[wire.HeaderAuthenticatedAs] = []string{t.email}
	}
	if t.certFingerprint != "" && !relay {
		h[wire.HeaderClientCertSHA256] = []string{t.certFingerprint}
	}
	if relay && t.relayID != "" {
		h[wire.HeaderClientID] = []string{t.relayID}
		h[wire.HeaderClientSecret] = []string{t.relaySecret}
	}
}

// dropSessionSetCookie removes Set-Cookie lines for CF_Authorization.
func dropSessionSetCookie(h http.Header) {
	lines := h["Set-Cookie"]
	kept := lines[:0]
	for _, line := range lines {
		if !strings.HasPrefix(strings.TrimSpace(line), wire.CookieName+"=") {
			kept = append(kept, line)
		}
	}
	if len(kept) == 0 {
		delete(h, "Set-Cookie")
		return
	}
	h["Set-Cookie"] = kept
}

// refuse answers a failed service-token authentication: always a status
// a script can read, never a login redirect.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, app *policy.App, status int, reason policy.Reason) {
	copyHeaders(w.Header(), app.ResponseCORS(r.Header.Get("Origin")))
	wire.WriteJSON(w, status, wire.ErrorBody{Error: string(reason), Message: reason.Describe()})
}

// login answers a request without valid credentials. A browser
// navigation is redirected to the login page, unless the app answers 401
// (service_auth_401_redirect, for apps machines call); anything else (a
// fetch with an Origin header, an API client) gets a 401 it can read,
// with CORS headers when the app allows the page's origin, naming the
// login URL.
func (s *Server) login(w http.ResponseWriter, r *http.Request, app *policy.App, reason policy.Reason) {
	loginURL := s.auth.LoginURL(r)
	if isNavigation(r) && !app.ServiceAuth401Redirect {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, loginURL, http.StatusFound)
		return
	}
	copyHeaders(w.Header(), app.ResponseCORS(r.Header.Get("Origin")))
	wire.WriteJSON(w, http.StatusUnauthorized, wire.ErrorBody{Error: string(reason), Message: reason.Describe(), LoginURL: loginURL})
}

// deny answers a request the policies refuse. A service token that no
// Service Auth policy accepts is a non-identity denial: it goes to the
// app's custom_non_identity_deny_url when there is one, and is otherwise
// answered in JSON like every script. Identity denials of a browser
// navigation go to custom_deny_url, or get the block page: why, in words,
// who is signed in (email, "" when nobody), and a link to sign in with
// another account (switchURL, the auth domain's login for the same app
// and address).
func (s *Server) deny(w http.ResponseWriter, r *http.Request, app *policy.App, d policy.Decision, email, switchURL string) {
	if d.Reason == policy.ReasonServiceTokenNoPolicy && app.CustomNonIdentityDenyURL != "" {
		redirectTo(w, app.CustomNonIdentityDenyURL)
		return
	}
	msg := d.Reason.Describe()
	if app.CustomDenyMessage != "" {
		msg = app.CustomDenyMessage
	}
	if isNavigation(r) && d.Reason != policy.ReasonServiceTokenNoPolicy {
		if app.CustomDenyURL != "" {
			redirectTo(w, app.CustomDenyURL)
			return
		}
		p := pages.Page{Title: "You cannot open " + app.Name, Lead: pages.BlockSentence(d.Reason), Email: email, Code: string(d.Reason)}
		if app.CustomDenyMessage != "" {
			p.Lead = app.CustomDenyMessage
		}
		if st := s.loader.State(); st != nil {
			p.Design = pages.DesignOf(st.Snap.Organization(app.AccountID))
		}
		if switchURL != "" {
			text := "Sign in with another account"
			if email == "" {
				text = "Sign in"
			}
			p.Actions = []pages.Link{{ID: "switch-account", Text: text, URL: switchURL}}
		}
		pages.Render(w, http.StatusForbidden, p)
		return
	}
	copyHeaders(w.Header(), app.ResponseCORS(r.Header.Get("Origin")))
	wire.WriteJSON(w, http.StatusForbidden, wire.ErrorBody{Error: string(d.Reason), Message: msg})
}

// redirectTo answers 302 with exactly u as the Location: u is a deny URL
// the API accepted only in its canonical, absolute http(s) form
// (access.ValidRedirectURL), so nothing here may rewrite it.
func redirectTo(w http.ResponseWriter, u string) {
	h := w.Header()
	h.Set("Location", u)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

func copyHeaders(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

// isNavigation reports whether r is a browser loading a page (where a
// redirect to login helps) rather than a script (where it only causes a
// CORS error).
func isNavigation(r *http.Request) bool {
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return r.Header.Get("Origin") == "" && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// canonicalPath rewrites the request's path to its canonical form
// (access.CanonicalPath), the form matched and forwarded, keeping it in
// RawPath (always set) and decoded in Path. It reports false for a path the
// edge refuses.
func canonicalPath(r *http.Request) bool {
	escaped := r.URL.EscapedPath()
	p, err := access.CanonicalPath(escaped)
	if err != nil {
		return false
	}
	if p != escaped {
		// Only a rewritten path needs decoding again; an unchanged one
		// (nearly every request) already has it in Path.
		decoded, err := url.PathUnescape(p)
		if err != nil {
			return false
		}
		r.URL.Path = decoded
	}
	r.URL.RawPath = p
	return true
}

// refusePath answers a request that no app takes: 404 when no app
// protects the path, 400 when the path is refused (bad or ambiguous),
// 503 when the host is closed for an invalid stored domain.
func (s *Server) refusePath(w http.ResponseWriter, r *http.Request, rec *Record, host string, reason policy.Reason) {
	status, action := http.StatusBadRequest, ActionDeny
	switch reason {
	case policy.ReasonAppNotFound:
		status, action = http.StatusNotFound, ActionNotFound
	case policy.ReasonDomainInvalid:
		status = http.StatusServiceUnavailable
	}
	if rec != nil {
		rec.Action, rec.Reason, rec.AppDomain = action, reason, host
		rec.IP = wire.ClientIP(r)
	}
	if pages.WantsHTML(r) {
		p := pages.Page{Title: "Page not available", Lead: pages.BlockSentence(reason), Code: string(reason)}
		switch reason {
		case policy.ReasonAppNotFound:
			p.Title, p.Lead = "Nothing is published here", "Gatehouse does not serve this address ("+host+"). Check the link, or ask whoever sent it."
		case policy.ReasonBadPath, policy.ReasonAmbiguousPath:
			p.Title, p.Lead = "This address is not accepted", "The address has characters Gatehouse refuses in a path. Check the link."
		case policy.ReasonDomainInvalid:
			p.Title, p.Lead = "This site is closed", "This site is closed until its administrator fixes its configuration."
		}
		pages.Render(w, status, p)
		return
	}
	wire.WriteJSON(w, status, wire.ErrorBody{Error: string(reason), Message: reason.Describe()})
}

func (s *Server) country(r *http.Request) string {
	if s.cfg.CountryHeader == "" {
		return ""
	}
	c := strings.ToUpper(strings.TrimSpace(r.Header.Get(s.cfg.CountryHeader)))
	// XX is Cloudflare's "unknown"; anything else malformed is unknown too.
	if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' || c == "XX" {
		return ""
	}
	return c
}

// serviceTokenHeaders returns the presented client id and secret: the two
// CF-Access-Client-* headers, or the one JSON header the app names.
func serviceTokenHeaders(r *http.Request, app *policy.App) (id, secret string, present bool) {
	id, secret = r.Header.Get(wire.HeaderClientID), r.Header.Get(wire.HeaderClientSecret)
	if id != "" || secret != "" {
		return id, secret, true
	}
	if app.ReadServiceTokensFromHeader == "" {
		return "", "", false
	}
	raw := r.Header.Get(app.ReadServiceTokensFromHeader)
	if raw == "" {
		return "", "", false
	}
	var v struct {
		ID     string `json:"cf-access-client-id"`
		Secret string `json:"cf-access-client-secret"`
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return "", "", true
	}
	return v.ID, v.Secret, true
}

// bound reports whether a verified session may be used with this
// request's cookies: a token bound to a CF_Binding cookie needs that
// cookie, and an app with the binding cookie on takes only bound tokens.
// A stolen CF_Authorization is then useless without its CF_Binding,
// which the origin never sees.
func bound(r *http.Request, app *policy.App, c session.Claims) bool {
	return session.Bound(wire.CookieValue(r, wire.BindingCookieName), c.Binding, app.BindingCookie)
}

// verifyCache remembers verified session tokens by hash, so that a token
// is checked cryptographically once per key set rather than per request.
type verifyCache struct {
	max     int64
	entries atomic.Pointer[sync.Map] // signature segment -> *verified
	size    atomic.Int64
}

type verified struct {
	token      string
	claims     session.Claims
	generation string
}

func (c *verifyCache) init(max int64) {
	c.max = max
	c.entries.Store(&sync.Map{})
}

// cacheKey is a token's signature segment: unique per signed content, and
// cheaper to hash than the whole token. A hit still compares the whole
// token, so a valid signature with another payload never matches.
func cacheKey(token string) string {
	if i := strings.LastIndexByte(token, '.'); i >= 0 {
		return token[i+1:]
	}
	return token
}

func (c *verifyCache) get(token, generation string) *verified {
	if v, ok := c.entries.Load().Load(cacheKey(token)); ok {
		if e := v.(*verified); e.generation == generation && e.token == token {
			return e
		}
	}
	return nil
}

func (c *verifyCache) put(v *verified) {
	key := cacheKey(v.token)
	if c.size.Add(1) > c.max {
		// Full: start over rather than track recency on the hot path.
		c.entries.Store(&sync.Map{})
		c.size.Store(1)
	}
	c.entries.Load().Store(key, v)
}

// verifySession checks a session token for app: signature, issuer, expiry
// and audience. Verified tokens are cached by hash per key set; expiry and
// audience are re-checked on every use.
func (s *Server) verifySession(snap *policy.Snapshot, keys *session.Keyring, app *policy.App, raw string, now time.Time) (session.Claims, policy.Reason) {
	gen := keys.Generation()
	if e := s.sessions.get(raw, gen); e != nil {
		if !now.Before(e.claims.Expiry) {
			return session.Claims{}, policy.ReasonSessionExpired
		}
		if snap.SessionRevoked(app, e.claims.SessionID, e.claims.Email, e.claims.IssuedAt) {
			return session.Claims{}, policy.ReasonSessionRevoked
		}
		for _, aud := range e.claims.Audience {
			if aud == app.AUD {
				return e.claims, ""
			}
		}
		return session.Claims{}, policy.ReasonSessionWrongAudience
	}
	claims, err := keys.Verify(raw, app.AUD, s.cfg.Issuer, now)
	switch {
	case err == nil && claims.Type != session.TypeApp:
		// A login token or an auth-domain session is not an app session.
		return session.Claims{}, policy.ReasonSessionInvalid
	case err == nil && snap.SessionRevoked(app, claims.SessionID, claims.Email, claims.IssuedAt):
		return session.Claims{}, policy.ReasonSessionRevoked
	case err == nil:
		s.sessions.put(&verified{token: raw, claims: claims, generation: gen})
		return claims, ""
	case errors.Is(err, session.ErrExpired):
		return session.Claims{}, policy.ReasonSessionExpired
	case errors.Is(err, session.ErrAudience):
		return session.Claims{}, policy.ReasonSessionWrongAudience
	case errors.Is(err, session.ErrIssuer):
		return session.Claims{}, policy.ReasonSessionWrongIssuer
	case errors.Is(err, session.ErrSignature), errors.Is(err, session.ErrUnknownKey):
		return session.Claims{}, policy.ReasonSessionSignatureFailed
	default:
		return session.Claims{}, policy.ReasonSessionInvalid
	}
}

// mintedToken is a signed app token for a service token, reused until
// most of its lifetime has passed: signing on every request would cost
// more than the rest of the request.
type mintedToken struct {
	jwt        string
	cookie     string // the Set-Cookie value, formatted once
	renewAt    time.Time
	expires    time.Time
	generation string
}

// mintKey is a minted app token's cache key: the service token and the
// secret that authenticated it (whose Binding the app token carries).
type mintKey struct {
	token, app string
	secret     [32]byte
	secure     bool
}

// mintForToken returns the app token (and its Set-Cookie value) for a
// service token, signing a new one only when the cached one is old or the
// keys changed.
func (s *Server) mintForToken(r *http.Request, st *State, app *policy.App, tok *policy.Token, now time.Time) (*mintedToken, error) {
	k := mintKey{token: tok.ID, app: app.ID, secret: tok.Secret(), secure: s.secure(r)}
	gen := st.Keys.Generation()
	if v, ok := s.minted.Load(k); ok {
		m := v.(*mintedToken)
		if m.generation == gen && now.Before(m.renewAt) {
			return m, nil
		}
	}
	life := app.SessionDuration
	exp := now.Add(life)
	jwt, err := st.Keys.Sign(session.Claims{
		Audience: []string{app.AUD}, Issuer: s.cfg.Issuer, IssuedAt: now, NotBefore: now, Expiry: exp,
		Type: session.TypeApp, CommonName: tok.ClientID, ServiceTokenBinding: tok.Binding(),
	})
	if err != nil {
		return nil, err
	}
	m := &mintedToken{jwt: jwt, cookie: s.appCookie(r, app, jwt, exp).String(), renewAt: now.Add(life * 4 / 5), expires: exp, generation: gen}
	s.minted.Store(k, m)
	return m, nil
}
