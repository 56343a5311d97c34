package gatehousetest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/authdomain"
	"github.com/gatehouse-dev/gatehouse/internal/edge"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// MasterKey is the signing-key encryption key every test edge uses.
var MasterKey = mustMasterKey()

func mustMasterKey() []byte {
	k, err := session.ParseMasterKey("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	if err != nil {
		panic(err)
	}
	return k
}

// Edge is an edge server on loopback, following a database.
type Edge struct {
	URL      string
	Issuer   string
	Loader   *edge.Loader
	Keys     *session.KeyStore
	LastSeen *edge.LastSeen
	Server   *edge.Server
	// Client sends requests to the edge; use Request to set the Host.
	Client *http.Client
	// Registry reports the edge's status, when EdgeOptions.HeartbeatInterval
	// is set; StopHeartbeat stops the edge's loops (the edge deletes its
	// row) and waits; the server goes on serving its last state.
	Registry      *edge.Registry
	StopHeartbeat func()
	// Started is the edge as edge.Start returned it.
	Started *edge.Edge
}

// EdgeOptions tune StartEdge.
type EdgeOptions struct {
	Store          *store.Store // default: a new store on this package's database
	CountryHeader  string
	ReloadInterval time.Duration // default 200ms
	// Mailer receives one-time PINs; nil logs them.
	Mailer authdomain.Mailer
	// Observers see a Record of every request.
	Observers []edge.Observer
	// OnApply is the loader's OnApply, set before the first load.
	OnApply func(*edge.State, time.Duration)
	// TLS serves HTTPS with LoopbackCert, marks cookies Secure, and makes
	// the issuer https://auth.gatehouse.test:<port>, for browser tests.
	TLS bool
	// Transport is the edge's origin transport; nil for edge.NewTransport.
	Transport http.RoundTripper
	// TestHostsToEdge makes the default origin transport connect to the
	// edge itself for every *.test host (trusting LoopbackCert), so that a
	// relay app's origin can be another app on the same edge, such as
	// https://api.mysite.test:<edge port>.
	TestHostsToEdge bool
	// HeartbeatInterval, if set, runs an edge.Registry with this interval.
	HeartbeatInterval time.Duration
	// Issuer is the auth domain's URL, for a second edge of the same
	// installation; default: the edge's own URL.
	Issuer string
	// Clock is the edge's "now" (token issue and expiry times); nil for
	// time.Now.
	Clock func() time.Time
	// Timeouts bound slow clients as in production; zero fields take
	// httpserver's defaults.
	Timeouts httpserver.Timeouts
	// StateDir keeps the edge's saved state (edge.StartConfig.StateDir);
	// empty keeps none.
	StateDir string
	// KeyRotation rotates the signing keys when due, as in production;
	// 0 never.
	KeyRotation time.Duration
}

// KeyStore is the signing-key store of st, sealed with MasterKey.
func KeyStore(st *store.Store) *session.KeyStore {
	return session.NewKeyStore(st, MasterKey)
}

// StartEdge starts an edge for the test with edge.Start, as `gatehouse
// edge` does (every background loop included), on loopback; it is
// stopped when the test ends.
func StartEdge(tb testing.TB, opts EdgeOptions) *Edge {
	tb.Helper()
	if opts.TestHostsToEdge && opts.Transport != nil {
		tb.Fatal("gatehousetest: EdgeOptions.Transport and TestHostsToEdge are exclusive")
	}
	st := opts.Store
	if st == nil {
		st = Store(tb)
	}
	if opts.ReloadInterval == 0 {
		opts.ReloadInterval = 200 * time.Millisecond
	}
	log := testLogger()
	keys := KeyStore(st)
	srv := httptest.NewUnstartedServer(nil)
	timeouts := opts.Timeouts.WithDefaults()
	srv.Config.ReadHeaderTimeout, srv.Config.IdleTimeout = timeouts.ReadHeader, timeouts.Idle
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	e := &Edge{Keys: keys}
	var issuer string
	var cert tls.Certificate
	if opts.TLS {
		var roots *x509.CertPool
		cert, roots = LoopbackCert(tb)
		// Browsers open connections they never use; their handshake errors are noise.
		srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
		transport.TLSClientConfig = &tls.Config{RootCAs: roots}
		issuer = "https://auth.gatehouse.test:" + strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
		e.URL = "https://" + srv.Listener.Addr().String()
	} else {
		issuer = "http://" + srv.Listener.Addr().String()
		e.URL = issuer
	}
	e.Issuer = issuer
	if opts.Issuer != "" {
		e.Issuer = opts.Issuer
	}
	if opts.TestHostsToEdge {
		opts.Transport = testHostsTo(tb, srv.Listener.Addr().String())
	}
	deps := edge.Deps{Store: st, Keys: keys, MasterKey: MasterKey, Log: log, Observers: opts.Observers, Mailer: opts.Mailer,
		Transport: opts.Transport, Now: opts.Clock, OnApply: opts.OnApply}
	started, err := edge.Start(context.Background(), deps, edge.StartConfig{
		Issuer: e.Issuer, CountryHeader: opts.CountryHeader, Secure: opts.TLS,
		ReloadInterval: opts.ReloadInterval, KeyRotation: opts.KeyRotation,
		HeartbeatInterval: opts.HeartbeatInterval,
		Self: access.EdgeStatus{ID: edge.InstanceID("localhost"), Hostname: "localhost",
			Addr: srv.Listener.Addr().String(), StartedAt: time.Now().UTC()},
		StateDir: opts.StateDir,
	})
	if err != nil {
		srv.Listener.Close()
		tb.Fatalf("edge: first load: %v", err)
	}
	e.Started, e.Loader, e.LastSeen, e.Server, e.Registry = started, started.Loader, started.LastSeen, started.Server, started.Registry
	srv.Config.Handler = httpserver.Guard(e.Server, timeouts.BodyRead)
	if opts.TLS {
		// As `gatehouse edge` serves TLS: client certificates are asked
		// for on the hosts with mutual TLS CAs.
		srv.TLS = e.Server.TLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}})
		srv.StartTLS()
	} else {
		srv.Start()
	}
	if e.Registry != nil {
		e.StopHeartbeat = started.Stop
	}
	tb.Cleanup(func() {
		srv.Close()
		started.Stop()
	})
	e.Client = &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return e
}

// testHostsTo returns an origin transport that connects to addr for any
// *.test host and trusts LoopbackCert.
func testHostsTo(tb testing.TB, addr string) *http.Transport {
	_, roots := LoopbackCert(tb)
	t := edge.NewTransport()
	dial := t.DialContext
	t.DialContext = func(ctx context.Context, network, hostport string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(hostport); err == nil && strings.HasSuffix(host, ".test") {
			hostport = addr
		}
		return dial(ctx, network, hostport)
	}
	t.TLSClientConfig = &tls.Config{RootCAs: roots}
	return t
}

// testLogger discards logs unless GATEHOUSE_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("GATEHOUSE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Request builds a request to the edge for host and path.
func (e *Edge) Request(tb testing.TB, method, host, path string, body io.Reader) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(method, e.URL+path, body)
	if err != nil {
		tb.Fatal(err)
	}
	req.Host = host
	return req
}

// Do sends a request and returns the response with its body read.
func (e *Edge) Do(tb testing.TB, req *http.Request) (*http.Response, string) {
	tb.Helper()
	resp, err := e.Client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s%s: %v", req.Method, req.Host, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, string(b)
}

// WaitForVersion waits until the edge enforces config version v or newer.
func (e *Edge) WaitForVersion(tb testing.TB, v int64) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.Loader.State().Snap.Version < v {
		if time.Now().After(deadline) {
			tb.Fatalf("edge still at version %d, want %d", e.Loader.State().Snap.Version, v)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Sync waits until the edge has applied every change committed so far.
func (e *Edge) Sync(tb testing.TB, st *store.Store) {
	tb.Helper()
	v, err := st.ConfigVersion(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	e.WaitForVersion(tb, v)
}

// MintSession signs an app session token for email, as the login flow
// will, with the edge's current keys.
func (e *Edge) MintSession(tb testing.TB, aud, email string, ttl time.Duration) string {
	tb.Helper()
	now := time.Now()
	jwt, err := e.Loader.State().Keys.Sign(session.Claims{
		Audience: []string{aud}, Email: email, Subject: "user-" + email, Issuer: e.Issuer,
		IssuedAt: now, NotBefore: now, Expiry: now.Add(ttl), Type: "app", LoginMethod: "test-idp",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return jwt
}

// Origin is an upstream server on loopback that records what reached it.
type Origin struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	bodies   []string
}

// StartOrigin starts a recording origin that answers 200 "origin ok".
func StartOrigin(tb testing.TB) *Origin {
	tb.Helper()
	o := &Origin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			body = append(body, "<read error: "+err.Error()+">"...)
		}
		r.Body = io.NopCloser(nil)
		o.mu.Lock()
		o.requests = append(o.requests, r.Clone(context.Background()))
		o.bodies = append(o.bodies, string(body))
		o.mu.Unlock()
		w.Header().Set("X-Origin", "yes")
		_, _ = io.WriteString(w, "origin ok")
	}))
	tb.Cleanup(o.Close)
	return o
}

// Requests returns what reached the origin so far.
func (o *Origin) Requests() []*http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*http.Request(nil), o.requests...)
}

// Bodies returns the request bodies that reached the origin so far, in
// the order of Requests; a body cut short ends in "<read error: ...>".
func (o *Origin) Bodies() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.bodies...)
}

// Last returns the last request that reached the origin, or nil.
func (o *Origin) Last() *http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.requests) == 0 {
		return nil
	}
	return o.requests[len(o.requests)-1]
}

// DoRaw sends "METHOD target HTTP/1.1" to the edge exactly as given, on a
// connection of its own (http.Client would re-encode the target), and
// returns the response with its body read.
func (e *Edge) DoRaw(tb testing.TB, method, host, target string, header http.Header) (*http.Response, string) {
	tb.Helper()
	addr := strings.TrimPrefix(strings.TrimPrefix(e.URL, "http://"), "https://")
	if strings.HasPrefix(e.URL, "https://") {
		tb.Fatal("gatehousetest: DoRaw speaks plain HTTP only")
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, host)
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", k, v)
		}
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		tb.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		tb.Fatalf("%s %s%s: %v", method, host, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, string(b)
}
