package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// The CORS guide, "Send authentication token with Cloudflare Worker",
// built in: the user is logged in to app-….example.test only; its page
// fetches /api/data on its own origin (so no CORS at all), and the edge
// relays the request to api-….mysite.test with a service token that the
// API's Service Auth policy accepts. The user never logs in to the API's
// domain.
func TestRelayReachesAnotherAccessDomainWithoutASecondLogin(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var tok access.ServiceToken
	w.api.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "relay"}, &tok)
	origin := gatehousetest.StartOrigin(t)
	apiHost := host("api", "mysite.test")
	apiApp := w.app(t, apiHost, origin.URL, nil, map[string]any{"name": "relay", "decision": "non_identity",
		"include": []any{map[string]any{"service_token": map[string]any{"token_id": tok.ID}}}})

	relay := w.app(t, w.page+"/api", w.browser.Origin(apiHost), map[string]any{
		"upstream_service_token": map[string]any{"client_id": tok.ClientID, "client_secret": tok.ClientSecret},
	}, map[string]any{"name": "ann", "decision": "allow", "include": []any{map[string]any{"email": map[string]any{"email": user}}}})
	w.signIn(t, relay, w.page)

	// Twice: the API app's own session cookie must not come back to
	// replace the user's session on the page's host.
	var got gatehousetest.FetchResult
	for range 2 {
		got = w.browser.Fetch(t, "/api/data", gatehousetest.FetchInit{})
		if got.Error != "" || got.Status != 200 || got.Body != "origin ok" {
			t.Fatalf("page saw %+v, want 200 origin ok", got)
		}
	}
	r := origin.Last()
	if r == nil || r.URL.Path != "/api/data" || r.Header.Get("Cookie") != "" || r.Header.Get("Cf-Access-Authenticated-User-Email") != "" {
		t.Fatalf("API origin got %+v", r)
	}
	claims, err := w.edge.Loader.State().Keys.Verify(r.Header.Get("Cf-Access-Jwt-Assertion"), apiApp.AUD, w.edge.Issuer, time.Now())
	if err != nil || claims.CommonName != tok.ClientID || claims.Email != "" {
		t.Fatalf("API origin's assertion: claims %+v err %v", claims, err)
	}

	// Rotated without grace: the relay's credential is refused by the API
	// app, and the page sees that status.
	w.api.MustCall(t, "POST", "access/service_tokens/"+tok.ID+"/rotate", nil, nil)
	w.edge.Sync(t, w.api.Store)
	seen := len(origin.Requests())
	got = w.browser.Fetch(t, "/api/data", gatehousetest.FetchInit{})
	if got.Error != "" || got.Status != 401 || !strings.Contains(got.Body, string(policy.ReasonServiceTokenBadSecret)) {
		t.Fatalf("after rotation the page saw %+v, want 401", got)
	}
	if n := len(origin.Requests()); n != seen {
		t.Errorf("the API origin was reached after rotation")
	}
}
