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
	// Purpose is the reason the user gave for access (purpose
	// justification), carried in the session; "" when none was asked.
	Purpose string
	// Claims are the identity provider's claims the login kept (its
	// config.claims), each as a list of strings: a listed claim the
	// provider did not send is an empty list, one not listed is absent.
	Claims map[string][]string
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
	// ClientCert is the TLS client certificate, verified for the
	// request's app and host (VerifyClientCert), or nil.
	ClientCert *ClientCert
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
//
// The app's policies are read from s (an app links them by id, so that a
// policy many apps share is compiled once): app must come from s. An app
// linking a policy s does not have denies every request
// (ReasonPolicyMissing): the missing policy may have been a Deny or a
// Bypass, and no reading of the app's policies without it is safe.
func (s *Snapshot) Decide(app *App, f Facts) Decision { return s.decide(app, &f, nil) }

// maxStackPolicies is how many policies decide resolves without
// allocating; apps link a few.
const maxStackPolicies = 16

// appPolicies resolves an app's links into dst, reporting false when one
// is missing.
func (s *Snapshot) appPolicies(a *App, dst []*Policy) ([]*Policy, bool) {
	for _, slot := range a.links {
		p := s.policies.at(slot)
		if p == nil {
			return dst, false
		}
		dst = append(dst, p)
	}
	return dst, true
}

// decide is the one evaluation loop behind Decide and Explain. seen, when
// not nil, is told the outcome of each policy evaluated, in order; Decide
// passes nil and so stays allocation-free.
func (s *Snapshot) decide(a *App, f *Facts, seen func(*Policy, policyMatch)) Decision {
	var buf [maxStackPolicies]*Policy
	ps, ok := s.appPolicies(a, buf[:0])
	if !ok {
		return Decision{Action: Deny, Reason: ReasonPolicyMissing}
	}
	for _, p := range ps {
		if p.Decision != access.DecisionBypass {
			continue
		}
		m := p.match(f)
		if seen != nil {
			seen(p, m)
		}
		if m.matched {
			return Decision{Action: Allow, Reason: ReasonBypassPolicy, Policy: p, NonIdentity: true}
		}
	}
	for _, p := range ps {
		if p.Decision != access.DecisionNonIdentity {
			continue
		}
		m := p.match(f)
		if seen != nil {
			seen(p, m)
		}
		if m.matched {
			return Decision{Action: Allow, Reason: ReasonServiceAuthPolicy, Policy: p, NonIdentity: true}
		}
	}
	if f.Identity == nil {
		if f.Token != nil {
			return Decision{Action: Deny, Reason: ReasonServiceTokenNoPolicy}
		}
		return Decision{Action: Login, Reason: ReasonLoginRequired}
	}
	for _, p := range ps {
		if !p.identity() {
			continue
		}
		m := p.match(f)
		if seen != nil {
			seen(p, m)
		}
		if m.matched {
			if p.Decision == access.DecisionAllow {
				if p.PurposeJustificationRequired && f.Identity.Purpose == "" {
					// Not without a reason: the user is asked for one at
					// login, and the app is not reached until then.
					return Decision{Action: Login, Reason: ReasonPurposeJustificationRequired, Policy: p}
				}
				return Decision{Action: Allow, Reason: ReasonAllowPolicy, Policy: p}
			}
			return Decision{Action: Deny, Reason: ReasonDenyPolicy, Policy: p}
		}
	}
	return Decision{Action: Deny, Reason: ReasonNoPolicyMatched}
}

// identity reports whether the policy is an Allow or Deny policy, decided
// by precedence after Bypass and Service Auth.
func (p *Policy) identity() bool {
	return p.Decision == access.DecisionAllow || p.Decision == access.DecisionDeny
}

// policyMatch is how a policy fared against one request: whether it
// matched, and the index of the include rule that matched, of the first
// require rule that failed and of the first exclude rule that matched (-1
// for none).
type policyMatch struct {
	matched                   bool
	include, require, exclude int
}

// match evaluates the policy against f. When a fact a rule needs is
// unknown (no country, no client address), the rule is read the way that
// denies: a Deny policy's include and require rules match and its exclude
// rules do not; every other policy's include and require rules do not
// match and its exclude rules do. Not knowing never lets anyone in.
func (p *Policy) match(f *Facts) policyMatch {
	m := policyMatch{include: -1, require: -1, exclude: -1}
	deny := p.Decision == access.DecisionDeny
	for i := range p.include {
		if p.include[i].matches(f, deny) {
			m.include = i
			break
		}
	}
	if m.include < 0 {
		return m
	}
	for i := range p.require {
		if !p.require[i].matches(f, deny) {
			m.require = i
			return m
		}
	}
	for i := range p.exclude {
		if p.exclude[i].matches(f, !deny) {
			m.exclude = i
			return m
		}
	}
	m.matched = true
	return m
}

// matches reports whether r holds for f; unknownMatches is the answer when
// the fact the rule needs is unknown.
func (r *rule) matches(f *Facts, unknownMatches bool) bool {
	switch r.kind {
	case ruleEveryone:
		return true
	case ruleEmail:
		return f.Identity != nil && asciiEqualFold(f.Identity.Email, r.value)
	case ruleEmailDomain:
		return f.Identity != nil && len(f.Identity.Email) > len(r.value) &&
			asciiEqualFold(f.Identity.Email[len(f.Identity.Email)-len(r.value):], r.value)
	case ruleIP:
		if !f.IP.IsValid() {
			return unknownMatches
		}
		return r.prefix.Contains(f.IP.Unmap().WithZone(""))
	case ruleServiceToken:
		return f.Token != nil && f.Token.ID == r.value
	case ruleAnyValidServiceToken:
		return f.Token != nil
	case ruleGeo:
		if f.Country == "" || f.Country == "XX" {
			return unknownMatches
		}
		return asciiEqualFold(f.Country, r.value)
	case ruleLoginMethod:
		return f.Identity != nil && f.Identity.LoginMethod == r.value
	case ruleCertificate:
		return f.ClientCert != nil
	case ruleCommonName:
		return f.ClientCert != nil && f.ClientCert.CommonName == r.value
	case ruleOIDC:
		if f.Identity == nil || f.Identity.LoginMethod != r.oidc.idp {
			return false
		}
		vals, kept := f.Identity.Claims[r.oidc.name]
		if !kept {
			// The login did not keep this claim (the provider's
			// config.claims did not list it then): unknown.
			return unknownMatches
		}
		for _, v := range vals {
			if v == r.value {
				return true
			}
		}
		return false
	case ruleGroup:
		// An unknown group is an unknown fact: read the way that denies.
		if r.group == nil {
			return unknownMatches
		}
		return r.group.matches(f, unknownMatches)
	}
	return unknownMatches
}

// matches reports whether f satisfies the group: any include rule, every
// require rule and no exclude rule. An unknown fact is read the way that
// makes the group rule's answer unknownMatches.
func (g *groupRules) matches(f *Facts, unknownMatches bool) bool {
	included := false
	for i := range g.include {
		if g.include[i].matches(f, unknownMatches) {
			included = true
			break
		}
	}
	if !included {
		return false
	}
	for i := range g.require {
		if !g.require[i].matches(f, unknownMatches) {
			return false
		}
	}
	for i := range g.exclude {
		if g.exclude[i].matches(f, !unknownMatches) {
			return false
		}
	}
	return true
}

// asciiEqualFold compares case-insensitively in ASCII only: Unicode folding
// would let "\u212Aate@x" (KELVIN SIGN) pass a rule for "kate@x".
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// AuthenticateServiceToken checks a presented client id and secret for an
// app's account at time now. The secret is compared in constant time
// against the stored hash, and the previous secret counts until its
// grace period ends.
func (s *Snapshot) AuthenticateServiceToken(app *App, clientID, secret string, now time.Time) (*Token, Reason) {
	if clientID == "" || secret == "" {
		return nil, ReasonServiceTokenMalformed
	}
	t, _ := s.tokens.get(clientID)
	if t == nil || t.AccountID != app.AccountID {
		return nil, ReasonServiceTokenUnknown
	}
	at := unixNano(now)
	switch {
	case access.SecretMatches(secret, t.hash[:]):
	case t.rot != nil && at < t.rot.expiry && access.SecretMatches(secret, t.rot.prev.hash[:]):
		t = &t.rot.prev
	default:
		return nil, ReasonServiceTokenBadSecret
	}
	if at >= t.expires {
		return nil, ReasonServiceTokenExpired
	}
	return t, ""
}

// ServiceTokenSession re-authenticates the service token an app token was
// minted for (its client id and secret Binding), so that the
// CF_Authorization cookie set after a service-token request can stand in
// for the token's headers. It succeeds exactly when presenting the secret
// again would: the token still exists in app's account, has not expired,
// and the secret it was minted for is still accepted (not rotated away
// past its grace period).
func (s *Snapshot) ServiceTokenSession(app *App, clientID, binding string, now time.Time) (*Token, Reason) {
	t, _ := s.tokens.get(clientID)
	if t == nil || t.AccountID != app.AccountID {
		return nil, ReasonServiceTokenUnknown
	}
	at := unixNano(now)
	switch {
	case binding != "" && t.boundTo(binding):
	case binding != "" && t.rot != nil && at < t.rot.expiry && t.rot.prev.boundTo(binding):
		t = &t.rot.prev
	default:
		return nil, ReasonSessionRevoked
	}
	if at >= t.expires {
		return nil, ReasonServiceTokenExpired
	}
	return t, ""
}

// SessionRevoked reports whether an app token for app was revoked: issued
// before the app's revoke_tokens, descended from a login session that was
// logged out, or issued to an email before a revoke_user for it. Issue
// times compare at the token's full (sub-second) precision.
func (s *Snapshot) SessionRevoked(app *App, sessionID, email string, issuedAt time.Time) bool {
	return issuedAt.Before(app.SessionsRevokedAt) || s.LoginSessionRevoked(app.AccountID, sessionID, email, issuedAt)
}

// LoginSessionRevoked reports whether a token of an account's login
// session (its id, email and issue time) was revoked by a logout of that
// session or a revoke_user for that email.
func (s *Snapshot) LoginSessionRevoked(accountID, sessionID, email string, issuedAt time.Time) bool {
	if sessionID != "" && s.revokedSessions.n > 0 {
		if _, ok := s.revokedSessions.get(sessionKey{accountID, sessionID}); ok {
			return true
		}
	}
	if email != "" && s.revokedUsers.n > 0 {
		if at, ok := s.revokedUsers.get(sessionKey{accountID, strings.ToLower(email)}); ok && unixNano(issuedAt) < at {
			return true
		}
	}
	return false
}

// boundTo reports whether binding is the token's Binding, without
// allocating.
func (t *Token) boundTo(binding string) bool {
	b := t.binding()
	return string(b[:]) == binding
}
