package api_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func rulesOf(t *testing.T, rs ...string) []any {
	t.Helper()
	out := make([]any, len(rs))
	for i, r := range rs {
		out[i] = jsonObj(t, r)
	}
	return out
}

func groupRule(id string) string { return `{"group":{"id":"` + id + `"}}` }

func TestAccessGroupLifecycle(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	var g access.Group
	resp := a.MustCall(t, "POST", "access/groups", map[string]any{"name": "staff",
		"include": rulesOf(t, `{"email_domain":{"domain":"@Example.TEST"}}`),
		"exclude": rulesOf(t, `{"email":{"email":"Contractor@example.test"}}`), "is_default": false}, &g)
	if resp.Header.Get("ETag") != `"1"` {
		t.Errorf("ETag %q", resp.Header.Get("ETag"))
	}
	// Cloudflare's shape, rules in canonical form, empty lists present.
	var raw map[string]json.RawMessage
	resp.Decode(t, &raw)
	for _, f := range []string{"id", "name", "include", "require", "exclude", "created_at", "updated_at"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("result has no %q: %s", f, resp.Body)
		}
	}
	if string(raw["include"]) != `[{"email_domain":{"domain":"example.test"}}]` || string(raw["require"]) != `[]` ||
		string(raw["exclude"]) != `[{"email":{"email":"contractor@example.test"}}]` {
		t.Errorf("rules %s / %s / %s", raw["include"], raw["require"], raw["exclude"])
	}
	if g.CreatedAt.IsZero() || !g.CreatedAt.Equal(g.UpdatedAt) {
		t.Errorf("timestamps %v %v", g.CreatedAt, g.UpdatedAt)
	}

	var got access.Group
	a.MustCall(t, "GET", "access/groups/"+g.ID, nil, &got)
	if got.ID != g.ID || got.Name != "staff" {
		t.Errorf("get %+v", got)
	}
	if resp := a.Call(t, "POST", "access/groups", map[string]any{"name": "staff", "include": rulesOf(t, `{"everyone":{}}`)}); resp.Status != 409 || resp.Env.Errors[0].Field != "name" {
		t.Errorf("duplicate name: %d %s", resp.Status, resp.Body)
	}

	upd := map[string]any{"name": "staff (office)", "include": rulesOf(t, `{"email_domain":{"domain":"example.test"}}`),
		"require": rulesOf(t, `{"ip":{"ip":"10.1.2.3/8"}}`)}
	if resp := a.Do(t, gatehousetest.Request{Method: "PUT", Path: "access/groups/" + g.ID, Body: upd, Header: map[string]string{"If-Match": `"7"`}}); resp.Status != 412 {
		t.Errorf("stale If-Match: %d", resp.Status)
	}
	resp = a.Do(t, gatehousetest.Request{Method: "PUT", Path: "access/groups/" + g.ID, Body: upd, Header: map[string]string{"If-Match": `"1"`}})
	if resp.Status != 200 || resp.Header.Get("ETag") != `"2"` {
		t.Fatalf("update: %d %s", resp.Status, resp.Body)
	}
	resp.Decode(t, &got)
	if got.Name != "staff (office)" || len(got.Exclude) != 0 || got.Require[0].IP.IP != "10.0.0.0/8" || !got.UpdatedAt.After(g.CreatedAt) && !got.UpdatedAt.Equal(g.CreatedAt) {
		t.Errorf("updated %+v", got)
	}

	// The list pages like the others.
	for _, name := range []string{"b", "c"} {
		a.MustCall(t, "POST", "access/groups", map[string]any{"name": name, "include": rulesOf(t, `{"everyone":{}}`)}, nil)
	}
	var page []access.Group
	resp = a.MustCall(t, "GET", "access/groups?per_page=2&page=2", nil, &page)
	if len(page) != 1 || page[0].Name != "c" || resp.Env.ResultInfo == nil || resp.Env.ResultInfo.TotalCount != 3 {
		t.Errorf("page 2: %+v %s", page, resp.Body)
	}
	// Another account sees none of them.
	b := gatehousetest.NewAPI(t)
	var theirs []access.Group
	b.MustCall(t, "GET", "access/groups", nil, &theirs)
	if len(theirs) != 0 {
		t.Errorf("another account lists %d groups", len(theirs))
	}
	if resp := b.Call(t, "GET", "access/groups/"+g.ID, nil); resp.Status != 404 {
		t.Errorf("another account reads the group: %d", resp.Status)
	}

	var res map[string]string
	a.MustCall(t, "DELETE", "access/groups/"+g.ID, nil, &res)
	if res["id"] != g.ID {
		t.Errorf("delete result %v", res)
	}
	if resp := a.Call(t, "GET", "access/groups/"+g.ID, nil); resp.Status != 404 {
		t.Errorf("deleted group readable: %d", resp.Status)
	}
	if resp := a.Call(t, "GET", "access/groups/not-a-uuid", nil); resp.Status != 404 {
		t.Errorf("malformed id: %d", resp.Status)
	}

	// Each write is in the audit log.
	var entries []struct {
		Action struct {
			Type string `json:"type"`
		} `json:"action"`
		Resource struct {
			Type string `json:"type"`
		} `json:"resource"`
	}
	a.MustCall(t, "GET", "audit_logs?resource_id="+g.ID, nil, &entries)
	var actions []string
	for _, e := range entries {
		if e.Resource.Type != "access_group" {
			t.Errorf("audit entry of type %q", e.Resource.Type)
		}
		actions = append(actions, e.Action.Type)
	}
	slices.Sort(actions)
	if !slices.Equal(actions, []string{"access_group.create", "access_group.delete", "access_group.update"}) {
		t.Errorf("audit actions %q", actions)
	}
}

func TestAccessGroupValidation(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	var other access.Group
	a.MustCall(t, "POST", "access/groups", map[string]any{"name": "other", "include": rulesOf(t, `{"everyone":{}}`)}, &other)
	tests := []struct {
		name   string
		body   map[string]any
		fields []string
	}{
		{"fail/no name", map[string]any{"include": rulesOf(t, `{"everyone":{}}`)}, []string{"name"}},
		{"fail/no include", map[string]any{"name": "g"}, []string{"include"}},
		{"fail/empty include", map[string]any{"name": "g", "include": []any{}}, []string{"include"}},
		{"fail/bad rule", map[string]any{"name": "g", "include": rulesOf(t, `{"email":{"email":"nope"}}`)}, []string{"include[0].email.email"}},
		{"fail/unknown rule type", map[string]any{"name": "g", "include": rulesOf(t, `{"saml":{}}`)}, []string{"include[0].saml"}},
		{"fail/groups do not nest", map[string]any{"name": "g", "include": rulesOf(t, `{"everyone":{}}`), "exclude": rulesOf(t, groupRule(other.ID))}, []string{"exclude[0].group"}},
		{"fail/token that does not exist", map[string]any{"name": "g", "include": rulesOf(t, `{"service_token":{"token_id":"6f1f7e7e-0000-4000-8000-000000000000"}}`)}, []string{"include[0].service_token.token_id"}},
		{"fail/is_default", map[string]any{"name": "g", "include": rulesOf(t, `{"everyone":{}}`), "is_default": true}, []string{"is_default"}},
		{"fail/unknown field", map[string]any{"name": "g", "include": rulesOf(t, `{"everyone":{}}`), "colour": "red"}, []string{"colour"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.Call(t, "POST", "access/groups", tc.body)
			if resp.Status != 400 {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
			if got := resp.Fields(); !slices.Equal(got, tc.fields) {
				t.Errorf("fields %q, want %q: %s", got, tc.fields, resp.Body)
			}
		})
	}
	var list []access.Group
	a.MustCall(t, "GET", "access/groups", nil, &list)
	if len(list) != 1 {
		t.Errorf("invalid groups stored: %d", len(list))
	}
}

// TestAccessGroupInUseCannotBeDeleted: a group that a policy names stays
// until no policy does; the 409 names the policies. A service token or an
// identity provider a group names is in use too.
func TestAccessGroupInUseCannotBeDeleted(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	var tok access.ServiceToken
	a.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "ci"}, &tok)
	var g access.Group
	a.MustCall(t, "POST", "access/groups", map[string]any{"name": "robots",
		"include": rulesOf(t, `{"service_token":{"token_id":"`+tok.ID+`"}}`)}, &g)
	app := createApp(t, a, appBody("wiki", uniq(t, "wiki.test")))
	var reusable, scoped access.Policy
	a.MustCall(t, "POST", "access/policies", map[string]any{"name": "robots in", "decision": "non_identity",
		"include": rulesOf(t, groupRule(g.ID))}, &reusable)
	a.MustCall(t, "POST", "access/apps/"+app.ID+"/policies", map[string]any{"name": "no robots", "decision": "deny",
		"include": rulesOf(t, `{"everyone":{}}`), "exclude": rulesOf(t, groupRule(g.ID))}, &scoped)

	resp := a.Call(t, "DELETE", "access/groups/"+g.ID, nil)
	if resp.Status != 409 || resp.Env.Errors[0].Code != 1006 {
		t.Fatalf("delete in use: %d %s", resp.Status, resp.Body)
	}
	for _, name := range []string{"robots in", "wiki / no robots"} {
		if !strings.Contains(resp.Env.Errors[0].Message, name) {
			t.Errorf("the conflict does not name %q: %s", name, resp.Env.Errors[0].Message)
		}
	}
	resp = a.Call(t, "DELETE", "access/service_tokens/"+tok.ID, nil)
	if resp.Status != 409 || !strings.Contains(resp.Env.Errors[0].Message, "robots") {
		t.Errorf("token used by a group deleted: %d %s", resp.Status, resp.Body)
	}

	// A Service Auth policy cannot get identity rules through its group.
	resp = a.Call(t, "PUT", "access/groups/"+g.ID, map[string]any{"name": "robots",
		"include": rulesOf(t, `{"service_token":{"token_id":"`+tok.ID+`"}}`, `{"email":{"email":"a@example.test"}}`)})
	if resp.Status != 409 || resp.Env.Errors[0].Field != "include[1].email" || !strings.Contains(resp.Env.Errors[0].Message, "robots in") {
		t.Errorf("identity rule into a Service Auth policy's group: %d %s", resp.Status, resp.Body)
	}
	// In a Service Auth policy's exclude, identity rules are allowed.
	var people access.Group
	a.MustCall(t, "POST", "access/groups", map[string]any{"name": "people", "include": rulesOf(t, `{"any_valid_service_token":{}}`)}, &people)
	a.MustCall(t, "POST", "access/policies", map[string]any{"name": "robots, not people", "decision": "non_identity",
		"include": rulesOf(t, `{"any_valid_service_token":{}}`), "exclude": rulesOf(t, groupRule(people.ID))}, nil)
	a.MustCall(t, "PUT", "access/groups/"+people.ID, map[string]any{"name": "people", "include": rulesOf(t, `{"email_domain":{"domain":"example.test"}}`)}, nil)
	var humans access.Group
	a.MustCall(t, "POST", "access/groups", map[string]any{"name": "humans", "include": rulesOf(t, `{"email_domain":{"domain":"example.test"}}`)}, &humans)
	resp = a.Call(t, "POST", "access/policies", map[string]any{"name": "sa humans", "decision": "non_identity", "include": rulesOf(t, groupRule(humans.ID))})
	if resp.Status != 400 || !slices.Equal(resp.Fields(), []string{"include[0].group"}) {
		t.Errorf("Service Auth policy with an identity group: %d %s", resp.Status, resp.Body)
	}

	// Once no policy names it, it can go; then the token can too.
	a.MustCall(t, "DELETE", "access/apps/"+app.ID+"/policies/"+scoped.ID, nil, nil)
	a.MustCall(t, "PUT", "access/policies/"+reusable.ID, map[string]any{"name": "robots in", "decision": "non_identity",
		"include": rulesOf(t, `{"any_valid_service_token":{}}`)}, nil)
	a.MustCall(t, "DELETE", "access/groups/"+g.ID, nil, nil)
	a.MustCall(t, "DELETE", "access/service_tokens/"+tok.ID, nil, nil)

	// An identity provider a group's login_method rule names is in use.
	var idp access.IdentityProvider
	a.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "pin", "type": "onetimepin", "config": map[string]any{}}, &idp)
	var sso access.Group
	a.MustCall(t, "POST", "access/groups", map[string]any{"name": "pin users", "include": rulesOf(t, `{"login_method":{"id":"`+idp.ID+`"}}`)}, &sso)
	if resp := a.Call(t, "DELETE", "access/identity_providers/"+idp.ID, nil); resp.Status != 409 || !strings.Contains(resp.Env.Errors[0].Message, "pin users") {
		t.Errorf("provider used by a group deleted: %d %s", resp.Status, resp.Body)
	}
}

// TestGroupEditChangesItsPoliciesInTheFeed: a group's edit is a change of
// every policy using it, so an edge following the feed recompiles them
// with the new rules.
func TestGroupEditChangesItsPoliciesInTheFeed(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx := context.Background()
	var g access.Group
	a.MustCall(t, "POST", "access/groups", map[string]any{"name": "staff", "include": rulesOf(t, `{"email":{"email":"bob@example.test"}}`)}, &g)
	var p, unrelated access.Policy
	a.MustCall(t, "POST", "access/policies", map[string]any{"name": "staff in", "decision": "allow", "include": rulesOf(t, groupRule(g.ID))}, &p)
	a.MustCall(t, "POST", "access/policies", map[string]any{"name": "everyone", "decision": "allow", "include": rulesOf(t, `{"everyone":{}}`)}, &unrelated)
	cfg, err := a.Store.LoadAccountConfig(ctx, a.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	a.MustCall(t, "PUT", "access/groups/"+g.ID, map[string]any{"name": "staff", "include": rulesOf(t, `{"email":{"email":"ann@example.test"}}`)}, nil)
	d, err := a.Store.Changes(ctx, cfg.Version)
	if err != nil {
		t.Fatal(err)
	}
	// The feed is every account's: look at this one's policies.
	var mine []access.Policy
	for _, dp := range d.Policies {
		if dp.ID == p.ID || dp.ID == unrelated.ID {
			mine = append(mine, dp)
		}
	}
	if len(mine) != 1 || mine[0].ID != p.ID {
		t.Fatalf("delta policies %+v", mine)
	}
	r := mine[0].Include[0].Group
	if r == nil || r.ID != g.ID || r.Resolved == nil || r.Resolved.Include[0].Email.Email != "ann@example.test" {
		t.Fatalf("delta's group rule %+v", r)
	}
}
