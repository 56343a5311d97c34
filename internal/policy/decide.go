package policy

import (
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Identity is a logged-in user, from a verified session token.
type Identity struct {
	Email       string
	LoginMethod string // identity provider id
}

// Facts are what the engine knows about one request.
type Facts struct {
	IP netip.Addr
	// Country is the ISO code from a trusted header, or "" when unknown.
	Country string
	// Identity is the verified session's user, or nil.
	Identity *Identity
	// Token is the authenticated service token, or nil.
	Token *Token
}

// Action is what the edge must do with a request.
type Action uint8

// Actions.
const (
	Deny Action = iota // the zero value: deny when unsure
	Allow
	Login // no valid credentials: send the user to log in
)

func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Login:
		return "login"
	}
	return "deny"
}

// Decision is the engine's answer, with the policy that decided it.
type Decision struct {
	Action Action
	Reason Reason
	Policy *Policy // nil when no policy decided
	// NonIdentity is true when the request got in without a user
	// (Bypass or Service Auth).
	NonIdentity bool
}

// Decide evaluates an app's policies for a request, in Access's order:
// Bypass policies, then Service Auth policies, then Allow and Deny policies
// by precedence; the first match decides and no match denies. A policy
// matches when any include rule, every require rule and no exclude rule
// matches.
func (a *App) Decide(f Facts) Decision {
	for _, p := range a.bypass {
		if p.matches(&f) {
			return Decision{Action: Allow, Reason: ReasonBypassPolicy, Policy: p, NonIdentity: true}
		}
	}
	for _, p := range a.serviceAuth {
		if p.matches(&f) {
			return Decision{Action: Allow, Reason: ReasonServiceAuthPolicy, Policy: p, NonIdentity: true}
		}
	}
	if f.Identity == nil {
		if f.Token != nil {
			return Decision{Action: Deny, Reason: ReasonServiceTokenNoPolicy}
		}
		return Decision{Action: Login, Reason: ReasonLoginRequired}
	}
	for _, p := range a.identity {
		if p.matches(&f) {
			if p.Decision == access.DecisionAllow {
				return Decision{Action: Allow, Reason: ReasonAllowPolicy, Policy: p}
			}
			return Decision{Action: Deny, Reason: ReasonDenyPolicy, Policy: p}
		}
	}
	return Decision{Action: Deny, Reason: ReasonNoPolicyMatched}
}

func (p *Policy) matches(f *Facts) bool {
	included := false
	for i := range p.include {
		if p.include[i].matches(f, false) {
			included = true
			break
		}
	}
	if !included {
		return false
	}
	for i := range p.require {
		if !p.require[i].matches(f, false) {
			return false
		}
	}
	for i := range p.exclude {
		if p.exclude[i].matches(f, true) {
			return false
		}
	}
	return true
}

// matches reports whether r holds for f. unknownMatches is the answer
// when the fact the rule needs is unknown (a missing country): true for
// exclude rules, so that not knowing never lets anyone in.
func (r *rule) matches(f *Facts, unknownMatches bool) bool {
	switch r.kind {
	case ruleEveryone:
		return true
	case ruleEmail:
		return f.Identity != nil && strings.EqualFold(f.Identity.Email, r.value)
	case ruleEmailDomain:
		return f.Identity != nil && len(f.Identity.Email) > len(r.value) &&
			strings.EqualFold(f.Identity.Email[len(f.Identity.Email)-len(r.value):], r.value)
	case ruleIP:
		if !f.IP.IsValid() {
			return unknownMatches
		}
		return r.prefix.Contains(f.IP.Unmap())
	case ruleServiceToken:
		return f.Token != nil && f.Token.ID == r.value
	case ruleAnyValidServiceToken:
		return f.Token != nil
	case ruleGeo:
		if f.Country == "" {
			return unknownMatches
		}
		return f.Country == r.value
	case ruleLoginMethod:
		return f.Identity != nil && f.Identity.LoginMethod == r.value
	}
	return unknownMatches
}

// AuthenticateServiceToken checks a presented client id and secret for an
// app's account at time now. The secret is compared in constant time
// against the stored hash, and the previous secret counts until its
// grace period ends.
func (s *Snapshot) AuthenticateServiceToken(app *App, clientID, secret string, now time.Time) (*Token, Reason) {
	if clientID == "" || secret == "" {
		return nil, ReasonServiceTokenMalformed
	}
	t := s.tokens[clientID]
	if t == nil || t.AccountID != app.AccountID {
		return nil, ReasonServiceTokenUnknown
	}
	ok := access.SecretMatches(secret, t.hash)
	if !ok && t.prevHash != nil && now.Before(t.prevExpiry) {
		ok = access.SecretMatches(secret, t.prevHash)
	}
	if !ok {
		return nil, ReasonServiceTokenBadSecret
	}
	if !now.Before(t.expires) {
		return nil, ReasonServiceTokenExpired
	}
	return t, ""
}
