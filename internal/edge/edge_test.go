package edge_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/accessjwt"
	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestMain(m *testing.M) { gatehousetest.Main(m) }

// env is one test's control plane, edge and origin.
type env struct {
	api    *gatehousetest.API
	edge   *gatehousetest.Edge
	origin *gatehousetest.Origin
}

// newHostsEnv is newEnv with the edge reachable under any test host name:
// requests for http://NAME:port go to the edge. It returns that port.
func newHostsEnv(t *testing.T) (*env, string) {
	t.Helper()
	a := gatehousetest.NewAPI(t)
	e := &env{api: a, edge: gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, TestHostsToEdge: true}),
		origin: gatehousetest.StartOrigin(t)}
	u, err := url.Parse(e.edge.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(u.Host)
	return e, port
}

func newEnv(t *testing.T) *env {
	t.Helper()
	a := gatehousetest.NewAPI(t)
	return &env{api: a, edge: gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store}), origin: gatehousetest.StartOrigin(t)}
}

// host returns a hostname unique to this run of the test.
var host = gatehousetest.Host

// app creates an app for domain with the given extra fields and policies,
// and waits until the edge enforces it.
func (e *env) app(t *testing.T, domain string, fields map[string]any, policies ...map[string]any) access.App {
	t.Helper()
	app := e.api.CreateApp(t, domain, e.origin.URL, fields, policies...)
	e.edge.Sync(t, e.api.Store)
	return app
}

var (
	rules = gatehousetest.Rules
	pol   = gatehousetest.Policy
)

func TestUnknownHostIs404AndNeverForwarded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.app(t, host(t, "known"), nil, pol("all", "bypass", rules(t, `{"everyone":{}}`)))
	resp, body := e.edge.Do(t, e.edge.Request(t, "GET", host(t, "unknown"), "/", nil))
	if resp.StatusCode != 404 || !strings.Contains(body, "app_not_found") || len(e.origin.Requests()) != 0 {
		t.Fatalf("unknown host: %d %s, origin saw %d", resp.StatusCode, body, len(e.origin.Requests()))
	}
}

func preflight(e *env, t *testing.T, h, origin, method, headers string) *http.Request {
	req := e.edge.Request(t, "OPTIONS", h, "/data", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	return req
}

func TestPreflightAnsweredFromCORSSettingsNeverReachesOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := host(t, "api")
	e.app(t, h, map[string]any{"cors_headers": map[string]any{
		"allowed_origins": []string{"https://example.test"}, "allowed_methods": []string{"GET", "POST", "PUT"},
		"allowed_headers": []string{"Content-Type", "X-Requested-With"}, "allow_credentials": true, "max_age": 600,
	}}, pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`)))

	resp, _ := e.edge.Do(t, preflight(e, t, h, "https://example.test", "PUT", "content-type, x-requested-with"))
	want := map[string]string{
		"Access-Control-Allow-Origin":      "https://example.test",
		"Access-Control-Allow-Methods":     "GET, POST, PUT",
		"Access-Control-Allow-Headers":     "Content-Type, X-Requested-With",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Max-Age":           "600",
	}
	if resp.StatusCode != 204 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !strings.Contains(resp.Header.Get("Vary"), "Origin") {
		t.Errorf("Vary = %q", resp.Header.Get("Vary"))
	}
	for name, req := range map[string]*http.Request{
		"origin":  preflight(e, t, h, "https://evil.test", "GET", ""),
		"method":  preflight(e, t, h, "https://example.test", "DELETE", ""),
		"headers": preflight(e, t, h, "https://example.test", "GET", "X-Secret"),
	} {
		resp, _ := e.edge.Do(t, req)
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("disallowed %s: %d with allow headers %v", name, resp.StatusCode, resp.Header)
		}
	}
	if n := len(e.origin.Requests()); n != 0 {
		t.Fatalf("origin received %d preflights", n)
	}
}

func TestPreflightAllowAllOriginsWithCredentialsEchoesOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	withCreds, noCreds := host(t, "creds"), host(t, "nocreds")
	e.app(t, withCreds, map[string]any{"cors_headers": map[string]any{"allow_all_origins": true, "allow_all_methods": true, "allow_all_headers": true, "allow_credentials": true}})
	e.app(t, noCreds, map[string]any{"cors_headers": map[string]any{"allow_all_origins": true, "allow_all_methods": true}})
	resp, _ := e.edge.Do(t, preflight(e, t, withCreds, "https://any.test", "PATCH", "X-One"))
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://any.test" || resp.Header.Get("Access-Control-Allow-Methods") != "PATCH" ||
		resp.Header.Get("Access-Control-Allow-Headers") != "X-One" {
		t.Errorf("allow-all with credentials: %v", resp.Header)
	}
	resp, _ = e.edge.Do(t, preflight(e, t, noCreds, "https://any.test", "GET", ""))
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("allow-all without credentials: %v", resp.Header)
	}
}

func TestPreflightBypassGoesToOriginUntouched(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := host(t, "api")
	e.app(t, h, map[string]any{"options_preflight_bypass": true}, pol("staff", "allow", rules(t, `{"email":{"email":"a@b.test"}}`)))
	req := preflight(e, t, h, "https://example.test", "POST", "content-type")
	req.Header.Set("Cf-Access-Jwt-Assertion", "forged")
	resp, body := e.edge.Do(t, req)
	if resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("bypassed preflight: %d %s", resp.StatusCode, body)
	}
	got := e.origin.Last()
	if got == nil || got.Method != "OPTIONS" || got.Header.Get("Origin") != "https://example.test" ||
		got.Header.Get("Access-Control-Request-Headers") != "content-type" || got.Header.Get("Cf-Access-Jwt-Assertion") != "" {
		t.Fatalf("origin got %+v", got)
	}
	// A plain request is still authenticated.
	resp, _ = e.edge.Do(t, e.edge.Request(t, "GET", h, "/data", nil))
	if resp.StatusCode != 401 {
		t.Errorf("GET without credentials on a bypass app: %d", resp.StatusCode)
	}
}

func TestPreflightWithoutCORSSettingsIs403(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := host(t, "api")
	e.app(t, h, nil, pol("staff", "allow", rules(t, `{"everyone":{}}`)))
	req := preflight(e, t, h, "https://example.test", "GET", "")
	// Even with a valid session: browsers never send cookies on preflights,
	// and the edge does not look at them either.
	resp, body := e.edge.Do(t, req)
	if resp.StatusCode != 403 || !strings.Contains(body, "preflight_no_cors_settings") || len(e.origin.Requests()) != 0 {
		t.Fatalf("preflight without settings: %d %s", resp.StatusCode, body)
	}
}

func createToken(t *testing.T, a *gatehousetest.API, name string, fields map[string]any) access.ServiceToken {
	t.Helper()
	body := map[string]any{"name": name}
	for k, v := range fields {
		body[k] = v
	}
	var tok access.ServiceToken
	a.MustCall(t, "POST", "access/service_tokens", body, &tok)
	return tok
}

func withToken(req *http.Request, id, secret string) *http.Request {
	req.Header.Set("CF-Access-Client-Id", id)
	req.Header.Set("CF-Access-Client-Secret", secret)
	return req
}

func TestServiceTokenPassesServiceAuthPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := createToken(t, e.api, "relay", nil)
	h := host(t, "api")
	app := e.app(t, h, nil, pol("service auth", "non_identity", rules(t, `{"service_token":{"token_id":"`+tok.ID+`"}}`)))

	req := withToken(e.edge.Request(t, "GET", h, "/v1/items?x=1", nil), tok.ClientID, tok.ClientSecret)
	req.Header.Set("Cf-Access-Jwt-Assertion", "forged")
	req.Header.Set("Cf-Access-Authenticated-User-Email", "ceo@example.test")
	resp, body := e.edge.Do(t, req)
	if resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("service token: %d %s", resp.StatusCode, body)
	}
	got := e.origin.Last()
	if got.URL.Path != "/v1/items" || got.URL.RawQuery != "x=1" {
		t.Errorf("origin got %s?%s", got.URL.Path, got.URL.RawQuery)
	}
	for _, hdr := range []string{"Cf-Access-Client-Id", "Cf-Access-Client-Secret", "Cf-Access-Authenticated-User-Email"} {
		if v := got.Header.Get(hdr); v != "" {
			t.Errorf("origin received %s: %q", hdr, v)
		}
	}
	assertion := got.Header.Get("Cf-Access-Jwt-Assertion")
	claims, err := e.edge.Loader.State().Keys.Verify(assertion, app.AUD, e.edge.Issuer, time.Now())
	if err != nil || claims.CommonName != tok.ClientID || claims.Email != "" {
		t.Fatalf("assertion %q: claims %+v err %v", assertion, claims, err)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "CF_Authorization" {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != assertion || !cookie.HttpOnly {
		t.Fatalf("no CF_Authorization cookie matching the assertion: %v", resp.Cookies())
	}
	// last_seen_at is recorded in a batch, not per request.
	var before access.ServiceToken
	e.api.MustCall(t, "GET", "access/service_tokens/"+tok.ID, nil, &before)
	if before.LastSeenAt != nil {
		t.Errorf("last_seen_at written on the request path")
	}
	e.edge.LastSeen.Flush(t.Context())
	var after access.ServiceToken
	e.api.MustCall(t, "GET", "access/service_tokens/"+tok.ID, nil, &after)
	if after.LastSeenAt == nil || time.Since(*after.LastSeenAt) > time.Minute {
		t.Errorf("last_seen_at after flush: %v", after.LastSeenAt)
	}
}

func TestServiceTokenFailuresAreRefusedNeverRedirected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := createToken(t, e.api, "good", nil)
	expired := createToken(t, e.api, "expired", map[string]any{"duration": "1ms"})
	unused := createToken(t, e.api, "unused", nil)
	rotated := createToken(t, e.api, "rotated", nil)
	var newSecret access.ServiceToken
	e.api.MustCall(t, "POST", "access/service_tokens/"+rotated.ID+"/rotate", nil, &newSecret)
	other := gatehousetest.NewAPI(t)
	foreign := createToken(t, other, "foreign", nil)

	h := host(t, "api")
	e.app(t, h, map[string]any{"cors_headers": map[string]any{"allowed_origins": []string{"https://web.test"}}},
		pol("service auth", "non_identity", rules(t,
			`{"service_token":{"token_id":"`+good.ID+`"}}`, `{"service_token":{"token_id":"`+expired.ID+`"}}`,
			`{"service_token":{"token_id":"`+rotated.ID+`"}}`)))
	tests := []struct {
		name, id, secret string
		status           int
		reason           string
	}{
		{"fail/unknown client id", "0000.access", good.ClientSecret, 401, "service_token_unknown"},
		{"fail/wrong secret", good.ClientID, strings.Repeat("0", 64), 401, "service_token_bad_secret"},
		{"fail/missing secret", good.ClientID, "", 401, "service_token_malformed"},
		{"fail/expired", expired.ClientID, expired.ClientSecret, 401, "service_token_expired"},
		{"fail/rotated-out secret", rotated.ClientID, rotated.ClientSecret, 401, "service_token_bad_secret"},
		{"fail/another account's token", foreign.ClientID, foreign.ClientSecret, 401, "service_token_unknown"},
		{"fail/valid token no policy", unused.ClientID, unused.ClientSecret, 403, "service_token_no_policy"},
		{"ok/rotated new secret", rotated.ClientID, newSecret.ClientSecret, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := e.edge.Request(t, "GET", h, "/", nil)
			req.Header.Set("CF-Access-Client-Id", tc.id)
			if tc.secret != "" {
				req.Header.Set("CF-Access-Client-Secret", tc.secret)
			}
			req.Header.Set("Origin", "https://web.test")
			req.Header.Set("Accept", "text/html")
			before := len(e.origin.Requests())
			resp, body := e.edge.Do(t, req)
			if resp.StatusCode != tc.status || (tc.reason != "" && !strings.Contains(body, `"error":"`+tc.reason+`"`)) {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, tc.status, tc.reason)
			}
			if tc.status != 200 {
				if len(e.origin.Requests()) != before {
					t.Error("a refused request reached the origin")
				}
				if resp.Header.Get("Access-Control-Allow-Origin") != "https://web.test" {
					t.Error("refusal is not readable by the allowed page (no CORS headers)")
				}
			}
		})
	}
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := host(t, "app")
	app := e.app(t, h, map[string]any{"cors_headers": map[string]any{"allowed_origins": []string{"https://web.test"}, "allow_credentials": true}},
		pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`)))
	other := e.app(t, host(t, "other"), nil)
	valid := e.edge.MintSession(t, app.AUD, "ann@example.test", time.Hour)

	req := e.edge.Request(t, "GET", h, "/page", nil)
	req.AddCookie(&http.Cookie{Name: "theme", Value: "dark"})
	req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: valid})
	req.AddCookie(&http.Cookie{Name: "lang", Value: "en"})
	req.Header.Set("Cf-Access-Authenticated-User-Email", "ceo@example.test")
	resp, body := e.edge.Do(t, req)
	if resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("valid cookie: %d %s", resp.StatusCode, body)
	}
	got := e.origin.Last()
	if got.Header.Get("Cookie") != "theme=dark; lang=en" {
		t.Errorf("origin got Cookie %q: the session cookie should be gone, the others kept", got.Header.Get("Cookie"))
	}
	if got.Header.Get("Cf-Access-Jwt-Assertion") != valid || got.Header.Get("Cf-Access-Authenticated-User-Email") != "ann@example.test" {
		t.Errorf("origin headers: assertion=%q email=%q", got.Header.Get("Cf-Access-Jwt-Assertion"), got.Header.Get("Cf-Access-Authenticated-User-Email"))
	}
	// The cf-access-token header works like the cookie (non-browser clients).
	req = e.edge.Request(t, "GET", h, "/", nil)
	req.Header.Set("cf-access-token", valid)
	if resp, _ := e.edge.Do(t, req); resp.StatusCode != 200 {
		t.Errorf("cf-access-token header: %d", resp.StatusCode)
	}

	tampered := valid[:len(valid)-4] + "AAAA"
	tests := []struct {
		name, token, reason string
	}{
		{"fail/bad signature", tampered, "session_bad_signature"},
		{"fail/wrong audience", e.edge.MintSession(t, other.AUD, "ann@example.test", time.Hour), "session_wrong_audience"},
		{"fail/expired", e.edge.MintSession(t, app.AUD, "ann@example.test", -time.Minute), "session_expired"},
		{"fail/garbage", "not.a.jwt", "session_invalid"},
		{"fail/no cookie", "", "login_required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A script's fetch: a readable 401 with CORS headers and the login URL.
			req := e.edge.Request(t, "GET", h, "/data", nil)
			if tc.token != "" {
				req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: tc.token})
			}
			req.Header.Set("Origin", "https://web.test")
			req.Header.Set("Sec-Fetch-Mode", "cors")
			resp, body := e.edge.Do(t, req)
			var b struct {
				Error    string `json:"error"`
				LoginURL string `json:"login_url"`
			}
			_ = json.Unmarshal([]byte(body), &b)
			if resp.StatusCode != 401 || b.Error != tc.reason || !strings.Contains(b.LoginURL, "/cdn-cgi/access/login/"+h) {
				t.Fatalf("fetch: %d %s, want 401 %s with a login_url", resp.StatusCode, body, tc.reason)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "https://web.test" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
				t.Errorf("401 not readable by the page: %v", resp.Header)
			}
			// A browser navigation: redirected to login, back to this URL.
			req = e.edge.Request(t, "GET", h, "/data?q=1", nil)
			if tc.token != "" {
				req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: tc.token})
			}
			req.Header.Set("Sec-Fetch-Mode", "navigate")
			req.Header.Set("Accept", "text/html")
			resp, _ = e.edge.Do(t, req)
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != 302 || loc == nil || loc.Query().Get("redirect_url") != "http://"+h+"/data?q=1" {
				t.Fatalf("navigation: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	if n := len(e.origin.Requests()); n != 2 {
		t.Errorf("origin saw %d requests, want only the 2 allowed ones", n)
	}
}

func TestPolicyOrderAtTheEdge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := host(t, "app")
	app := e.app(t, h, nil,
		pol("deny contractors", "deny", rules(t, `{"email":{"email":"con@example.test"}}`)),
		pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`)),
		pol("health checks", "bypass", rules(t, `{"ip":{"ip":"127.0.0.0/8"}}`)))
	_ = app
	// The bypass (evaluated first) lets loopback in without credentials,
	// and without any assertion (a forged one is stripped).
	req := e.edge.Request(t, "GET", h, "/", nil)
	req.Header.Set("Cf-Access-Jwt-Assertion", "forged")
	resp, _ := e.edge.Do(t, req)
	if resp.StatusCode != 200 || e.origin.Last().Header.Get("Cf-Access-Jwt-Assertion") != "" {
		t.Fatalf("bypass: %d", resp.StatusCode)
	}
	// Replace the bypass with one for another range: now identity decides.
	var policies []access.Policy
	e.api.MustCall(t, "GET", "access/apps/"+app.ID+"/policies", nil, &policies)
	bypass := policies[2]
	e.api.MustCall(t, "PUT", "access/apps/"+app.ID+"/policies/"+bypass.ID, map[string]any{"name": "health checks", "decision": "bypass",
		"include": rules(t, `{"ip":{"ip":"192.0.2.0/24"}}`)}, nil)
	e.edge.Sync(t, e.api.Store)
	for email, want := range map[string]int{"con@example.test": 403, "ann@example.test": 200, "eve@evil.test": 403} {
		req := e.edge.Request(t, "GET", h, "/", nil)
		req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: e.edge.MintSession(t, app.AUD, email, time.Hour)})
		resp, body := e.edge.Do(t, req)
		if resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", email, resp.StatusCode, body, want)
		}
	}
}

func TestAPIChangeReachesTheEdgeWithinMilliseconds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := host(t, "api")
	app := e.app(t, h, map[string]any{"cors_headers": map[string]any{"allowed_origins": []string{"https://a.test"}, "max_age": 10}})
	for i := 1; i <= 5; i++ {
		body := map[string]any{"type": "self_hosted", "name": h, "domain": h, "origin": e.origin.URL,
			"cors_headers": map[string]any{"allowed_origins": []string{"https://a.test"}, "max_age": 10 + i}}
		start := time.Now()
		e.api.MustCall(t, "PUT", "access/apps/"+app.ID, body, nil)
		for {
			resp, _ := e.edge.Do(t, preflight(e, t, h, "https://a.test", "GET", ""))
			if resp.Header.Get("Access-Control-Max-Age") == fmt.Sprint(10+i) {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("change %d not enforced after 5s", i)
			}
		}
		t.Logf("change %d enforced %v after the API answered", i, time.Since(start))
	}
}

func TestFailStaticWhileTheDatabaseIsAway(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	viaCutter, cutter := gatehousetest.StoreVia(t)
	e := &env{api: a, edge: gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: viaCutter, ReloadInterval: 100 * time.Millisecond}), origin: gatehousetest.StartOrigin(t)}
	h := host(t, "app")
	app := e.app(t, h, nil, pol("open", "bypass", rules(t, `{"everyone":{}}`)))
	if resp, _ := e.edge.Do(t, e.edge.Request(t, "GET", h, "/", nil)); resp.StatusCode != 200 {
		t.Fatalf("before the cut: %d", resp.StatusCode)
	}
	cutter.Cut()
	before := e.edge.Loader.State().Snap.Version
	// The control plane (on its own connection) changes the app while the
	// edge cannot see the database.
	var policies []access.Policy
	e.api.MustCall(t, "GET", "access/apps/"+app.ID+"/policies", nil, &policies)
	e.api.MustCall(t, "PUT", "access/apps/"+app.ID+"/policies/"+policies[0].ID, map[string]any{"name": "open", "decision": "bypass",
		"include": rules(t, `{"ip":{"ip":"192.0.2.0/24"}}`)}, nil)
	for i := 0; i < 10; i++ {
		time.Sleep(50 * time.Millisecond)
		resp, _ := e.edge.Do(t, e.edge.Request(t, "GET", h, "/", nil))
		if resp.StatusCode != 200 {
			t.Fatalf("edge stopped serving its last config while the database was away: %d", resp.StatusCode)
		}
	}
	if v := e.edge.Loader.State().Snap.Version; v != before {
		t.Fatalf("edge moved from version %d to %d without a database", before, v)
	}
	cutter.Restore()
	e.edge.Sync(t, e.api.Store)
	if resp, _ := e.edge.Do(t, e.edge.Request(t, "GET", h, "/", nil)); resp.StatusCode != 401 {
		t.Fatalf("after the database returned, the change is not enforced: %d", resp.StatusCode)
	}
}

func TestWebSocketUpgradeIsProxied(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ed := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store})
	// An origin that switches protocols and echoes what it reads.
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" || r.Header.Get("Cf-Access-Jwt-Assertion") == "" {
			http.Error(w, "want an authenticated upgrade", 400)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = buf.Flush()
		_, _ = io.Copy(conn, buf)
	}))
	t.Cleanup(origin.Close)
	e := &env{api: a, edge: ed}
	h := host(t, "ws")
	var app access.App
	a.MustCall(t, "POST", "access/apps", map[string]any{"type": "self_hosted", "name": h, "domain": h, "origin": origin.URL}, &app)
	a.MustCall(t, "POST", "access/apps/"+app.ID+"/policies", pol("staff", "allow", rules(t, `{"everyone":{}}`)), nil)
	e.edge.Sync(t, a.Store)

	conn, err := net.Dial("tcp", strings.TrimPrefix(ed.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	cookie := ed.MintSession(t, app.AUD, "ann@example.test", time.Hour)
	fmt.Fprintf(conn, "GET /socket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: CF_Authorization=%s\r\n\r\n", h, cookie)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if _, err := conn.Write([]byte("ping through the edge")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("ping through the edge"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping through the edge" {
		t.Fatalf("echo: %q %v", got, err)
	}
}

func TestDotSegmentsCannotCrossIntoAnotherApp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := host(t, "site")
	// /public is open to anyone; the rest of the host needs a login.
	e.app(t, h+"/public", nil, pol("open", "bypass", rules(t, `{"everyone":{}}`)))
	e.app(t, h, nil, pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`)))
	for _, p := range []string{"/public/../admin", "/public/./../admin", "//admin", "/public/%2e%2e/admin"} {
		req := e.edge.Request(t, "GET", h, "/", nil)
		req.URL.Opaque = p // sent as written
		resp, body := e.edge.Do(t, req)
		// 401 from the root app; "//admin" reads as an authority, so it is
		// an unknown host (404). Never the open /public app.
		if resp.StatusCode != 401 && resp.StatusCode != 404 {
			t.Errorf("%s: %d %s, want 401 from the root app", p, resp.StatusCode, body)
		}
	}
	if resp, _ := e.edge.Do(t, e.edge.Request(t, "GET", h, "/public/./page", nil)); resp.StatusCode != 200 || e.origin.Last().URL.Path != "/public/page" {
		t.Errorf("a clean path inside /public: %d, origin got %q", resp.StatusCode, e.origin.Last().URL.Path)
	}
	if n := len(e.origin.Requests()); n != 1 {
		t.Errorf("origin saw %d requests, want 1", n)
	}
}

func TestOriginVerifiesTheAssertionWithAccessjwt(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ed := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store})
	h := host(t, "app")
	var app access.App
	var seenClaims atomic.Pointer[accessjwt.Claims]
	// The origin trusts nothing but a verified assertion.
	var verifier *accessjwt.Verifier
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		verifier.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := accessjwt.ClaimsFromContext(r.Context())
			seenClaims.Store(c)
			_, _ = io.WriteString(w, "hello "+c.Email)
		})).ServeHTTP(w, r)
	}))
	t.Cleanup(origin.Close)
	a.MustCall(t, "POST", "access/apps", map[string]any{"type": "self_hosted", "name": h, "domain": h, "origin": origin.URL}, &app)
	a.MustCall(t, "POST", "access/apps/"+app.ID+"/policies", pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`)), nil)
	ed.Sync(t, a.Store)
	verifier = accessjwt.NewVerifier(ed.URL+"/cdn-cgi/access/certs", app.AUD, accessjwt.WithIssuer(ed.Issuer))

	req := ed.Request(t, "GET", h, "/", nil)
	req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: ed.MintSession(t, app.AUD, "ann@example.test", time.Hour)})
	resp, body := ed.Do(t, req)
	seen := seenClaims.Load()
	if resp.StatusCode != 200 || body != "hello ann@example.test" || seen == nil || seen.Issuer != ed.Issuer {
		t.Fatalf("through the edge: %d %q claims %+v", resp.StatusCode, body, seen)
	}
	// Straight to the origin with a forged header: refused by the origin.
	direct, _ := http.NewRequest("GET", origin.URL, nil)
	direct.Header.Set("Cf-Access-Jwt-Assertion", "forged")
	r2, err := http.DefaultClient.Do(direct)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 403 {
		t.Fatalf("origin accepted a forged assertion: %d", r2.StatusCode)
	}
}
