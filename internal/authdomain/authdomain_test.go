package authdomain_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestMain(m *testing.M) { gatehousetest.Main(m) }

var (
	host     = gatehousetest.Host
	rules    = gatehousetest.Rules
	pol      = gatehousetest.Policy
	get      = gatehousetest.Get
	postForm = gatehousetest.PostForm
)

func newEnv(t *testing.T) *gatehousetest.Env {
	return gatehousetest.NewEnv(t, gatehousetest.EdgeOptions{})
}

func TestOIDCLoginThenSecondAppNeedsOnlyTheRedirectHop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	op := gatehousetest.StartOIDCProvider(t, e.Edge.Issuer+"/cdn-cgi/access/callback")
	var idp access.IdentityProvider
	e.API.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Test OIDC", "type": "oidc",
		"config": map[string]any{"client_id": op.ClientID, "client_secret": op.ClientSecret, "issuer_url": op.Issuer}}, &idp)
	port := e.Edge.URL[strings.LastIndex(e.Edge.URL, ":"):]
	first, second := host(t, "first"), host(t, "second")
	staff := pol("staff", "allow", rules(t, `{"email_domain":{"domain":"zitadel.ch"}}`))
	e.App(t, first, map[string]any{"allowed_idps": []string{idp.ID}, "auto_redirect_to_identity": true, "session_duration": "2h"}, staff)
	e.App(t, second, nil, staff)
	c := gatehousetest.LoginClient(t, e.Edge.URL)

	// Visiting the app goes through the provider's login form.
	resp, body := get(t, c, "http://"+first+port+"/private?x=1")
	if resp.StatusCode != 200 || !strings.Contains(body, `name="password"`) {
		t.Fatalf("expected the provider's login form, got %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	id := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(body)
	if id == nil {
		t.Fatalf("no auth request id in the provider's form:\n%s", body)
	}
	loginURL := resp.Request.URL.ResolveReference(&url.URL{Path: "/login/username"})
	resp, body = postForm(t, c, loginURL.String(), url.Values{"id": {id[1]}, "username": {op.Username}, "password": {op.Password}})
	if resp.StatusCode != 200 || body != "origin ok" || resp.Request.URL.String() != "http://"+first+port+"/private?x=1" {
		t.Fatalf("after login: %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
	}
	got := e.Origin.Last()
	if got.Header.Get("Cf-Access-Authenticated-User-Email") != op.Email {
		t.Errorf("origin saw user %q, want %q", got.Header.Get("Cf-Access-Authenticated-User-Email"), op.Email)
	}
	// The app cookie is the app's own: HttpOnly, scoped to its host, living
	// the app's session_duration.
	var appCookie *http.Cookie
	for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: first + port}) {
		if ck.Name == "CF_Authorization" {
			appCookie = ck
		}
	}
	if appCookie == nil {
		t.Fatal("no CF_Authorization cookie for the app")
	}
	claims, err := e.Edge.Loader.State().Keys.Verify(appCookie.Value, appAUD(t, e, first), e.Edge.Issuer, time.Now())
	if err != nil || claims.Email != op.Email || claims.LoginMethod != idp.ID || claims.Expiry.Sub(claims.IssuedAt.Truncate(time.Second)) != 2*time.Hour || claims.SessionID == "" {
		t.Fatalf("app cookie claims %+v err %v", claims, err)
	}

	// A second app: the auth-domain session skips the provider; only the
	// redirect hop through /cdn-cgi/access/authorized happens.
	before := len(e.Origin.Requests())
	resp, body = get(t, c, "http://"+second+port+"/")
	if resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("second app: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	if len(e.Origin.Requests()) != before+1 {
		t.Errorf("origin saw %d requests for the second app", len(e.Origin.Requests())-before)
	}
	// get-identity tells the page who is logged in.
	resp, body = get(t, c, "http://"+second+port+"/cdn-cgi/access/get-identity")
	if resp.StatusCode != 200 || !strings.Contains(body, `"email":"`+op.Email+`"`) {
		t.Errorf("get-identity: %d %s", resp.StatusCode, body)
	}

	// Logging out of an app clears its cookie and the auth-domain session.
	get(t, c, "http://"+second+port+"/cdn-cgi/access/logout")
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ = get(t, c, "http://"+second+port+"/")
	if resp.StatusCode != 302 || !strings.Contains(resp.Header.Get("Location"), "/cdn-cgi/access/login/") {
		t.Errorf("after logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// appAUD is the AUD of the app on domain.
func appAUD(t *testing.T, e *gatehousetest.Env, domain string) string {
	t.Helper()
	var apps []access.App
	e.API.MustCall(t, "GET", "access/apps?domain="+domain, nil, &apps)
	if len(apps) != 1 {
		t.Fatalf("%d apps for %s", len(apps), domain)
	}
	return apps[0].AUD
}

func TestOneTimePINLoginAndItsSafety(t *testing.T) {
	t.Parallel()
	mail := gatehousetest.NewPINCatcher()
	e := gatehousetest.NewEnv(t, gatehousetest.EdgeOptions{Mailer: mail})
	a := e.API
	var idp access.IdentityProvider
	a.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Email code", "type": "onetimepin", "config": map[string]any{}}, &idp)
	port := e.Edge.URL[strings.LastIndex(e.Edge.URL, ":"):]
	h := host(t, "app")
	e.App(t, h, nil, pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`)))
	c := gatehousetest.LoginClient(t, e.Edge.URL)

	resp, body := get(t, c, "http://"+h+port+"/")
	if resp.StatusCode != 200 || !strings.Contains(body, `name="email"`) {
		t.Fatalf("login page: %d %s", resp.StatusCode, body)
	}
	action, form := gatehousetest.HiddenFields(t, body)
	form.Set("email", "Ann@Example.test")
	resp, body = postForm(t, c, resp.Request.URL.ResolveReference(&url.URL{Path: action}).String(), form)
	if resp.StatusCode != 200 || mail.PIN("ann@example.test") == "" {
		t.Fatalf("send code: %d %s", resp.StatusCode, body)
	}
	verifyAction, verifyForm := gatehousetest.HiddenFields(t, body)
	verifyURL := resp.Request.URL.ResolveReference(&url.URL{Path: verifyAction}).String()

	wrong := url.Values{}
	for k, v := range verifyForm {
		wrong[k] = v
	}
	wrong.Set("code", "000000")
	if mail.PIN("ann@example.test") == "000000" {
		wrong.Set("code", "111111")
	}
	if resp, _ := postForm(t, c, verifyURL, wrong); resp.StatusCode != 401 {
		t.Fatalf("wrong code: %d", resp.StatusCode)
	}
	verifyForm.Set("code", mail.PIN("ann@example.test"))
	resp, body = postForm(t, c, verifyURL, verifyForm)
	if resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("right code: %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
	}
	// The code is single-use.
	if resp, _ := postForm(t, c, verifyURL, verifyForm); resp.StatusCode != 401 {
		t.Errorf("code used twice: %d", resp.StatusCode)
	}
	// A login link (the authorized token) is single-use, too.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ = get(t, c, e.Edge.Issuer+"/cdn-cgi/access/login/"+h+"?redirect_url="+url.QueryEscape("http://"+h+port+"/again"))
	hop := resp.Header.Get("Location")
	if resp.StatusCode != 302 || !strings.Contains(hop, "/cdn-cgi/access/authorized?") {
		t.Fatalf("logged-in login page: %d %s", resp.StatusCode, hop)
	}
	if resp, _ := get(t, c, hop); resp.StatusCode != 302 || resp.Header.Get("Location") != "http://"+h+port+"/again" {
		t.Fatalf("authorized hop: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(t, c, hop); resp.StatusCode != 400 {
		t.Errorf("authorized link reused: %d", resp.StatusCode)
	}
	// Too many codes for one address are refused.
	var last int
	for i := 0; i < 6; i++ {
		resp, _ := postForm(t, c, resp.Request.URL.ResolveReference(&url.URL{Path: action}).String(), form)
		last = resp.StatusCode
	}
	if last != 429 {
		t.Errorf("after 7 codes for one address: %d, want 429", last)
	}
}

func TestRevokedSessionsStopWorkingAtTheEdge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := host(t, "app")
	app := e.App(t, h, nil, pol("all", "allow", rules(t, `{"everyone":{}}`)))
	cookie := e.Edge.MintSession(t, app.AUD, "ann@example.test", time.Hour)
	send := func() int {
		req := e.Edge.Request(t, "GET", h, "/", nil)
		req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: cookie})
		resp, _ := e.Edge.Do(t, req)
		return resp.StatusCode
	}
	if s := send(); s != 200 {
		t.Fatalf("before revocation: %d", s)
	}
	time.Sleep(1100 * time.Millisecond) // tokens carry whole seconds
	e.API.MustCall(t, "POST", "access/apps/"+app.ID+"/revoke_tokens", nil, nil)
	e.Edge.Sync(t, e.API.Store)
	if s := send(); s != 401 {
		t.Fatalf("after revocation: %d", s)
	}
	// A token issued after the revocation works.
	time.Sleep(1100 * time.Millisecond)
	cookie = e.Edge.MintSession(t, app.AUD, "ann@example.test", time.Hour)
	if s := send(); s != 200 {
		t.Fatalf("new session after revocation: %d", s)
	}
}

func TestOIDCCallbackChecksStateAndRateLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	op := gatehousetest.StartOIDCProvider(t, e.Edge.Issuer+"/cdn-cgi/access/callback")
	var idp access.IdentityProvider
	e.API.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Test OIDC", "type": "oidc",
		"config": map[string]any{"client_id": op.ClientID, "client_secret": op.ClientSecret, "issuer_url": op.Issuer}}, &idp)
	h := host(t, "app")
	e.App(t, h, map[string]any{"allowed_idps": []string{idp.ID}, "auto_redirect_to_identity": true}, pol("all", "allow", rules(t, `{"everyone":{}}`)))
	port := e.Edge.URL[strings.LastIndex(e.Edge.URL, ":"):]
	c := gatehousetest.LoginClient(t, e.Edge.URL)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	// Start a login: the edge sends the browser to the provider with
	// state, nonce and a PKCE challenge, and keeps them in a sealed cookie.
	follow := func(resp *http.Response) *http.Response {
		next, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusFound {
			t.Fatalf("expected a redirect, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		r, _ := get(t, c, next.String())
		return r
	}
	resp, _ := get(t, c, "http://"+h+port+"/")
	resp = follow(resp) // the auth domain's login page: auto-redirect to start
	resp = follow(resp) // start: off to the provider
	auth, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(auth.String(), op.Issuer) {
		t.Fatalf("not sent to the provider: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	q := auth.Query()
	if q.Get("state") == "" || q.Get("nonce") == "" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		t.Fatalf("authorization request lacks state, nonce or PKCE: %s", auth.RawQuery)
	}
	if q.Has("prompt") {
		t.Errorf("a first sign-in asks the provider for prompt=%s", q.Get("prompt"))
	}
	// "Sign in with another account" (the block page's link, switch=1)
	// asks the provider to let the user choose the account.
	sw, _ := get(t, c, e.Edge.Issuer+"/cdn-cgi/access/login/"+h+"?switch=1&redirect_url="+url.QueryEscape("http://"+h+port+"/"))
	sw = follow(sw) // start
	if a, err := url.Parse(sw.Header.Get("Location")); err != nil || a.Query().Get("prompt") != "select_account" || !strings.HasPrefix(a.String(), op.Issuer) {
		t.Errorf("switching account sends the user to %q, want the provider with prompt=select_account", sw.Header.Get("Location"))
	}
	// A callback with another state is refused (and spends the login).
	resp, body := get(t, c, e.Edge.Issuer+"/cdn-cgi/access/callback?code=x&state=forged")
	if resp.StatusCode != 400 || !strings.Contains(body, "does not match") {
		t.Errorf("forged state: %d %s", resp.StatusCode, body)
	}
	resp, _ = get(t, c, e.Edge.Issuer+"/cdn-cgi/access/callback?code=x&state="+q.Get("state"))
	if resp.StatusCode != 400 {
		t.Errorf("callback after the login state was spent: %d", resp.StatusCode)
	}
	// A burst of login starts from one address is cut off.
	start := e.Edge.Issuer + "/cdn-cgi/access/start?" + url.Values{"idp": {idp.ID}, "app": {q.Get("x")}}.Encode()
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		resp, _ := get(t, c, start)
		limited = resp.StatusCode == http.StatusTooManyRequests
	}
	if !limited {
		t.Error("40 login starts from one address were never rate-limited")
	}
}
