package policy_test

import (
	"net/netip"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// group is a group rule with the group's rules resolved, as the store
// loads it for the edge.
func group(id string, include, require, exclude []access.Rule) access.Rule {
	return access.Rule{Group: &access.GroupRule{ID: id, Resolved: &access.GroupRules{Include: include, Require: require, Exclude: exclude}}}
}

// unresolvedGroup is a group rule whose group the edge does not have.
func unresolvedGroup(id string) access.Rule { return access.Rule{Group: &access.GroupRule{ID: id}} }

func rules(r ...access.Rule) []access.Rule { return r }

// TestDecideGroupRule: a group rule matches when the request satisfies
// the group's include (any), all its require and none of its exclude, and
// an unknown group or an unknown fact inside one never lets anyone in.
func TestDecideGroupRule(t *testing.T) {
	ann, bob := user("ann@example.test"), user("bob@example.test")
	v4 := netip.MustParseAddr("10.1.2.3")
	staff := group("g-staff", rules(emailDomain("example.test")), nil, rules(email("bob@example.test")))
	officeStaff := group("g-office", rules(emailDomain("example.test")), rules(ip("10.0.0.0/8")), nil)
	inKP := group("g-kp", rules(geo("KP")), nil, nil)
	tests := []struct {
		name     string
		policies []access.Policy
		facts    policy.Facts
		allow    bool
		reason   policy.Reason
	}{
		{"ok/include of the group matches", []access.Policy{allow("p", staff)}, policy.Facts{Identity: ann}, true, policy.ReasonAllowPolicy},
		{"fail/excluded from the group", []access.Policy{allow("p", staff)}, policy.Facts{Identity: bob}, false, policy.ReasonNoPolicyMatched},
		{"fail/not in the group's include", []access.Policy{allow("p", staff)}, policy.Facts{Identity: user("eve@other.test")}, false, policy.ReasonNoPolicyMatched},
		{"ok/group's require holds", []access.Policy{allow("p", officeStaff)}, policy.Facts{Identity: ann, IP: v4}, true, policy.ReasonAllowPolicy},
		{"fail/group's require fails", []access.Policy{allow("p", officeStaff)},
			policy.Facts{Identity: ann, IP: netip.MustParseAddr("192.0.2.1")}, false, policy.ReasonNoPolicyMatched},
		{"fail/group's require on an unknown ip", []access.Policy{allow("p", officeStaff)}, policy.Facts{Identity: ann}, false, policy.ReasonNoPolicyMatched},
		{"ok/group in a policy's require", []access.Policy{requiring(allow("p", everyone()), staff)}, policy.Facts{Identity: ann}, true, policy.ReasonAllowPolicy},
		{"fail/group in a policy's require, excluded", []access.Policy{requiring(allow("p", everyone()), staff)}, policy.Facts{Identity: bob}, false, policy.ReasonNoPolicyMatched},
		{"fail/group in a policy's exclude", []access.Policy{excluding(allow("p", everyone()), staff)}, policy.Facts{Identity: ann}, false, policy.ReasonNoPolicyMatched},
		{"ok/group in a policy's exclude, not a member", []access.Policy{excluding(allow("p", everyone()), staff)}, policy.Facts{Identity: bob}, true, policy.ReasonAllowPolicy},
		{"ok/deny policy with a group", []access.Policy{deny("d", staff), allow("p", everyone())}, policy.Facts{Identity: ann}, false, policy.ReasonDenyPolicy},
		// Unknown facts inside a group are read the way that denies.
		{"fail/unknown country: allow's group include does not match", []access.Policy{allow("p", inKP)}, policy.Facts{Identity: ann}, false, policy.ReasonNoPolicyMatched},
		{"fail/unknown country: exclude's group matches", []access.Policy{excluding(allow("p", everyone()), inKP)}, policy.Facts{Identity: ann}, false, policy.ReasonNoPolicyMatched},
		{"fail/unknown country: deny's group matches", []access.Policy{deny("d", inKP), allow("p", everyone())}, policy.Facts{Identity: ann}, false, policy.ReasonDenyPolicy},
		// A group the edge does not have is unknown too.
		{"fail/unknown group in include", []access.Policy{allow("p", unresolvedGroup("g-x"))}, policy.Facts{Identity: ann}, false, policy.ReasonNoPolicyMatched},
		{"fail/unknown group in exclude", []access.Policy{excluding(allow("p", everyone()), unresolvedGroup("g-x"))}, policy.Facts{Identity: ann}, false, policy.ReasonNoPolicyMatched},
		{"fail/unknown group in a deny", []access.Policy{deny("d", unresolvedGroup("g-x")), allow("p", everyone())}, policy.Facts{Identity: ann}, false, policy.ReasonDenyPolicy},
		{"fail/nested group is unknown", []access.Policy{allow("p", group("g-outer", rules(staff), nil, nil))}, policy.Facts{Identity: ann}, false, policy.ReasonNoPolicyMatched},
		// Service Auth with a token group.
		{"ok/service auth by a group of tokens", []access.Policy{serviceAuth("sa", group("g-tok", rules(serviceToken(tokenA)), nil, nil))},
			policy.Facts{Token: &policy.Token{ID: tokenA, AccountID: account, ClientID: "a.access"}}, true, policy.ReasonServiceAuthPolicy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(t, tc.facts, tc.policies...)
			if (got.Action == policy.Allow) != tc.allow || got.Reason != tc.reason {
				t.Fatalf("Decide = %s/%s; want allow=%v %s", got.Action, got.Reason, tc.allow, tc.reason)
			}
		})
	}
}

// TestApplyGroupChangeRecompilesThePolicy: a group's change reaches the
// edge as its policies' change; the snapshot decides by the new rules.
func TestApplyGroupChangeRecompilesThePolicy(t *testing.T) {
	ann := user("ann@example.test")
	p := allow("p", group("g", rules(email("bob@example.test")), nil, nil))
	a := newApp("app", "app.example.test")
	a.PolicyLinks = []access.PolicyLink{{ID: "p", Precedence: 1}}
	s := compile(t, access.Config{Version: 1, Apps: []access.App{a}, Policies: []access.Policy{p}})
	if d := s.Decide(s.Match("app.example.test", "/"), policy.Facts{Identity: ann}); d.Action == policy.Allow {
		t.Fatalf("before the change: %s/%s", d.Action, d.Reason)
	}
	p2 := allow("p", group("g", rules(email("ann@example.test")), nil, nil))
	n, err := s.Apply(access.Delta{From: 1, To: 2, Policies: []access.Policy{p2}})
	if err != nil {
		t.Fatal(err)
	}
	if d := n.Decide(n.Match("app.example.test", "/"), policy.Facts{Identity: ann}); d.Action != policy.Allow {
		t.Fatalf("after the change: %s/%s", d.Action, d.Reason)
	}
}

func oidc(idp, name, value string) access.Rule {
	return access.Rule{OIDC: &access.OIDCRule{ClaimName: name, ClaimValue: value, IdentityProviderID: idp}}
}

// TestDecideOIDCRule: an oidc rule matches a login through its provider
// whose kept claims have the value (a string, or an element of an array);
// a claim the login did not keep is unknown and never lets anyone in.
func TestDecideOIDCRule(t *testing.T) {
	withClaims := func(idp string, claims map[string][]string) *policy.Identity {
		return &policy.Identity{Email: "ann@example.test", LoginMethod: idp, Claims: claims}
	}
	okta := withClaims("okta", map[string][]string{"groups": {"eng", "ops"}, "dept": {"eng"}, "level": {}})
	tests := []struct {
		name     string
		policies []access.Policy
		identity *policy.Identity
		allow    bool
	}{
		{"ok/string claim equal", []access.Policy{allow("p", oidc("okta", "dept", "eng"))}, okta, true},
		{"ok/element of an array claim", []access.Policy{allow("p", oidc("okta", "groups", "ops"))}, okta, true},
		{"fail/not an element", []access.Policy{allow("p", oidc("okta", "groups", "sales"))}, okta, false},
		{"fail/values compare exactly", []access.Policy{allow("p", oidc("okta", "dept", "ENG"))}, okta, false},
		{"fail/kept but not sent", []access.Policy{allow("p", oidc("okta", "level", "3"))}, okta, false},
		{"fail/another provider's login", []access.Policy{allow("p", oidc("azure", "dept", "eng"))}, okta, false},
		{"fail/no claims kept", []access.Policy{allow("p", oidc("okta", "dept", "eng"))}, withClaims("okta", nil), false},
		{"ok/excluded by a claim", []access.Policy{excluding(allow("p", everyone()), oidc("okta", "groups", "contractors")), allow("q", email("bob@example.test"))}, okta, true},
		{"fail/excluded by an array element", []access.Policy{excluding(allow("p", everyone()), oidc("okta", "groups", "ops"))}, okta, false},
		// A claim the login did not keep is unknown: an exclude on it holds.
		{"fail/exclude on a claim not kept", []access.Policy{excluding(allow("p", everyone()), oidc("okta", "contractor", "yes"))}, okta, false},
		{"fail/deny on a claim not kept", []access.Policy{deny("d", oidc("okta", "contractor", "yes")), allow("p", everyone())}, okta, false},
		{"ok/exclude on another provider's claim", []access.Policy{excluding(allow("p", everyone()), oidc("azure", "contractor", "yes"))}, okta, true},
		{"ok/inside a group", []access.Policy{allow("p", group("g", rules(oidc("okta", "groups", "eng")), nil, nil))}, okta, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(t, policy.Facts{Identity: tc.identity}, tc.policies...)
			if (got.Action == policy.Allow) != tc.allow {
				t.Fatalf("Decide = %s/%s; want allow=%v", got.Action, got.Reason, tc.allow)
			}
		})
	}
}
