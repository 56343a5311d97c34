// Package e2e_test drives a real browser (headless Chromium) against the
// real edge over HTTPS on loopback, through the flows of the CORS guide: a
// page on app-….example.test calling an API on api-….mysite.test, both
// behind Gatehouse.
package e2e_test

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestMain(m *testing.M) { gatehousetest.Main(m) }

const user = "ann@example.test"

// world is one test's control plane, TLS edge, browser and the page the
// browser has open.
type world struct {
	api     *gatehousetest.API
	edge    *gatehousetest.Edge
	browser *gatehousetest.Browser
	// page is the host of the page whose script makes the cross-origin
	// calls, and pageOrigin its web origin (with the edge's port).
	page, pageOrigin string
}

// newWorld starts the edge and a browser, publishes a page on
// app-<random>.example.test (an app anyone may reach, through a Bypass
// policy) and opens it.
func newWorld(t *testing.T) *world {
	t.Helper()
	a := gatehousetest.NewAPI(t)
	// TestHostsToEdge: a relay app's origin may be another app on this edge.
	ed := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, TLS: true, TestHostsToEdge: true})
	w := &world{api: a, edge: ed, browser: gatehousetest.StartBrowser(t, ed.URL)}
	w.page = host("app", "example.test")
	w.pageOrigin = w.browser.Origin(w.page)
	pageServer := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(rw, "<!doctype html><html><head><title>app</title></head><body>app</body></html>")
	}))
	t.Cleanup(pageServer.Close)
	w.app(t, w.page, pageServer.URL, nil, map[string]any{"name": "anyone", "decision": "bypass", "include": []any{map[string]any{"everyone": map[string]any{}}}})
	w.browser.Navigate(t, w.browser.URL(w.page, "/"))
	return w
}

// host returns a new name under domain (domains are global, and a test
// may run more than once), one label deep so that the edge's *.domain
// certificate covers it.
func host(label, domain string) string {
	return label + "-" + strings.ToLower(rand.Text()[:12]) + "." + domain
}

// app creates an app for domain in front of origin, with extra fields and
// policies, and waits until the edge enforces it.
func (w *world) app(t *testing.T, domain, origin string, fields map[string]any, policies ...map[string]any) access.App {
	t.Helper()
	app := w.api.CreateApp(t, domain, origin, fields, policies...)
	w.edge.Sync(t, w.api.Store)
	return app
}

// apiApp creates the API app on api-<random>.mysite.test in front of a
// CORS-speaking origin (StartCORSOrigin); only the user may in.
func (w *world) apiApp(t *testing.T, fields map[string]any) (access.App, string, *gatehousetest.Origin) {
	t.Helper()
	origin := gatehousetest.StartCORSOrigin(t)
	h := host("api", "mysite.test")
	app := w.app(t, h, origin.URL, fields, map[string]any{"name": "ann", "decision": "allow", "include": []any{map[string]any{"email": map[string]any{"email": user}}}})
	return app, h, origin
}

// signIn gives the browser a session for app, as if the user had logged
// in on its host: the cookie the edge issues when the app's
// same_site_cookie_attribute is "none", which the browser sends on another
// site's fetch too. The real login, through the auth domain and an OpenID
// Provider, is exercised in login_test.go; these tests are about CORS.
func (w *world) signIn(t *testing.T, app access.App, appHost string) {
	t.Helper()
	w.browser.SetCookie(t, appHost, &http.Cookie{
		Name: "CF_Authorization", Value: w.edge.MintSession(t, app.AUD, user, time.Hour), Path: "/",
		Secure: true, HttpOnly: true, SameSite: http.SameSiteNoneMode,
	})
}

// put is the page's preflighted call: a PUT with a custom header,
// with credentials.
func put(header string) gatehousetest.FetchInit {
	return gatehousetest.FetchInit{Method: "PUT", Headers: map[string]string{header: "1"}, Body: `{"n":1}`, Credentials: "include"}
}

func methods(reqs []*http.Request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Method)
	}
	return out
}

// The CORS guide: "If you make a preflighted cross-origin request to an
// Access-protected domain, the OPTIONS request will return a 403 error.
// This error occurs regardless of whether you have logged in."
func TestPreflightWithoutCORSSettingsFailsInTheBrowserEvenWhenLoggedIn(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	app, apiHost, origin := w.apiApp(t, nil)
	w.signIn(t, app, apiHost)

	got := w.browser.Fetch(t, w.browser.URL(apiHost, "/data"), put("X-Custom"))
	if got.Error == "" || !strings.Contains(got.Error, "Failed to fetch") {
		t.Fatalf("page saw %+v, want the fetch to reject", got)
	}
	m := w.browser.WaitConsole(t, w.browser.URL(apiHost, "/data"), w.pageOrigin, "blocked by CORS policy", "Response to preflight request")
	t.Logf("console: %s", m.Text)
	if reqs := origin.Requests(); len(reqs) != 0 {
		t.Fatalf("origin saw %v", methods(reqs))
	}
}

// "Configure response to preflight requests": the edge answers the
// OPTIONS itself, and the browser then sends the real request with the
// cookie.
func TestPreflightAnsweredByTheEdgeLetsTheCredentialedRequestThrough(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	app, apiHost, origin := w.apiApp(t, map[string]any{"cors_headers": map[string]any{
		// The edge's port is part of the page's origin.
		"allowed_origins": []string{w.pageOrigin}, "allowed_methods": []string{"PUT"},
		"allowed_headers": []string{"X-Custom"}, "allow_credentials": true,
	}})
	w.signIn(t, app, apiHost)

	got := w.browser.Fetch(t, w.browser.URL(apiHost, "/data"), put("X-Custom"))
	if got.Error != "" || got.Status != 200 || got.Body != "origin ok" {
		t.Fatalf("page saw %+v, want 200 origin ok", got)
	}
	reqs := origin.Requests()
	if len(reqs) != 1 || reqs[0].Method != "PUT" {
		t.Fatalf("origin saw %v, want only the PUT (never the OPTIONS)", methods(reqs))
	}
	r := reqs[0]
	if r.Header.Get("X-Custom") != "1" || r.Header.Get("Origin") != w.pageOrigin || r.Header.Get("Cf-Access-Authenticated-User-Email") != user ||
		r.Header.Get("Cf-Access-Jwt-Assertion") == "" {
		t.Errorf("origin got headers %v", r.Header)
	}
}

// "Bypass OPTIONS requests to origin": the preflight goes to the origin
// unauthenticated, and the origin answers it.
func TestPreflightBypassLetsTheOriginAnswer(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	app, apiHost, origin := w.apiApp(t, map[string]any{"options_preflight_bypass": true})
	w.signIn(t, app, apiHost)

	got := w.browser.Fetch(t, w.browser.URL(apiHost, "/data"), put("X-Custom"))
	if got.Error != "" || got.Status != 200 || got.Body != "origin ok" {
		t.Fatalf("page saw %+v, want 200 origin ok", got)
	}
	reqs := origin.Requests()
	if fmt.Sprint(methods(reqs)) != "[OPTIONS PUT]" {
		t.Fatalf("origin saw %v, want [OPTIONS PUT]", methods(reqs))
	}
	pre, actual := reqs[0], reqs[1]
	if pre.Header.Get("Access-Control-Request-Method") != "PUT" || !strings.EqualFold(pre.Header.Get("Access-Control-Request-Headers"), "x-custom") ||
		pre.Header.Get("Cookie") != "" || pre.Header.Get("Cf-Access-Jwt-Assertion") != "" {
		t.Errorf("preflight at the origin: %v", pre.Header)
	}
	if actual.Header.Get("Cf-Access-Authenticated-User-Email") != user {
		t.Errorf("PUT at the origin: %v", actual.Header)
	}
}

func TestPreflightForDisallowedOriginMethodOrHeaderFailsInTheBrowser(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// The edge answers each of these preflights 204 with no allow headers
	// at all, so the browser names the missing Access-Control-Allow-Origin
	// whatever was disallowed.
	tests := []struct {
		name    string
		origins []string
		init    gatehousetest.FetchInit
	}{
		{"fail/origin", []string{"https://other.example.test:" + w.browser.Port}, put("X-Custom")},
		{"fail/method", []string{w.pageOrigin}, gatehousetest.FetchInit{Method: "DELETE", Headers: map[string]string{"X-Custom": "1"}, Credentials: "include"}},
		{"fail/header", []string{w.pageOrigin}, put("X-Other")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, apiHost, origin := w.apiApp(t, map[string]any{"cors_headers": map[string]any{
				"allowed_origins": tc.origins, "allowed_methods": []string{"PUT"},
				"allowed_headers": []string{"X-Custom"}, "allow_credentials": true,
			}})
			w.signIn(t, app, apiHost)
			got := w.browser.Fetch(t, w.browser.URL(apiHost, "/data"), tc.init)
			if got.Error == "" {
				t.Fatalf("page saw %+v, want the fetch to reject", got)
			}
			w.browser.WaitConsole(t, w.browser.URL(apiHost, "/data"), "blocked by CORS policy",
				"Response to preflight request doesn't pass access control check", "No 'Access-Control-Allow-Origin' header")
			if reqs := origin.Requests(); len(reqs) != 0 {
				t.Fatalf("origin saw %v", methods(reqs))
			}
		})
	}
}

// "Allow simple requests": without a session, a GET gets the edge's 401,
// readable by the page when the app's CORS settings allow it, with the
// login URL (Cloudflare redirects, which the page sees only as a CORS
// error). After the login, the same GET succeeds.
func TestSimpleGetWithoutSessionIsReadable401ThenSucceedsAfterLogin(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	origin := gatehousetest.StartCORSOrigin(t)
	allow := map[string]any{"name": "ann", "decision": "allow", "include": []any{map[string]any{"email": map[string]any{"email": user}}}}
	open := host("api", "mysite.test")
	openApp := w.app(t, open, origin.URL, map[string]any{"cors_headers": map[string]any{"allowed_origins": []string{w.pageOrigin}, "allow_credentials": true}}, allow)
	elsewhere := host("elsewhere", "mysite.test")
	w.app(t, elsewhere, origin.URL, map[string]any{"cors_headers": map[string]any{"allowed_origins": []string{"https://other.example.test"}, "allow_credentials": true}}, allow)
	bare := host("bare", "mysite.test")
	w.app(t, bare, origin.URL, nil, allow)
	get := gatehousetest.FetchInit{Credentials: "include"}

	dataURL := w.browser.URL(open, "/data?q=1")
	got := w.browser.Fetch(t, dataURL, get)
	var body struct {
		Error    string `json:"error"`
		LoginURL string `json:"login_url"`
	}
	_ = json.Unmarshal([]byte(got.Body), &body)
	if got.Error != "" || got.Status != 401 || body.Error != "login_required" {
		t.Fatalf("page saw %+v, want a readable 401 login_required", got)
	}
	login, err := url.Parse(body.LoginURL)
	if err != nil || !strings.HasPrefix(body.LoginURL, w.edge.Issuer+"/cdn-cgi/access/login/"+open) || login.Query().Get("redirect_url") != dataURL {
		t.Errorf("login_url %q, want %s/cdn-cgi/access/login/%s returning to %s", body.LoginURL, w.edge.Issuer, open, dataURL)
	}

	for _, h := range []string{elsewhere, bare} {
		got := w.browser.Fetch(t, w.browser.URL(h, "/data"), get)
		if got.Error == "" {
			t.Errorf("%s: page saw %+v, want a CORS error", h, got)
		}
		w.browser.WaitConsole(t, w.browser.URL(h, "/data"), "blocked by CORS policy", "No 'Access-Control-Allow-Origin' header")
	}

	w.signIn(t, openApp, open)
	got = w.browser.Fetch(t, dataURL, get)
	if got.Error != "" || got.Status != 200 || got.Body != "origin ok" {
		t.Fatalf("after login the page saw %+v, want 200 origin ok", got)
	}
	if reqs := origin.Requests(); fmt.Sprint(methods(reqs)) != "[GET]" || reqs[0].Header.Get("Cf-Access-Authenticated-User-Email") != user {
		t.Fatalf("origin saw %v, want exactly the one GET after login", methods(reqs))
	}
}

// With third-party cookies blocked (Safari, and Chromium itself by
// default; Firefox partitions them to the same effect), the session cookie of api-….mysite.test stays off a fetch
// from app-….example.test even after the user logged in there: the page
// keeps getting the readable 401, and the origin sees nothing.
func TestThirdPartyCookiesBlockedKeepTheSessionOffTheFetch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.browser.BlockThirdPartyCookies(t)
	app, apiHost, origin := w.apiApp(t, map[string]any{"cors_headers": map[string]any{"allowed_origins": []string{w.pageOrigin}, "allow_credentials": true}})
	w.signIn(t, app, apiHost)

	got := w.browser.Fetch(t, w.browser.URL(apiHost, "/data"), gatehousetest.FetchInit{Credentials: "include"})
	if got.Error != "" || got.Status != 401 || !strings.Contains(got.Body, `"login_required"`) {
		t.Fatalf("page saw %+v, want a readable 401 login_required", got)
	}
	if reqs := origin.Requests(); len(reqs) != 0 {
		t.Fatalf("origin saw %v", methods(reqs))
	}
}

// The browser ignores certificate errors for the edge's key (and no other),
// so it would not notice a wrong name: check the names here.
func TestTLSEdgeCertificateCoversTheBrowserHosts(t *testing.T) {
	t.Parallel()
	ed := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{TLS: true})
	_, roots := gatehousetest.LoopbackCert(t)
	addr := strings.TrimPrefix(ed.URL, "https://")
	for name, ok := range map[string]bool{
		host("app", "example.test"): true, host("api", "mysite.test"): true, "auth.gatehouse.test": true,
		"a.b.example.test": false, "example.test": false, "evil.test": false,
	} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: name})
		if err == nil {
			conn.Close()
		}
		if (err == nil) != ok {
			t.Errorf("%s: handshake error %v, want ok=%v", name, err, ok)
		}
	}
	if !strings.HasPrefix(ed.Issuer, "https://auth.gatehouse.test:") {
		t.Errorf("issuer %s", ed.Issuer)
	}
}

// The browser trusts the edge's key alone: a server on a browser host
// with any other certificate fails, as it would for a real user.
func TestBrowserTrustsOnlyTheEdgeCertificate(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	other := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Access-Control-Allow-Origin", "*")
		fmt.Fprint(rw, "other")
	}))
	t.Cleanup(other.Close)
	port := other.URL[strings.LastIndexByte(other.URL, ':')+1:]
	got := w.browser.Fetch(t, "https://"+host("other", "example.test")+":"+port+"/", gatehousetest.FetchInit{})
	if got.Error == "" {
		t.Fatalf("page saw %+v from a server the browser should not trust", got)
	}
	w.browser.WaitConsole(t, "ERR_CERT_AUTHORITY_INVALID")
}
