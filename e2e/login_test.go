package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// The CORS guide, "Allow simple requests": a cross-origin fetch to an
// Access-protected domain fails with a CORS error until the user has
// logged in to that domain; after logging in there and refreshing, the
// request works. Here the login is the real one: the auth domain's login
// page, the OpenID Provider's own login form, the callback, and the
// app's /cdn-cgi/access/authorized hop, all in the browser.
func TestSimpleFetchWorksAfterARealOIDCLoginToTheTargetDomain(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	op, idp := w.oidcProvider(t)

	// The API app: no CORS settings (a simple request needs none; the
	// origin sends its own CORS headers), a cookie the browser sends on
	// another site's fetch, and only the provider's user may in.
	origin := gatehousetest.StartCORSOrigin(t)
	api := host("api", "mysite.test")
	w.app(t, api, origin.URL, map[string]any{"allowed_idps": []string{idp.ID}, "auto_redirect_to_identity": true, "same_site_cookie_attribute": "none"},
		map[string]any{"name": "provider users", "decision": "allow", "include": []any{map[string]any{"email": map[string]any{"email": op.Email}}}})
	dataURL := w.browser.URL(api, "/data")
	get := gatehousetest.FetchInit{Credentials: "include"}

	// Not logged in to the API's domain: the edge answers 401 with no CORS
	// headers, so the page's script sees only a CORS error.
	got := w.browser.Fetch(t, dataURL, get)
	if got.Error == "" {
		t.Fatalf("before login the page saw %+v, want a CORS error", got)
	}
	w.browser.WaitConsole(t, dataURL, "blocked by CORS policy")
	if n := len(origin.Requests()); n != 0 {
		t.Fatalf("origin saw %d requests before login", n)
	}

	// The user visits the API's domain: redirected through the auth domain
	// to the provider's login form, signs in there, and lands back.
	w.browser.Navigate(t, w.browser.URL(api, "/welcome"))
	var at string
	w.browser.Eval(t, "location.href", &at)
	if !strings.HasPrefix(at, op.Issuer+"/login/username") {
		t.Fatalf("visiting the API domain landed on %s, want the provider's login form", at)
	}
	w.browser.Eval(t, fmt.Sprintf(`(() => {
		document.querySelector('[name=username]').value = %q;
		document.querySelector('[name=password]').value = %q;
		document.querySelector('form').submit();
		return true;
	})()`, op.Username, op.Password), nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		w.browser.Eval(t, "location.href", &at)
		if at == w.browser.URL(api, "/welcome") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after signing in the browser is at %s, want back at %s", at, w.browser.URL(api, "/welcome"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var text string
	w.browser.Eval(t, "document.body.innerText", &text)
	if !strings.Contains(text, "origin ok") {
		t.Fatalf("the API page after login shows %q", text)
	}

	// "Refresh the page that made the CORS request": now the fetch carries
	// the API domain's own cookie and succeeds.
	w.browser.Navigate(t, w.browser.URL(w.page, "/"))
	got = w.browser.Fetch(t, dataURL, get)
	if got.Error != "" || got.Status != 200 || got.Body != "origin ok" {
		t.Fatalf("after login the page saw %+v, want 200 origin ok", got)
	}
	reqs := origin.Requests()
	last := reqs[len(reqs)-1]
	if last.URL.Path != "/data" || last.Header.Get("Cf-Access-Authenticated-User-Email") != op.Email || last.Header.Get("Cf-Access-Jwt-Assertion") == "" {
		t.Fatalf("origin's last request: %s %s user %q", last.Method, last.URL.Path, last.Header.Get("Cf-Access-Authenticated-User-Email"))
	}
	// get-identity on the API domain names the provider's user.
	w.browser.Navigate(t, w.browser.URL(api, "/cdn-cgi/access/get-identity"))
	w.browser.Eval(t, "document.body.innerText", &text)
	if !strings.Contains(text, `"email":"`+op.Email+`"`) {
		t.Errorf("get-identity: %s", text)
	}
}

// waitAt waits until the browser is at want.
// oidcProvider starts a real OpenID Provider whose client may return to
// the edge's auth domain, and registers it as an identity provider.
func (w *world) oidcProvider(t *testing.T) (*gatehousetest.OIDCProvider, access.IdentityProvider) {
	t.Helper()
	op := gatehousetest.StartOIDCProvider(t, w.edge.Issuer+"/cdn-cgi/access/callback")
	var idp access.IdentityProvider
	w.api.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Test OIDC", "type": "oidc",
		"config": map[string]any{"client_id": op.ClientID, "client_secret": op.ClientSecret, "issuer_url": op.Issuer}}, &idp)
	return op, idp
}

func (w *world) waitAt(t *testing.T, want string) {
	t.Helper()
	var at string
	deadline := time.Now().Add(20 * time.Second)
	for {
		w.browser.Eval(t, "location.href", &at)
		if at == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the browser is at %s, want %s", at, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Apps on a path (host/admin) never cover /cdn-cgi/access/authorized, so
// the login hop finds its app from the redirect it returns to: a user
// logs in to an app that is alone on its host's /admin, and to one under
// a public app on the whole host, and reaches each one's origin.
func TestLoginReachesAppsOnAPath(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	op, idp := w.oidcProvider(t)
	allow := map[string]any{"name": "provider user", "decision": "allow", "include": []any{map[string]any{"email": map[string]any{"email": op.Email}}}}
	only, pub := host("only", "example.test"), host("pub", "example.test")
	onlyAdmin, pubAdmin, pubSite := gatehousetest.StartOrigin(t), gatehousetest.StartOrigin(t), gatehousetest.StartOrigin(t)
	w.app(t, only+"/admin", onlyAdmin.URL, map[string]any{"allowed_idps": []string{idp.ID}, "auto_redirect_to_identity": true}, allow)
	w.app(t, pub, pubSite.URL, nil, map[string]any{"name": "public", "decision": "bypass", "include": []any{map[string]any{"everyone": map[string]any{}}}})
	w.app(t, pub+"/admin", pubAdmin.URL, map[string]any{"allowed_idps": []string{idp.ID}, "auto_redirect_to_identity": true}, allow)

	// The app alone on only/admin: the provider's form, then back.
	w.browser.Navigate(t, w.browser.URL(only, "/admin/page"))
	var at string
	w.browser.Eval(t, "location.href", &at)
	if !strings.HasPrefix(at, op.Issuer+"/login/username") {
		t.Fatalf("visiting %s/admin landed on %s, want the provider's login form", only, at)
	}
	w.browser.Eval(t, fmt.Sprintf(`(() => {
		document.querySelector('[name=username]').value = %q;
		document.querySelector('[name=password]').value = %q;
		document.querySelector('form').submit();
		return true;
	})()`, op.Username, op.Password), nil)
	w.waitAt(t, w.browser.URL(only, "/admin/page"))
	var text string
	w.browser.Eval(t, "document.body.innerText", &text)
	if !strings.Contains(text, "origin ok") || onlyAdmin.Last() == nil || onlyAdmin.Last().Header.Get("Cf-Access-Authenticated-User-Email") != op.Email {
		t.Fatalf("%s/admin after login shows %q; its origin saw %v", only, text, onlyAdmin.Last())
	}

	// The app on pub/admin, under the public app on pub: the auth-domain
	// session skips the provider; the hop on pub must pick the /admin app.
	w.browser.Navigate(t, w.browser.URL(pub, "/admin/"))
	w.waitAt(t, w.browser.URL(pub, "/admin/"))
	w.browser.Eval(t, "document.body.innerText", &text)
	last := pubAdmin.Last()
	if !strings.Contains(text, "origin ok") || last == nil || last.Header.Get("Cf-Access-Authenticated-User-Email") != op.Email || last.URL.Path != "/admin/" {
		t.Fatalf("%s/admin after login shows %q; its origin saw %v", pub, text, last)
	}
	// The browser's own /favicon.ico is the public app's to serve; nothing
	// of the /admin app's may reach it.
	for _, r := range pubSite.Requests() {
		if r.URL.Path != "/favicon.ico" {
			t.Errorf("the public app's origin saw %s %s", r.Method, r.URL.Path)
		}
	}
}
