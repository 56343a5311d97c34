package access

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Decision is what a matching policy does with a request.
type Decision string

// Policy decisions. NonIdentity is shown as "Service Auth".
const (
	DecisionAllow       Decision = "allow"
	DecisionDeny        Decision = "deny"
	DecisionBypass      Decision = "bypass"
	DecisionNonIdentity Decision = "non_identity"
)

// Rule types Gatehouse enforces.
const (
	RuleEmail                = "email"
	RuleEmailDomain          = "email_domain"
	RuleEveryone             = "everyone"
	RuleIP                   = "ip"
	RuleServiceToken         = "service_token"
	RuleAnyValidServiceToken = "any_valid_service_token"
	RuleGeo                  = "geo"
	RuleLoginMethod          = "login_method"
	RuleCertificate          = "certificate"
	RuleCommonName           = "common_name"
	RuleGroup                = "group"
	RuleOIDC                 = "oidc"
)

// RuleTypes lists the supported rule types in a stable order.
var RuleTypes = []string{RuleEmail, RuleEmailDomain, RuleEveryone, RuleIP, RuleServiceToken, RuleAnyValidServiceToken, RuleGeo, RuleLoginMethod, RuleCertificate, RuleCommonName, RuleGroup, RuleOIDC}

// Rule is one include, require or exclude condition. Exactly one field is set.
type Rule struct {
	Email                *EmailRule        `json:"email,omitempty"`
	EmailDomain          *EmailDomainRule  `json:"email_domain,omitempty"`
	Everyone             *struct{}         `json:"everyone,omitempty"`
	IP                   *IPRule           `json:"ip,omitempty"`
	ServiceToken         *ServiceTokenRule `json:"service_token,omitempty"`
	AnyValidServiceToken *struct{}         `json:"any_valid_service_token,omitempty"`
	Geo                  *GeoRule          `json:"geo,omitempty"`
	LoginMethod          *LoginMethodRule  `json:"login_method,omitempty"`
	Group                *GroupRule        `json:"group,omitempty"`
	OIDC                 *OIDCRule         `json:"oidc,omitempty"`
	// Certificate and CommonName match a verified client certificate
	// (mutual TLS, at a TLS edge).
	Certificate *struct{}       `json:"certificate,omitempty"`
	CommonName  *CommonNameRule `json:"common_name,omitempty"`
}

// CommonNameRule matches a verified client certificate whose subject
// common name is CommonName, exactly.
type CommonNameRule struct {
	CommonName string `json:"common_name"`
}

// EmailRule matches one email address, case-insensitively.
type EmailRule struct {
	Email string `json:"email"`
}

// EmailDomainRule matches every address at a domain.
type EmailDomainRule struct {
	Domain string `json:"domain"`
}

// IPRule matches a client address inside a CIDR range.
type IPRule struct {
	IP string `json:"ip"`
}

// ServiceTokenRule matches one service token by its id.
type ServiceTokenRule struct {
	TokenID string `json:"token_id"`
}

// GeoRule matches the client's country (ISO 3166-1 alpha-2).
type GeoRule struct {
	CountryCode string `json:"country_code"`
}

// LoginMethodRule matches the identity provider the user logged in with.
type LoginMethodRule struct {
	ID string `json:"id"`
}

// GroupRule matches when the request satisfies an Access group: any of
// its include rules, all of its require rules and none of its exclude
// rules.
type GroupRule struct {
	ID string `json:"id"`
	// Resolved is the group's rules as the edge loads them (the store
	// fills it in; it is never part of the API's JSON). Nil means the
	// group is unknown, which never lets anyone in.
	Resolved *GroupRules `json:"-"`
}

// OIDCRule matches a user who logged in with the identity provider and
// whose ID token or userinfo carried the claim with the value (equal, or
// an element of an array claim). Only the claims the provider's
// config.claims lists are kept at login.
type OIDCRule struct {
	ClaimName          string `json:"claim_name"`
	ClaimValue         string `json:"claim_value"`
	IdentityProviderID string `json:"identity_provider_id"`
}

// GroupRules are an Access group's rule lists.
type GroupRules struct {
	Include []Rule
	Require []Rule
	Exclude []Rule
}

// Type returns the rule's type name.
func (r Rule) Type() string {
	switch {
	case r.Email != nil:
		return RuleEmail
	case r.EmailDomain != nil:
		return RuleEmailDomain
	case r.Everyone != nil:
		return RuleEveryone
	case r.IP != nil:
		return RuleIP
	case r.ServiceToken != nil:
		return RuleServiceToken
	case r.AnyValidServiceToken != nil:
		return RuleAnyValidServiceToken
	case r.Geo != nil:
		return RuleGeo
	case r.LoginMethod != nil:
		return RuleLoginMethod
	case r.Certificate != nil:
		return RuleCertificate
	case r.CommonName != nil:
		return RuleCommonName
	case r.Group != nil:
		return RuleGroup
	case r.OIDC != nil:
		return RuleOIDC
	}
	return ""
}

var (
	countryCode = regexp.MustCompile(`^[A-Z]{2}$`)
	dnsName     = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// ParseRule decodes and checks one rule object, which must have exactly one
// known key. field is the rule's JSON path, used in errors. The rule comes
// back in canonical form (lower-cased emails, masked CIDRs, upper-case
// country codes).
func ParseRule(field string, raw json.RawMessage) (Rule, []FieldError) {
	bad := func(f, format string, args ...any) (Rule, []FieldError) {
		return Rule{}, []FieldError{{Field: f, Message: fmt.Sprintf(format, args...)}}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return bad(field, "must be an object with exactly one rule type, e.g. {\"email\": {\"email\": \"a@example.com\"}}")
	}
	if len(obj) != 1 {
		return bad(field, "must have exactly one rule type, has %d", len(obj))
	}
	var typ string
	var body json.RawMessage
	for k, v := range obj {
		typ, body = k, v
	}
	f := field + "." + typ
	if !slices.Contains(RuleTypes, typ) {
		return bad(f, "unknown or unsupported rule type %q (supported: %s)", typ, strings.Join(RuleTypes, ", "))
	}
	strict := func(v any) error {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return err
		}
		return nil
	}
	var r Rule
	switch typ {
	case RuleEmail:
		var v EmailRule
		if err := strict(&v); err != nil {
			return bad(f, "must be {\"email\": \"<address>\"}: %v", err)
		}
		addr, err := mail.ParseAddress(v.Email)
		if err != nil || addr.Address != v.Email {
			return bad(f+".email", "must be a plain email address")
		}
		v.Email = strings.ToLower(v.Email)
		r.Email = &v
	case RuleEmailDomain:
		var v EmailDomainRule
		if err := strict(&v); err != nil {
			return bad(f, "must be {\"domain\": \"<domain>\"}: %v", err)
		}
		v.Domain = strings.ToLower(strings.TrimPrefix(v.Domain, "@"))
		if len(v.Domain) > 253 || !dnsName.MatchString(v.Domain) {
			return bad(f+".domain", "must be a domain name such as example.com")
		}
		r.EmailDomain = &v
	case RuleEveryone, RuleAnyValidServiceToken, RuleCertificate:
		var v struct{}
		if err := strict(&v); err != nil {
			return bad(f, "must be an empty object {}")
		}
		switch typ {
		case RuleEveryone:
			r.Everyone = &v
		case RuleAnyValidServiceToken:
			r.AnyValidServiceToken = &v
		default:
			r.Certificate = &v
		}
	case RuleCommonName:
		var v CommonNameRule
		if err := strict(&v); err != nil {
			return bad(f, "must be {\"common_name\": \"<certificate common name>\"}: %v", err)
		}
		if v.CommonName == "" || len(v.CommonName) > 256 || !printableASCII(v.CommonName) {
			return bad(f+".common_name", "must be a certificate common name: 1 to 256 printable ASCII characters")
		}
		r.CommonName = &v
	case RuleIP:
		var v IPRule
		if err := strict(&v); err != nil {
			return bad(f, "must be {\"ip\": \"<CIDR>\"}: %v", err)
		}
		p, err := ParseCIDR(v.IP)
		if err != nil {
			return bad(f+".ip", "%v", err)
		}
		v.IP = p.String()
		r.IP = &v
	case RuleServiceToken:
		var v ServiceTokenRule
		if err := strict(&v); err != nil {
			return bad(f, "must be {\"token_id\": \"<service token id>\"}: %v", err)
		}
		id, err := uuid.Parse(v.TokenID)
		if err != nil {
			return bad(f+".token_id", "must be a service token id (a UUID)")
		}
		v.TokenID = id.String()
		r.ServiceToken = &v
	case RuleGeo:
		var v GeoRule
		if err := strict(&v); err != nil {
			return bad(f, "must be {\"country_code\": \"<ISO code>\"}: %v", err)
		}
		v.CountryCode = strings.ToUpper(v.CountryCode)
		if !countryCode.MatchString(v.CountryCode) {
			return bad(f+".country_code", "must be a two-letter ISO 3166-1 country code such as US")
		}
		r.Geo = &v
	case RuleLoginMethod:
		var v LoginMethodRule
		if err := strict(&v); err != nil {
			return bad(f, "must be {\"id\": \"<identity provider id>\"}: %v", err)
		}
		if v.ID == "" || len(v.ID) > 64 {
			return bad(f+".id", "must be an identity provider id")
		}
		r.LoginMethod = &v
	case RuleGroup:
		var v GroupRule
		if err := strict(&v); err != nil {
			return bad(f, "must be {\"id\": \"<Access group id>\"}: %v", err)
		}
		id, err := uuid.Parse(v.ID)
		if err != nil {
			return bad(f+".id", "must be an Access group id (a UUID)")
		}
		v.ID = id.String()
		r.Group = &v
	case RuleOIDC:
		var v OIDCRule
		if err := strict(&v); err != nil {
			return bad(f, "must be {\"claim_name\": \"<claim>\", \"claim_value\": \"<value>\", \"identity_provider_id\": \"<identity provider id>\"}: %v", err)
		}
		switch {
		case v.ClaimName == "" || len(v.ClaimName) > MaxClaimNameLen:
			return bad(f+".claim_name", "must be a claim name of 1 to %d bytes", MaxClaimNameLen)
		case v.ClaimValue == "" || len(v.ClaimValue) > MaxClaimValueLen:
			return bad(f+".claim_value", "must be a value of 1 to %d bytes", MaxClaimValueLen)
		case v.IdentityProviderID == "" || len(v.IdentityProviderID) > 64:
			return bad(f+".identity_provider_id", "must be an identity provider id")
		}
		r.OIDC = &v
	}
	return r, nil
}

// ParseCIDR parses an IP range; a bare address is a single-host range, and
// host bits are masked off.
func ParseCIDR(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("must be an IP address or CIDR range such as 10.0.0.0/8")
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("must be an IP address or CIDR range such as 10.0.0.0/8")
	}
	// An IPv4-mapped range (::ffff:10.0.0.0/104) means the IPv4 range:
	// client addresses are compared unmapped.
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// PolicyExtras are Cloudflare policy fields Gatehouse stores and returns
// untouched but does not enforce.
type PolicyExtras struct {
	ApprovalGroups               json.RawMessage `json:"approval_groups,omitempty"`
	ApprovalRequired             bool            `json:"approval_required,omitempty"`
	IsolationRequired            bool            `json:"isolation_required,omitempty"`
	PurposeJustificationRequired bool            `json:"purpose_justification_required,omitempty"`
	PurposeJustificationPrompt   string          `json:"purpose_justification_prompt,omitempty" validate:"max=1024"`
	// Cloudflare's settings for infrastructure (SSH/RDP) targets and
	// per-policy second factors: accepted only at their defaults
	// (Inventory), kept as sent.
	ConnectionRules json.RawMessage `json:"connection_rules,omitempty"`
	MFAConfig       json.RawMessage `json:"mfa_config,omitempty"`
}

// PolicySpec is what a caller sends to create or replace a policy.
type PolicySpec struct {
	Name            string            `json:"name" validate:"required,max=350"`
	Decision        Decision          `json:"decision" validate:"required,oneof=allow deny bypass non_identity"`
	Include         []json.RawMessage `json:"include" validate:"required,min=1,max=500"`
	Require         []json.RawMessage `json:"require" validate:"max=500"`
	Exclude         []json.RawMessage `json:"exclude" validate:"max=500"`
	SessionDuration string            `json:"session_duration" validate:"omitempty,session_duration"`
	// Precedence orders app-scoped policies; ignored for reusable ones.
	Precedence int `json:"precedence" validate:"min=0,max=1000000"`
	PolicyExtras
}

// PolicyRules are a policy's parsed rule lists.
type PolicyRules struct {
	Include []Rule
	Require []Rule
	Exclude []Rule
}

// Rules parses and checks the spec's rule lists.
func (s *PolicySpec) Rules() (PolicyRules, error) {
	var errs []FieldError
	parse := func(name string, raws []json.RawMessage) []Rule {
		rules := make([]Rule, 0, len(raws))
		for i, raw := range raws {
			r, fe := ParseRule(fmt.Sprintf("%s[%d]", name, i), raw)
			errs = append(errs, fe...)
			rules = append(rules, r)
		}
		return rules
	}
	pr := PolicyRules{Include: parse("include", s.Include), Require: parse("require", s.Require), Exclude: parse("exclude", s.Exclude)}
	if s.Decision == DecisionNonIdentity {
		for name, rules := range map[string][]Rule{"include": pr.Include, "require": pr.Require} {
			for i, r := range rules {
				if r.IdentityRule() {
					errs = append(errs, FieldError{Field: fmt.Sprintf("%s[%d].%s", name, i, r.Type()),
						Message: "a Service Auth (non_identity) policy cannot use identity rules; use service_token, any_valid_service_token, certificate, common_name, ip, geo or everyone"})
				}
			}
		}
	}
	if len(s.ApprovalGroups) > 0 && s.ApprovalGroups[0] != '[' && string(s.ApprovalGroups) != "null" {
		errs = append(errs, FieldError{Field: "approval_groups", Message: "must be an array"})
	}
	slices.SortStableFunc(errs, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
	return pr, InvalidFields(errs)
}

// IdentityRule reports whether the rule is about a logged-in user, which
// a Service Auth (non_identity) policy cannot ask for. A group rule is
// not, by itself: the store checks the group's rules.
func (r Rule) IdentityRule() bool {
	switch r.Type() {
	case RuleEmail, RuleEmailDomain, RuleLoginMethod, RuleOIDC:
		return true
	}
	return false
}

// GroupIDs returns every Access group the rules name, once each.
func (pr PolicyRules) GroupIDs() []string {
	var ids []string
	for _, list := range [][]Rule{pr.Include, pr.Require, pr.Exclude} {
		for _, r := range list {
			if r.Group != nil && !slices.Contains(ids, r.Group.ID) {
				ids = append(ids, r.Group.ID)
			}
		}
	}
	return ids
}

// ServiceTokenIDs returns every service token the rules name, once each.
func (pr PolicyRules) ServiceTokenIDs() []string {
	var ids []string
	for _, list := range [][]Rule{pr.Include, pr.Require, pr.Exclude} {
		for _, r := range list {
			if r.ServiceToken != nil && !slices.Contains(ids, r.ServiceToken.TokenID) {
				ids = append(ids, r.ServiceToken.TokenID)
			}
		}
	}
	return ids
}

// Policy is a stored policy: reusable (AppID empty) or scoped to one app.
type Policy struct {
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	Decision        Decision `json:"decision"`
	Include         []Rule   `json:"include"`
	Require         []Rule   `json:"require"`
	Exclude         []Rule   `json:"exclude"`
	SessionDuration string   `json:"session_duration,omitempty"`
	// Precedence is set when the policy is shown as part of an app.
	Precedence int  `json:"precedence,omitempty"`
	Reusable   bool `json:"reusable"`
	AppCount   int  `json:"app_count"`
	PolicyExtras
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	AppID    string `json:"-"`
	Revision int64  `json:"-"`
}
