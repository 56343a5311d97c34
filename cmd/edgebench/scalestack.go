package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

// scaleDomain is the parent of the bulk apps' hosts: app<i>.scale.test.
const scaleDomain = "scale.test"

// sharedProbeHost is bulk app 0, one of the apps on the shared policy.
const sharedProbeHost = "app0." + scaleDomain

// scaleSize is one configuration the scale harness builds.
type scaleSize struct {
	apps   int // in all, the benchmark app included
	tokens int // bulk service tokens, beside the few the API creates
	shared int // apps linked to the one shared reusable policy
	idps   int // identity providers
}

func (z scaleSize) String() string {
	return fmt.Sprintf("%d apps, %d service tokens, %d apps on one reusable policy, %d identity providers", z.apps, z.tokens, z.shared, z.idps)
}

// scaleStack is one configuration under measurement: a fresh database
// with an in-process API and origin, and `gatehouse edge` as a process
// of its own.
type scaleStack struct {
	size      scaleSize
	dir       string // for the edge's log and state
	dbURL     string
	masterKey string
	bin       string
	stateDir  string // "" when the edge has no --state-dir
	store     *store.Store
	cp        *controlPlane
	origin    *url.URL
	edge      *edgeProcess
	keys      *session.Keyring
	accountID string
	seedTime  time.Duration
	// Objects the measurements use, created through the API.
	app          access.App          // the benchmark app, on appHost
	loadToken    access.ServiceToken // authenticates at appHost (any valid token)
	sharedPolicy access.Policy       // names sharedTokens[sharedOn]
	sharedTokens [2]access.ServiceToken
	sharedOn     int
	maxAge       int // the benchmark app's CORS max age now
	revoked      int // users revoked so far
	tokens       int // service tokens in the account
	cleanups     []func()
}

func (s *scaleStack) onClose(f func()) { s.cleanups = append(s.cleanups, f) }

func (s *scaleStack) close() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}

// scaleOptions are how the stacks of one run are built.
type scaleOptions struct {
	adminURL  string // the cluster to create databases in
	bin       string // gatehouse
	stateDirs bool   // give the edge a --state-dir
	keep      bool   // keep each stack's directory (edge log, state)
}

// startScaleStack builds the configuration of size in a fresh database of
// o.adminURL's cluster: the measured objects through the API, the bulk
// with store.SeedBulk. It does not start the edge.

func startScaleStack(ctx context.Context, o scaleOptions, size scaleSize, log *slog.Logger, progress func(string, ...any)) (_ *scaleStack, err error) {
	s := &scaleStack{size: size, bin: o.bin, maxAge: initialMaxAge}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.dir, err = os.MkdirTemp("", "edgebench-scale-"); err != nil {
		return nil, err
	}
	if o.keep {
		progress("keeping the edge's log and state in %s", s.dir)
	} else {
		s.onClose(func() { os.RemoveAll(s.dir) })
	}
	if o.stateDirs {
		s.stateDir = filepath.Join(s.dir, "state")
	}
	if s.dbURL, err = createDatabase(ctx, o.adminURL); err != nil {
		return nil, err
	}
	s.onClose(func() { dropDatabase(o.adminURL, s.dbURL, log) })
	if err := store.MigrateUp(s.dbURL); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	s.masterKey = session.GenerateMasterKey()
	mk, err := session.ParseMasterKey(s.masterKey)
	if err != nil {
		return nil, err
	}
	if s.store, err = store.Open(ctx, s.dbURL, store.WithMasterKey(mk)); err != nil {
		return nil, err
	}
	s.onClose(s.store.Close)
	servers := &stack{}
	s.onClose(servers.close)
	serve := servers.serve
	originURL, err := serve(http.HandlerFunc(serveOrigin))
	if err != nil {
		return nil, err
	}
	if s.origin, err = url.Parse(originURL); err != nil {
		return nil, err
	}
	acct, err := s.store.CreateAccount(ctx, "edgebench")
	if err != nil {
		return nil, err
	}
	s.accountID = acct.ID
	_, token, err := s.store.CreateAPIToken(ctx, acct.ID, "edgebench", false)
	if err != nil {
		return nil, err
	}
	apiURL, err := serve(api.New(s.store, log).Handler())
	if err != nil {
		return nil, err
	}
	if s.cp, err = newControlPlane(apiURL, acct.ID, token); err != nil {
		return nil, err
	}
	if err := s.configure(ctx); err != nil {
		return nil, fmt.Errorf("configure through the API: %w", err)
	}
	progress("seeding %s in bulk...", size)
	t0 := time.Now()
	if err := s.seed(ctx); err != nil {
		return nil, err
	}
	s.seedTime = time.Since(t0)
	return s, nil
}

// configure creates, through the API, what the measurements use: the
// benchmark app (staff by email domain, and any valid service token), the
// load token, two tokens and the reusable policy that lets one of them
// in, and the identity providers.
func (s *scaleStack) configure(ctx context.Context) error {
	for i, name := range []string{"load", "shared-a", "shared-b"} {
		var t access.ServiceToken
		if err := s.cp.call(ctx, "POST", "access/service_tokens", map[string]any{"name": name}, &t); err != nil {
			return err
		}
		s.tokens++
		if i == 0 {
			s.loadToken = t
		} else {
			s.sharedTokens[i-1] = t
		}
	}
	if err := s.cp.call(ctx, "POST", "access/policies", s.sharedPolicyBody(), &s.sharedPolicy); err != nil {
		return err
	}
	if err := s.cp.call(ctx, "POST", "access/apps", appBody(s.origin.String(), s.maxAge), &s.app); err != nil {
		return err
	}
	policies := []map[string]any{
		{"name": "staff", "decision": "allow", "include": []any{
			map[string]any{"email_domain": map[string]any{"domain": "example.test"}},
		}},
		{"name": "service auth", "decision": "non_identity", "include": []any{
			map[string]any{"any_valid_service_token": map[string]any{}},
		}},
	}
	for _, p := range policies {
		if err := s.cp.call(ctx, "POST", "access/apps/"+s.app.ID+"/policies", p, nil); err != nil {
			return err
		}
	}
	for i := range s.size.idps {
		body := map[string]any{"name": fmt.Sprintf("oidc-%d", i), "type": "oidc", "config": map[string]any{
			"client_id": "gatehouse", "client_secret": "edgebench-secret",
			"auth_url": "https://idp.example.test/authorize", "token_url": "https://idp.example.test/token",
			"certs_url": "https://idp.example.test/jwks",
		}}
		if i == 0 {
			body = map[string]any{"name": "pin", "type": "onetimepin", "config": map[string]any{}}
		}
		if err := s.cp.call(ctx, "POST", "access/identity_providers", body, nil); err != nil {
			return err
		}
	}
	return nil
}

// sharedPolicyBody is the shared reusable policy, letting in the token
// sharedTokens[sharedOn] only.
func (s *scaleStack) sharedPolicyBody() map[string]any {
	return map[string]any{"name": "organisation", "decision": "non_identity", "include": []any{
		map[string]any{"service_token": map[string]any{"token_id": s.sharedTokens[s.sharedOn].ID}},
	}}
}

// seed writes the bulk of the configuration: the other apps (the first on
// the shared policy, the rest each with a policy of its own) and the
// service tokens.
func (s *scaleStack) seed(ctx context.Context) error {
	staff := []access.Rule{{EmailDomain: &access.EmailDomainRule{Domain: "example.test"}}}
	s.tokens += s.size.tokens
	_, err := s.store.SeedBulk(ctx, s.accountID, store.Bulk{
		Apps: s.size.apps - 1,
		App: access.AppSpec{Type: access.AppTypeSelfHosted, Name: "bulk-%d", Domain: "app%d." + scaleDomain, Origin: s.origin.String(),
			CORSHeaders: &access.CORSSettings{AllowedOrigins: []string{webOrigin}, AllowedMethods: []string{"GET"}, MaxAge: 600}},
		SharedPolicyID: s.sharedPolicy.ID,
		SharedApps:     s.size.shared,
		AppPolicy:      access.PolicySpec{Name: "staff", Decision: "allow"},
		AppPolicyRules: access.PolicyRules{Include: staff},
		ServiceTokens:  s.size.tokens,
		TokenName:      "bulk-%07d",
	})
	return err
}

// startEdge starts `gatehouse edge` against the stack's database, with
// the database reachable or not, and measures how long it takes to serve
// the benchmark app.
func (s *scaleStack) startEdge(ctx context.Context, databaseReachable bool, timeout time.Duration) (time.Duration, error) {
	dbURL := s.dbURL
	if !databaseReachable {
		closed, err := freeAddr()
		if err != nil {
			return 0, err
		}
		u, _ := url.Parse(s.dbURL)
		u.Host = closed
		dbURL = u.String()
	}
	t0 := time.Now()
	p, err := startEdgeProcess(edgeOptions{bin: s.bin, databaseURL: dbURL, masterKey: s.masterKey, stateDir: s.stateDir,
		logPath: filepath.Join(s.dir, "edge.log")})
	if err != nil {
		return 0, err
	}
	s.edge = p
	probe, err := s.tokenRequest(p.url(), appHost, s.loadToken)
	if err != nil {
		return 0, err
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := newLoadClient(tr)
	client.Timeout = time.Second
	deadline := t0.Add(timeout)
	for {
		if err := p.exitedErr(); err != nil {
			return 0, fmt.Errorf("%w; its log ends:\n%s", err, p.logTail())
		}
		if resp, err := client.Do(probe); err == nil {
			drain(resp)
			if resp.StatusCode == http.StatusOK {
				return time.Since(t0), nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("edge does not serve %s after %v; its log ends:\n%s", appHost, timeout, p.logTail())
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// stopEdge stops the running edge, if any.
func (s *scaleStack) stopEdge() {
	if s.edge != nil {
		s.edge.stop()
		s.edge = nil
	}
}

// loadKeys reads the signing keys the edge uses (it creates them at its
// first start), to mint sessions as the login flow would.
func (s *scaleStack) loadKeys(ctx context.Context) error {
	mk, err := session.ParseMasterKey(s.masterKey)
	if err != nil {
		return err
	}
	s.keys, err = session.NewKeyStore(s.store, mk).Load(ctx)
	return err
}

// session returns a session cookie for email on the benchmark app, issued
// a second ago.
func (s *scaleStack) session(email string) (string, error) {
	now := time.Now().Add(-time.Second)
	return s.keys.Sign(session.Claims{
		Audience: []string{s.app.AUD}, Email: email, Subject: "user-" + email, Issuer: s.edge.url(),
		IssuedAt: now, NotBefore: now, Expiry: now.Add(time.Hour), Type: session.TypeApp, LoginMethod: "edgebench",
	})
}

// tokenRequest is a GET of host through the edge at server, with t's
// credentials.
func (s *scaleStack) tokenRequest(server, host string, t access.ServiceToken) (*http.Request, error) {
	r, err := http.NewRequest(http.MethodGet, server+"/bench/items?page=1", nil)
	if err != nil {
		return nil, err
	}
	r.Host = host
	r.Header.Set(wire.HeaderClientID, t.ClientID)
	r.Header.Set(wire.HeaderClientSecret, t.ClientSecret)
	return r, nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
