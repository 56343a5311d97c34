package statefile

import (
	"math"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Apps and policies have a binary form of their own: JSON of 100k apps
// takes seconds to decode, this a fraction of one. A test fills every
// field of every type (by reflection) and checks the round trip, so a
// field added to access and forgotten here fails it.

// size writes a slice's length so that nil and empty differ: 0 is nil.
func (e *enc) size(n int, isNil bool) {
	if isNil {
		e.u64(0)
		return
	}
	e.u64(uint64(n) + 1)
}

// size reads what enc.size wrote: the length, and whether it is nil.
func (d *dec) size(min int) (int, bool) {
	n := d.u64()
	if n == 0 {
		return 0, true
	}
	if n-1 > uint64(len(d.b)/min) {
		d.fail()
		return 0, true
	}
	return int(n - 1), false
}

func (e *enc) strList(ss []string) {
	e.size(len(ss), ss == nil)
	for _, s := range ss {
		e.str(s)
	}
}

func (d *dec) strList() []string {
	n, isNil := d.size(1)
	if isNil {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (e *enc) boolPtr(b *bool) {
	switch {
	case b == nil:
		e.b = append(e.b, 2)
	default:
		e.boolean(*b)
	}
}

func (d *dec) boolPtr() *bool {
	switch d.byte1() {
	case 0:
		v := false
		return &v
	case 1:
		v := true
		return &v
	case 2:
		return nil
	}
	d.fail()
	return nil
}

func (e *enc) rawJSON(b []byte) { e.nilBytes(b) }

func encodeApp(e *enc, a *access.App) {
	e.str(a.ID)
	e.str(a.AUD)
	e.str(a.Type)
	e.str(a.Name)
	e.str(a.Domain)
	e.strList(a.SelfHostedDomains)
	e.size(len(a.Destinations), a.Destinations == nil)
	for _, d := range a.Destinations {
		e.str(d.Type)
		e.str(d.URI)
		e.str(d.CIDR)
		e.str(d.Hostname)
		e.str(d.L4Protocol)
		e.str(d.PortRange)
		e.str(d.VnetID)
		e.str(d.MCPServerID)
	}
	e.str(a.Origin)
	e.str(a.SessionDuration)
	if c := a.CORSHeaders; c == nil {
		e.boolean(false)
	} else {
		e.boolean(true)
		e.boolean(c.AllowAllHeaders)
		e.boolean(c.AllowAllMethods)
		e.boolean(c.AllowAllOrigins)
		e.boolean(c.AllowCredentials)
		e.strList(c.AllowedHeaders)
		e.strList(c.AllowedMethods)
		e.strList(c.AllowedOrigins)
		e.u64(math.Float64bits(c.MaxAge))
	}
	e.boolean(a.OptionsPreflightBypass)
	if u := a.UpstreamServiceToken; u == nil {
		e.boolean(false)
	} else {
		e.boolean(true)
		e.str(u.ClientID)
		e.boolean(u.ClientSecretSet)
	}
	s := &a.AppSettings
	e.strList(s.AllowedIdPs)
	e.boolean(s.AutoRedirectToIdentity)
	e.boolPtr(s.HTTPOnlyCookieAttribute)
	e.str(s.SameSiteCookieAttribute)
	e.boolean(s.PathCookieAttribute)
	e.boolean(s.EnableBindingCookie)
	e.boolean(s.ServiceAuth401Redirect)
	e.str(s.ReadServiceTokensFromHeader)
	e.str(s.CustomDenyMessage)
	e.str(s.CustomDenyURL)
	e.str(s.CustomNonIdentityDenyURL)
	e.boolPtr(s.AppLauncherVisible)
	e.boolean(s.SkipInterstitial)
	e.str(s.LogoURL)
	e.strList(s.Tags)
	e.boolPtr(s.AllowIframe)
	e.boolPtr(s.AllowAuthenticateViaWARP)
	e.boolPtr(s.UseClientlessIsolationAppLauncherURL)
	e.strList(s.CustomPages)
	e.nilBytes(s.MFAConfig)
	e.nilBytes(s.OAuthConfiguration)
	e.nilBytes(s.SCIMConfig)
	e.boolean(s.PreserveHostHeader)
	e.str(s.HTTPHostHeader)
	e.size(len(a.Policies), a.Policies == nil)
	for i := range a.Policies {
		encodePolicy(e, &a.Policies[i])
	}
	e.when(a.CreatedAt)
	e.when(a.UpdatedAt)
	e.str(a.AccountID)
	e.i64(a.Revision)
	e.whenPtr(a.SessionsRevokedAt)
	e.str(a.UpstreamClientSecret)
	e.size(len(a.PolicyLinks), a.PolicyLinks == nil)
	for _, l := range a.PolicyLinks {
		e.str(l.ID)
		e.i64(int64(l.Precedence))
	}
}

func decodeApp(d *dec, a *access.App) {
	a.ID = d.str()
	a.AUD = d.str()
	a.Type = d.str()
	a.Name = d.str()
	a.Domain = d.str()
	a.SelfHostedDomains = d.strList()
	if n, isNil := d.size(2); !isNil {
		a.Destinations = make([]access.Destination, n)
		for i := range a.Destinations {
			a.Destinations[i] = access.Destination{Type: d.str(), URI: d.str(), CIDR: d.str(), Hostname: d.str(),
				L4Protocol: d.str(), PortRange: d.str(), VnetID: d.str(), MCPServerID: d.str()}
		}
	}
	a.Origin = d.str()
	a.SessionDuration = d.str()
	if d.boolean() {
		c := &access.CORSSettings{}
		c.AllowAllHeaders = d.boolean()
		c.AllowAllMethods = d.boolean()
		c.AllowAllOrigins = d.boolean()
		c.AllowCredentials = d.boolean()
		c.AllowedHeaders = d.strList()
		c.AllowedMethods = d.strList()
		c.AllowedOrigins = d.strList()
		c.MaxAge = math.Float64frombits(d.u64())
		a.CORSHeaders = c
	}
	a.OptionsPreflightBypass = d.boolean()
	if d.boolean() {
		a.UpstreamServiceToken = &access.UpstreamServiceToken{ClientID: d.str(), ClientSecretSet: d.boolean()}
	}
	s := &a.AppSettings
	s.AllowedIdPs = d.strList()
	s.AutoRedirectToIdentity = d.boolean()
	s.HTTPOnlyCookieAttribute = d.boolPtr()
	s.SameSiteCookieAttribute = d.str()
	s.PathCookieAttribute = d.boolean()
	s.EnableBindingCookie = d.boolean()
	s.ServiceAuth401Redirect = d.boolean()
	s.ReadServiceTokensFromHeader = d.str()
	s.CustomDenyMessage = d.str()
	s.CustomDenyURL = d.str()
	s.CustomNonIdentityDenyURL = d.str()
	s.AppLauncherVisible = d.boolPtr()
	s.SkipInterstitial = d.boolean()
	s.LogoURL = d.str()
	s.Tags = d.strList()
	s.AllowIframe = d.boolPtr()
	s.AllowAuthenticateViaWARP = d.boolPtr()
	s.UseClientlessIsolationAppLauncherURL = d.boolPtr()
	s.CustomPages = d.strList()
	s.MFAConfig = d.nilBytes()
	s.OAuthConfiguration = d.nilBytes()
	s.SCIMConfig = d.nilBytes()
	s.PreserveHostHeader = d.boolean()
	s.HTTPHostHeader = d.str()
	if n, isNil := d.size(8); !isNil {
		a.Policies = make([]access.Policy, n)
		for i := range a.Policies {
			decodePolicy(d, &a.Policies[i])
		}
	}
	a.CreatedAt = d.when()
	a.UpdatedAt = d.when()
	a.AccountID = d.str()
	a.Revision = d.i64()
	a.SessionsRevokedAt = d.whenPtr()
	a.UpstreamClientSecret = d.str()
	if n, isNil := d.size(2); !isNil {
		a.PolicyLinks = make([]access.PolicyLink, n)
		for i := range a.PolicyLinks {
			a.PolicyLinks[i] = access.PolicyLink{ID: d.str(), Precedence: int(d.i64())}
		}
	}
}

// Rule fields, as bits of a rule's presence mask.
const (
	ruleEmail = 1 << iota
	ruleEmailDomain
	ruleEveryone
	ruleIP
	ruleServiceToken
	ruleAnyValidServiceToken
	ruleGeo
	ruleLoginMethod
)

// More rule fields, as bits of a rule's second presence mask.
const (
	ruleCertificate = 1 << iota
	ruleCommonName
	ruleGroup
	ruleOIDC
)

func encodeRules(e *enc, rs []access.Rule) {
	e.size(len(rs), rs == nil)
	for _, r := range rs {
		var mask byte
		set := func(bit byte, ok bool) {
			if ok {
				mask |= bit
			}
		}
		set(ruleEmail, r.Email != nil)
		set(ruleEmailDomain, r.EmailDomain != nil)
		set(ruleEveryone, r.Everyone != nil)
		set(ruleIP, r.IP != nil)
		set(ruleServiceToken, r.ServiceToken != nil)
		set(ruleAnyValidServiceToken, r.AnyValidServiceToken != nil)
		set(ruleGeo, r.Geo != nil)
		set(ruleLoginMethod, r.LoginMethod != nil)
		var mask2 byte
		if r.Certificate != nil {
			mask2 |= ruleCertificate
		}
		if r.CommonName != nil {
			mask2 |= ruleCommonName
		}
		if r.OIDC != nil {
			mask2 |= ruleOIDC
		}
		if r.Group != nil {
			mask2 |= ruleGroup
		}
		e.b = append(e.b, mask, mask2)
		if r.Email != nil {
			e.str(r.Email.Email)
		}
		if r.EmailDomain != nil {
			e.str(r.EmailDomain.Domain)
		}
		if r.IP != nil {
			e.str(r.IP.IP)
		}
		if r.ServiceToken != nil {
			e.str(r.ServiceToken.TokenID)
		}
		if r.Geo != nil {
			e.str(r.Geo.CountryCode)
		}
		if r.LoginMethod != nil {
			e.str(r.LoginMethod.ID)
		}
		if r.CommonName != nil {
			e.str(r.CommonName.CommonName)
		}
		if r.OIDC != nil {
			e.str(r.OIDC.ClaimName)
			e.str(r.OIDC.ClaimValue)
			e.str(r.OIDC.IdentityProviderID)
		}
		if r.Group != nil {
			// The group's rules as the edge resolved them, when it did.
			e.str(r.Group.ID)
			g := r.Group.Resolved
			e.boolean(g != nil)
			if g != nil {
				encodeRules(e, g.Include)
				encodeRules(e, g.Require)
				encodeRules(e, g.Exclude)
			}
		}
	}
}

func decodeRules(d *dec) []access.Rule { return decodeRulesIn(d, false) }

// decodeRulesIn decodes a rule list, inGroup when it is a group's: groups
// do not nest, so a group rule there is corrupt (and the depth bounded).
func decodeRulesIn(d *dec, inGroup bool) []access.Rule {
	n, isNil := d.size(2)
	if isNil {
		return nil
	}
	out := make([]access.Rule, n)
	for i := range out {
		r := &out[i]
		mask, mask2 := d.byte1(), d.byte1()
		if mask2&ruleGroup != 0 && inGroup {
			d.fail()
			return nil
		}
		if mask&ruleEmail != 0 {
			r.Email = &access.EmailRule{Email: d.str()}
		}
		if mask&ruleEmailDomain != 0 {
			r.EmailDomain = &access.EmailDomainRule{Domain: d.str()}
		}
		if mask&ruleEveryone != 0 {
			r.Everyone = &struct{}{}
		}
		if mask&ruleIP != 0 {
			r.IP = &access.IPRule{IP: d.str()}
		}
		if mask&ruleServiceToken != 0 {
			r.ServiceToken = &access.ServiceTokenRule{TokenID: d.str()}
		}
		if mask&ruleAnyValidServiceToken != 0 {
			r.AnyValidServiceToken = &struct{}{}
		}
		if mask&ruleGeo != 0 {
			r.Geo = &access.GeoRule{CountryCode: d.str()}
		}
		if mask&ruleLoginMethod != 0 {
			r.LoginMethod = &access.LoginMethodRule{ID: d.str()}
		}
		if mask2&ruleCertificate != 0 {
			r.Certificate = &struct{}{}
		}
		if mask2&ruleCommonName != 0 {
			r.CommonName = &access.CommonNameRule{CommonName: d.str()}
		}
		if mask2&ruleOIDC != 0 {
			r.OIDC = &access.OIDCRule{ClaimName: d.str(), ClaimValue: d.str(), IdentityProviderID: d.str()}
		}
		if mask2&ruleGroup != 0 {
			r.Group = &access.GroupRule{ID: d.str()}
			if d.boolean() {
				r.Group.Resolved = &access.GroupRules{Include: decodeRulesIn(d, true), Require: decodeRulesIn(d, true), Exclude: decodeRulesIn(d, true)}
			}
		}
	}
	return out
}

func encodePolicy(e *enc, p *access.Policy) {
	e.str(p.ID)
	e.str(p.Name)
	e.str(string(p.Decision))
	encodeRules(e, p.Include)
	encodeRules(e, p.Require)
	encodeRules(e, p.Exclude)
	e.str(p.SessionDuration)
	e.i64(int64(p.Precedence))
	e.boolean(p.Reusable)
	e.i64(int64(p.AppCount))
	x := &p.PolicyExtras
	e.rawJSON(x.ApprovalGroups)
	e.boolean(x.ApprovalRequired)
	e.boolean(x.IsolationRequired)
	e.boolean(x.PurposeJustificationRequired)
	e.str(x.PurposeJustificationPrompt)
	e.nilBytes(x.ConnectionRules)
	e.nilBytes(x.MFAConfig)
	e.when(p.CreatedAt)
	e.when(p.UpdatedAt)
	e.str(p.AppID)
	e.i64(p.Revision)
}

func decodePolicy(d *dec, p *access.Policy) {
	p.ID = d.str()
	p.Name = d.str()
	p.Decision = access.Decision(d.str())
	p.Include = decodeRules(d)
	p.Require = decodeRules(d)
	p.Exclude = decodeRules(d)
	p.SessionDuration = d.str()
	p.Precedence = int(d.i64())
	p.Reusable = d.boolean()
	p.AppCount = int(d.i64())
	x := &p.PolicyExtras
	x.ApprovalGroups = d.nilBytes()
	x.ApprovalRequired = d.boolean()
	x.IsolationRequired = d.boolean()
	x.PurposeJustificationRequired = d.boolean()
	x.PurposeJustificationPrompt = d.str()
	x.ConnectionRules = d.nilBytes()
	x.MFAConfig = d.nilBytes()
	p.CreatedAt = d.when()
	p.UpdatedAt = d.when()
	p.AppID = d.str()
	p.Revision = d.i64()
}
