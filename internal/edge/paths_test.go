package edge_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestRequestPathFormsNeverReachTheLessProtectedApp sends every form of
// gatehousetest.PathForms on the request line to a host with a bypass app
// (its own origin) and a protected app on /admin (another origin), both
// created through the API, and checks the documented outcome: 400 and no
// origin, the admin app's login (no origin), or the public origin with
// the canonical path. With a session for the admin app, each admin form
// reaches the admin origin with the canonical path.
func TestRequestPathFormsNeverReachTheLessProtectedApp(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	edge := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store})
	public, admin := gatehousetest.StartOrigin(t), gatehousetest.StartOrigin(t)
	h := host(t, "pub")
	a.CreateApp(t, h, public.URL, nil, pol("all", "bypass", rules(t, `{"everyone":{}}`)))
	adminApp := a.CreateApp(t, h+"/admin", admin.URL, nil, pol("boss", "allow", rules(t, `{"email":{"email":"boss@example.test"}}`)))
	edge.Sync(t, a.Store)
	session := http.Header{"Cookie": {"CF_Authorization=" + edge.MintSession(t, adminApp.AUD, "boss@example.test", time.Hour)}}

	for _, f := range gatehousetest.PathForms {
		t.Run(string(f.Want)+"/"+f.Path, func(t *testing.T) {
			publicBefore, adminBefore := len(public.Requests()), len(admin.Requests())
			resp, body := edge.DoRaw(t, "GET", h, f.Path, nil)
			publicSaw := public.Requests()[publicBefore:]
			adminSaw := admin.Requests()[adminBefore:]
			switch f.Want {
			case gatehousetest.PathRefused:
				if resp.StatusCode != 400 || len(publicSaw)+len(adminSaw) != 0 {
					t.Fatalf("%s: %d %s, origins saw %d+%d; want 400 and no origin (%s)", f.Path, resp.StatusCode, body, len(publicSaw), len(adminSaw), f.Why)
				}
			case gatehousetest.PathAdmin:
				login := resp.StatusCode == http.StatusUnauthorized && strings.Contains(body, `"login_required"`) ||
					resp.StatusCode == http.StatusFound && strings.Contains(resp.Header.Get("Location"), "/cdn-cgi/access/login")
				if !login || len(publicSaw)+len(adminSaw) != 0 {
					t.Fatalf("%s: %d %s (Location %q), origins saw %d+%d; want the admin app's login", f.Path, resp.StatusCode, body,
						resp.Header.Get("Location"), len(publicSaw), len(adminSaw))
				}
				resp, body = edge.DoRaw(t, "GET", h, f.Path, session)
				adminSaw = admin.Requests()[adminBefore:]
				if resp.StatusCode != 200 || len(adminSaw) != 1 || len(public.Requests()) != publicBefore {
					t.Fatalf("%s with a session: %d %s, admin origin saw %d; want the admin origin", f.Path, resp.StatusCode, body, len(adminSaw))
				}
				p, query, _ := strings.Cut(f.Path, "?")
				want, err := access.CanonicalPath(p)
				if err != nil {
					t.Fatal(err)
				}
				if query != "" {
					want += "?" + query
				}
				if got := adminSaw[0].RequestURI; got != want || !strings.HasPrefix(got, "/admin") {
					t.Fatalf("%s: the admin origin received %q, want the canonical %q", f.Path, got, want)
				}
			case gatehousetest.PathPublic:
				want := f.Forwarded
				if want == "" {
					want = f.Path
				}
				if resp.StatusCode != 200 || len(publicSaw) != 1 || len(adminSaw) != 0 || publicSaw[0].RequestURI != want {
					got := ""
					if len(publicSaw) == 1 {
						got = publicSaw[0].RequestURI
					}
					t.Fatalf("%s: %d %s, public origin saw %d (%q); want it to receive %q", f.Path, resp.StatusCode, body, len(publicSaw), got, want)
				}
			}
		})
	}
}

// TestOverlongPathsAreRefused: paths over access.MaxPathLen get 400
// bad_path and reach no origin. (OPTIONS * never reaches the edge: Go's
// server answers it.)
func TestOverlongPathsAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := host(t, "pub")
	e.app(t, h, nil, pol("all", "bypass", rules(t, `{"everyone":{}}`)))
	for _, tc := range []struct{ method, target string }{
		{"GET", "/" + strings.Repeat("a%41", access.MaxPathLen/4)},
	} {
		resp, body := e.edge.DoRaw(t, tc.method, h, tc.target, nil)
		if resp.StatusCode != 400 || !strings.Contains(body, "bad_path") || len(e.origin.Requests()) != 0 {
			t.Errorf("%s %.40s: %d %s, origin saw %d; want 400 bad_path", tc.method, tc.target, resp.StatusCode, body, len(e.origin.Requests()))
		}
	}
	if resp, _ := e.edge.DoRaw(t, "GET", h, "/"+strings.Repeat("a", 4000), nil); resp.StatusCode != 200 {
		t.Errorf("a 4 KB path: %d, want the origin", resp.StatusCode)
	}
}

// TestStoredDomainIsWhatTheEdgeMatches: an app domain created through the
// API in any accepted spelling comes back in canonical form, and a request
// for exactly that host and path reaches that app's origin, never the
// host-wide app's beside it.
func TestStoredDomainIsWhatTheEdgeMatches(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	edge := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store})
	hostOrigin, pathOrigin := gatehousetest.StartOrigin(t), gatehousetest.StartOrigin(t)
	everyone := pol("all", "bypass", rules(t, `{"everyone":{}}`))
	tests := []struct {
		name   string
		domain string // %s is a host unique to the test
		want   string // canonical, %s the same host
	}{
		{"upper-case host and path, trailing slash", "UP.%s/Admin/", "up.%s/admin"},
		{"encoded unreserved letters", "enc.%s/adm%%69n/%%7Euser", "enc.%s/admin/~user"},
		{"dotted segments", "dots.%s/a..b/v1.2", "dots.%s/a..b/v1.2"},
		{"sub-delims", "sub.%s/a!$&'()+,=@b", "sub.%s/a!$&'()+,=@b"},
		{"trailing dot of the host", "dot.%s./x", "dot.%s/x"},
		{"nested path", "deep.%s/a/b/c", "deep.%s/a/b/c"},
		{"wildcard with a path", "*.wild.%s/admin", "*.wild.%s/admin"},
	}
	base := host(t, "d")
	for _, tc := range tests {
		domain, want := fmt.Sprintf(tc.domain, base), fmt.Sprintf(tc.want, base)
		app := a.CreateApp(t, domain, pathOrigin.URL, nil, everyone)
		if app.Domain != want || app.SelfHostedDomains[0] != want || app.Destinations[0].URI != want {
			t.Fatalf("%s: created %q, API returned %q %q %q, want %q", tc.name, domain, app.Domain, app.SelfHostedDomains, app.Destinations, want)
		}
		h, _, _ := strings.Cut(want, "/")
		a.CreateApp(t, h, hostOrigin.URL, nil, everyone)
	}
	edge.Sync(t, a.Store)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := fmt.Sprintf(tc.want, base)
			h, p, _ := strings.Cut(want, "/")
			reqHost := strings.Replace(h, "*", "x", 1)
			for _, reqPath := range []string{"/" + p, "/" + p + "/", "/" + p + "/more"} {
				hostBefore, pathBefore := len(hostOrigin.Requests()), len(pathOrigin.Requests())
				resp, body := edge.DoRaw(t, "GET", reqHost, reqPath, nil)
				if resp.StatusCode != 200 || len(pathOrigin.Requests()) != pathBefore+1 || len(hostOrigin.Requests()) != hostBefore {
					t.Fatalf("stored %q: GET %s%s = %d %s; want the path app's origin", want, reqHost, reqPath, resp.StatusCode, body)
				}
			}
		})
	}
}

// TestLoginRedirectPathFollowsThePathRules: the login finds the app of
// its redirect_url with the request-path rules, so a redirect path that
// origins read as two apps' is refused there too.
func TestLoginRedirectPathFollowsThePathRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var idp access.IdentityProvider
	e.api.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Email code", "type": "onetimepin", "config": map[string]any{}}, &idp)
	h := host(t, "pub")
	e.app(t, h, nil, pol("all", "bypass", rules(t, `{"everyone":{}}`)))
	e.app(t, h+"/admin", nil, pol("all", "allow", rules(t, `{"everyone":{}}`)))
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/admin/x", true},
		{"/adm%69n", true},
		{"/public/%2e%2e/admin", true},
		{"/..;/admin", false},
		{"/ADMIN", false},
		{"/admin%00", false},
		{"/public%2f..%2fadmin", false},
	} {
		redirect := "http://" + h + tc.path
		req := e.edge.Request(t, "GET", strings.TrimPrefix(e.edge.Issuer, "http://"), "/cdn-cgi/access/login/"+h+"?redirect_url="+url.QueryEscape(redirect), nil)
		resp, body := e.edge.Do(t, req)
		if refused := resp.StatusCode == 400; refused == tc.ok {
			t.Errorf("login with redirect_url %q: %d %s; want refused = %v", redirect, resp.StatusCode, body, !tc.ok)
		}
	}
}

// TestStoredDomainThatDoesNotParseClosesItsHost: a row stored before
// domains were parsed (written here with SQL) that ParseDomain refuses
// closes its host with 503 rather than letting its paths fall through to
// the host's bypass app; other hosts are served, and updating the app
// through the API reopens it.
func TestStoredDomainThatDoesNotParseClosesItsHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h, other := host(t, "pub"), host(t, "other")
	e.app(t, h, nil, pol("all", "bypass", rules(t, `{"everyone":{}}`)))
	admin := e.app(t, h+"/admin", nil, pol("boss", "allow", rules(t, `{"email":{"email":"boss@example.test"}}`)))
	if _, err := e.api.Store.Pool().Exec(context.Background(),
		`UPDATE app_domains SET domain = $2 WHERE app_id = $1`, admin.ID, h+"/../admin"); err != nil {
		t.Fatal(err)
	}
	// Such a row is found by a full load (at start, or when the edge is
	// behind the change feed): make the feed start after the edge's
	// version, so that the next change reloads the whole config.
	if _, err := e.api.Store.Pool().Exec(context.Background(), `UPDATE config_state SET feed_floor = version + 1`); err != nil {
		t.Fatal(err)
	}
	e.app(t, other, nil, pol("all", "bypass", rules(t, `{"everyone":{}}`))) // a new version: the edge reloads
	for _, p := range []string{"/admin", "/", "/x"} {
		resp, body := e.edge.Do(t, e.edge.Request(t, "GET", h, p, nil))
		if resp.StatusCode != 503 || !strings.Contains(body, "app_domain_invalid") {
			t.Errorf("GET %s%s with an invalid stored domain: %d %s, want 503 app_domain_invalid", h, p, resp.StatusCode, body)
		}
	}
	if len(e.origin.Requests()) != 0 {
		t.Fatalf("the origin saw %d requests on a closed host", len(e.origin.Requests()))
	}
	if resp, body := e.edge.Do(t, e.edge.Request(t, "GET", other, "/", nil)); resp.StatusCode != 200 {
		t.Fatalf("another host: %d %s", resp.StatusCode, body)
	}
	e.api.MustCall(t, "PUT", "access/apps/"+admin.ID, map[string]any{"type": "self_hosted", "name": "admin", "domain": h + "/admin", "origin": e.origin.URL}, nil)
	e.edge.Sync(t, e.api.Store)
	if resp, body := e.edge.Do(t, e.edge.Request(t, "GET", h, "/admin", nil)); resp.StatusCode != 401 {
		t.Fatalf("after the update, /admin: %d %s, want the admin app's 401", resp.StatusCode, body)
	}
	if resp, body := e.edge.Do(t, e.edge.Request(t, "GET", h, "/x", nil)); resp.StatusCode != 200 {
		t.Fatalf("after the update, /x: %d %s, want the bypass app", resp.StatusCode, body)
	}
}
