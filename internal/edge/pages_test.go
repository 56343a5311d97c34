package edge_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A browser (Accept: text/html) asking for a host no app serves gets an
// HTML page naming the host; a script or curl gets the JSON error as
// before.
func TestUnknownHostAnswersHTMLToABrowserAndJSONOtherwise(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := host(t, "nobody")
	tests := []struct {
		name, accept, fetchMode, wantType, want string
	}{
		{"browser navigation", "text/html,application/xhtml+xml,*/*;q=0.8", "navigate", "text/html", "Nothing is published here"},
		{"browser without fetch metadata", "text/html", "", "text/html", "Gatehouse does not serve this address (" + h + ")"},
		{"curl", "*/*", "", "application/json", `"error":"app_not_found"`},
		{"no Accept", "", "", "application/json", `"error":"app_not_found"`},
		{"fetch asking for JSON", "application/json", "cors", "application/json", `"error":"app_not_found"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.edge.Request(t, "GET", h, "/somewhere", nil)
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			if tc.fetchMode != "" {
				r.Header.Set("Sec-Fetch-Mode", tc.fetchMode)
			}
			resp, body := e.edge.Do(t, r)
			if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.wantType) || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s %q, want 404 %s containing %q", resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.wantType, tc.want)
			}
			if tc.wantType == "text/html" && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("CSP %q", resp.Header.Get("Content-Security-Policy"))
			}
		})
	}
}

// The block page says why in words, names the signed-in user and links to
// the login for the same app and address with the chooser forced; a
// script gets the JSON error; a service token's non-identity denial is
// JSON even to a navigation.
func TestBlockPageSaysWhyWhoAndHowToSwitchAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := host(t, "app")
	svc := createToken(t, e.api, "svc", nil)
	stranger := createToken(t, e.api, "stranger", nil)
	app := e.app(t, h, nil, pol("ann", "allow", rules(t, `{"email":{"email":"ann@example.test"}}`)),
		pol("svc", "non_identity", rules(t, `{"service_token":{"token_id":"`+svc.ID+`"}}`)))
	e.api.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Email", "type": "onetimepin", "config": map[string]any{}}, nil)
	e.api.MustCall(t, "PUT", "access/organizations", map[string]any{"name": "Example Corp",
		"login_design": map[string]any{"background_color": "#0b2540", "text_color": "white", "footer_text": "Questions? it@example.test"}}, nil)
	e.edge.Sync(t, e.api.Store)
	session := e.edge.MintSession(t, app.AUD, "bob@example.test", time.Hour)

	r := navigate(e.edge.Request(t, "GET", h, "/reports?q=1", nil))
	r.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: session})
	resp, body := e.edge.Do(t, r)
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, want := range []string{"You cannot open", "Your account is not among those allowed", "Signed in as <strong>bob@example.test</strong>",
		"Sign in with another account", "no_policy_matched", "Example Corp", "Questions? it@example.test", "--brand-bg: #0b2540;"} {
		if !strings.Contains(body, want) {
			t.Errorf("block page lacks %q", want)
		}
	}
	i := strings.Index(body, `id="switch-account" href="`)
	if i < 0 {
		t.Fatal("no switch-account link")
	}
	href := body[i+len(`id="switch-account" href="`):]
	href = strings.ReplaceAll(href[:strings.Index(href, `"`)], "&amp;", "&")
	u, err := url.Parse(href)
	if err != nil || u.Path != "/cdn-cgi/access/login/"+h || u.Query().Get("redirect_url") != "http://"+h+"/reports?q=1" || u.Query().Get("switch") != "1" ||
		!strings.HasPrefix(href, e.edge.Issuer) {
		t.Fatalf("switch-account link %q", href)
	}

	// The link leads to the app's sign-in page, with the design.
	lr := navigate(e.edge.Request(t, "GET", u.Host, u.RequestURI(), nil))
	lresp, lbody := e.edge.Do(t, lr)
	if lresp.StatusCode != http.StatusOK || !strings.Contains(lbody, "Sign in to "+h) || !strings.Contains(lbody, "Email me a code") ||
		!strings.Contains(lbody, "We will email you a 6-digit sign-in code") || !strings.Contains(lbody, "Example Corp") {
		t.Errorf("login from the block page: %d %s", lresp.StatusCode, lbody)
	}

	// A script is told in JSON.
	r = e.edge.Request(t, "GET", h, "/reports", nil)
	r.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: session})
	resp, body = e.edge.Do(t, r)
	var eb struct{ Error string }
	if resp.StatusCode != http.StatusForbidden || json.Unmarshal([]byte(body), &eb) != nil || eb.Error != "no_policy_matched" {
		t.Errorf("script: %d %s", resp.StatusCode, body)
	}

	// A service token no Service Auth policy accepts: JSON, even to a
	// navigation.
	r = navigate(withToken(e.edge.Request(t, "GET", h, "/", nil), stranger.ClientID, stranger.ClientSecret))
	resp, body = e.edge.Do(t, r)
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(body, "service_token_no_policy") {
		t.Errorf("service token: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// The switch-account link cannot send the user anywhere but the app: a
// redirect_url on another host is refused by the login page.
func TestSwitchAccountLoginRefusesAnotherHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := host(t, "app")
	e.app(t, h, nil, pol("ann", "allow", rules(t, `{"email":{"email":"ann@example.test"}}`)))
	r := navigate(e.edge.Request(t, "GET", strings.TrimPrefix(e.edge.Issuer, "http://"),
		"/cdn-cgi/access/login/"+h+"?switch=1&redirect_url="+url.QueryEscape("https://evil.test/"), nil))
	resp, body := e.edge.Do(t, r)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "This sign-in link does not work") {
		t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}
