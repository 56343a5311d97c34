package edge_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// The CF_Authorization cookie the edge sets after a service-token request
// can be sent instead of the token's headers, as Cloudflare documents,
// and is decided as that service token: it works exactly as long as the
// secret it was minted for.
func TestServiceTokenCookieStandsInForTheHeadersWhileItsSecretWorks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := createToken(t, e.api, "robot", nil)
	h := host(t, "api")
	e.app(t, h, nil, pol("robot", "non_identity", rules(t, `{"service_token":{"token_id":"`+tok.ID+`"}}`)),
		pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`)))

	mint := func(t *testing.T, id, secret string) string {
		t.Helper()
		resp, body := e.edge.Do(t, withToken(e.edge.Request(t, "GET", h, "/", nil), id, secret))
		if resp.StatusCode != 200 {
			t.Fatalf("with the token's headers: %d %s", resp.StatusCode, body)
		}
		for _, c := range resp.Cookies() {
			if c.Name == "CF_Authorization" && c.Value != "" {
				return c.Value
			}
		}
		t.Fatal("no CF_Authorization cookie after a service-token request")
		return ""
	}
	send := func(t *testing.T, cookie string) (int, string) {
		t.Helper()
		req := e.edge.Request(t, "GET", h, "/data", nil)
		req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: cookie})
		resp, body := e.edge.Do(t, req)
		return resp.StatusCode, body
	}

	cookie := mint(t, tok.ClientID, tok.ClientSecret)
	if status, body := send(t, cookie); status != 200 || body != "origin ok" {
		t.Fatalf("the cookie alone: %d %s", status, body)
	}
	got := e.origin.Last()
	if got.Header.Get("Cf-Access-Jwt-Assertion") != cookie || got.Header.Get("Cf-Access-Authenticated-User-Email") != "" || strings.Contains(got.Header.Get("Cookie"), "CF_Authorization") {
		t.Errorf("origin saw assertion %.20q user %q cookie %q", got.Header.Get("Cf-Access-Jwt-Assertion"), got.Header.Get("Cf-Access-Authenticated-User-Email"), got.Header.Get("Cookie"))
	}

	// Rotation with a grace period: the old secret's cookie works until the
	// old secret stops working; the new secret's cookie works on.
	var rotated access.ServiceToken
	e.api.MustCall(t, "POST", "access/service_tokens/"+tok.ID+"/rotate",
		map[string]any{"previous_client_secret_expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, &rotated)
	e.edge.Sync(t, e.api.Store)
	if status, body := send(t, cookie); status != 200 {
		t.Fatalf("old secret's cookie during the grace period: %d %s", status, body)
	}
	fresh := mint(t, tok.ClientID, rotated.ClientSecret)
	e.api.MustCall(t, "POST", "access/service_tokens/"+tok.ID+"/rotate", nil, &rotated) // no grace: both earlier secrets stop
	e.edge.Sync(t, e.api.Store)
	for name, c := range map[string]string{"first": cookie, "second": fresh} {
		if status, body := send(t, c); status != 401 || !strings.Contains(body, "session_revoked") {
			t.Errorf("%s secret's cookie after rotation: %d %s", name, status, body)
		}
	}
	latest := mint(t, tok.ClientID, rotated.ClientSecret)
	if status, _ := send(t, latest); status != 200 {
		t.Fatalf("the current secret's cookie: %d", status)
	}

}

// A service token's cookie stops working when the token is deleted, even
// where a policy admits any valid service token.
func TestServiceTokenCookieEndsWithTheToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := createToken(t, e.api, "robot", nil)
	h := host(t, "api")
	e.app(t, h, nil, pol("robots", "non_identity", rules(t, `{"any_valid_service_token":{}}`)))
	resp, _ := e.edge.Do(t, withToken(e.edge.Request(t, "GET", h, "/", nil), tok.ClientID, tok.ClientSecret))
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "CF_Authorization" {
			cookie = c.Value
		}
	}
	send := func() (int, string) {
		req := e.edge.Request(t, "GET", h, "/", nil)
		req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: cookie})
		resp, body := e.edge.Do(t, req)
		return resp.StatusCode, body
	}
	if status, body := send(); resp.StatusCode != 200 || status != 200 {
		t.Fatalf("headers %d; cookie %d %s", resp.StatusCode, status, body)
	}
	e.api.MustCall(t, "DELETE", "access/service_tokens/"+tok.ID, nil, nil)
	e.edge.Sync(t, e.api.Store)
	if status, body := send(); status != 401 || !strings.Contains(body, "service_token_unknown") {
		t.Errorf("cookie of a deleted token: %d %s", status, body)
	}
}
