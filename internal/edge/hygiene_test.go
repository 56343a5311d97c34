package edge_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// identityNames are the headers only the edge may set, lower-cased with
// "-" for "_": the form CGI/PHP/nginx-style origins read them in.
var identityNames = []string{"cf-access-jwt-assertion", "cf-access-authenticated-user-email", "cf-access-client-id", "cf-access-client-secret", "cf-access-token"}

func originReads(name string) string { return strings.ReplaceAll(strings.ToLower(name), "_", "-") }

// TestOriginSeesOnlyTheEdgesIdentityAndNeverTheSessionCookie sends, for
// every kind of forward (an allowed identity by cookie or by header, a
// service token, a bypass, a preflight bypass, a relay), a request that
// also carries forged identity headers in "_" and odd-case spellings, a
// Connection header naming the edge's own identity headers, and the
// session cookie under its own name and names origins read as it. The
// origin must receive the edge's identity (or none) and none of the rest.
func TestOriginSeesOnlyTheEdgesIdentityAndNeverTheSessionCookie(t *testing.T) {
	t.Parallel()
	e, port := newHostsEnv(t)
	a := e.api
	const user = "ada@example.test"
	userRule := rules(t, `{"email":{"email":"`+user+`"}}`)

	hID := host(t, "id")
	appID := e.app(t, hID, nil, pol("user", "allow", userRule))
	session := e.edge.MintSession(t, appID.AUD, user, time.Hour)

	tok := createToken(t, a, "svc", nil)
	tokenRule := rules(t, `{"service_token":{"token_id":"`+tok.ID+`"}}`)
	hTok := host(t, "tok")
	e.app(t, hTok, nil, pol("service", "non_identity", tokenRule))

	hBypass := host(t, "open")
	e.app(t, hBypass, nil, pol("all", "bypass", rules(t, `{"everyone":{}}`)))

	hPre := host(t, "pre")
	e.app(t, hPre, map[string]any{"options_preflight_bypass": true}, pol("user", "allow", userRule))

	hUp := host(t, "upstream")
	e.app(t, hUp, nil, pol("service", "non_identity", tokenRule))
	hRelay := host(t, "relay")
	appRelay := e.app(t, hRelay+"/api", map[string]any{
		"origin":                 "http://" + hUp + ":" + port,
		"upstream_service_token": map[string]any{"client_id": tok.ClientID, "client_secret": tok.ClientSecret},
	}, pol("user", "allow", userRule))
	relaySession := e.edge.MintSession(t, appRelay.AUD, user, time.Hour)

	// Sent with every request: none of it may reach an origin.
	hostile := "Connection: keep-alive, Cf-Access-Jwt-Assertion, Cf-Access-Authenticated-User-Email, Cf-Access-Client-Id\r\n" +
		"Cf_Access_Jwt_Assertion: forged\r\n" +
		"cf_access_authenticated_user_email: ceo@evil.test\r\n" +
		"CF_ACCESS_CLIENT_ID: forged\r\n" +
		"Cf-Access-Client_Secret: forged\r\n" +
		"cf_access_token: forged\r\n"
	lookalikes := "theme=dark; cf_authorization=lower; CF_AUTHORIZATION=upper; CF.Authorization=dot; CF%5FAuthorization=pct; %20CF_Authorization=sp; CF-Authorization=dash"

	cases := []struct {
		name, host, method, extra string
		cookie                    string // the kind's own CF_Authorization value, if any
		wantAssertion             string // "" none, "session", "minted" (verifies for the app)
		wantEmail                 string
		keepsCookies              bool // other cookies reach the origin (not for a relay)
	}{
		{"identity by cookie", hID, "GET", "", session, "session", user, true},
		{"identity by cf-access-token header", hID, "GET", "Cf-Access-Token: " + session + "\r\n", "", "session", user, true},
		{"service token", hTok, "GET", "CF-Access-Client-Id: " + tok.ClientID + "\r\nCF-Access-Client-Secret: " + tok.ClientSecret + "\r\n", session, "minted", "", true},
		{"bypass", hBypass, "GET", "Cf-Access-Token: " + session + "\r\n", session, "", "", true},
		{"preflight bypass", hPre, "OPTIONS", "Origin: https://site.test\r\nAccess-Control-Request-Method: PUT\r\nCf-Access-Token: " + session + "\r\n", session, "", "", true},
		{"relay", hRelay, "GET", "", relaySession, "minted", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/hyg/" + strings.ReplaceAll(tc.name, " ", "-")
			if tc.host == hRelay {
				path = "/api" + path
			}
			cookie := lookalikes
			if tc.cookie != "" {
				cookie = "CF_Authorization=" + tc.cookie + "; " + lookalikes
			}
			raw := tc.method + " " + path + " HTTP/1.1\r\nHost: " + tc.host + "\r\n" + hostile + tc.extra + "Cookie: " + cookie + "\r\n\r\n"
			res := gatehousetest.RawExchange(t, gatehousetest.RawAddr(t, e.edge.URL), raw, tc.host, 5*time.Second)
			if res.Status != 200 || res.Body != "origin ok" {
				t.Fatalf("status %d %q", res.Status, res.Body)
			}
			var last *http.Request
			for _, r := range e.origin.Requests() {
				if r.URL.Path == path {
					last = r
				}
			}
			if last == nil {
				t.Fatalf("the origin did not receive %s", path)
			}
			for name, values := range last.Header {
				for _, id := range identityNames {
					if originReads(name) != id {
						continue
					}
					switch {
					case name == "Cf-Access-Jwt-Assertion" && tc.wantAssertion != "":
					case name == "Cf-Access-Authenticated-User-Email" && tc.wantEmail != "":
					default:
						t.Errorf("the origin received %s: %q", name, values)
					}
				}
			}
			assertion := last.Header.Get("Cf-Access-Jwt-Assertion")
			switch tc.wantAssertion {
			case "":
				if assertion != "" {
					t.Errorf("assertion %q on a %s", assertion, tc.name)
				}
			case "session":
				if assertion != tc.cookie && assertion != session {
					t.Errorf("assertion %q, want the session", assertion)
				}
			case "minted":
				if assertion == "" || assertion == "forged" || assertion == session || assertion == relaySession {
					t.Errorf("assertion %q, want one the edge minted", assertion)
				}
			}
			if got := last.Header.Values("Cf-Access-Authenticated-User-Email"); tc.wantEmail != "" && (len(got) != 1 || got[0] != tc.wantEmail) {
				t.Errorf("email %q, want %q", got, tc.wantEmail)
			}
			cookies := strings.Join(last.Header.Values("Cookie"), "; ")
			for _, part := range strings.Split(cookies, ";") {
				name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
				if n := strings.ToLower(strings.TrimSpace(strings.NewReplacer("%5F", "_", "%20", "", ".", "_", "-", "_").Replace(name))); n == "cf_authorization" {
					t.Errorf("the origin received cookie %q (all: %q)", part, cookies)
				}
			}
			if tc.keepsCookies != strings.Contains(cookies, "theme=dark") {
				t.Errorf("other cookies %q, want kept: %v", cookies, tc.keepsCookies)
			}
		})
	}
}
