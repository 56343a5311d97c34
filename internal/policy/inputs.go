package policy

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// appendAppInputs appends to b a canonical encoding of everything
// compileApp reads from a, and nothing else: two apps with the same
// encoding compile to the same thing. Strings and lists are
// length-prefixed and every optional value carries a presence byte, so no
// two different inputs encode alike. A new field that compileApp reads
// must be added here; TestAppInputsCoverWhatCompileReads fails until it
// is.
func appendAppInputs(b []byte, a *access.App) []byte {
	b = appendString(b, a.ID)
	b = appendString(b, a.AccountID)
	b = appendString(b, a.AUD)
	b = appendString(b, a.Name)
	b = appendStrings(b, a.SelfHostedDomains)
	b = appendString(b, a.Origin)
	b = appendString(b, a.SessionDuration)
	b = appendBool(b, a.OptionsPreflightBypass)
	b = appendBool(b, a.CORSHeaders != nil)
	if c := a.CORSHeaders; c != nil {
		b = appendBool(b, c.AllowAllHeaders)
		b = appendBool(b, c.AllowAllMethods)
		b = appendBool(b, c.AllowAllOrigins)
		b = appendBool(b, c.AllowCredentials)
		b = appendStrings(b, c.AllowedHeaders)
		b = appendStrings(b, c.AllowedMethods)
		b = appendStrings(b, c.AllowedOrigins)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(c.MaxAge))
	}
	b = appendBool(b, a.UpstreamServiceToken != nil)
	if t := a.UpstreamServiceToken; t != nil {
		b = appendString(b, t.ClientID)
	}
	b = appendString(b, a.UpstreamClientSecret)
	b = appendBool(b, a.SessionsRevokedAt != nil)
	if t := a.SessionsRevokedAt; t != nil {
		b = appendTime(b, *t)
	}

	s := &a.AppSettings
	b = appendStrings(b, s.AllowedIdPs)
	b = appendBool(b, s.AutoRedirectToIdentity)
	b = appendBool(b, s.HTTPOnlyCookieAttribute != nil)
	if s.HTTPOnlyCookieAttribute != nil {
		b = appendBool(b, *s.HTTPOnlyCookieAttribute)
	}
	b = appendString(b, s.SameSiteCookieAttribute)
	b = appendBool(b, s.PathCookieAttribute)
	b = appendBool(b, s.EnableBindingCookie)
	b = appendBool(b, s.ServiceAuth401Redirect)
	b = appendString(b, s.ReadServiceTokensFromHeader)
	b = appendString(b, s.CustomDenyMessage)
	b = appendString(b, s.CustomDenyURL)
	b = appendString(b, s.CustomNonIdentityDenyURL)

	b = binary.AppendUvarint(b, uint64(len(a.Policies)))
	for i := range a.Policies {
		p := &a.Policies[i]
		b = appendString(b, p.ID)
		b = appendString(b, p.Name)
		b = appendString(b, string(p.Decision))
		b = binary.AppendVarint(b, int64(p.Precedence))
		b = appendString(b, p.SessionDuration)
		b = appendBool(b, p.PurposeJustificationRequired)
		b = appendString(b, p.PurposeJustificationPrompt)
		b = appendRules(b, p.Include)
		b = appendRules(b, p.Require)
		b = appendRules(b, p.Exclude)
	}
	return b
}

// appendRules encodes every field of each rule, set or not: compileRules
// picks the first one set, and a rule with two set must not encode like
// a rule with one.
func appendRules(b []byte, rules []access.Rule) []byte {
	b = binary.AppendUvarint(b, uint64(len(rules)))
	for i := range rules {
		r := &rules[i]
		b = appendBool(b, r.Email != nil)
		if r.Email != nil {
			b = appendString(b, r.Email.Email)
		}
		b = appendBool(b, r.EmailDomain != nil)
		if r.EmailDomain != nil {
			b = appendString(b, r.EmailDomain.Domain)
		}
		b = appendBool(b, r.Everyone != nil)
		b = appendBool(b, r.IP != nil)
		if r.IP != nil {
			b = appendString(b, r.IP.IP)
		}
		b = appendBool(b, r.ServiceToken != nil)
		if r.ServiceToken != nil {
			b = appendString(b, r.ServiceToken.TokenID)
		}
		b = appendBool(b, r.AnyValidServiceToken != nil)
		b = appendBool(b, r.Geo != nil)
		if r.Geo != nil {
			b = appendString(b, r.Geo.CountryCode)
		}
		b = appendBool(b, r.LoginMethod != nil)
		if r.LoginMethod != nil {
			b = appendString(b, r.LoginMethod.ID)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendTime encodes the instant and the location's name, which the
// compiled time.Time keeps.
func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	return appendString(b, t.Location().String())
}
