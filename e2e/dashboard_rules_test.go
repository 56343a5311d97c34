package e2e_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestRuleBuilderKeepsGroupAndOIDCRules: a policy with a group rule and an
// OIDC claim rule, opened in the rule builder and saved as it is, comes
// back unchanged (a rule type the builder did not know was shown as an
// email rule and lost on save).
func TestRuleBuilderKeepsGroupAndOIDCRules(t *testing.T) {
	t.Parallel()
	c := newConsole(t, gatehousetest.EdgeOptions{})
	var idp access.IdentityProvider
	c.api.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Okta", "type": "oidc", "config": map[string]any{
		"issuer_url": "https://login.example.test", "client_id": "gatehouse", "client_secret": "s", "claims": []string{"groups"}}}, &idp)
	var g access.Group
	c.api.MustCall(t, "POST", "access/groups", map[string]any{"name": "On call",
		"include": []any{map[string]any{"email": map[string]any{"email": "ann@example.test"}}}}, &g)
	var p access.Policy
	c.api.MustCall(t, "POST", "access/policies", map[string]any{"name": "Engineers", "decision": "allow",
		"include": []any{map[string]any{"group": map[string]any{"id": g.ID}}},
		"exclude": []any{map[string]any{"oidc": map[string]any{"claim_name": "groups", "claim_value": "contractors", "identity_provider_id": idp.ID}}}}, &p)

	c.signIn(t, c.api.Token)
	c.open(t, "#/policies/"+p.ID, `document.querySelector('#rules-exclude .rule-row select')`)
	c.click(t, `.policy-form button[type=submit]`)
	c.browser.WaitJS(t, "the save", `location.hash === '#/policies'`)
	var saved access.Policy
	c.api.MustCall(t, "GET", "access/policies/"+p.ID, nil, &saved)
	if len(saved.Include) != 1 || saved.Include[0].Group == nil || saved.Include[0].Group.ID != g.ID {
		t.Errorf("include after a save from the rule builder: %+v", saved.Include)
	}
	if len(saved.Exclude) != 1 || saved.Exclude[0].OIDC == nil || *saved.Exclude[0].OIDC != *p.Exclude[0].OIDC {
		t.Errorf("exclude after a save from the rule builder: %+v", saved.Exclude)
	}
	if saved.UpdatedAt.Equal(p.UpdatedAt) {
		t.Error("the policy was not saved")
	}
}
