package api_test

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestReadBackBodiesAreAcceptedAsTheyAre reads each resource and sends
// what it read back as the update: the output-only fields (id,
// created_at, app_count, …) are ignored, as Cloudflare does, so the write
// succeeds and changes nothing but updated_at; a field the API does not
// know is still refused, named.
func TestReadBackBodiesAreAcceptedAsTheyAre(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	var reusable, idp, group, token, cert struct{ ID string }
	a.MustCall(t, "POST", "access/policies", allowEveryone("staff"), &reusable)
	a.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "SSO", "type": "oidc",
		"config": map[string]any{"client_id": "c", "client_secret": "s", "issuer_url": "https://sso.readback.test"}}, &idp)
	a.MustCall(t, "POST", "access/groups", map[string]any{"name": "eng",
		"include": []any{map[string]any{"email_domain": map[string]any{"domain": "example.com"}}}}, &group)
	a.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "ci"}, &token)
	host := uniq(t, "readback.test")
	a.MustCall(t, "POST", "access/certificates", map[string]any{"name": "ca", "certificate": gatehousetest.NewTestCA(t).PEM(),
		"associated_hostnames": []string{host}}, &cert)
	body := appBody("readback", host)
	body["cors_headers"] = map[string]any{"allowed_origins": []any{"https://web.example.com"}, "max_age": 600}
	body["upstream_service_token"] = map[string]any{"client_id": "up", "client_secret": "upsecret"}
	body["policies"] = []any{
		map[string]any{"id": reusable.ID, "precedence": 1},
		map[string]any{"name": "own", "decision": "allow", "precedence": 2, "include": []any{map[string]any{"email": map[string]any{"email": "a@example.com"}}}},
	}
	app := createApp(t, a, body)
	a.MustCall(t, "PUT", "access/organizations", map[string]any{"name": "Example", "auth_domain": uniq(t, "team.example.test")}, nil)

	for _, path := range []string{
		"access/apps/" + app.ID,
		"access/apps/" + app.ID + "/policies/" + app.Policies[1].ID,
		"access/policies/" + reusable.ID,
		"access/service_tokens/" + token.ID,
		"access/identity_providers/" + idp.ID,
		"access/groups/" + group.ID,
		"access/certificates/" + cert.ID,
		"access/organizations",
	} {
		t.Run(path, func(t *testing.T) {
			before := a.Call(t, "GET", path, nil)
			if before.Status != 200 {
				t.Fatalf("GET: %d %s", before.Status, before.Body)
			}
			put := a.Do(t, gatehousetest.Request{Method: "PUT", Path: path, Body: []byte(before.Env.Result),
				Header: map[string]string{"If-Match": before.Header.Get("ETag")}})
			if put.Status != 200 {
				t.Fatalf("PUT of the GET's result: %d %s", put.Status, put.Body)
			}
			after := a.Call(t, "GET", path, nil)
			if b, a := withoutUpdatedAt(t, before.Env.Result), withoutUpdatedAt(t, after.Env.Result); !jsonEqual(b, a) {
				t.Errorf("the write changed the resource:\nbefore %s\nafter  %s", before.Env.Result, after.Env.Result)
			}

			var unknown map[string]any
			if err := json.Unmarshal(after.Env.Result, &unknown); err != nil {
				t.Fatal(err)
			}
			unknown["no_such_field"] = 1
			resp := a.Call(t, "PUT", path, unknown)
			if resp.Status != 400 || !slices.Equal(resp.Fields(), []string{"no_such_field"}) {
				t.Errorf("unknown field: %d %s, want 400 naming no_such_field", resp.Status, resp.Body)
			}
		})
	}
}

// withoutUpdatedAt decodes a resource and drops updated_at (at the top and
// in an app's policies), which every write sets.
func withoutUpdatedAt(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m = maps.Clone(m)
	delete(m, "updated_at")
	if list, ok := m["policies"].([]any); ok {
		for _, p := range list {
			delete(p.(map[string]any), "updated_at")
		}
	}
	return m
}

func TestReadOnlyFieldsAreIgnoredOnlyWhereTheyAre(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	// A new policy sent with an id and app_count (copied from another)
	// gets its own id: they are ignored, not obeyed.
	body := allowEveryone("copy")
	body["id"] = "00000000-0000-4000-8000-000000000000"
	body["app_count"] = 7
	body["created_at"] = "2020-01-01T00:00:00Z"
	var p struct {
		ID       string `json:"id"`
		AppCount int    `json:"app_count"`
	}
	a.MustCall(t, "POST", "access/policies", body, &p)
	if p.ID == body["id"] || p.AppCount != 0 {
		t.Errorf("created %+v from %v", p, body)
	}
	// Output-only names are ignored only at their place: app_count in an
	// include rule is still unknown.
	body = allowEveryone("nested")
	body["include"] = []any{map[string]any{"everyone": map[string]any{}, "app_count": 1}}
	if resp := a.Call(t, "POST", "access/policies", body); resp.Status != 400 {
		t.Errorf("app_count inside a rule: %d %s", resp.Status, resp.Body)
	}
	// A certificate's PEM cannot change through an update.
	var cert map[string]any
	a.MustCall(t, "POST", "access/certificates", map[string]any{"name": "ca", "certificate": gatehousetest.NewTestCA(t).PEM()}, &cert)
	cert["certificate"] = gatehousetest.NewTestCA(t).PEM()
	if resp := a.Call(t, "PUT", "access/certificates/"+cert["id"].(string), cert); resp.Status != 400 || !slices.Equal(resp.Fields(), []string{"certificate"}) {
		t.Errorf("new PEM in an update: %d %s", resp.Status, resp.Body)
	}
}
