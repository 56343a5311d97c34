package edge_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

func navigate(req *http.Request) *http.Request {
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("Accept", "text/html")
	return req
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestEnforcedAppSettingsAtTheEdge proves, for each app setting the
// inventory calls enforced and no other test covers, that the edge's
// answer changes with it: each case is one app and one request, and
// every case has a twin without the setting that answers otherwise.
func TestEnforcedAppSettingsAtTheEdge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := createToken(t, e.api, "svc", nil)
	stranger := createToken(t, e.api, "stranger", nil)
	var idpA, idpB access.IdentityProvider
	e.api.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Provider A", "type": "oidc",
		"config": map[string]any{"client_id": "a", "client_secret": "a", "issuer_url": "https://a.idp.test"}}, &idpA)
	e.api.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Provider B", "type": "oidc",
		"config": map[string]any{"client_id": "b", "client_secret": "b", "issuer_url": "https://b.idp.test"}}, &idpB)
	serviceAuth := pol("service auth", "non_identity", rules(t, `{"service_token":{"token_id":"`+svc.ID+`"}}`))
	allowAnn := pol("ann", "allow", rules(t, `{"email":{"email":"ann@example.test"}}`))
	const denyURL = "https://deny.example.test/why?app=1"
	const svcDenyURL = "https://deny.example.test/service?code=403"

	type req struct {
		path    string
		nav     bool
		token   *access.ServiceToken // sent in the CF-Access-Client-* headers
		header  map[string]string
		session string // an email: a session for it is sent
	}
	tests := []struct {
		name     string
		fields   map[string]any
		policies []map[string]any
		req      req
		status   int
		location string // exact, or a part of it after a leading "*"
		body     string // a substring of the body
		reached  bool   // whether the origin saw the request
		check    func(t *testing.T, resp *http.Response)
	}{
		{name: "service_auth_401_redirect/on: a navigation without credentials is 401, not a redirect",
			fields: map[string]any{"service_auth_401_redirect": true}, policies: []map[string]any{serviceAuth},
			req: req{path: "/", nav: true}, status: 401, body: `"error":"login_required"`},
		{name: "service_auth_401_redirect/off: the same navigation goes to login",
			policies: []map[string]any{serviceAuth},
			req:      req{path: "/", nav: true}, status: 302, location: "*/cdn-cgi/access/login/"},
		{name: "service_auth_401_redirect/on: the service token still gets in",
			fields: map[string]any{"service_auth_401_redirect": true}, policies: []map[string]any{serviceAuth},
			req: req{path: "/", token: &svc}, status: 200, reached: true},

		{name: "custom_non_identity_deny_url/token no policy accepts goes there exactly",
			fields: map[string]any{"custom_non_identity_deny_url": svcDenyURL}, policies: []map[string]any{serviceAuth},
			req: req{path: "/", token: &stranger}, status: 302, location: svcDenyURL},
		{name: "custom_non_identity_deny_url/bad token secret goes there exactly",
			fields: map[string]any{"custom_non_identity_deny_url": svcDenyURL}, policies: []map[string]any{serviceAuth},
			req:    req{path: "/", header: map[string]string{"CF-Access-Client-Id": svc.ClientID, "CF-Access-Client-Secret": strings.Repeat("0", 64)}},
			status: 302, location: svcDenyURL},
		{name: "custom_non_identity_deny_url/unset: the token is refused with 403",
			policies: []map[string]any{serviceAuth},
			req:      req{path: "/", token: &stranger}, status: 403, body: `"error":"service_token_no_policy"`},
		{name: "custom_non_identity_deny_url/an identity denial does not go there",
			fields:   map[string]any{"custom_non_identity_deny_url": svcDenyURL},
			policies: []map[string]any{allowAnn},
			req:      req{path: "/", nav: true, session: "bob@example.test"}, status: 403, body: "You cannot open"},

		{name: "custom_deny_url/an identity denial of a navigation goes there exactly",
			fields: map[string]any{"custom_deny_url": denyURL}, policies: []map[string]any{allowAnn},
			req: req{path: "/", nav: true, session: "bob@example.test"}, status: 302, location: denyURL},
		{name: "custom_deny_url/unset: the deny page",
			policies: []map[string]any{allowAnn},
			req:      req{path: "/", nav: true, session: "bob@example.test"}, status: 403, body: "You cannot open"},
		{name: "custom_deny_message/shown to a script",
			fields: map[string]any{"custom_deny_message": "Ask the ops team."}, policies: []map[string]any{allowAnn},
			req: req{path: "/", session: "bob@example.test"}, status: 403, body: `"message":"Ask the ops team."`},
		{name: "custom_deny_message/shown on the deny page",
			fields: map[string]any{"custom_deny_message": "Ask the ops team."}, policies: []map[string]any{allowAnn},
			req: req{path: "/", nav: true, session: "bob@example.test"}, status: 403, body: "Ask the ops team."},

		{name: "read_service_tokens_from_header/the token in one JSON header gets in, and the header is not forwarded",
			fields: map[string]any{"read_service_tokens_from_header": "X-Svc-Auth"}, policies: []map[string]any{serviceAuth},
			req:    req{path: "/", header: map[string]string{"X-Svc-Auth": `{"cf-access-client-id":"` + svc.ClientID + `","cf-access-client-secret":"` + svc.ClientSecret + `"}`}},
			status: 200, reached: true},
		{name: "read_service_tokens_from_header/unset: the same header is no credential",
			policies: []map[string]any{serviceAuth},
			req:      req{path: "/", header: map[string]string{"X-Svc-Auth": `{"cf-access-client-id":"` + svc.ClientID + `","cf-access-client-secret":"` + svc.ClientSecret + `"}`}},
			status:   401, body: `"error":"login_required"`},

		{name: "http_only_cookie_attribute/false: the session cookie is readable by scripts",
			fields: map[string]any{"http_only_cookie_attribute": false}, policies: []map[string]any{serviceAuth},
			req: req{path: "/", token: &svc}, status: 200, reached: true,
			check: func(t *testing.T, resp *http.Response) {
				if c := cookieNamed(resp, "CF_Authorization"); c == nil || c.HttpOnly {
					t.Errorf("cookie %v: want it without HttpOnly", c)
				}
			}},
		{name: "http_only_cookie_attribute/default: HttpOnly",
			policies: []map[string]any{serviceAuth},
			req:      req{path: "/", token: &svc}, status: 200, reached: true,
			check: func(t *testing.T, resp *http.Response) {
				if c := cookieNamed(resp, "CF_Authorization"); c == nil || !c.HttpOnly {
					t.Errorf("cookie %v: want HttpOnly", c)
				}
			}},
		{name: "same_site_cookie_attribute/strict",
			fields: map[string]any{"same_site_cookie_attribute": "strict"}, policies: []map[string]any{serviceAuth},
			req: req{path: "/", token: &svc}, status: 200, reached: true,
			check: func(t *testing.T, resp *http.Response) {
				if c := cookieNamed(resp, "CF_Authorization"); c == nil || c.SameSite != http.SameSiteStrictMode {
					t.Errorf("cookie %v: want SameSite=Strict", c)
				}
			}},
		{name: "same_site_cookie_attribute/none is Secure",
			fields: map[string]any{"same_site_cookie_attribute": "none"}, policies: []map[string]any{serviceAuth},
			req: req{path: "/", token: &svc}, status: 200, reached: true,
			check: func(t *testing.T, resp *http.Response) {
				if c := cookieNamed(resp, "CF_Authorization"); c == nil || c.SameSite != http.SameSiteNoneMode || !c.Secure {
					t.Errorf("cookie %v: want SameSite=None; Secure", c)
				}
			}},
		{name: "path_cookie_attribute/the cookie is scoped to the app's path",
			fields: map[string]any{"path_cookie_attribute": true}, policies: []map[string]any{serviceAuth},
			req: req{path: "/admin/x", token: &svc}, status: 200, reached: true,
			check: func(t *testing.T, resp *http.Response) {
				if c := cookieNamed(resp, "CF_Authorization"); c == nil || c.Path != "/admin" {
					t.Errorf("cookie %v: want Path=/admin", c)
				}
			}},
		{name: "path_cookie_attribute/off: Path=/",
			policies: []map[string]any{serviceAuth},
			req:      req{path: "/admin/x", token: &svc}, status: 200, reached: true,
			check: func(t *testing.T, resp *http.Response) {
				if c := cookieNamed(resp, "CF_Authorization"); c == nil || c.Path != "/" {
					t.Errorf("cookie %v: want Path=/", c)
				}
			}},
		{name: "allowed_idps/only the allowed provider is offered at login",
			fields: map[string]any{"allowed_idps": []string{idpB.ID}}, policies: []map[string]any{allowAnn},
			req: req{path: "login"}, status: 200, body: "Provider B"},
		{name: "allowed_idps/unset: every provider is offered",
			policies: []map[string]any{allowAnn},
			req:      req{path: "login"}, status: 200, body: "Provider A"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			domain := host(t, "app")
			if strings.HasPrefix(tc.name, "path_cookie_attribute") {
				domain += "/admin"
			}
			app := e.app(t, domain, tc.fields, tc.policies...)
			h, _, _ := strings.Cut(domain, "/")
			var r *http.Request
			if tc.req.path == "login" {
				r = e.edge.Request(t, "GET", strings.TrimPrefix(e.edge.Issuer, "http://"),
					"/cdn-cgi/access/login/"+h+"?redirect_url="+url.QueryEscape("http://"+h+"/"), nil)
				navigate(r)
			} else {
				r = e.edge.Request(t, "GET", h, tc.req.path, nil)
			}
			if tc.req.nav {
				navigate(r)
			}
			if tc.req.token != nil {
				withToken(r, tc.req.token.ClientID, tc.req.token.ClientSecret)
			}
			for k, v := range tc.req.header {
				r.Header.Set(k, v)
			}
			if tc.req.session != "" {
				r.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: e.edge.MintSession(t, app.AUD, tc.req.session, time.Hour)})
			}
			before := len(e.origin.Requests())
			resp, body := e.edge.Do(t, r)
			if resp.StatusCode != tc.status {
				t.Fatalf("case %d: status %d, want %d: %s", i, resp.StatusCode, tc.status, body)
			}
			loc := resp.Header.Get("Location")
			if part, contains := strings.CutPrefix(tc.location, "*"); contains && !strings.Contains(loc, part) || !contains && loc != tc.location {
				t.Errorf("Location %q, want %q", loc, tc.location)
			}
			if !strings.Contains(body, tc.body) {
				t.Errorf("body %q does not contain %q", body, tc.body)
			}
			if tc.name == "allowed_idps/only the allowed provider is offered at login" && strings.Contains(body, "Provider A") {
				t.Errorf("the login page offers a provider allowed_idps leaves out:\n%s", body)
			}
			if reached := len(e.origin.Requests()) > before; reached != tc.reached {
				t.Errorf("origin reached: %v, want %v", reached, tc.reached)
			}
			if tc.reached {
				if got := e.origin.Last().Header.Get("X-Svc-Auth"); got != "" {
					t.Errorf("the origin received the token header: %q", got)
				}
			}
			if tc.check != nil {
				tc.check(t, resp)
			}
		})
	}
}
