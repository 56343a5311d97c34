package edge_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// TestRelayPresentsTheServiceTokenNotTheUser is the Worker recipe built
// in: a user signed in to app A reaches app B, on another host behind
// Access, through A's path app, which presents a service token to B.
func TestRelayPresentsTheServiceTokenNotTheUser(t *testing.T) {
	t.Parallel()
	e, port := newHostsEnv(t)
	a := e.api

	tok := createToken(t, a, "relay", nil)
	hostB := host(t, "api")
	appB := e.app(t, hostB, nil, pol("service auth", "non_identity", rules(t, `{"service_token":{"token_id":"`+tok.ID+`"}}`)))
	hostA := host(t, "app")
	appA := e.app(t, hostA+"/api", map[string]any{
		"origin":                 "http://" + hostB + ":" + port,
		"upstream_service_token": map[string]any{"client_id": tok.ClientID, "client_secret": tok.ClientSecret},
	}, pol("user", "allow", rules(t, `{"email":{"email":"ada@example.test"}}`)))

	session := e.edge.MintSession(t, appA.AUD, "ada@example.test", time.Hour)
	relayed := func() (*http.Response, string) {
		t.Helper()
		req := e.edge.Request(t, "GET", hostA, "/api/x?q=1", nil)
		req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: session})
		req.AddCookie(&http.Cookie{Name: "theme", Value: "dark"})
		return e.edge.Do(t, req)
	}

	resp, _ := relayed()
	if resp.StatusCode != 200 {
		t.Fatalf("relayed request: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "CF_Authorization" {
			t.Errorf("B's session cookie reached the client on A's host: %v", c)
		}
	}
	got := e.origin.Last()
	if got == nil || got.Header.Get("X-Forwarded-Host") != hostB+":"+port || got.URL.Path != "/api/x" || got.URL.RawQuery != "q=1" {
		t.Fatalf("B's origin got %+v", got)
	}
	if c := got.Header.Values("Cookie"); len(c) != 0 {
		t.Errorf("user cookies travelled to the other host: %q", c)
	}
	for _, hdr := range []string{"Cf-Access-Client-Id", "Cf-Access-Client-Secret", "Cf-Access-Authenticated-User-Email"} {
		if v := got.Header.Get(hdr); v != "" {
			t.Errorf("B's origin received %s: %q", hdr, v)
		}
	}
	claims, err := e.edge.Loader.State().Keys.Verify(got.Header.Get("Cf-Access-Jwt-Assertion"), appB.AUD, e.edge.Issuer, time.Now())
	if err != nil || claims.CommonName != tok.ClientID || claims.Email != "" {
		t.Fatalf("B's assertion: claims %+v err %v", claims, err)
	}

	// Rotated without grace, the stored credential stops working at B.
	var rotated access.ServiceToken
	a.MustCall(t, "POST", "access/service_tokens/"+tok.ID+"/rotate", nil, &rotated)
	e.edge.Sync(t, a.Store)
	seen := len(e.origin.Requests())
	if resp, body := relayed(); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, string(policy.ReasonServiceTokenBadSecret)) {
		t.Fatalf("after rotation: %d %s, want 401 from B", resp.StatusCode, body)
	}
	if n := len(e.origin.Requests()); n != seen {
		t.Errorf("B's origin was reached after rotation")
	}
}
