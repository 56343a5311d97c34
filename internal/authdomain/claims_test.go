package authdomain_test

import (
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestOIDCRuleMatchesTheClaimsTheLoginKept: an OIDC provider's
// config.claims are copied from the ID token or userinfo into the session
// and the app token at login (only those), and oidc rules decide on them
// at the auth domain and at the edge. zitadel's OP sends locale "de" and
// preferred_username in userinfo, not in the ID token.
func TestOIDCRuleMatchesTheClaimsTheLoginKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	op := gatehousetest.StartOIDCProvider(t, e.Edge.Issuer+"/cdn-cgi/access/callback")
	var idp access.IdentityProvider
	e.API.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Test OIDC", "type": "oidc",
		"config": map[string]any{"client_id": op.ClientID, "client_secret": op.ClientSecret, "issuer_url": op.Issuer,
			"claims": []string{"locale", "preferred_username", "team"}}}, &idp)
	if !reflect.DeepEqual(idp.Config.Claims, []string{"locale", "preferred_username", "team"}) {
		t.Fatalf("claims not stored: %+v", idp.Config)
	}
	port := e.Edge.URL[strings.LastIndex(e.Edge.URL, ":"):]
	claim := func(name, value string) string {
		return `{"oidc":{"claim_name":"` + name + `","claim_value":"` + value + `","identity_provider_id":"` + idp.ID + `"}}`
	}
	everyone := `{"everyone":{}}`
	exclude := func(p map[string]any, r string) map[string]any { p["exclude"] = rules(t, r); return p }
	german, french := host(t, "german"), host(t, "french")
	unlisted, unsent := host(t, "unlisted"), host(t, "unsent")
	e.App(t, german, map[string]any{"allowed_idps": []string{idp.ID}, "auto_redirect_to_identity": true},
		pol("german speakers", "allow", rules(t, claim("locale", "de"))))
	e.App(t, french, nil, pol("french speakers", "allow", rules(t, claim("locale", "fr"))))
	// "name" is in userinfo but not listed: the login does not keep it,
	// so an exclude on it holds (unknown is read the way that denies).
	e.App(t, unlisted, nil, exclude(pol("all but Test User", "allow", rules(t, everyone)), claim("name", "Test User")))
	// "team" is listed but not sent: the user is known not to have it.
	e.App(t, unsent, nil, exclude(pol("all but team x", "allow", rules(t, everyone)), claim("team", "x")))

	c := gatehousetest.LoginClient(t, e.Edge.URL)
	resp, body := get(t, c, "http://"+german+port+"/")
	id := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || id == nil {
		t.Fatalf("expected the provider's login form, got %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	loginURL := resp.Request.URL.ResolveReference(&url.URL{Path: "/login/username"})
	resp, body = postForm(t, c, loginURL.String(), url.Values{"id": {id[1]}, "username": {op.Username}, "password": {op.Password}})
	if resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("after login to the app for locale de: %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
	}
	// The app token carries the listed claims, and only those.
	assertion := e.Origin.Last().Header.Get("Cf-Access-Jwt-Assertion")
	claims, err := e.Edge.Loader.State().Keys.Verify(assertion, appAUD(t, e, german), e.Edge.Issuer, time.Now())
	want := map[string][]string{"locale": {"de"}, "preferred_username": {op.Username}, "team": {}}
	if err != nil || !reflect.DeepEqual(claims.Custom, want) {
		t.Fatalf("app token's custom claims %v (err %v), want %v", claims.Custom, err, want)
	}

	// The auth-domain session carries them to the other apps' logins.
	for h, status := range map[string]int{french: 403, unlisted: 403, unsent: 200} {
		resp, body := get(t, c, "http://"+h+port+"/")
		if resp.StatusCode != status {
			t.Errorf("%s: %d %s, want %d", h, resp.StatusCode, body, status)
		}
	}
	// The edge decides on the app cookie's claims too.
	var appCookie *http.Cookie
	for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: german + port}) {
		if ck.Name == "CF_Authorization" {
			appCookie = ck
		}
	}
	if appCookie == nil {
		t.Fatal("no app cookie")
	}
	before := len(e.Origin.Requests())
	if resp, body := get(t, c, "http://"+german+port+"/again"); resp.StatusCode != 200 || len(e.Origin.Requests()) != before+1 {
		t.Errorf("with the app cookie: %d %s", resp.StatusCode, body)
	}
}
