package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func allowEveryone(name string) map[string]any {
	return map[string]any{"name": name, "decision": "allow", "include": []any{map[string]any{"everyone": map[string]any{}}}}
}

func TestReusablePolicyLifecycle(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	var p access.Policy
	a.MustCall(t, "POST", "access/policies", map[string]any{
		"name": "staff", "decision": "allow",
		"include": []any{
			map[string]any{"email_domain": map[string]any{"domain": "@Example.COM"}},
			map[string]any{"email": map[string]any{"email": "Contractor@Partner.test"}},
		},
		"require":          []any{map[string]any{"ip": map[string]any{"ip": "10.1.2.3/8"}}},
		"exclude":          []any{map[string]any{"geo": map[string]any{"country_code": "kp"}}},
		"session_duration": "8h",
	}, &p)
	if !p.Reusable || p.AppCount != 0 || p.Decision != "allow" || p.SessionDuration != "8h" {
		t.Errorf("created %+v", p)
	}
	// Rules come back canonical.
	if p.Include[0].EmailDomain.Domain != "example.com" || p.Include[1].Email.Email != "contractor@partner.test" ||
		p.Require[0].IP.IP != "10.0.0.0/8" || p.Exclude[0].Geo.CountryCode != "KP" {
		t.Errorf("rules not canonical: %+v %+v %+v", p.Include, p.Require, p.Exclude)
	}

	app := createApp(t, a, appBody("app", uniq(t, "x.test")))
	body := appBody("app", app.Domain)
	body["policies"] = []any{map[string]any{"id": p.ID, "precedence": 5}}
	var linked access.App
	a.MustCall(t, "PUT", "access/apps/"+app.ID, body, &linked)
	if len(linked.Policies) != 1 || linked.Policies[0].ID != p.ID || linked.Policies[0].Precedence != 5 || linked.Policies[0].AppCount != 1 {
		t.Fatalf("app policies %+v", linked.Policies)
	}
	var got access.Policy
	a.MustCall(t, "GET", "access/policies/"+p.ID, nil, &got)
	if got.AppCount != 1 {
		t.Errorf("app_count = %d", got.AppCount)
	}

	// A policy in use cannot be deleted: that would silently change who gets in.
	resp := a.Call(t, "DELETE", "access/policies/"+p.ID, nil)
	if resp.Status != 409 || !strings.Contains(resp.Env.Errors[0].Message, "app") {
		t.Fatalf("delete linked policy: %d %s", resp.Status, resp.Body)
	}
	// Deleting it through the app's path unlinks it from that app only.
	a.MustCall(t, "DELETE", "access/apps/"+app.ID+"/policies/"+p.ID, nil, nil)
	a.MustCall(t, "GET", "access/policies/"+p.ID, nil, &got)
	if got.AppCount != 0 {
		t.Errorf("after unlink app_count = %d", got.AppCount)
	}
	var res map[string]string
	a.MustCall(t, "DELETE", "access/policies/"+p.ID, nil, &res)
	if res["id"] != p.ID {
		t.Errorf("delete result %v", res)
	}
	if resp := a.Call(t, "GET", "access/policies/"+p.ID, nil); resp.Status != 404 {
		t.Errorf("deleted policy readable: %d", resp.Status)
	}
}

func TestAppScopedPoliciesHavePrecedence(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	app := createApp(t, a, appBody("app", uniq(t, "x.test")))
	path := "access/apps/" + app.ID + "/policies"
	var first, second, third access.Policy
	a.MustCall(t, "POST", path, allowEveryone("first"), &first)
	a.MustCall(t, "POST", path, allowEveryone("second"), &second)
	deny := map[string]any{"name": "third", "decision": "deny", "precedence": 10,
		"include": []any{map[string]any{"email": map[string]any{"email": "x@y.test"}}}}
	a.MustCall(t, "POST", path, deny, &third)
	if first.Precedence != 1 || second.Precedence != 2 || third.Precedence != 10 || first.Reusable {
		t.Errorf("precedences %d %d %d reusable=%v", first.Precedence, second.Precedence, third.Precedence, first.Reusable)
	}
	dup := allowEveryone("dup")
	dup["precedence"] = 2
	if resp := a.Call(t, "POST", path, dup); resp.Status != 409 || resp.Env.Errors[0].Field != "precedence" {
		t.Errorf("duplicate precedence: %d %s", resp.Status, resp.Body)
	}
	// Move "first" to the end.
	moved := allowEveryone("first")
	moved["precedence"] = 20
	a.MustCall(t, "PUT", path+"/"+first.ID, moved, nil)
	var list []access.Policy
	a.MustCall(t, "GET", path, nil, &list)
	var names []string
	for _, p := range list {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"second", "third", "first"}) {
		t.Errorf("order %q", names)
	}
	// The app's own policies are not reusable and not visible elsewhere.
	var reusable []access.Policy
	a.MustCall(t, "GET", "access/policies", nil, &reusable)
	if len(reusable) != 0 {
		t.Errorf("app-scoped policies listed as reusable: %d", len(reusable))
	}
	other := createApp(t, a, appBody("other", uniq(t, "y.test")))
	if resp := a.Call(t, "GET", "access/apps/"+other.ID+"/policies/"+first.ID, nil); resp.Status != 404 {
		t.Errorf("policy of another app readable: %d", resp.Status)
	}
	body := appBody("other", other.Domain)
	body["policies"] = []string{first.ID}
	if resp := a.Call(t, "PUT", "access/apps/"+other.ID, body); resp.Status != 400 || resp.Env.Errors[0].Field != "policies[0].id" {
		t.Errorf("linking another app's policy: %d %s", resp.Status, resp.Body)
	}
	// Replacing the app's links must keep its own policies.
	body = appBody("app", app.Domain)
	body["policies"] = []string{second.ID, third.ID}
	if resp := a.Call(t, "PUT", "access/apps/"+app.ID, body); resp.Status != 400 {
		t.Errorf("dropping an own policy through links: %d %s", resp.Status, resp.Body)
	}
	// Leaving policies out of an app update keeps them.
	var kept access.App
	a.MustCall(t, "PUT", "access/apps/"+app.ID, appBody("app", app.Domain), &kept)
	if len(kept.Policies) != 3 {
		t.Errorf("update without policies kept %d", len(kept.Policies))
	}
}

func TestPolicyValidation(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	_, _, _ = a, t, 0
	tokenOfOtherAccount := func() string {
		b := gatehousetest.NewAPI(t)
		var tok access.ServiceToken
		b.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "theirs"}, &tok)
		return tok.ID
	}()
	rule := func(r string) []any { return []any{jsonObj(t, r)} }
	tests := []struct {
		name   string
		body   map[string]any
		fields []string
	}{
		{"fail/no name or decision", map[string]any{"include": rule(`{"everyone":{}}`)}, []string{"name", "decision"}},
		{"fail/unknown decision", map[string]any{"name": "p", "decision": "maybe", "include": rule(`{"everyone":{}}`)}, []string{"decision"}},
		{"fail/no include", map[string]any{"name": "p", "decision": "allow"}, []string{"include"}},
		{"fail/empty include", map[string]any{"name": "p", "decision": "allow", "include": []any{}}, []string{"include"}},
		{"fail/two rule types in one object", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"everyone":{},"email":{"email":"a@b.test"}}`)}, []string{"include[0]"}},
		{"fail/empty rule", map[string]any{"name": "p", "decision": "allow", "include": rule(`{}`)}, []string{"include[0]"}},
		{"fail/unsupported rule type", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"email_list":{"id":"x"}}`)}, []string{"include[0].email_list"}},
		{"fail/oidc without a claim name", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"oidc":{"claim_value":"eng","identity_provider_id":"idp-1"}}`)}, []string{"include[0].oidc.claim_name"}},
		{"fail/oidc without a value", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"oidc":{"claim_name":"groups","identity_provider_id":"idp-1"}}`)}, []string{"include[0].oidc.claim_value"}},
		{"fail/oidc without a provider", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"oidc":{"claim_name":"groups","claim_value":"eng"}}`)}, []string{"include[0].oidc.identity_provider_id"}},
		{"fail/oidc with an unknown member", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"oidc":{"claim_name":"groups","claim_value":"eng","identity_provider_id":"idp-1","x":1}}`)}, []string{"include[0].oidc"}},
		{"fail/service auth with an oidc rule", map[string]any{"name": "p", "decision": "non_identity", "include": rule(`{"oidc":{"claim_name":"groups","claim_value":"eng","identity_provider_id":"idp-1"}}`)}, []string{"include[0].oidc"}},
		{"fail/group id not a uuid", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"group":{"id":"x"}}`)}, []string{"include[0].group.id"}},
		{"fail/group that does not exist", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"group":{"id":"6f1f7e7e-0000-4000-8000-000000000000"}}`)}, []string{"include[0].group.id"}},
		{"fail/bad email", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"email":{"email":"not an email"}}`)}, []string{"include[0].email.email"}},
		{"fail/extra key in rule", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"email":{"email":"a@b.test","x":1}}`)}, []string{"include[0].email"}},
		{"fail/bad cidr", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"ip":{"ip":"10.0.0.0/33"}}`)}, []string{"include[0].ip.ip"}},
		{"fail/bad country", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"everyone":{}}`), "exclude": rule(`{"geo":{"country_code":"USA"}}`)}, []string{"exclude[0].geo.country_code"}},
		{"fail/everyone with content", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"everyone":{"x":1}}`)}, []string{"include[0].everyone"}},
		{"fail/token id not a uuid", map[string]any{"name": "p", "decision": "non_identity", "include": rule(`{"service_token":{"token_id":"abc"}}`)}, []string{"include[0].service_token.token_id"}},
		{"fail/token that does not exist", map[string]any{"name": "p", "decision": "non_identity", "include": rule(`{"service_token":{"token_id":"6f1f7e7e-0000-4000-8000-000000000000"}}`)}, []string{"include[0].service_token.token_id"}},
		{"fail/token of another account", map[string]any{"name": "p", "decision": "non_identity", "include": rule(`{"service_token":{"token_id":"` + tokenOfOtherAccount + `"}}`)}, []string{"include[0].service_token.token_id"}},
		{"fail/service auth with identity rule", map[string]any{"name": "p", "decision": "non_identity", "include": rule(`{"email":{"email":"a@b.test"}}`)}, []string{"include[0].email"}},
		{"fail/unknown field", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"everyone":{}}`), "colour": "red"}, []string{"colour"}},
		{"fail/bad session duration", map[string]any{"name": "p", "decision": "allow", "include": rule(`{"everyone":{}}`), "session_duration": "1 day"}, []string{"session_duration"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.Call(t, "POST", "access/policies", tc.body)
			if resp.Status != 400 {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
			if got := resp.Fields(); !slices.Equal(got, tc.fields) {
				t.Errorf("fields %q, want %q: %s", got, tc.fields, resp.Body)
			}
		})
	}
	var list []access.Policy
	a.MustCall(t, "GET", "access/policies", nil, &list)
	if len(list) != 0 {
		t.Errorf("invalid policies stored: %d", len(list))
	}
}

func TestEveryRuleTypeRoundTrips(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	var tok access.ServiceToken
	a.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "svc"}, &tok)
	var g access.Group
	a.MustCall(t, "POST", "access/groups", map[string]any{"name": "staff", "include": []any{jsonObj(t, `{"everyone":{}}`)}}, &g)
	rules := []string{
		`{"email":{"email":"a@b.test"}}`, `{"email_domain":{"domain":"b.test"}}`, `{"everyone":{}}`,
		`{"ip":{"ip":"192.0.2.0/24"}}`, `{"service_token":{"token_id":"` + tok.ID + `"}}`,
		`{"any_valid_service_token":{}}`, `{"geo":{"country_code":"US"}}`, `{"login_method":{"id":"idp-1"}}`,
		`{"certificate":{}}`, `{"common_name":{"common_name":"billing"}}`,
		`{"group":{"id":"` + g.ID + `"}}`,
		`{"oidc":{"claim_name":"groups","claim_value":"eng","identity_provider_id":"idp-1"}}`,
	}
	var include []any
	for _, r := range rules {
		include = append(include, jsonObj(t, r))
	}
	var p access.Policy
	resp := a.MustCall(t, "POST", "access/policies", map[string]any{"name": "all", "decision": "allow", "include": include}, &p)
	for _, r := range rules {
		if !strings.Contains(string(resp.Body), r) {
			t.Errorf("rule %s not returned as sent: %s", r, resp.Body)
		}
	}
	types := make([]string, len(p.Include))
	for i, r := range p.Include {
		types[i] = r.Type()
	}
	if !slices.Equal(types, access.RuleTypes) {
		t.Errorf("types %q", types)
	}
}

// TestInlinePoliciesAreTheAppsOwn covers Cloudflare's legacy inline form
// of an app's policies (Terraform's provider still sends it): an inline
// policy without an id is created as the app's own, one with an own id is
// replaced, own policies a list with inline ones leaves out are deleted,
// and the edge enforces what was written.
func TestInlinePoliciesAreTheAppsOwn(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	origin := gatehousetest.StartOrigin(t)
	var reusable access.Policy
	a.MustCall(t, "POST", "access/policies", allowEveryone("reusable"), &reusable)
	inline := func(id, name, email string, precedence int) map[string]any {
		p := map[string]any{"name": name, "decision": "allow", "precedence": precedence,
			"include": []any{map[string]any{"email": map[string]any{"email": email}}}}
		if id != "" {
			p["id"] = id
		}
		return p
	}
	body := appBody("inline", uniq(t, "inline.test"))
	body["origin"] = origin.URL
	body["policies"] = []any{inline("", "admins", "admin@example.com", 1)}
	app := createApp(t, a, body)
	if len(app.Policies) != 1 || app.Policies[0].Reusable || app.Policies[0].Name != "admins" || app.Policies[0].ID == "" {
		t.Fatalf("created with %+v", app.Policies)
	}
	own := app.Policies[0].ID

	edge := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store})
	status := func(email string) int {
		t.Helper()
		edge.Sync(t, a.Store)
		req := edge.Request(t, "GET", app.Domain, "/", nil)
		req.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: edge.MintSession(t, app.AUD, email, time.Hour)})
		resp, _ := edge.Do(t, req)
		return resp.StatusCode
	}
	if got := status("admin@example.com"); got != 200 {
		t.Errorf("admin through the inline policy: %d", got)
	}
	if got := status("someone@example.com"); got != 403 {
		t.Errorf("someone else: %d", got)
	}

	// Replaced in place by its id, beside a link.
	body["policies"] = []any{inline(own, "admins", "ops@example.com", 1), map[string]any{"id": reusable.ID, "precedence": 5}}
	var got access.App
	a.MustCall(t, "PUT", "access/apps/"+app.ID, body, &got)
	if len(got.Policies) != 2 || got.Policies[0].ID != own || got.Policies[0].Include[0].Email.Email != "ops@example.com" || got.Policies[1].ID != reusable.ID {
		t.Fatalf("replaced: %+v", got.Policies)
	}

	// A list with inline policies is the whole set of own policies.
	body["policies"] = []any{inline("", "ops", "ops@example.com", 1)}
	a.MustCall(t, "PUT", "access/apps/"+app.ID, body, &got)
	if len(got.Policies) != 1 || got.Policies[0].ID == own || got.Policies[0].Name != "ops" {
		t.Fatalf("after the inline list: %+v", got.Policies)
	}
	if resp := a.Call(t, "GET", "access/apps/"+app.ID+"/policies/"+own, nil); resp.Status != 404 {
		t.Errorf("the left-out own policy: %d", resp.Status)
	}
	if got := status("admin@example.com"); got != 403 {
		t.Errorf("admin after the policy was replaced: %d", got)
	}
	if got := status("ops@example.com"); got != 200 {
		t.Errorf("ops: %d", got)
	}
	// Without an id, an inline policy replaces the own policy of its name
	// (Terraform keeps no ids of inline policies after an import).
	opsID := got.Policies[0].ID
	body["policies"] = []any{inline("", "ops", "ops2@example.com", 1)}
	a.MustCall(t, "PUT", "access/apps/"+app.ID, body, &got)
	if len(got.Policies) != 1 || got.Policies[0].ID != opsID || got.Policies[0].Include[0].Email.Email != "ops2@example.com" {
		t.Fatalf("an inline policy named as an own one: %+v", got.Policies)
	}

	// Refused: inline over a reusable policy, an unknown id, a bad rule.
	for _, tc := range []struct {
		name   string
		policy map[string]any
		field  string
	}{
		{"reusable id", inline(reusable.ID, "x", "a@example.com", 1), "policies[0].id"},
		{"unknown id", inline("9b2a3f5e-1c1d-4c1e-8a44-6f0f5a2b7c11", "x", "a@example.com", 1), "policies[0].id"},
		{"bad rule", inline("", "x", "not an email", 1), "policies[0].include[0].email.email"},
		{"no name", map[string]any{"decision": "allow", "include": []any{map[string]any{"everyone": map[string]any{}}}}, "policies[0].name"},
		{"approval", map[string]any{"name": "x", "decision": "allow", "approval_required": true,
			"include": []any{map[string]any{"everyone": map[string]any{}}}}, "policies[0].approval_required"},
	} {
		body["policies"] = []any{tc.policy}
		resp := a.Call(t, "PUT", "access/apps/"+app.ID, body)
		if resp.Status != 400 || !slices.Contains(resp.Fields(), tc.field) {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.name, resp.Status, resp.Body, tc.field)
		}
	}
	var after access.App
	a.MustCall(t, "GET", "access/apps/"+app.ID, nil, &after)
	if len(after.Policies) != 1 || after.Policies[0].ID != opsID {
		t.Errorf("a refused body changed the policies: %+v", after.Policies)
	}
}
