package authdomain_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// otpEnv is an Env whose account has a one-time PIN login.
func otpEnv(t *testing.T, opts gatehousetest.EdgeOptions) (*gatehousetest.Env, *gatehousetest.PINCatcher) {
	t.Helper()
	mail := gatehousetest.NewPINCatcher()
	opts.Mailer = mail
	e := gatehousetest.NewEnv(t, opts)
	e.API.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Email code", "type": "onetimepin", "config": map[string]any{}}, nil)
	return e, mail
}

// otpLogin signs email in with a one-time PIN, starting at appURL, and
// returns where the browser-like client c ended.
func otpLogin(t *testing.T, c *http.Client, mail *gatehousetest.PINCatcher, appURL, email string) (*http.Response, string) {
	t.Helper()
	resp, body := get(t, c, appURL)
	action, form := gatehousetest.HiddenFields(t, body)
	form.Set("email", email)
	resp, body = postForm(t, c, resp.Request.URL.ResolveReference(&url.URL{Path: action}).String(), form)
	action, form = gatehousetest.HiddenFields(t, body)
	form.Set("code", mail.PIN(strings.ToLower(email)))
	return postForm(t, c, resp.Request.URL.ResolveReference(&url.URL{Path: action}).String(), form)
}

// noFollow is c without following redirects (sharing its cookies).
func noFollow(c *http.Client) *http.Client {
	n := *c
	n.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &n
}

// assertLocationOn checks the Location of resp, if any: it must parse and
// resolve, against the request's URL, to one of hosts.
func assertLocationOn(t *testing.T, resp *http.Response, hosts ...string) {
	t.Helper()
	loc := resp.Header.Get("Location")
	if loc == "" {
		return
	}
	if strings.ContainsAny(loc, "\\\t\r\n ") {
		t.Errorf("Location %q has a character browsers read differently", loc)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Errorf("Location %q does not parse: %v", loc, err)
		return
	}
	got := resp.Request.URL.ResolveReference(u)
	h := strings.TrimSuffix(strings.ToLower(got.Hostname()), ".")
	for _, ok := range hosts {
		if h == ok {
			return
		}
	}
	t.Errorf("Location %q resolves against %s to host %q, want one of %q", loc, resp.Request.URL, h, hosts)
}

// No Location the login sends resolves to another host than the app's or
// the auth domain's, for any redirect_url, at the login page (with an
// auth-domain session, so it answers with the hop at once) and at the
// app's authorized hop (with a valid token).
func TestNoLoginLocationLeavesTheAppOrTheAuthDomain(t *testing.T) {
	t.Parallel()
	e, mail := otpEnv(t, gatehousetest.EdgeOptions{})
	h := host(t, "svc")
	e.App(t, h, nil, pol("all", "allow", rules(t, `{"everyone":{}}`)))
	port := strings.TrimPrefix(e.Port(), ":")
	issuer, _ := url.Parse(e.Edge.Issuer)
	authHost := issuer.Hostname()
	c := gatehousetest.LoginClient(t, e.Edge.URL)
	if resp, body := otpLogin(t, c, mail, "http://"+h+":"+port+"/", "ann@example.test"); resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	nf := noFollow(c)

	sub := strings.NewReplacer("HOST", h, "UPPER", strings.ToUpper(h), "PORT", port)
	cases := []struct{ redirect, want string }{ // want "" for refused
		{"http://HOST:PORT/", "http://HOST:PORT/"},
		{"http://HOST:PORT/path?q=1&r=%2F", "http://HOST:PORT/path?q=1&r=%2F"},
		{"HTTP://HOST:PORT/x", "http://HOST:PORT/x"},
		{"http://UPPER:PORT/", "http://HOST:PORT/"},
		{"http://HOST.:PORT/", "http://HOST:PORT/"},
		{"http://HOST:PORT//evil.test/", "http://HOST:PORT//evil.test/"},
		{"http://HOST:PORT/%2f%2fevil.test", "http://HOST:PORT/%2f%2fevil.test"},
		{"http://HOST:PORT/%2F%2Fevil.test/", "http://HOST:PORT/%2F%2Fevil.test/"},
		{"http://HOST:PORT/..//evil.test", "http://HOST:PORT/..//evil.test"},
		{"http://HOST:PORT/?next=//evil.test", "http://HOST:PORT/?next=//evil.test"},
		{"http://HOST:PORT/#frag", "http://HOST:PORT/"},
		{"http://HOST:PORT?x", "http://HOST:PORT/?x"},
		{"http://HOST:PORT", "http://HOST:PORT/"},
		{"http://HOST/", "http://HOST/"},
		{"https://HOST:PORT/", "https://HOST:PORT/"},
		{"http://HOST:PORT/a/./b/../c", "http://HOST:PORT/a/./b/../c"},
		{"http://HOST:PORT/%2e%2e/%2e%2e/evil", "http://HOST:PORT/%2e%2e/%2e%2e/evil"},
		{"http://HOST:PORT/;@evil.test", "http://HOST:PORT/;@evil.test"},
		{"http://HOST:PORT/@evil.test", "http://HOST:PORT/@evil.test"},
		{"//evil.test/", ""},
		{"///evil.test/", ""},
		{"/\\evil.test", ""},
		{"\\\\evil.test", ""},
		{"\\/evil.test", ""},
		{"http://evil.test/", ""},
		{"https://evil.test/", ""},
		{"http://HOST:PORT@evil.test/", ""},
		{"http://user@HOST:PORT/", ""},
		{"http://evil.test\\@HOST:PORT/", ""},
		{"http://HOST:PORT\\@evil.test/", ""},
		{"http:evil.test", ""},
		{"http:/evil.test", ""},
		{"http:\\\\evil.test", ""},
		{"javascript:alert(1)", ""},
		{"JavaScript:alert(document.domain)//http://HOST:PORT/", ""},
		{"data:text/html,<script>alert(1)</script>", ""},
		{"http://HOST:PORT/\tpath", ""},
		{"http://HOST\t:PORT/", ""},
		{"ht\ttp://HOST:PORT/", ""},
		{"http://HOST:PORT/\r\nSet-Cookie:%20x=1", ""},
		{"http://[::1]:PORT/", ""},
		{"http://[::ffff:127.0.0.1]/", ""},
		{"http://HOST:99999/", ""},
		{"http://HOST:0/", ""},
		{"http://HOST:PORT:PORT/", ""},
		{"http://xn--evl-6ka.test/", ""},
		{"http://\u00e9vil.test/", ""},
		{"http://HOST%2eevil.test/", ""},
		{"http://evil.test%2f@HOST:PORT/", ""},
		{"", ""},
		{"/relative/path", ""},
		{"relative", ""},
		{"?x=1", ""},
		{"http://HOST:PORT/" + strings.Repeat("a", 5000), ""},
		{"http://HOST.evil.test/", ""},
		{"http://evil.test/HOST", ""},
		{"http://evil.test#@HOST:PORT/", ""},
		{"http://HOST:PORT%2F@evil.test/", ""},
		{"ftp://HOST:PORT/", ""},
		{"http://HOST:PORT/%zz", ""},
		{" http://HOST:PORT/", ""},
		{"http://HOST:PORT/ x", ""},
		{"http://HOST..:PORT/", ""},
		{"http://*.HOST:PORT/", ""},
		{"http://HOST:PORT/\u00e9", ""},
	}
	for _, tc := range cases {
		redirect, want := sub.Replace(tc.redirect), sub.Replace(tc.want)
		name := tc.redirect
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			// The login page, with an auth-domain session.
			resp, body := get(t, nf, e.Edge.Issuer+"/cdn-cgi/access/login/"+h+"?redirect_url="+url.QueryEscape(redirect))
			assertLocationOn(t, resp, h, authHost)
			if want == "" {
				if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
					t.Errorf("login page: %d %q %s, want 400 without Location", resp.StatusCode, resp.Header.Get("Location"), body)
				}
			} else {
				hop, err := url.Parse(resp.Header.Get("Location"))
				if resp.StatusCode != 302 || err != nil || hop.Path != "/cdn-cgi/access/authorized" || hop.Query().Get("redirect_url") != want {
					t.Errorf("login page: %d %q, want the hop returning to %q", resp.StatusCode, resp.Header.Get("Location"), want)
				}
			}

			// The hop, with a fresh token issued for a plain redirect.
			resp, _ = get(t, nf, e.Edge.Issuer+"/cdn-cgi/access/login/"+h+"?redirect_url="+url.QueryEscape("http://"+h+":"+port+"/"))
			hop, err := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != 302 || err != nil {
				t.Fatalf("login page for a token: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			q := url.Values{"token": {hop.Query().Get("token")}, "redirect_url": {redirect}}
			resp, body = get(t, nf, "http://"+h+":"+port+"/cdn-cgi/access/authorized?"+q.Encode())
			assertLocationOn(t, resp, h)
			if want == "" {
				if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
					t.Errorf("hop: %d %q %s, want 400 without Location", resp.StatusCode, resp.Header.Get("Location"), body)
				}
			} else if resp.StatusCode != 302 || resp.Header.Get("Location") != want {
				t.Errorf("hop: %d %q, want 302 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
			}
		})
	}
	if len(cases) < 40 {
		t.Fatalf("only %d redirect forms", len(cases))
	}
}

// An app on a path alone on its host, and one under a host-wide app:
// the hop serves both (the Chromium version is in e2e).
func TestAuthorizedHopServesAppsOnAPath(t *testing.T) {
	t.Parallel()
	e, mail := otpEnv(t, gatehousetest.EdgeOptions{})
	only, pub := host(t, "only"), host(t, "pub")
	allow := pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`))
	e.App(t, only+"/admin", nil, allow)
	e.App(t, pub, nil, pol("all", "bypass", rules(t, `{"everyone":{}}`)))
	admin := e.App(t, pub+"/admin", nil, allow)
	c := gatehousetest.LoginClient(t, e.Edge.URL)
	for i, u := range []string{"http://" + only + e.Port() + "/admin/x", "http://" + pub + e.Port() + "/admin"} {
		var resp *http.Response
		var body string
		if i == 0 {
			resp, body = otpLogin(t, c, mail, u, "ann@example.test")
		} else {
			resp, body = get(t, c, u) // signed in on the auth domain: only the hop
		}
		if resp.StatusCode != 200 || body != "origin ok" || resp.Request.URL.String() != u {
			t.Fatalf("login to %s: %d at %s: %s", u, resp.StatusCode, resp.Request.URL, body)
		}
		if got := e.Origin.Last(); got.Header.Get("Cf-Access-Authenticated-User-Email") != "ann@example.test" {
			t.Fatalf("origin of %s saw user %q", u, got.Header.Get("Cf-Access-Authenticated-User-Email"))
		}
	}
	// A token for the /admin app does not open the host-wide app's path,
	// whose redirect_url names another app.
	nf := noFollow(c)
	resp, _ := get(t, nf, e.Edge.Issuer+"/cdn-cgi/access/login/"+pub+"?redirect_url="+url.QueryEscape("http://"+pub+e.Port()+"/admin/y"))
	hop, _ := url.Parse(resp.Header.Get("Location"))
	q := url.Values{"token": {hop.Query().Get("token")}, "redirect_url": {"http://" + pub + e.Port() + "/public"}}
	if resp, body := get(t, nf, "http://"+pub+e.Port()+"/cdn-cgi/access/authorized?"+q.Encode()); resp.StatusCode != 400 || !strings.Contains(body, "not valid") {
		t.Errorf("token for %s used for another app: %d %s", admin.Domain, resp.StatusCode, body)
	}
	// No app serves the redirect: 404.
	q.Set("redirect_url", "http://"+host(t, "nothing")+e.Port()+"/")
	if resp, _ := get(t, nf, "http://"+pub+e.Port()+"/cdn-cgi/access/authorized?"+q.Encode()); resp.StatusCode != 400 {
		t.Errorf("redirect to another host: %d", resp.StatusCode)
	}
	var apps []access.App
	e.API.MustCall(t, "GET", "access/apps", nil, &apps)
	if len(apps) != 3 {
		t.Fatalf("%d apps", len(apps))
	}
}
