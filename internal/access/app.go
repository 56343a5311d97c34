package access

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
)

// AppTypeSelfHosted is the only application type Gatehouse protects.
const AppTypeSelfHosted = "self_hosted"

// DefaultSessionDuration is the lifetime of app tokens when none is given.
const DefaultSessionDuration = "24h"

// CORS max_age bounds: -1 disables preflight caching; Firefox caps at 86400.
const (
	MinCORSMaxAge = -1
	MaxCORSMaxAge = 86400
)

// CORSMethods is the set of methods an app's CORS settings may allow.
var CORSMethods = []string{"GET", "POST", "HEAD", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// CORSSettings is how the edge answers CORS preflights for an app
// (Cloudflare's cors_headers).
type CORSSettings struct {
	// Cloudflare leaves out what is false or empty, and so does Gatehouse
	// (Terraform's provider compares them with the configuration).
	AllowAllHeaders  bool     `json:"allow_all_headers,omitempty"`
	AllowAllMethods  bool     `json:"allow_all_methods,omitempty"`
	AllowAllOrigins  bool     `json:"allow_all_origins,omitempty"`
	AllowCredentials bool     `json:"allow_credentials,omitempty"`
	AllowedHeaders   []string `json:"allowed_headers,omitempty" validate:"max=100,dive,header_name"`
	AllowedMethods   []string `json:"allowed_methods,omitempty" validate:"max=9,unique,dive,cors_method"`
	AllowedOrigins   []string `json:"allowed_origins,omitempty" validate:"max=100,unique,dive,cors_origin"`
	MaxAge           float64  `json:"max_age,omitempty" validate:"min=-1,max=86400"`
}

// Configured reports whether any setting is present. An all-zero object is
// the same as no CORS settings at all.
func (c *CORSSettings) Configured() bool {
	if c == nil {
		return false
	}
	return c.AllowAllHeaders || c.AllowAllMethods || c.AllowAllOrigins || c.AllowCredentials ||
		len(c.AllowedHeaders) > 0 || len(c.AllowedMethods) > 0 || len(c.AllowedOrigins) > 0 || c.MaxAge != 0
}

// Destination is one protected host and path of an app, in Cloudflare's
// newer list form.
type Destination struct {
	Type string `json:"type" validate:"required,eq=public"`
	URI  string `json:"uri" validate:"required"`
	// A private destination's fields (Cloudflare's type "private", for
	// the WARP client): accepted only empty, since Gatehouse protects
	// public hostnames only.
	CIDR        string `json:"cidr,omitempty"`
	Hostname    string `json:"hostname,omitempty"`
	L4Protocol  string `json:"l4_protocol,omitempty"`
	PortRange   string `json:"port_range,omitempty"`
	VnetID      string `json:"vnet_id,omitempty"`
	MCPServerID string `json:"mcp_server_id,omitempty"`
}

// AppSettings are an app's login, cookie, deny-page and presentation
// settings. They are stored as one document beside the app.
type AppSettings struct {
	AllowedIdPs                 []string `json:"allowed_idps" validate:"max=50,unique,dive,required,max=64"`
	AutoRedirectToIdentity      bool     `json:"auto_redirect_to_identity,omitempty"`
	HTTPOnlyCookieAttribute     *bool    `json:"http_only_cookie_attribute"`
	SameSiteCookieAttribute     string   `json:"same_site_cookie_attribute,omitempty" validate:"omitempty,oneof=strict lax none"`
	PathCookieAttribute         bool     `json:"path_cookie_attribute,omitempty"`
	EnableBindingCookie         bool     `json:"enable_binding_cookie,omitempty"`
	ServiceAuth401Redirect      bool     `json:"service_auth_401_redirect,omitempty"`
	ReadServiceTokensFromHeader string   `json:"read_service_tokens_from_header,omitempty" validate:"omitempty,header_name"`
	CustomDenyMessage           string   `json:"custom_deny_message,omitempty" validate:"max=1024"`
	CustomDenyURL               string   `json:"custom_deny_url,omitempty" validate:"omitempty,redirect_url"`
	CustomNonIdentityDenyURL    string   `json:"custom_non_identity_deny_url,omitempty" validate:"omitempty,redirect_url"`
	AppLauncherVisible          *bool    `json:"app_launcher_visible"`
	SkipInterstitial            bool     `json:"skip_interstitial,omitempty"`
	LogoURL                     string   `json:"logo_url,omitempty" validate:"omitempty,http_url"`
	Tags                        []string `json:"tags" validate:"max=50,unique,dive,required,max=64"`

	// Cloudflare's fields that Gatehouse accepts only at their defaults
	// (see Inventory): kept as sent, so that a body reads back as it was
	// written. Raw JSON fields hold absent, null or a default object.
	AllowIframe                          *bool           `json:"allow_iframe,omitempty"`
	AllowAuthenticateViaWARP             *bool           `json:"allow_authenticate_via_warp,omitempty"`
	UseClientlessIsolationAppLauncherURL *bool           `json:"use_clientless_isolation_app_launcher_url,omitempty"`
	CustomPages                          []string        `json:"custom_pages,omitempty"`
	MFAConfig                            json.RawMessage `json:"mfa_config,omitempty"`
	OAuthConfiguration                   json.RawMessage `json:"oauth_configuration,omitempty"`
	SCIMConfig                           json.RawMessage `json:"scim_config,omitempty"`
	// PreserveHostHeader and HTTPHostHeader choose the Host the origin
	// is sent (Gatehouse extensions; see HostHeaderErrors).
	PreserveHostHeader bool   `json:"preserve_host_header,omitempty"`
	HTTPHostHeader     string `json:"http_host_header,omitempty"`
}

// AppSpec is what a caller sends to create or replace an application.
type AppSpec struct {
	Type              string        `json:"type" validate:"required,eq=self_hosted"`
	Name              string        `json:"name" validate:"required,max=350"`
	Domain            string        `json:"domain"`
	SelfHostedDomains []string      `json:"self_hosted_domains" validate:"max=50"`
	Destinations      []Destination `json:"destinations" validate:"max=50,dive"`
	Origin            string        `json:"origin" validate:"omitempty,origin_url"`
	// OriginSet says whether the body had origin at all. A replacement
	// without it keeps the stored origin: origin is a Gatehouse
	// extension, which Cloudflare's clients (Terraform) never send.
	OriginSet              bool          `json:"-"`
	SessionDuration        string        `json:"session_duration" validate:"omitempty,session_duration"`
	CORSHeaders            *CORSSettings `json:"cors_headers"`
	OptionsPreflightBypass bool          `json:"options_preflight_bypass"`
	// UpstreamServiceToken makes the app a relay (Gatehouse extension).
	UpstreamServiceToken UpstreamServiceTokenField `json:"upstream_service_token,omitzero"`
	AppSettings
	Policies []PolicyLink `json:"policies" validate:"max=100,dive"`
}

// UnmarshalJSON decodes an app body strictly (unknown fields refused) and
// records whether it had origin.
func (s *AppSpec) UnmarshalJSON(b []byte) error {
	type plain AppSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode((*plain)(s)); err != nil {
		return err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return err
	}
	_, s.OriginSet = members["origin"]
	return nil
}

// App is a stored application.
type App struct {
	ID                     string        `json:"id"`
	AUD                    string        `json:"aud"`
	Type                   string        `json:"type"`
	Name                   string        `json:"name"`
	Domain                 string        `json:"domain"`
	SelfHostedDomains      []string      `json:"self_hosted_domains"`
	Destinations           []Destination `json:"destinations"`
	Origin                 string        `json:"origin"`
	SessionDuration        string        `json:"session_duration"`
	CORSHeaders            *CORSSettings `json:"cors_headers,omitempty"`
	OptionsPreflightBypass bool          `json:"options_preflight_bypass,omitempty"`
	// UpstreamServiceToken is the credential the edge presents to the
	// origin, an app protected by Access itself (Gatehouse extension).
	UpstreamServiceToken *UpstreamServiceToken `json:"upstream_service_token,omitempty"`
	AppSettings
	Policies  []Policy  `json:"policies"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	AccountID string `json:"-"`
	Revision  int64  `json:"-"`
	// SessionsRevokedAt is when revoke_tokens last ran: app tokens issued
	// before it are refused. Not part of the wire format.
	SessionsRevokedAt *time.Time `json:"-"`
	// UpstreamClientSecret is the upstream service token's secret, filled
	// in only in the edge's Config; never part of the wire format.
	UpstreamClientSecret string `json:"-"`
	// PolicyLinks are the app's policies as linked (id and precedence, in
	// precedence order), set instead of Policies in a Config or Delta.
	PolicyLinks []PolicyLink `json:"-"`
}

// Bounds of an upstream service token credential.
const (
	MaxUpstreamClientIDLen     = 256
	MaxUpstreamClientSecretLen = 512
)

// UpstreamServiceToken is a relay app's upstream credential as shown: the
// secret is write-only.
type UpstreamServiceToken struct {
	ClientID        string `json:"client_id"`
	ClientSecretSet bool   `json:"client_secret_set"`
}

// UpstreamServiceTokenSpec is an upstream credential as a caller sends it.
// On a replacement, an empty ClientSecret keeps the stored one.
type UpstreamServiceTokenSpec struct {
	ClientID     string `json:"client_id" validate:"required,max=256"`
	ClientSecret string `json:"client_secret" validate:"max=512"`
}

// UpstreamServiceTokenField is the upstream_service_token of a request
// body, which has three states: absent (Present false: keep what is
// stored), null (Present with a nil Token: remove it) or a credential.
type UpstreamServiceTokenField struct {
	Present bool                      `json:"-"`
	Token   *UpstreamServiceTokenSpec `json:"-"`
}

// MarshalJSON writes null or the credential; an absent field is left out
// by omitzero.
func (f UpstreamServiceTokenField) MarshalJSON() ([]byte, error) {
	return json.Marshal(f.Token)
}

// UnmarshalJSON records that the field was sent, and decodes null or a
// credential object strictly.
func (f *UpstreamServiceTokenField) UnmarshalJSON(b []byte) error {
	f.Present = true
	f.Token = nil
	if string(b) == "null" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var t UpstreamServiceTokenSpec
	if err := dec.Decode(&t); err != nil {
		return fmt.Errorf("upstream_service_token is null or {\"client_id\", \"client_secret\"}: %w", err)
	}
	f.Token = &t
	return nil
}

// PolicyLink attaches a policy to an app. On the wire it is the policy id
// as a string, {"id": ..., "precedence": n}, or Cloudflare's legacy
// inline form: a whole policy ({name, decision, include, ...,
// precedence}), which is the app's own (app-scoped) policy, created when
// it has no id and replaced when its id is one of the app's own.
type PolicyLink struct {
	ID         string `json:"id" validate:"required_without=Inline,omitempty,uuid"`
	Precedence int    `json:"precedence" validate:"min=0,max=1000000"`
	// Inline is the policy given inline, nil for a link.
	Inline *PolicySpec `json:"-"`
	// Rules are Inline's parsed rules (set by ParseInline).
	Rules PolicyRules `json:"-"`
}

// inlineLink is every field an app's policies[] entry may carry: the
// link's and a policy's.
type inlineLink struct {
	ID string `json:"id"`
	PolicySpec
}

// UnmarshalJSON accepts every wire form of a policy link.
func (l *PolicyLink) UnmarshalJSON(b []byte) error {
	var id string
	if err := json.Unmarshal(b, &id); err == nil {
		*l = PolicyLink{ID: id}
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var v inlineLink
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("a policy link is a policy id, {\"id\", \"precedence\"} or a policy: %w", err)
	}
	*l = PolicyLink{ID: v.ID, Precedence: v.Precedence}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(b, &fields)
	for k := range fields {
		if k != "id" && k != "precedence" {
			spec := v.PolicySpec
			l.Inline = &spec
			break
		}
	}
	return nil
}

// MarshalJSON writes a link as {"id", "precedence"}, and an inline policy
// as the policy with them.
func (l PolicyLink) MarshalJSON() ([]byte, error) {
	if l.Inline == nil {
		return json.Marshal(struct {
			ID         string `json:"id"`
			Precedence int    `json:"precedence"`
		}{l.ID, l.Precedence})
	}
	v := inlineLink{ID: l.ID, PolicySpec: *l.Inline}
	v.Precedence = l.Precedence
	return json.Marshal(v)
}

// ParseInline parses the rules of every inline policy of an app body,
// with the checks a policy body gets, naming fields as policies[i].field.
func ParseInline(links []PolicyLink) error {
	var errs []FieldError
	for i := range links {
		l := &links[i]
		if l.Inline == nil {
			continue
		}
		l.Inline.Precedence = l.Precedence
		rules, err := l.Inline.Rules()
		if err == nil {
			err = CheckSupported(l.Inline)
		}
		var e *Error
		if errors.As(err, &e) && e.Kind == EInvalid {
			for _, f := range e.Fields {
				errs = append(errs, FieldError{Field: fmt.Sprintf("policies[%d].%s", i, f.Field), Message: f.Message})
			}
			continue
		} else if err != nil {
			return err
		}
		l.Rules = rules
	}
	return InvalidFields(errs)
}

// ValidApp is an application body that passed Normalize: its domains are
// parsed into canonical form and its cross-field rules hold. The store
// writes only ValidApps, and only Normalize makes one, so nothing
// unvalidated can be stored.
type ValidApp struct {
	spec    AppSpec
	domains []Domain
}

// Spec is the normalised body.
func (v ValidApp) Spec() AppSpec { return v.spec }

// Domains are the app's protected domains, primary first. A zero ValidApp
// has none.
func (v ValidApp) Domains() []Domain { return v.domains }

// DomainNames are Domains as strings, in their canonical form.
func (v ValidApp) DomainNames() []string { return domainStrings(v.domains) }

// DomainErrors parses every domain of s (domain, destinations[i].uri,
// self_hosted_domains[i]) and returns a field error for each refused,
// with no cross-field rule: for reporting them beside other field errors
// of a body that fails validation before Normalize.
func (s *AppSpec) DomainErrors() []FieldError {
	var errs []FieldError
	check := func(field, d string) {
		if d == "" {
			return
		}
		if _, err := ParseDomain(d); err != nil {
			errs = append(errs, FieldError{Field: field, Message: err.Error()})
		}
	}
	check("domain", s.Domain)
	for i, d := range s.Destinations {
		check(fmt.Sprintf("destinations[%d].uri", i), d.URI)
	}
	for i, d := range s.SelfHostedDomains {
		check(fmt.Sprintf("self_hosted_domains[%d]", i), d)
	}
	return errs
}

// Normalize completes an AppSpec that passed field validation: it fills in
// defaults, parses domains into their canonical form (ParseDomain) and
// canonicalises origins, and applies the cross-field rules. It rewrites s
// in place and returns the result as a ValidApp.
func (s *AppSpec) Normalize() (ValidApp, error) {
	var errs []FieldError
	fail := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	parse := func(field, d string) (Domain, bool) {
		dom, err := ParseDomain(d)
		if err != nil {
			fail(field, "%s", err.Error())
			return Domain{}, false
		}
		return dom, true
	}
	parseAll := func(field string, ds []string) ([]Domain, bool) {
		out := make([]Domain, 0, len(ds))
		ok := true
		for i, d := range ds {
			dom, good := parse(fmt.Sprintf("%s[%d]", field, i), d)
			ok = ok && good
			out = append(out, dom)
		}
		return out, ok
	}

	var domains []Domain
	var primary Domain
	domainsOK := true
	if s.Domain != "" {
		primary, domainsOK = parse("domain", s.Domain)
	}
	switch {
	case len(s.Destinations) > 0:
		uris := make([]string, len(s.Destinations))
		for i, d := range s.Destinations {
			uris[i] = d.URI
		}
		var ok bool
		domains, ok = parseAll("destinations", uris)
		for i := range errs {
			if strings.HasPrefix(errs[i].Field, "destinations[") {
				errs[i].Field += ".uri"
			}
		}
		domainsOK = domainsOK && ok
		if len(s.SelfHostedDomains) > 0 {
			shd, ok := parseAll("self_hosted_domains", s.SelfHostedDomains)
			domainsOK = domainsOK && ok
			if ok && domainsOK && !sameStrings(domainStrings(shd), domainStrings(domains)) {
				fail("self_hosted_domains", "must list the same domains as destinations when both are given")
			}
		}
	case len(s.SelfHostedDomains) > 0:
		var ok bool
		domains, ok = parseAll("self_hosted_domains", s.SelfHostedDomains)
		domainsOK = domainsOK && ok
	case s.Domain != "":
		domains = []Domain{primary}
	default:
		fail("domain", "is required (or give destinations or self_hosted_domains)")
	}
	if !domainsOK {
		domains = nil
	}
	seen := map[Domain]bool{}
	for i, d := range domains {
		if seen[d] {
			fail(fmt.Sprintf("destinations[%d]", i), "domain %q is listed twice", d.String())
		}
		seen[d] = true
	}
	if s.Domain != "" && len(domains) > 0 {
		if !seen[primary] {
			fail("domain", "must be one of the app's destinations")
		} else {
			// The primary domain comes first.
			ordered := []Domain{primary}
			for _, d := range domains {
				if d != primary {
					ordered = append(ordered, d)
				}
			}
			domains = ordered
		}
	}
	if len(domains) > 0 {
		s.Domain = domains[0].String()
	}
	s.SelfHostedDomains = domainStrings(domains)
	s.Destinations = make([]Destination, len(domains))
	for i, d := range domains {
		s.Destinations[i] = Destination{Type: "public", URI: d.String()}
	}

	if s.Origin != "" {
		s.Origin = strings.TrimSuffix(s.Origin, "/")
	}
	if s.SessionDuration == "" {
		s.SessionDuration = DefaultSessionDuration
	}

	var corsErrs []FieldError
	s.CORSHeaders, corsErrs = NormalizeCORS(s.CORSHeaders, s.OptionsPreflightBypass)
	errs = append(errs, corsErrs...)

	if t := s.UpstreamServiceToken.Token; t != nil {
		if !printableASCII(t.ClientID) {
			fail("upstream_service_token.client_id", "must be printable ASCII (it is sent in a request header)")
		}
		if !printableASCII(t.ClientSecret) {
			fail("upstream_service_token.client_secret", "must be printable ASCII (it is sent in a request header)")
		}
		if s.Origin == "" && s.OriginSet {
			fail("upstream_service_token", "needs an origin: the credential is presented to the origin")
		}
	}

	if s.HTTPOnlyCookieAttribute == nil {
		s.HTTPOnlyCookieAttribute = ptr(true)
	}
	if s.AppLauncherVisible == nil {
		s.AppLauncherVisible = ptr(true)
	}
	if s.AllowedIdPs == nil {
		s.AllowedIdPs = []string{}
	}
	if s.Tags == nil {
		s.Tags = []string{}
	}
	errs = append(errs, s.HostHeaderErrors()...)
	if s.AutoRedirectToIdentity && len(s.AllowedIdPs) != 1 {
		fail("auto_redirect_to_identity", "needs exactly one entry in allowed_idps")
	}
	seenPolicy := map[string]bool{}
	for i, l := range s.Policies {
		if l.ID == "" {
			continue
		}
		if seenPolicy[l.ID] {
			fail(fmt.Sprintf("policies[%d].id", i), "policy %s is linked twice", l.ID)
		}
		seenPolicy[l.ID] = true
	}
	if err := InvalidFields(errs); err != nil {
		return ValidApp{}, err
	}
	return ValidApp{spec: *s, domains: domains}, nil
}

// NormalizeCORS completes CORS settings that passed field validation, as
// an app body's cors_headers beside options_preflight_bypass: it
// canonicalises the origins and applies the rule that the bypass cannot be
// on while CORS settings are. It returns nil for settings that are all
// zero, which are the same as none. Field names are an app body's.
func NormalizeCORS(c *CORSSettings, bypass bool) (*CORSSettings, []FieldError) {
	if c == nil {
		return nil, nil
	}
	var errs []FieldError
	fail := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if c.MaxAge != math.Trunc(c.MaxAge) {
		fail("cors_headers.max_age", "must be a whole number of seconds")
	}
	for _, list := range []*[]string{&c.AllowedHeaders, &c.AllowedMethods, &c.AllowedOrigins} {
		if *list == nil {
			*list = []string{}
		}
	}
	seenOrigin := map[string]bool{}
	for i, o := range c.AllowedOrigins {
		c.AllowedOrigins[i] = CanonicalOrigin(o)
		if seenOrigin[c.AllowedOrigins[i]] {
			fail(fmt.Sprintf("cors_headers.allowed_origins[%d]", i), "origin %s is listed twice", c.AllowedOrigins[i])
		}
		seenOrigin[c.AllowedOrigins[i]] = true
	}
	if bypass && c.Configured() {
		fail("options_preflight_bypass", "cannot be true while cors_headers is set: turning on the bypass removes the CORS settings, so send cors_headers empty or leave it out")
	}
	if !c.Configured() {
		return nil, errs
	}
	return c, errs
}

func domainStrings(ds []Domain) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

// CanonicalOrigin lower-cases an origin's scheme and host, as browsers
// serialise them in the Origin header.
func CanonicalOrigin(o string) string {
	u, err := url.Parse(o)
	if err != nil {
		return o
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	set := map[string]bool{}
	for _, s := range a {
		set[s] = true
	}
	for _, s := range b {
		if !set[s] {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func ptr[T any](v T) *T { return &v }
