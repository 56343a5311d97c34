package policy_test

import (
	"net/netip"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

func explain(tb testing.TB, f policy.Facts, ps ...access.Policy) policy.Explanation {
	tb.Helper()
	a := withPolicies(newApp("app", "app.example.test"), ps...)
	s := compile(tb, access.Config{Apps: []access.App{a}})
	app := s.Match("app.example.test", "/")
	ex := s.Explain(app, f)
	if d := s.Decide(app, f); ex.Decision != d {
		tb.Fatalf("Explain decided %+v, Decide %+v", ex.Decision, d)
	}
	return ex
}

// step is one policy's expected explanation: "-" not evaluated, "match",
// or the list and index of the rule that made it fail ("include" when no
// include rule matched).
type step struct {
	id      string
	outcome string
	list    string
	index   int
	typ     string
}

func TestExplain(t *testing.T) {
	ann := user("ann@example.test")
	tests := []struct {
		name     string
		policies []access.Policy
		facts    policy.Facts
		want     []step
	}{
		{"ok/evaluation order and the first match decides",
			[]access.Policy{allow("allow-bob", email("bob@example.test")), allow("allow-ann", email("bob@example.test"), email("ann@example.test")),
				bypass("bypass", ip("192.0.2.0/24")), allow("allow-all", everyone())},
			policy.Facts{Identity: ann, IP: netip.MustParseAddr("10.0.0.1")},
			[]step{{"bypass", "fail", "include", -1, ""}, {"allow-bob", "fail", "include", -1, ""},
				{"allow-ann", "match", "include", 1, "email"}, {"allow-all", "-", "", 0, ""}}},
		{"fail/require rule failed",
			[]access.Policy{requiring(allow("p", everyone()), emailDomain("example.test"), geo("DE"))},
			policy.Facts{Identity: ann, Country: "FR"},
			[]step{{"p", "fail", "require", 1, "geo"}}},
		{"fail/exclude rule matched",
			[]access.Policy{excluding(allow("p", everyone()), email("bob@example.test"), geo("KP"))},
			policy.Facts{Identity: ann, Country: "KP"},
			[]step{{"p", "fail", "exclude", 1, "geo"}}},
		{"fail/identity policies are not reached without an identity",
			[]access.Policy{serviceAuth("sa", anyValidServiceToken()), allow("p", everyone())},
			policy.Facts{},
			[]step{{"sa", "fail", "include", -1, ""}, {"p", "-", "", 0, ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ex := explain(t, tc.facts, tc.policies...)
			if len(ex.Policies) != len(tc.want) {
				t.Fatalf("%d policies explained, want %d", len(ex.Policies), len(tc.want))
			}
			for i, w := range tc.want {
				e := ex.Policies[i]
				if e.Policy.ID != w.id {
					t.Fatalf("policy %d is %s, want %s", i, e.Policy.ID, w.id)
				}
				switch w.outcome {
				case "-":
					if e.Evaluated {
						t.Errorf("%s evaluated, want not reached", w.id)
					}
					continue
				case "match":
					if !e.Matched || e.Include == nil || e.Include.Index != w.index || e.Include.Type != w.typ {
						t.Errorf("%s: %+v include %+v, want match by include[%d] %s", w.id, e, e.Include, w.index, w.typ)
					}
					continue
				}
				if !e.Evaluated || e.Matched {
					t.Fatalf("%s: evaluated %v matched %v, want a failed evaluation", w.id, e.Evaluated, e.Matched)
				}
				var got *policy.RuleRef
				switch w.list {
				case "include":
					if e.Include != nil {
						t.Errorf("%s: include %+v matched, want none (%s)", w.id, e.Include, e.Why())
					}
					continue
				case "require":
					got = e.Require
				case "exclude":
					got = e.Exclude
				}
				if got == nil || got.Index != w.index || got.Type != w.typ {
					t.Errorf("%s: %s rule %+v, want [%d] %s (%s)", w.id, w.list, got, w.index, w.typ, e.Why())
				}
			}
		})
	}
}

func TestSnapshotServiceTokenIsScopedToTheAccount(t *testing.T) {
	s := compile(t, access.Config{ServiceTokens: []access.ServiceTokenCredential{{ID: tokenA, AccountID: account, ClientID: "a.access"}}})
	if tok := s.ServiceToken(account, tokenA); tok == nil || tok.ClientID != "a.access" {
		t.Fatalf("ServiceToken = %+v", tok)
	}
	if tok := s.ServiceToken("other-account", tokenA); tok != nil {
		t.Fatalf("token of another account returned")
	}
}
