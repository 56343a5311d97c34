package authdomain_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// cookieFor is the CF_Authorization cookie c holds for hostport.
func cookieFor(t *testing.T, c *http.Client, hostport string) string {
	t.Helper()
	for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: hostport}) {
		if ck.Name == "CF_Authorization" {
			return ck.Value
		}
	}
	t.Fatalf("no CF_Authorization cookie for %s", hostport)
	return ""
}

// sendWith sends a script's request (not a navigation) for host with an
// app cookie to ed and returns the status and body.
func sendWith(t *testing.T, ed *gatehousetest.Edge, host, cookie string) (int, string) {
	t.Helper()
	req := ed.Request(t, "GET", host, "/", nil)
	req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: cookie})
	resp, body := ed.Do(t, req)
	return resp.StatusCode, body
}

func auditActions(t *testing.T, a *gatehousetest.API) []string {
	t.Helper()
	var entries []access.AuditEntry
	a.MustCall(t, "GET", "audit_logs?per_page=100", nil, &entries)
	var out []string
	for _, e := range entries {
		out = append(out, e.Action.Type)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// After SSO into two apps, logging out on one ends the login session:
// both apps' cookies are refused on every edge, the auth-domain session
// opens nothing, and logging in again works.
func TestLogoutEndsTheLoginSessionInEveryAppOnEveryEdge(t *testing.T) {
	t.Parallel()
	e, mail := otpEnv(t, gatehousetest.EdgeOptions{})
	other := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: e.API.Store, Issuer: e.Edge.Issuer})
	one, two := host(t, "one"), host(t, "two")
	staff := pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`))
	e.App(t, one, nil, staff)
	e.App(t, two, nil, staff)
	other.Sync(t, e.API.Store)
	c := gatehousetest.LoginClient(t, e.Edge.URL)
	if resp, body := otpLogin(t, c, mail, "http://"+one+e.Port()+"/", "ann@example.test"); resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("login to %s: %d %s", one, resp.StatusCode, body)
	}
	if resp, body := get(t, c, "http://"+two+e.Port()+"/"); resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("SSO to %s: %d %s", two, resp.StatusCode, body)
	}
	cookieOne, cookieTwo := cookieFor(t, c, one+e.Port()), cookieFor(t, c, two+e.Port())
	issuer, _ := url.Parse(e.Edge.Issuer)
	authCookie := cookieFor(t, c, issuer.Host)
	for _, ed := range []*gatehousetest.Edge{e.Edge, other} {
		if s, body := sendWith(t, ed, two, cookieTwo); s != 200 {
			t.Fatalf("before logout: %d %s", s, body)
		}
	}

	resp, body := get(t, c, "http://"+one+e.Port()+"/cdn-cgi/access/logout")
	if resp.StatusCode != 200 || !strings.Contains(body, "signed out of every application") {
		t.Fatalf("logout: %d %s", resp.StatusCode, body)
	}
	// The other edge learns of it through the change feed alone.
	loggedOut := time.Now()
	for {
		if s, _ := sendWith(t, other, two, cookieTwo); s == 401 {
			break
		}
		if time.Since(loggedOut) > 5*time.Second {
			t.Fatal("the other edge still accepts the other app's cookie 5 s after the logout")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("the other edge refused the other app's cookie %v after the logout answered", time.Since(loggedOut))
	e.Edge.Sync(t, e.API.Store)
	for _, ed := range []*gatehousetest.Edge{e.Edge, other} {
		for name, ck := range map[string][2]string{"other app": {two, cookieTwo}, "logged-out app": {one, cookieOne}} {
			if s, body := sendWith(t, ed, ck[0], ck[1]); s != 401 || !strings.Contains(body, "session_revoked") {
				t.Errorf("%s's cookie after logout, edge %s: %d %s", name, ed.URL, s, body)
			}
		}
	}
	// A copy of the auth-domain session cookie mints nothing any more.
	nf := noFollow(gatehousetest.LoginClient(t, e.Edge.URL))
	req, _ := http.NewRequest("GET", e.Edge.Issuer+"/cdn-cgi/access/login/"+two+"?redirect_url="+url.QueryEscape("http://"+two+e.Port()+"/"), nil)
	req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: authCookie})
	r2, err := nf.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 || r2.Header.Get("Location") != "" {
		t.Errorf("login page with the logged-out auth-domain session: %d %q, want the sign-in page", r2.StatusCode, r2.Header.Get("Location"))
	}

	// Logging in again gives a new session that works.
	if resp, body := otpLogin(t, c, mail, "http://"+two+e.Port()+"/", "ann@example.test"); resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("login after logout: %d %s", resp.StatusCode, body)
	}
	if s, body := sendWith(t, other, two, cookieFor(t, c, two+e.Port())); s != 200 {
		t.Errorf("new session after logout: %d %s", s, body)
	}
}

// revoke_user ends every session of one email in one account: its app
// tokens (logged in or not through this edge) are refused, other users'
// and other accounts' are not, and the user can log in again.
func TestRevokeUserEndsThatUsersSessionsInItsAccountOnly(t *testing.T) {
	t.Parallel()
	e, mail := otpEnv(t, gatehousetest.EdgeOptions{})
	b := gatehousetest.NewAPIOn(t, e.API.Store)
	b.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Email code", "type": "onetimepin", "config": map[string]any{}}, nil)
	staff := pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`))
	ha, hb := host(t, "a"), host(t, "b")
	appA := e.App(t, ha, nil, staff)
	appB := b.CreateApp(t, hb, e.Origin.URL, nil, staff)
	e.Edge.Sync(t, e.API.Store)

	c := gatehousetest.LoginClient(t, e.Edge.URL)
	for _, h := range []string{ha, hb} {
		if resp, body := otpLogin(t, c, mail, "http://"+h+e.Port()+"/", "ann@example.test"); resp.StatusCode != 200 || body != "origin ok" {
			t.Fatalf("login to %s: %d %s", h, resp.StatusCode, body)
		}
	}
	annA, annB := cookieFor(t, c, ha+e.Port()), cookieFor(t, c, hb+e.Port())
	bobA := e.Edge.MintSession(t, appA.AUD, "bob@example.test", time.Hour)
	annMintedB := e.Edge.MintSession(t, appB.AUD, "ann@example.test", time.Hour)

	check := func(when string, want map[string]int) {
		t.Helper()
		got := map[string]int{}
		got["ann in A"], _ = sendWith(t, e.Edge, ha, annA)
		got["ann in B"], _ = sendWith(t, e.Edge, hb, annB)
		got["ann minted in B"], _ = sendWith(t, e.Edge, hb, annMintedB)
		got["bob in A"], _ = sendWith(t, e.Edge, ha, bobA)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s answered %d, want %d", when, k, got[k], v)
			}
		}
	}
	check("before", map[string]int{"ann in A": 200, "ann in B": 200, "ann minted in B": 200, "bob in A": 200})

	var result bool
	b.MustCall(t, "POST", "access/organizations/revoke_user", map[string]any{"email": "ANN@example.test"}, &result)
	if !result {
		t.Error("revoke_user result is not true")
	}
	e.Edge.Sync(t, e.API.Store)
	check("after revoke_user in B", map[string]int{"ann in A": 200, "ann in B": 401, "ann minted in B": 401, "bob in A": 200})
	if !contains(auditActions(t, b), "user.revoke_user") || contains(auditActions(t, e.API), "user.revoke_user") {
		t.Errorf("audit: B %v, A %v", auditActions(t, b), auditActions(t, e.API))
	}

	e.API.MustCall(t, "POST", "access/organizations/revoke_user", map[string]any{"email": "ann@example.test"}, nil)
	e.Edge.Sync(t, e.API.Store)
	check("after revoke_user in A too", map[string]int{"ann in A": 401, "bob in A": 200})

	// The auth-domain session (of account B, the last login) was revoked
	// too: the user signs in again, and the new session works.
	if resp, body := otpLogin(t, c, mail, "http://"+hb+e.Port()+"/", "ann@example.test"); resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("login after revoke_user: %d %s", resp.StatusCode, body)
	}
	if s, body := sendWith(t, e.Edge, hb, cookieFor(t, c, hb+e.Port())); s != 200 {
		t.Errorf("new session after revoke_user: %d %s", s, body)
	}
}

// A login completed after revoke_tokens in the same wall-clock second
// works, and a token issued before it in that second does not: issue
// times compare below the second.
func TestLoginInTheSameSecondAfterRevokeTokensWorks(t *testing.T) {
	t.Parallel()
	clk := gatehousetest.NewClock(time.Now().Truncate(time.Second).Add(200 * time.Millisecond))
	st := gatehousetest.Store(t, store.WithClock(clk.Now))
	mail := gatehousetest.NewPINCatcher()
	e := &gatehousetest.Env{API: gatehousetest.NewAPIOn(t, st), Origin: gatehousetest.StartOrigin(t),
		Edge: gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: st, Mailer: mail, Clock: clk.Now})}
	e.API.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Email code", "type": "onetimepin", "config": map[string]any{}}, nil)
	h := host(t, "app")
	app := e.App(t, h, nil, pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`)))
	c := gatehousetest.LoginClient(t, e.Edge.URL)
	if resp, body := otpLogin(t, c, mail, "http://"+h+e.Port()+"/", "ann@example.test"); resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	before := cookieFor(t, c, h+e.Port())

	clk.Advance(100 * time.Millisecond)
	e.API.MustCall(t, "POST", "access/apps/"+app.ID+"/revoke_tokens", nil, nil)
	e.Edge.Sync(t, st)
	if s, body := sendWith(t, e.Edge, h, before); s != 401 || !strings.Contains(body, "session_revoked") {
		t.Fatalf("token issued 100ms before revoke_tokens: %d %s", s, body)
	}

	clk.Advance(100 * time.Millisecond)
	if resp, body := get(t, c, "http://"+h+e.Port()+"/"); resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("login 100ms after revoke_tokens: %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
	}
	after := cookieFor(t, c, h+e.Port())
	if s, body := sendWith(t, e.Edge, h, after); s != 200 {
		t.Fatalf("token issued 100ms after revoke_tokens: %d %s", s, body)
	}
	keys := e.Edge.Loader.State().Keys
	cb, err1 := keys.Verify(before, app.AUD, e.Edge.Issuer, clk.Now())
	ca, err2 := keys.Verify(after, app.AUD, e.Edge.Issuer, clk.Now())
	if err1 != nil || err2 != nil || cb.IssuedAt.Unix() != ca.IssuedAt.Unix() || !cb.IssuedAt.Before(ca.IssuedAt) {
		t.Fatalf("the two tokens were not issued in one second, in order: %v %v (%v, %v)", cb.IssuedAt, ca.IssuedAt, err1, err2)
	}
}
