package edge_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/accesslog"
	"github.com/gatehouse-dev/gatehouse/internal/edge"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// logged starts a Run of l for the test's lifetime.
func logged(t *testing.T, l *accesslog.Logger) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// accessLogs waits until the account's access log (as the API lists it,
// filtered by query) has at least n entries and returns them.
func accessLogs(t *testing.T, a *gatehousetest.API, query string, n int) []access.AccessLogEntry {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var entries []access.AccessLogEntry
		a.MustCall(t, "GET", "access/logs/access_requests?"+query, nil, &entries)
		if len(entries) >= n || time.Now().After(deadline) {
			if len(entries) < n {
				t.Fatalf("access log %q: %d entries after 20s, want %d", query, len(entries), n)
			}
			return entries
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEveryEdgeDecisionIsLoggedOnceWithItsReason(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	logger := accesslog.New(a.Store, accesslog.Config{FlushInterval: 20 * time.Millisecond, Log: quiet})
	logged(t, logger)
	mail := gatehousetest.NewPINCatcher()
	e := &env{api: a, edge: gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, Mailer: mail, TestHostsToEdge: true,
		Observers: []edge.Observer{logger}}), origin: gatehousetest.StartOrigin(t)}
	u, _ := url.Parse(e.edge.URL)
	_, port, _ := net.SplitHostPort(u.Host)

	tok := createToken(t, a, "robot", nil)
	cors := host(t, "cors")
	corsApp := e.app(t, cors, map[string]any{"cors_headers": map[string]any{
		"allowed_origins": []string{"https://example.test"}, "allowed_methods": []string{"GET"},
	}}, pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`)),
		pol("robot", "non_identity", rules(t, `{"service_token":{"token_id":"`+tok.ID+`"}}`)))
	plain := host(t, "plain")
	e.app(t, plain, nil, pol("all", "allow", rules(t, `{"everyone":{}}`)))
	bypass := host(t, "bypass")
	e.app(t, bypass, map[string]any{"options_preflight_bypass": true}, pol("all", "allow", rules(t, `{"everyone":{}}`)))
	relay := host(t, "relay")
	relayApp := e.app(t, relay, map[string]any{
		"origin":                 "http://" + cors + ":" + port,
		"upstream_service_token": map[string]any{"client_id": tok.ClientID, "client_secret": tok.ClientSecret},
	}, pol("all", "allow", rules(t, `{"everyone":{}}`)))

	ann := e.edge.MintSession(t, corsApp.AUD, "ann@example.test", time.Hour)
	bob := e.edge.MintSession(t, corsApp.AUD, "bob@elsewhere.test", time.Hour)
	withCookie := func(r *http.Request, v string) *http.Request {
		r.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: v})
		return r
	}
	type want struct {
		action  string
		allowed bool
		reason  policy.Reason
		status  int // the edge's answer
	}
	cases := []struct {
		name  string
		req   *http.Request
		want  want
		check func(t *testing.T, e access.AccessLogEntry)
	}{
		{"preflight answered", preflight(e, t, cors, "https://example.test", "GET", "x-custom"),
			want{edge.ActionPreflightAnswered, false, policy.ReasonPreflightHeaderForbidden, 204}, func(t *testing.T, got access.AccessLogEntry) {
				if got.Origin != "https://example.test" || got.RequestMethod != "GET" || got.RequestHeaders != "x-custom" || !got.NonIdentity {
					t.Errorf("preflight facts: %+v", got)
				}
			}},
		{"preflight allowed", preflight(e, t, cors, "https://example.test", "GET", ""),
			want{edge.ActionPreflightAnswered, true, policy.ReasonPreflightAnswered, 204}, nil},
		{"preflight refused", preflight(e, t, plain, "https://example.test", "PUT", ""),
			want{edge.ActionPreflightRefused, false, policy.ReasonPreflightNoCORSSettings, 403}, nil},
		{"preflight bypassed", preflight(e, t, bypass, "https://example.test", "PUT", ""),
			want{edge.ActionPreflightBypassed, true, policy.ReasonPreflightBypassed, 200}, func(t *testing.T, got access.AccessLogEntry) {
				if got.UpstreamStatus != 200 {
					t.Errorf("upstream status %d", got.UpstreamStatus)
				}
			}},
		{"allow", withCookie(e.edge.Request(t, "GET", cors, "/", nil), ann),
			want{edge.ActionAllow, true, policy.ReasonAllowPolicy, 200}, func(t *testing.T, got access.AccessLogEntry) {
				if got.UserEmail != "ann@example.test" || got.Connection != "test-idp" || got.UpstreamStatus != 200 || got.UpstreamLatencyMS <= 0 ||
					got.AppUID != corsApp.ID || got.AppDomain != cors || got.IPAddress != "127.0.0.1" || got.Method != "GET" {
					t.Errorf("allow entry: %+v", got)
				}
			}},
		{"deny", withCookie(e.edge.Request(t, "GET", cors, "/", nil), bob),
			want{edge.ActionDeny, false, policy.ReasonNoPolicyMatched, 403}, func(t *testing.T, got access.AccessLogEntry) {
				if got.UserEmail != "bob@elsewhere.test" || got.UpstreamStatus != 0 {
					t.Errorf("deny entry: %+v", got)
				}
			}},
		{"login required", e.edge.Request(t, "GET", cors, "/", nil),
			want{edge.ActionDeny, false, policy.ReasonLoginRequired, 401}, nil},
		{"token refused", withToken(e.edge.Request(t, "GET", cors, "/", nil), tok.ClientID, "wrong"),
			want{edge.ActionDeny, false, policy.ReasonServiceTokenBadSecret, 401}, func(t *testing.T, got access.AccessLogEntry) {
				if got.Connection != "service_token" {
					t.Errorf("token refused entry: %+v", got)
				}
			}},
		{"token allowed", withToken(e.edge.Request(t, "GET", cors, "/", nil), tok.ClientID, tok.ClientSecret),
			want{edge.ActionAllow, true, policy.ReasonServiceAuthPolicy, 200}, func(t *testing.T, got access.AccessLogEntry) {
				if got.ServiceTokenID != tok.ID || got.ServiceTokenName != "robot" || !got.NonIdentity || got.UserEmail != "" {
					t.Errorf("token entry: %+v", got)
				}
			}},
		{"relay", withCookie(e.edge.Request(t, "GET", relay, "/", nil), e.edge.MintSession(t, relayApp.AUD, "ann@example.test", time.Hour)),
			want{edge.ActionRelay, true, policy.ReasonAllowPolicy, 200}, func(t *testing.T, got access.AccessLogEntry) {
				if got.AppUID != relayApp.ID || got.UpstreamStatus != 200 {
					t.Errorf("relay entry: %+v", got)
				}
			}},
	}
	rays := map[string]int{}
	for i, c := range cases {
		resp, body := e.edge.Do(t, c.req)
		if resp.StatusCode != c.want.status {
			t.Fatalf("%s: edge answered %d %s", c.name, resp.StatusCode, body)
		}
		ray := resp.Header.Get("Cf-Ray")
		if ray == "" {
			t.Fatalf("%s: no Cf-Ray", c.name)
		}
		rays[ray] = i
	}
	// Relaying went through the edge a second time, to the cors app with
	// the relay's token: one more entry. Nothing else was logged.
	entries := accessLogs(t, a, "", len(cases)+1)
	time.Sleep(100 * time.Millisecond)
	entries = accessLogs(t, a, "", len(cases)+1)
	if len(entries) != len(cases)+1 {
		t.Fatalf("%d entries for %d requests", len(entries), len(cases)+1)
	}
	seen := map[string]bool{}
	for _, got := range entries {
		if seen[got.RayID] {
			t.Errorf("ray %s logged twice", got.RayID)
		}
		seen[got.RayID] = true
		i, ok := rays[got.RayID]
		if !ok {
			if got.Action != edge.ActionAllow || got.ServiceTokenID != tok.ID || got.Reason != string(policy.ReasonServiceAuthPolicy) {
				t.Errorf("unexpected entry %+v", got)
			}
			continue
		}
		c := cases[i]
		if got.Action != c.want.action || got.Allowed != c.want.allowed || got.Reason != string(c.want.reason) || got.ReasonText != c.want.reason.Describe() {
			t.Errorf("%s: logged %s allowed=%v reason=%s (%q), want %s allowed=%v reason=%s", c.name, got.Action, got.Allowed, got.Reason, got.ReasonText,
				c.want.action, c.want.allowed, c.want.reason)
		}
		if got.CreatedAt.IsZero() || time.Since(got.CreatedAt) > time.Minute {
			t.Errorf("%s: created_at %v", c.name, got.CreatedAt)
		}
		if c.check != nil {
			c.check(t, got)
		}
	}
	for ray, i := range rays {
		if !seen[ray] {
			t.Errorf("%s (ray %s) was not logged", cases[i].name, ray)
		}
	}

	// Filters.
	if got := accessLogs(t, a, "allowed=false", 0); len(got) != 5 {
		t.Errorf("allowed=false: %d entries", len(got))
	}
	if got := accessLogs(t, a, "reason=login_required", 0); len(got) != 1 {
		t.Errorf("reason filter: %d entries", len(got))
	}
	if got := accessLogs(t, a, "app_id="+relayApp.ID, 0); len(got) != 1 {
		t.Errorf("app_id filter: %d entries", len(got))
	}
	if got := accessLogs(t, a, "email=ANN@", 0); len(got) != 2 {
		t.Errorf("email substring: %d entries", len(got))
	}
	if got := accessLogs(t, a, "email=ann@example&email_exact=true", 0); len(got) != 0 {
		t.Errorf("email exact: %d entries", len(got))
	}
	asc := accessLogs(t, a, "direction=asc&limit=2", 0)
	if len(asc) != 2 || asc[0].CreatedAt.After(asc[1].CreatedAt) || asc[0].RayID == entries[0].RayID {
		t.Errorf("ascending page: %+v", asc)
	}
	if got := accessLogs(t, a, "since="+url.QueryEscape(time.Now().Add(time.Minute).Format(time.RFC3339)), 0); len(got) != 0 {
		t.Errorf("since the future: %d entries", len(got))
	}
	for _, bad := range []string{"limit=0", "limit=1001", "direction=up", "since=yesterday", "allowed=maybe", "app_id=x"} {
		if resp := a.Call(t, "GET", "access/logs/access_requests?"+bad, nil); resp.Status != 400 {
			t.Errorf("%s: status %d", bad, resp.Status)
		}
	}
	// Another account sees none of it.
	b := gatehousetest.NewAPI(t)
	if got := accessLogs(t, b, "", 0); len(got) != 0 {
		t.Errorf("another account sees %d entries", len(got))
	}

	// A request for no app is logged without an account, so never listed.
	resp, _ := e.edge.Do(t, e.edge.Request(t, "GET", host(t, "nowhere"), "/", nil))
	if resp.StatusCode != 404 {
		t.Fatalf("unknown host: %d", resp.StatusCode)
	}
	waitForRow(t, a, resp.Header.Get("Cf-Ray"), edge.ActionNotFound)
}

// waitForRow waits for the row of one ray in the database (whatever its
// account) and checks its action and that there is exactly one.
func waitForRow(t *testing.T, a *gatehousetest.API, ray, action string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, gatehousetest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		var got string
		var account *string
		err := conn.QueryRow(ctx, `SELECT count(*) OVER (), action, account_id FROM access_logs WHERE ray_id = $1`, ray).Scan(&n, &got, &account)
		if err == nil {
			if n != 1 || got != action || account != nil {
				t.Fatalf("ray %s: %d rows, action %s, account %v", ray, n, got, account)
			}
			return
		}
		if err != pgx.ErrNoRows || time.Now().After(deadline) {
			t.Fatalf("ray %s: %v", ray, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOneTimePINLoginIsLogged(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	logger := accesslog.New(a.Store, accesslog.Config{FlushInterval: 20 * time.Millisecond, Log: quiet})
	logged(t, logger)
	mail := gatehousetest.NewPINCatcher()
	e := &env{api: a, edge: gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, Mailer: mail, Observers: []edge.Observer{logger}}),
		origin: gatehousetest.StartOrigin(t)}
	var idp access.IdentityProvider
	a.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Email code", "type": "onetimepin", "config": map[string]any{}}, &idp)
	port := e.edge.URL[strings.LastIndex(e.edge.URL, ":"):]
	h := host(t, "app")
	e.app(t, h, nil, pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`)))
	c := gatehousetest.LoginClient(t, e.edge.URL)

	resp, body := gatehousetest.Get(t, c, "http://"+h+port+"/")
	action, form := gatehousetest.HiddenFields(t, body)
	form.Set("email", "ann@example.test")
	resp, body = gatehousetest.PostForm(t, c, resp.Request.URL.ResolveReference(&url.URL{Path: action}).String(), form)
	verifyAction, verifyForm := gatehousetest.HiddenFields(t, body)
	verifyForm.Set("code", mail.PIN("ann@example.test"))
	resp, body = gatehousetest.PostForm(t, c, resp.Request.URL.ResolveReference(&url.URL{Path: verifyAction}).String(), verifyForm)
	if resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	// The first visit (login required), the login that set the cookie,
	// and the visit it returned to.
	entries := accessLogs(t, a, "direction=asc", 3)
	want := []struct {
		action string
		reason policy.Reason
	}{{edge.ActionDeny, policy.ReasonLoginRequired}, {edge.ActionLogin, policy.ReasonAllowPolicy}, {edge.ActionAllow, policy.ReasonAllowPolicy}}
	if len(entries) != len(want) {
		t.Fatalf("%d entries: %+v", len(entries), entries)
	}
	for i, w := range want {
		if got := entries[i]; got.Action != w.action || got.Reason != string(w.reason) {
			t.Errorf("entry %d: %s %s, want %s %s", i, got.Action, got.Reason, w.action, w.reason)
		}
	}
	if got := entries[1]; got.UserEmail != "ann@example.test" || got.Connection != idp.ID || !got.Allowed {
		t.Errorf("login entry: %+v", got)
	}
}

func TestTheEdgeServesWhileTheAccessLogDatabaseIsAway(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	viaCutter, cutter := gatehousetest.StoreVia(t)
	// Batches of 3: the rows held through the outage go out in several.
	logger := accesslog.New(viaCutter, accesslog.Config{Capacity: 8, MaxPending: 8, BatchSize: 3, FlushInterval: 10 * time.Millisecond, Log: quiet})
	logged(t, logger)
	e := &env{api: a, edge: gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, Observers: []edge.Observer{logger}}),
		origin: gatehousetest.StartOrigin(t)}
	h := host(t, "app")
	e.app(t, h, nil, pol("open", "bypass", rules(t, `{"everyone":{}}`)))
	resp, _ := e.edge.Do(t, e.edge.Request(t, "GET", h, "/", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("before the cut: %d", resp.StatusCode)
	}
	accessLogs(t, a, "", 1)

	cutter.Cut()
	start := time.Now()
	for i := 0; i < 200; i++ {
		if resp, _ := e.edge.Do(t, e.edge.Request(t, "GET", h, "/", nil)); resp.StatusCode != 200 {
			t.Fatalf("request %d while the database was away: %d", i, resp.StatusCode)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("200 requests took %v while the database was away", d)
	}
	if logger.Dropped() == 0 {
		t.Errorf("nothing dropped with 200 requests for 16 places (written %d, waiting %d)", logger.Written(), logger.QueueDepth())
	}
	if n := logger.QueueDepth(); n == 0 || n > 16 {
		t.Errorf("queue depth %d while the database is away", n)
	}

	cutter.Restore()
	// Requests made after the database returned get logged again. The
	// first few may still be dropped while the writer's queue drains, so
	// keep making them until the newest row is one of them.
	after := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, _ = e.edge.Do(t, e.edge.Request(t, "GET", h, "/", nil))
		after[resp.Header.Get("Cf-Ray")] = true
		var entries []access.AccessLogEntry
		a.MustCall(t, "GET", "access/logs/access_requests?limit=1", nil, &entries)
		if len(entries) == 1 && after[entries[0].RayID] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logging did not resume after the database returned (written %d, dropped %d)", logger.Written(), logger.Dropped())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if w := logger.Written(); w < 2 {
		t.Errorf("written %d", w)
	}
	// Held rows were written once each, however many batches it took.
	var all []access.AccessLogEntry
	before := logger.Written()
	a.MustCall(t, "GET", "access/logs/access_requests?limit=1000", nil, &all)
	writtenAfter := logger.Written()
	seen := map[string]bool{}
	for _, e := range all {
		if seen[e.RayID] {
			t.Errorf("ray %s logged twice", e.RayID)
		}
		seen[e.RayID] = true
	}
	if n := uint64(len(all)); n < before || n > writtenAfter {
		t.Errorf("%d rows listed, the logger wrote %d to %d meanwhile", n, before, writtenAfter)
	}
}
