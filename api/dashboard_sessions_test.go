package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const sessionPath = "/client/v4/gatehouse/dashboard/session"

// dashboardSession is the result of the session routes.
type dashboardSession struct {
	AccountID string    `json:"account_id"`
	TokenID   string    `json:"token_id"`
	TokenName string    `json:"token_name"`
	ReadOnly  bool      `json:"read_only"`
	ExpiresAt time.Time `json:"expires_at"`
	CSRFToken string    `json:"csrf_token"`
}

// signIn exchanges token for a session and returns the cookie's value and
// the session.
func signIn(t testing.TB, a *gatehousetest.API, token string) (secret string, sess dashboardSession, resp gatehousetest.Response) {
	t.Helper()
	resp = a.Do(t, gatehousetest.Request{Method: "POST", Path: sessionPath, Token: "-", Body: map[string]string{"token": token}})
	if resp.Status != http.StatusOK {
		t.Fatalf("sign in: status %d: %s", resp.Status, resp.Body)
	}
	resp.Decode(t, &sess)
	c := sessionCookie(t, resp.Header)
	return c.Value, sess, resp
}

// sessionCookie returns the one gatehouse_dashboard cookie a response sets.
func sessionCookie(t testing.TB, h http.Header) *http.Cookie {
	t.Helper()
	var found *http.Cookie
	for _, line := range h.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		if c.Name == api.DashboardSessionCookie {
			if found != nil {
				t.Fatalf("two %s cookies: %q", api.DashboardSessionCookie, h.Values("Set-Cookie"))
			}
			found = c
		}
	}
	if found == nil {
		t.Fatalf("no %s cookie in %q", api.DashboardSessionCookie, h.Values("Set-Cookie"))
	}
	return found
}

// withCookie is a request authenticated by a session cookie (no bearer
// token) with csrf, if not empty, in the CSRF header.
func withCookie(method, path, secret, csrf string, body any) gatehousetest.Request {
	h := map[string]string{"Cookie": api.DashboardSessionCookie + "=" + secret}
	if csrf != "" {
		h[api.CSRFHeader] = csrf
	}
	return gatehousetest.Request{Method: method, Path: path, Token: "-", Body: body, Header: h}
}

func wantStatus(t *testing.T, resp gatehousetest.Response, status, code int) {
	t.Helper()
	if resp.Status != status {
		t.Fatalf("status = %d, want %d: %s", resp.Status, status, resp.Body)
	}
	if code != 0 && (len(resp.Env.Errors) != 1 || resp.Env.Errors[0].Code != code || resp.Env.Success) {
		t.Fatalf("errors = %+v, want one with code %d", resp.Env.Errors, code)
	}
}

func TestDashboardSignInSetsAStrictHTTPOnlySessionCookie(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	start := time.Now()
	secret, sess, resp := signIn(t, a, a.Token)

	line := resp.Header.Get("Set-Cookie")
	c := sessionCookie(t, resp.Header)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge != int(api.DefaultDashboardSessionTTL/time.Second) {
		t.Errorf("cookie attributes: %q", line)
	}
	if c.Secure {
		t.Errorf("Secure over plain HTTP: %q", line)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(raw) != 32 {
		t.Errorf("cookie value %q is not 32 base64url bytes (%v)", secret, err)
	}
	if sess.AccountID != a.AccountID || sess.TokenName != "rw" || sess.TokenID == "" || sess.ReadOnly || sess.CSRFToken == "" {
		t.Errorf("session = %+v", sess)
	}
	if d := sess.ExpiresAt.Sub(start); d < api.DefaultDashboardSessionTTL-time.Minute || d > api.DefaultDashboardSessionTTL+time.Minute {
		t.Errorf("expires_at %v is not 8h from now", sess.ExpiresAt)
	}
	if bytes.Contains(resp.Body, []byte(secret)) || bytes.Contains(resp.Body, []byte(a.Token)) {
		t.Errorf("response body carries a secret: %s", resp.Body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}

	// The page reloads: the cookie alone gets the same session back.
	got := a.Do(t, gatehousetest.Request{Method: "GET", Path: sessionPath, Token: "-", Header: map[string]string{"Cookie": api.DashboardSessionCookie + "=" + secret}})
	wantStatus(t, got, 200, 0)
	var again dashboardSession
	got.Decode(t, &again)
	if again != sess {
		t.Errorf("GET session = %+v, want %+v", again, sess)
	}
}

// Over TLS the cookie is Secure; and neither the API token nor the session
// secret reaches the log.
func TestDashboardSessionCookieIsSecureOverTLSAndSecretsStayOutOfTheLog(t *testing.T) {
	t.Parallel()
	st := gatehousetest.Store(t)
	var logged lockedBuffer
	srv := httptest.NewTLSServer(api.New(st, slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))).Handler())
	t.Cleanup(srv.Close)
	acct, token, _ := gatehousetest.NewAccount(t, st)

	resp, err := srv.Client().Post(srv.URL+sessionPath, "application/json", strings.NewReader(`{"token": "`+token+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign in over TLS: %d", resp.StatusCode)
	}
	c := sessionCookie(t, resp.Header)
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie over TLS: %q", resp.Header.Get("Set-Cookie"))
	}

	// A failed sign-in and a cookie request, to give the log every chance.
	resp, err = srv.Client().Post(srv.URL+sessionPath, "application/json", strings.NewReader(`{"token": "ghat_wrong-guess"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/client/v4/accounts/"+acct+"/access/apps", nil)
	req.AddCookie(&http.Cookie{Name: api.DashboardSessionCookie, Value: c.Value})
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("cookie request without CSRF header over TLS: %d", resp.StatusCode)
	}

	out := logged.String()
	if !strings.Contains(out, "dashboard sign-in") {
		t.Errorf("no sign-in log line in:\n%s", out)
	}
	for _, secret := range []string{token, c.Value, "ghat_wrong-guess"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log contains a secret %q:\n%s", secret, out)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestDashboardSessionCookieAuthenticatesAccountRoutesWithTheCSRFHeader(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	otherAccount, otherToken, _ := gatehousetest.NewAccount(t, a.Store)
	secret, sess, _ := signIn(t, a, a.Token)
	_, otherSess, _ := signIn(t, a, a.Token) // a second session of the same token
	newToken := func(name string) map[string]any { return map[string]any{"name": name} }

	tests := []struct {
		name   string
		req    gatehousetest.Request
		status int
		code   int
	}{
		{"ok/read with the CSRF header", withCookie("GET", "access/apps", secret, sess.CSRFToken, nil), 200, 0},
		{"fail/read without the CSRF header", withCookie("GET", "access/apps", secret, "", nil), 403, 10001},
		{"fail/write without the CSRF header", withCookie("POST", "access/service_tokens", secret, "", newToken("no-header")), 403, 10001},
		{"fail/write with a wrong CSRF header", withCookie("POST", "access/service_tokens", secret, sess.CSRFToken+"x", newToken("wrong")), 403, 10001},
		{"fail/write with another session's CSRF token", withCookie("POST", "access/service_tokens", secret, otherSess.CSRFToken, newToken("other")), 403, 10001},
		{"fail/delete without the CSRF header", withCookie("DELETE", "access/apps/6f1f7e7e-0000-4000-8000-000000000000", secret, "", nil), 403, 10001},
		{"fail/unknown cookie", withCookie("GET", "access/apps", "bm9wZQ", sess.CSRFToken, nil), 401, 10000},
		{"fail/another account gets 404", withCookie("GET", "/client/v4/accounts/"+otherAccount+"/access/apps", secret, sess.CSRFToken, nil), 404, 1005},
		{"ok/a bearer token takes precedence over the cookie", gatehousetest.Request{Method: "GET", Path: "access/apps", Token: otherToken, Header: map[string]string{"Cookie": api.DashboardSessionCookie + "=" + secret}}, 404, 1005},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.Do(t, tc.req)
			wantStatus(t, resp, tc.status, tc.code)
			if tc.status == 403 && !strings.Contains(resp.Env.Errors[0].Message, api.CSRFHeader) {
				t.Errorf("403 message does not name the header: %q", resp.Env.Errors[0].Message)
			}
		})
	}
	// None of the refused writes changed anything.
	var tokens []map[string]any
	a.MustCall(t, "GET", "access/service_tokens", nil, &tokens)
	if len(tokens) != 0 {
		t.Fatalf("refused cookie writes created %d service tokens: %v", len(tokens), tokens)
	}

	// With the header, a write works and the audit log names the dashboard.
	resp := a.Do(t, withCookie("POST", "access/service_tokens", secret, sess.CSRFToken, newToken("from-dashboard")))
	wantStatus(t, resp, 200, 0)
	var created struct {
		ID           string `json:"id"`
		ClientSecret string `json:"client_secret"`
	}
	resp.Decode(t, &created)
	var entries []struct {
		Actor struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"actor"`
	}
	a.MustCall(t, "GET", "audit_logs?resource_id="+created.ID, nil, &entries)
	if len(entries) != 1 || entries[0].Actor.Name != "token rw (dashboard)" || entries[0].Actor.ID != sess.TokenID {
		t.Errorf("audit entries = %+v, want one by %q (%s)", entries, "token rw (dashboard)", sess.TokenID)
	}
}

func TestDashboardSessionOfAReadOnlyTokenMayOnlyRead(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	secret, sess, _ := signIn(t, a, a.ReadOnlyToken)
	if !sess.ReadOnly || sess.TokenName != "ro" {
		t.Fatalf("session = %+v", sess)
	}
	wantStatus(t, a.Do(t, withCookie("GET", "access/service_tokens", secret, sess.CSRFToken, nil)), 200, 0)
	resp := a.Do(t, withCookie("POST", "access/service_tokens", secret, sess.CSRFToken, map[string]any{"name": "x"}))
	wantStatus(t, resp, 403, 10001)
	if !strings.Contains(resp.Env.Errors[0].Message, "read-only") {
		t.Errorf("message = %q", resp.Env.Errors[0].Message)
	}
	// Signing out is not a write: a read-only session may end itself.
	wantStatus(t, a.Do(t, withCookie("DELETE", sessionPath, secret, sess.CSRFToken, nil)), 200, 0)
}

func TestDashboardSignOutEndsTheSessionAndClearsTheCookie(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	secret, sess, _ := signIn(t, a, a.Token)

	// Without the CSRF header a cross-site page could sign the user out.
	wantStatus(t, a.Do(t, withCookie("DELETE", sessionPath, secret, "", nil)), 403, 10001)
	wantStatus(t, a.Do(t, withCookie("GET", "access/apps", secret, sess.CSRFToken, nil)), 200, 0)

	resp := a.Do(t, withCookie("DELETE", sessionPath, secret, sess.CSRFToken, nil))
	wantStatus(t, resp, 200, 0)
	if string(resp.Env.Result) != "null" {
		t.Errorf("result = %s, want null", resp.Env.Result)
	}
	if c := sessionCookie(t, resp.Header); c.MaxAge >= 0 || c.Value != "" || !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("sign-out does not clear the cookie: %q", resp.Header.Get("Set-Cookie"))
	}

	// The same cookie is dead, for every route.
	wantStatus(t, a.Do(t, withCookie("GET", "access/apps", secret, sess.CSRFToken, nil)), 401, 10000)
	resp = a.Do(t, withCookie("GET", sessionPath, secret, "", nil))
	wantStatus(t, resp, 401, 10000)
	if c := sessionCookie(t, resp.Header); c.MaxAge >= 0 {
		t.Errorf("a dead session's cookie is not cleared: %q", resp.Header.Get("Set-Cookie"))
	}
	wantStatus(t, a.Do(t, withCookie("DELETE", sessionPath, secret, sess.CSRFToken, nil)), 401, 10000)
	// The API token itself still works.
	a.MustCall(t, "GET", "access/apps", nil, nil)
}

func TestDashboardSessionEndsWhenItsAPITokenIsDeleted(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx := context.Background()
	tok, value, err := a.Store.CreateAPIToken(ctx, a.AccountID, "doomed", false)
	if err != nil {
		t.Fatal(err)
	}
	secret, sess, _ := signIn(t, a, value)
	wantStatus(t, a.Do(t, withCookie("GET", "access/apps", secret, sess.CSRFToken, nil)), 200, 0)

	if _, err := a.Store.Pool().Exec(ctx, `DELETE FROM api_tokens WHERE id = $1`, tok.ID); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, a.Do(t, withCookie("GET", "access/apps", secret, sess.CSRFToken, nil)), 401, 10000)
	wantStatus(t, a.Do(t, withCookie("GET", sessionPath, secret, "", nil)), 401, 10000)
}

// clockedAPI is an API whose store reads the time from a clock the test
// moves.
func clockedAPI(t *testing.T, opts ...api.Option) (*gatehousetest.API, *gatehousetest.Clock) {
	t.Helper()
	c := gatehousetest.NewClock(time.Now())
	st, err := store.Open(context.Background(), gatehousetest.DatabaseURL(t), store.WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return gatehousetest.NewAPIOn(t, st, opts...), c
}

func TestDashboardSessionExpiresAfterItsLifetimeEvenWhenBusy(t *testing.T) {
	t.Parallel()
	a, c := clockedAPI(t, api.WithDashboardSessionTTL(2*time.Hour))
	secret, sess, resp := signIn(t, a, a.Token)
	if got := sessionCookie(t, resp.Header).MaxAge; got != 7200 {
		t.Errorf("Max-Age = %d, want 7200", got)
	}
	if d := sess.ExpiresAt.Sub(c.Now()); d < 2*time.Hour-time.Second || d > 2*time.Hour {
		t.Errorf("expires_at %v is not 2h after %v", sess.ExpiresAt, c.Now())
	}
	for range 2 {
		c.Advance(50 * time.Minute) // never idle for an hour
		wantStatus(t, a.Do(t, withCookie("GET", "access/apps", secret, sess.CSRFToken, nil)), 200, 0)
	}
	c.Advance(21 * time.Minute) // 2h01m since sign-in
	wantStatus(t, a.Do(t, withCookie("GET", "access/apps", secret, sess.CSRFToken, nil)), 401, 10000)
	wantStatus(t, a.Do(t, withCookie("GET", sessionPath, secret, "", nil)), 401, 10000)
}

func TestDashboardSessionEndsAfterAnHourIdle(t *testing.T) {
	t.Parallel()
	a, c := clockedAPI(t)
	secret, sess, _ := signIn(t, a, a.Token)
	for range 3 {
		c.Advance(59 * time.Minute)
		wantStatus(t, a.Do(t, withCookie("GET", sessionPath, secret, "", nil)), 200, 0)
	}
	c.Advance(time.Hour)
	wantStatus(t, a.Do(t, withCookie("GET", "access/apps", secret, sess.CSRFToken, nil)), 401, 10000)
	// Dead is dead, even if the clock were to say otherwise.
	c.Advance(-2 * time.Hour)
	wantStatus(t, a.Do(t, withCookie("GET", sessionPath, secret, "", nil)), 401, 10000)
}

func TestDashboardSignInRefusals(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	tests := []struct {
		name   string
		body   any
		status int
		code   int
		field  string
	}{
		{"fail/unknown token", map[string]any{"token": "ghat_nope"}, 401, 10000, ""},
		{"fail/missing token", map[string]any{}, 400, 1002, "token"},
		{"fail/empty token", map[string]any{"token": ""}, 400, 1002, "token"},
		{"fail/token not a string", map[string]any{"token": 42}, 400, 1002, "token"},
		{"fail/unknown member", map[string]any{"token": a.Token, "account_id": a.AccountID}, 400, 1002, "account_id"},
		{"fail/not JSON", []byte("token=x"), 400, 1001, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.Do(t, gatehousetest.Request{Method: "POST", Path: sessionPath, Token: "-", Body: tc.body})
			wantStatus(t, resp, tc.status, tc.code)
			if tc.field != "" && resp.Env.Errors[0].Field != tc.field {
				t.Errorf("field = %q, want %q", resp.Env.Errors[0].Field, tc.field)
			}
			if resp.Header.Get("Set-Cookie") != "" {
				t.Errorf("a refused sign-in sets a cookie: %q", resp.Header.Get("Set-Cookie"))
			}
		})
	}
	// No cookie at all.
	wantStatus(t, a.Do(t, gatehousetest.Request{Method: "GET", Path: sessionPath, Token: "-"}), 401, 10000)
	wantStatus(t, a.Do(t, gatehousetest.Request{Method: "DELETE", Path: sessionPath, Token: "-"}), 401, 10000)
	// A bearer token is not a session.
	wantStatus(t, a.Do(t, gatehousetest.Request{Method: "GET", Path: sessionPath}), 401, 10000)
}

func TestDashboardSignInFailuresAreRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	bad := gatehousetest.Request{Method: "POST", Path: sessionPath, Token: "-", Body: map[string]string{"token": "ghat_guess"}}
	// Successes and malformed bodies do not count.
	signIn(t, a, a.Token)
	wantStatus(t, a.Do(t, gatehousetest.Request{Method: "POST", Path: sessionPath, Token: "-", Body: map[string]any{}}), 400, 1002)
	for i := range 10 {
		if resp := a.Do(t, bad); resp.Status != 401 {
			t.Fatalf("failure %d: status %d: %s", i+1, resp.Status, resp.Body)
		}
	}
	resp := a.Do(t, bad)
	wantStatus(t, resp, 429, 1010)
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}
	// While limited even the right token is refused unchecked, so the
	// limit cannot be used to confirm a guess.
	resp = a.Do(t, gatehousetest.Request{Method: "POST", Path: sessionPath, Token: "-", Body: map[string]string{"token": a.Token}})
	wantStatus(t, resp, 429, 1010)
	// Bearer authentication is unaffected.
	a.MustCall(t, "GET", "access/apps", nil, nil)
}

// The session routes' results decode as the documented shape, with no
// member the contract does not name.
func TestDashboardSessionResultHasExactlyTheContractsMembers(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	_, _, resp := signIn(t, a, a.Token)
	var members map[string]json.RawMessage
	resp.Decode(t, &members)
	want := []string{"account_id", "token_id", "token_name", "read_only", "expires_at", "csrf_token"}
	if len(members) != len(want) {
		t.Errorf("members = %v, want %v", members, want)
	}
	for _, k := range want {
		if _, ok := members[k]; !ok {
			t.Errorf("no %q in %s", k, resp.Env.Result)
		}
	}
	var exp string
	_ = json.Unmarshal(members["expires_at"], &exp)
	if _, err := time.Parse(time.RFC3339, exp); err != nil {
		t.Errorf("expires_at %q is not RFC 3339: %v", exp, err)
	}
}
