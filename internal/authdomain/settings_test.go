package authdomain_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/accesslog"
	"github.com/gatehouse-dev/gatehouse/internal/edge"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// pinEnv is an Env whose edge mails PINs to mail and writes its access log.
func pinEnv(t *testing.T) (*gatehousetest.Env, *gatehousetest.PINCatcher) {
	t.Helper()
	a := gatehousetest.NewAPI(t)
	logger := accesslog.New(a.Store, accesslog.Config{FlushInterval: 20 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); logger.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	mail := gatehousetest.NewPINCatcher()
	e := &gatehousetest.Env{API: a, Origin: gatehousetest.StartOrigin(t),
		Edge: gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, Mailer: mail, Observers: []edge.Observer{logger}})}
	a.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Email code", "type": "onetimepin", "config": map[string]any{}}, nil)
	return e, mail
}

// accessLog waits for the account's log rows for app matching query.
func accessLog(t *testing.T, a *gatehousetest.API, query string, ok func([]access.AccessLogEntry) bool) []access.AccessLogEntry {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var entries []access.AccessLogEntry
		a.MustCall(t, "GET", "access/logs/access_requests?"+query, nil, &entries)
		if ok(entries) {
			return entries
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log %q: %+v", query, entries)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPurposeJustification(t *testing.T) {
	t.Parallel()
	e, mail := pinEnv(t)
	const prompt = "Which ticket are you working on?"
	h := host(t, "app")
	justified := pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`))
	justified["purpose_justification_required"] = true
	justified["purpose_justification_prompt"] = prompt
	app := e.App(t, h, nil, justified)
	plain := host(t, "plain")
	e.App(t, plain, nil, pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`)))
	appURL := "http://" + h + e.Port() + "/tickets?id=7"
	c := gatehousetest.LoginClient(t, e.Edge.URL)

	// Signing in is not enough: the login asks for a reason, with the
	// policy's prompt, and the app is not reached.
	resp, body := gatehousetest.LoginWithPIN(t, c, mail, appURL, "ann@example.test")
	if resp.StatusCode != 200 || !strings.Contains(body, prompt) || !strings.Contains(body, `name="purpose"`) {
		t.Fatalf("after sign-in: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	if n := len(e.Origin.Requests()); n != 0 {
		t.Fatalf("the origin was reached %d times before a reason was given", n)
	}
	action, form := gatehousetest.HiddenFields(t, body)
	purposeURL := resp.Request.URL.ResolveReference(&url.URL{Path: action}).String()

	tests := []struct {
		name    string
		client  *http.Client
		purpose string
		status  int
		body    string
	}{
		{"fail/empty reason", c, "   ", 400, "Give a reason"},
		{"fail/control characters", c, "ticket\r\nX-Admin: 1", 400, "one line"},
		{"fail/NUL", c, "ticket\x00", 400, "one line"},
		{"fail/too long", c, strings.Repeat("a", 1025), 400, "too long"},
		{"fail/invalid UTF-8", c, "ticket \xff", 400, "must be text"},
		{"fail/no auth-domain session", gatehousetest.LoginClient(t, e.Edge.URL), "incident 42", 401, "Sign in first"},
		{"ok/a reason", c, "  incident 42 ", 200, "origin ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			f.Set("purpose", tc.purpose)
			before := len(e.Origin.Requests())
			resp, body := postForm(t, tc.client, purposeURL, f)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.body) {
				t.Fatalf("%d at %s, want %d with %q:\n%s", resp.StatusCode, resp.Request.URL, tc.status, tc.body, body)
			}
			if reached := len(e.Origin.Requests()) > before; reached != (tc.status == 200) {
				t.Errorf("origin reached: %v", reached)
			}
			if tc.status != 200 && tc.status != 401 && !strings.Contains(body, prompt) {
				t.Errorf("the form is not shown again with the prompt:\n%s", body)
			}
		})
	}

	// The reason is in the session: the origin's assertion carries it,
	// later requests need no new one, and the access log has it on the
	// login and on every request.
	got := e.Origin.Last()
	claims, err := e.Edge.Loader.State().Keys.Verify(got.Header.Get("Cf-Access-Jwt-Assertion"), app.AUD, e.Edge.Issuer, time.Now())
	if err != nil || claims.Purpose != "incident 42" {
		t.Fatalf("assertion claims %+v err %v", claims, err)
	}
	if resp, body := get(t, c, "http://"+h+e.Port()+"/again"); resp.StatusCode != 200 || body != "origin ok" {
		t.Fatalf("a later request: %d %s", resp.StatusCode, body)
	}
	entries := accessLog(t, e.API, "app_id="+app.ID, func(es []access.AccessLogEntry) bool {
		var login, allow int
		for _, e := range es {
			if e.PurposeJustification == "incident 42" && e.Action == "login" && e.Allowed {
				login++
			}
			if e.PurposeJustification == "incident 42" && e.Action == "allow" {
				allow++
			}
		}
		return login == 1 && allow == 2
	})
	for _, en := range entries {
		if en.Action == "allow" && en.PurposeJustification == "" {
			t.Errorf("an allowed request without the reason: %+v", en)
		}
	}

	// A session made without a reason (before the policy asked for one)
	// does not reach the app: the user is sent to give one.
	stale := e.Edge.MintSession(t, app.AUD, "ann@example.test", time.Hour)
	req := e.Edge.Request(t, "GET", h, "/", nil)
	req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: stale})
	before := len(e.Origin.Requests())
	if resp, body := e.Edge.Do(t, req); resp.StatusCode != 401 || !strings.Contains(body, "purpose_justification_required") {
		t.Errorf("a session without a reason: %d %s", resp.StatusCode, body)
	}
	if len(e.Origin.Requests()) != before {
		t.Error("a session without a reason reached the origin")
	}

	// An app whose policy asks nothing is not slowed by a form.
	if resp, body := get(t, c, "http://"+plain+e.Port()+"/"); resp.StatusCode != 200 || body != "origin ok" {
		t.Errorf("an app without purpose justification: %d %s", resp.StatusCode, body)
	}
}

func TestBindingCookie(t *testing.T) {
	t.Parallel()
	e, mail := pinEnv(t)
	h := host(t, "bound")
	app := e.App(t, h, map[string]any{"enable_binding_cookie": true}, pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`)))
	unboundHost := host(t, "unbound")
	unbound := e.App(t, unboundHost, nil, pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`)))
	appURL := "http://" + h + e.Port() + "/"

	login := func(t *testing.T) (authz, binding string) {
		t.Helper()
		c := gatehousetest.LoginClient(t, e.Edge.URL)
		resp, body := gatehousetest.LoginWithPIN(t, c, mail, appURL, "ann@example.test")
		// The hop lands the browser with a page of the app's host, which
		// moves on by itself.
		if resp.StatusCode != 200 || !strings.Contains(body, `http-equiv="refresh"`) || !strings.Contains(body, appURL) {
			t.Fatalf("after sign-in: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
		}
		for _, ck := range resp.Cookies() {
			switch ck.Name {
			case "CF_Authorization":
				authz = ck.Value
			case "CF_Binding":
				binding = ck.Value
				if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
					t.Errorf("CF_Binding attributes: %s", ck.String())
				}
			}
		}
		if authz == "" || binding == "" {
			t.Fatalf("the hop set CF_Authorization %q and CF_Binding %q", authz, binding)
		}
		if resp, body := get(t, c, appURL); resp.StatusCode != 200 || body != "origin ok" {
			t.Fatalf("the browser that signed in: %d %s", resp.StatusCode, body)
		}
		return authz, binding
	}
	authz, binding := login(t)
	claims, err := e.Edge.Loader.State().Keys.Verify(authz, app.AUD, e.Edge.Issuer, time.Now())
	if err != nil || claims.Binding == "" || strings.Contains(authz, binding) {
		t.Fatalf("the token must carry a hash of the binding, not the binding: %+v %v", claims, err)
	}
	otherAuthz, otherBinding := login(t)

	tests := []struct {
		name    string
		host    string
		cookies map[string]string
		header  string // cf-access-token
		path    string
		status  int
		reason  string
	}{
		{"ok/token with its binding cookie", h, map[string]string{"CF_Authorization": authz, "CF_Binding": binding}, "", "/", 200, ""},
		{"fail/stolen token alone", h, map[string]string{"CF_Authorization": authz}, "", "/", 401, "binding_cookie_mismatch"},
		{"fail/stolen token in the cf-access-token header", h, nil, authz, "/", 401, "binding_cookie_mismatch"},
		{"fail/token with another session's binding", h, map[string]string{"CF_Authorization": authz, "CF_Binding": otherBinding}, "", "/", 401, "binding_cookie_mismatch"},
		{"ok/the other session with its own binding", h, map[string]string{"CF_Authorization": otherAuthz, "CF_Binding": otherBinding}, "", "/", 200, ""},
		{"fail/token with an empty binding cookie", h, map[string]string{"CF_Authorization": authz, "CF_Binding": ""}, "", "/", 401, "binding_cookie_mismatch"},
		{"fail/binding cookie alone", h, map[string]string{"CF_Binding": binding}, "", "/", 401, "login_required"},
		{"fail/an unbound token on a binding app", h, map[string]string{"CF_Authorization": e.Edge.MintSession(t, app.AUD, "ann@example.test", time.Hour)}, "", "/", 401, "binding_cookie_mismatch"},
		{"fail/get-identity without the binding cookie", h, map[string]string{"CF_Authorization": authz}, "", "/cdn-cgi/access/get-identity", 401, "binding_cookie_mismatch"},
		{"ok/get-identity with it", h, map[string]string{"CF_Authorization": authz, "CF_Binding": binding}, "", "/cdn-cgi/access/get-identity", 200, ""},
		{"ok/an app without binding takes an unbound token", unboundHost, map[string]string{"CF_Authorization": e.Edge.MintSession(t, unbound.AUD, "ann@example.test", time.Hour)}, "", "/", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := e.Edge.Request(t, "GET", tc.host, tc.path, nil)
			for k, v := range tc.cookies {
				req.AddCookie(&http.Cookie{Name: k, Value: v})
			}
			if tc.header != "" {
				req.Header.Set("Cf-Access-Token", tc.header)
			}
			before := len(e.Origin.Requests())
			resp, body := e.Edge.Do(t, req)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.reason) {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tc.status, tc.reason)
			}
			reached := len(e.Origin.Requests()) > before
			if reached != (tc.status == 200 && tc.path == "/") {
				t.Errorf("origin reached: %v", reached)
			}
			if reached {
				if ck := e.Origin.Last().Header.Get("Cookie"); strings.Contains(ck, "CF_Binding") || strings.Contains(ck, "CF_Authorization") {
					t.Errorf("the origin received the credentials: %q", ck)
				}
			}
		})
	}
}

// TestIdentityProviderSettingsAtTheEdge proves that the edge uses each
// enforced field of an OIDC provider's config: each case is one provider
// and one app that offers only it.
func TestIdentityProviderSettingsAtTheEdge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name   string
		config func(op *gatehousetest.OIDCProvider, disc map[string]string) map[string]any
		// start checks the redirect to the provider; login, when set, is
		// the status and body part the whole login ends in.
		start       func(t *testing.T, q url.Values)
		loginStatus int
		loginBody   string
	}{
		// Without discovery there is no userinfo endpoint, and this
		// provider puts the email only there: a login through the given
		// endpoints gets as far as the email (the code was exchanged at
		// token_url and the ID token verified with certs_url), and a wrong
		// token_url or certs_url fails at its own step.
		{name: "config.auth_url, token_url and certs_url: a login goes through the given endpoints",
			config: func(op *gatehousetest.OIDCProvider, disc map[string]string) map[string]any {
				return map[string]any{"client_id": op.ClientID, "client_secret": op.ClientSecret,
					"auth_url": disc["authorization_endpoint"], "token_url": disc["token_endpoint"], "certs_url": disc["jwks_uri"]}
			}, loginStatus: 401, loginBody: "did not share a verified email"},
		{name: "config.token_url: a wrong one fails the code exchange",
			config: func(op *gatehousetest.OIDCProvider, disc map[string]string) map[string]any {
				return map[string]any{"client_id": op.ClientID, "client_secret": op.ClientSecret,
					"auth_url": disc["authorization_endpoint"], "token_url": op.Issuer + "/no-token-here", "certs_url": disc["jwks_uri"]}
			}, loginStatus: 401, loginBody: "did not confirm the sign-in"},
		{name: "config.certs_url: a wrong one fails the ID token",
			config: func(op *gatehousetest.OIDCProvider, disc map[string]string) map[string]any {
				return map[string]any{"client_id": op.ClientID, "client_secret": op.ClientSecret,
					"auth_url": disc["authorization_endpoint"], "token_url": disc["token_endpoint"], "certs_url": op.Issuer + "/no-keys-here"}
			}, loginStatus: 401, loginBody: "did not verify"},
		{name: "config.email_claim_name: a claim the provider does not send is no email",
			config: func(op *gatehousetest.OIDCProvider, _ map[string]string) map[string]any {
				return map[string]any{"client_id": op.ClientID, "client_secret": op.ClientSecret, "issuer_url": op.Issuer, "email_claim_name": "work_email"}
			}, loginStatus: 401, loginBody: "did not share a verified email"},
		{name: "config.scopes: asked for",
			config: func(op *gatehousetest.OIDCProvider, _ map[string]string) map[string]any {
				return map[string]any{"client_id": op.ClientID, "client_secret": op.ClientSecret, "issuer_url": op.Issuer, "scopes": []string{"openid", "email"}}
			}, start: func(t *testing.T, q url.Values) {
				if q.Get("scope") != "openid email" {
					t.Errorf("scope %q, want %q", q.Get("scope"), "openid email")
				}
			}},
		{name: "config.pkce_enabled: false sends no challenge",
			config: func(op *gatehousetest.OIDCProvider, _ map[string]string) map[string]any {
				return map[string]any{"client_id": op.ClientID, "client_secret": op.ClientSecret, "issuer_url": op.Issuer, "pkce_enabled": false}
			}, start: func(t *testing.T, q url.Values) {
				if q.Has("code_challenge") {
					t.Errorf("a PKCE challenge was sent: %v", q)
				}
			}},
		{name: "config.pkce_enabled: default sends an S256 challenge",
			config: func(op *gatehousetest.OIDCProvider, _ map[string]string) map[string]any {
				return map[string]any{"client_id": op.ClientID, "client_secret": op.ClientSecret, "issuer_url": op.Issuer}
			}, start: func(t *testing.T, q url.Values) {
				if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" || q.Get("scope") != "openid email profile" {
					t.Errorf("authorization request %v", q)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := gatehousetest.StartOIDCProvider(t, e.Edge.Issuer+"/cdn-cgi/access/callback")
			disc := map[string]string{}
			if resp, err := http.Get(op.Issuer + "/.well-known/openid-configuration"); err == nil {
				var doc map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&doc)
				resp.Body.Close()
				for k, v := range doc {
					if s, ok := v.(string); ok {
						disc[k] = s
					}
				}
			}
			var idp access.IdentityProvider
			e.API.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": t.Name(), "type": "oidc", "config": tc.config(op, disc)}, &idp)
			h := host(t, "app")
			e.App(t, h, map[string]any{"allowed_idps": []string{idp.ID}, "auto_redirect_to_identity": true},
				pol("staff", "allow", rules(t, `{"email_domain":{"domain":"zitadel.ch"}}`)))
			appURL := "http://" + h + e.Port() + "/"
			c := gatehousetest.LoginClient(t, e.Edge.URL)
			if tc.start != nil {
				c.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
					if strings.HasPrefix(r.URL.String(), op.Issuer) {
						return http.ErrUseLastResponse
					}
					return nil
				}
				resp, _ := get(t, c, appURL)
				loc, err := url.Parse(resp.Header.Get("Location"))
				if resp.StatusCode != 302 || err != nil || !strings.HasPrefix(loc.String(), op.Issuer) {
					t.Fatalf("no redirect to the provider: %d %s", resp.StatusCode, resp.Header.Get("Location"))
				}
				tc.start(t, loc.Query())
				return
			}
			resp, body := get(t, c, appURL)
			id := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(body)
			if id == nil {
				t.Fatalf("no provider login form: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
			}
			loginURL := resp.Request.URL.ResolveReference(&url.URL{Path: "/login/username"})
			resp, body = postForm(t, c, loginURL.String(), url.Values{"id": {id[1]}, "username": {op.Username}, "password": {op.Password}})
			if resp.StatusCode != tc.loginStatus || !strings.Contains(body, tc.loginBody) {
				t.Fatalf("login ends in %d at %s, want %d with %q:\n%s", resp.StatusCode, resp.Request.URL, tc.loginStatus, tc.loginBody, body)
			}
		})
	}
}

// TestPolicySessionDurationSetsTheAppSession: the Allow policy's
// session_duration, when set, is the app token's lifetime; otherwise the
// app's is.
func TestPolicySessionDurationSetsTheAppSession(t *testing.T) {
	t.Parallel()
	e, mail := pinEnv(t)
	tests := []struct {
		name        string
		app, policy string
		want        time.Duration
	}{
		{"policy session_duration wins", "2h", "30m", 30 * time.Minute},
		{"without it, the app's", "2h", "", 2 * time.Hour},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`))
			if tc.policy != "" {
				p["session_duration"] = tc.policy
			}
			h := host(t, "app")
			app := e.App(t, h, map[string]any{"session_duration": tc.app}, p)
			c := gatehousetest.LoginClient(t, e.Edge.URL)
			resp, body := gatehousetest.LoginWithPIN(t, c, mail, "http://"+h+e.Port()+"/", fmt.Sprintf("user%d@example.test", i))
			if resp.StatusCode != 200 || body != "origin ok" {
				t.Fatalf("login: %d %s", resp.StatusCode, body)
			}
			var token string
			for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: h + e.Port()}) {
				if ck.Name == "CF_Authorization" {
					token = ck.Value
				}
			}
			claims, err := e.Edge.Loader.State().Keys.Verify(token, app.AUD, e.Edge.Issuer, time.Now())
			// "exp" is whole seconds; the issue time carries iat_ns.
			if life := claims.Expiry.Sub(claims.IssuedAt.Truncate(time.Second)); err != nil || life != tc.want {
				t.Fatalf("token lifetime %v (err %v), want %v", life, err, tc.want)
			}
		})
	}
}
