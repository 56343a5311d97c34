package policy

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Explanation is a decision with the evaluation that led to it, for the
// policy tester and the CLI. Decision is exactly what Decide returns for
// the same facts.
type Explanation struct {
	Decision Decision
	// Policies lists every policy of the app in evaluation order (Bypass,
	// Service Auth, then Allow and Deny by precedence).
	Policies []PolicyExplanation
}

// PolicyExplanation says how one policy fared.
type PolicyExplanation struct {
	Policy *Policy
	// Evaluated is false when the policy was not reached: an earlier
	// policy decided, or the request has no identity for an Allow or Deny
	// policy to judge.
	Evaluated bool
	Matched   bool
	// Include is the include rule that matched; Require the first require
	// rule that failed; Exclude the first exclude rule that matched. Each
	// is nil when there is none (or evaluation stopped before it).
	Include *RuleRef
	Require *RuleRef
	Exclude *RuleRef
}

// RuleRef names one rule of a policy by its position and type.
type RuleRef struct {
	Index int
	Type  string // the rule's JSON name: email, email_domain, ip, …
}

// Why says in words how the policy fared.
func (e PolicyExplanation) Why() string {
	switch {
	case !e.Evaluated:
		return "not evaluated"
	case e.Matched:
		return fmt.Sprintf("matched: include[%d] (%s) matched, every require rule held, no exclude rule matched", e.Include.Index, e.Include.Type)
	case e.Include == nil:
		return "did not match: no include rule matched"
	case e.Require != nil:
		return fmt.Sprintf("did not match: require[%d] (%s) failed", e.Require.Index, e.Require.Type)
	case e.Exclude != nil:
		return fmt.Sprintf("did not match: exclude[%d] (%s) matched", e.Exclude.Index, e.Exclude.Type)
	}
	return "did not match"
}

// Explain decides f for app exactly as Decide does and reports, for each
// policy, whether it matched and which rule made the difference. app must
// come from s.
func (s *Snapshot) Explain(app *App, f Facts) Explanation {
	linked, _ := s.appPolicies(app, nil)
	all := make([]*Policy, 0, len(linked))
	for _, d := range []access.Decision{access.DecisionBypass, access.DecisionNonIdentity} {
		for _, p := range linked {
			if p.Decision == d {
				all = append(all, p)
			}
		}
	}
	for _, p := range linked {
		if p.identity() {
			all = append(all, p)
		}
	}
	ex := Explanation{Policies: make([]PolicyExplanation, len(all))}
	for i, p := range all {
		ex.Policies[i].Policy = p
	}
	n := 0
	ex.Decision = s.decide(app, &f, func(p *Policy, m policyMatch) {
		// decide visits policies in the order of all, so the n-th visit
		// is all[n].
		e := &ex.Policies[n]
		n++
		e.Evaluated = true
		e.Matched = m.matched
		e.Include = p.ruleRef(p.include, m.include)
		e.Require = p.ruleRef(p.require, m.require)
		e.Exclude = p.ruleRef(p.exclude, m.exclude)
	})
	return ex
}

func (p *Policy) ruleRef(rules []rule, i int) *RuleRef {
	if i < 0 {
		return nil
	}
	return &RuleRef{Index: i, Type: rules[i].kind.String()}
}

// String is the rule type's name in the API's JSON.
func (k ruleKind) String() string {
	switch k {
	case ruleEmail:
		return "email"
	case ruleEmailDomain:
		return "email_domain"
	case ruleEveryone:
		return "everyone"
	case ruleIP:
		return "ip"
	case ruleServiceToken:
		return "service_token"
	case ruleAnyValidServiceToken:
		return "any_valid_service_token"
	case ruleGeo:
		return "geo"
	case ruleLoginMethod:
		return "login_method"
	case ruleCertificate:
		return "certificate"
	case ruleCommonName:
		return "common_name"
	case ruleGroup:
		return "group"
	case ruleOIDC:
		return "oidc"
	}
	return "unknown"
}

// ServiceToken returns an account's service token by its id, or nil.
func (s *Snapshot) ServiceToken(accountID, id string) *Token {
	for _, t := range s.tokens.all() {
		if t.ID == id && t.AccountID == accountID {
			return t
		}
	}
	return nil
}
