package policy_test

import (
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// TestApplyOlderShape applies deltas whose apps carry their policies
// (the Config shape before PolicyLinks): each app's policies are its own,
// replaced with it and gone with it.
func TestApplyOlderShape(t *testing.T) {
	a := withPolicies(newApp("a", "a.test"), allow("p", emailDomain("example.test")))
	b := withPolicies(newApp("b", "b.test"), deny("p", everyone()))
	s := compile(t, access.Config{Version: 1, Apps: []access.App{a, b}})
	ann := policy.Facts{Identity: user("ann@example.test")}
	if d := s.Decide(s.Match("a.test", "/"), ann); d.Action != policy.Allow {
		t.Fatalf("before: %s", d.Reason)
	}

	a2 := withPolicies(newApp("a", "a.test"), deny("p", emailDomain("example.test")))
	next, err := s.Apply(access.Delta{From: 1, To: 2, Apps: []access.App{a2}, DeletedApps: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	if d := next.Decide(next.Match("a.test", "/"), ann); d.Action != policy.Deny || d.Reason != policy.ReasonDenyPolicy {
		t.Errorf("after: %s/%s, want the replaced policy's deny", d.Action, d.Reason)
	}
	if next.Match("b.test", "/") != nil || next.Apps() != 1 {
		t.Errorf("app b still there")
	}
	if d := s.Decide(s.Match("a.test", "/"), ann); d.Action != policy.Allow {
		t.Errorf("the snapshot applied to changed: %s", d.Reason)
	}
	if d := s.Decide(s.Match("b.test", "/"), ann); d.Action != policy.Deny || d.Reason != policy.ReasonDenyPolicy {
		t.Errorf("the snapshot applied to lost app b's policy: %s", d.Reason)
	}
}

func TestApplyRefusesADeltaFromAnotherVersion(t *testing.T) {
	s := compile(t, access.Config{Version: 5})
	if _, err := s.Apply(access.Delta{From: 4, To: 6}); !errors.Is(err, policy.ErrNotApplicable) {
		t.Fatalf("Apply from 4 to a snapshot at 5: %v, want ErrNotApplicable", err)
	}
	next, err := s.Apply(access.Delta{From: 5, To: 9})
	if err != nil || next.Version != 9 || s.Version != 5 {
		t.Fatalf("empty delta: %v, version %d (was %d)", err, next.Version, s.Version)
	}
}

// TestSharedPolicyIsCompiledOnce links one policy to many apps: changing
// it changes every app's decision at once.
func TestSharedPolicyIsCompiledOnce(t *testing.T) {
	shared := allow("11111111-0000-4000-8000-000000000000", emailDomain("example.test"))
	cfg := access.Config{Version: 1, Policies: []access.Policy{shared}}
	for _, id := range []string{"a", "b", "c"} {
		app := newApp(id, id+".test")
		app.PolicyLinks = []access.PolicyLink{{ID: shared.ID, Precedence: 1}}
		cfg.Apps = append(cfg.Apps, app)
	}
	s := compile(t, cfg)
	ann := policy.Facts{Identity: user("ann@example.test")}
	first := s.Decide(s.Match("a.test", "/"), ann)
	if first.Action != policy.Allow || s.Decide(s.Match("c.test", "/"), ann).Policy != first.Policy {
		t.Fatalf("apps do not share the compiled policy")
	}
	changed := shared
	changed.Decision = access.DecisionDeny
	next, err := s.Apply(access.Delta{From: 1, To: 2, Policies: []access.Policy{changed}})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"a.test", "b.test", "c.test"} {
		if d := next.Decide(next.Match(host, "/"), ann); d.Action != policy.Deny {
			t.Errorf("%s after the shared policy became Deny: %s", host, d.Reason)
		}
	}
}
