package access

import (
	"fmt"
	"strconv"
)

// Bounds of the identity-provider claims a login keeps (an IdP's
// config.claims): they travel in every app token, which lives in a cookie.
const (
	MaxClaimNameLen  = 256
	MaxClaimValueLen = 1024
	// MaxClaimValues is the most values one array claim may have.
	MaxClaimValues = 64
	// MaxClaimsSize bounds the kept claims' names and values together.
	MaxClaimsSize = 2048
)

// KeepClaims picks the claims named in names out of an ID token's (and
// userinfo's) claims, as oidc rules compare them: each as a list of
// strings. A string is a list of one, an array the strings among its
// elements, a number or boolean its JSON text; an object has no string
// value. Every name listed is in the result, with an empty list when the
// provider did not send it, so that a rule on a listed claim knows the
// user does not have it. It fails when the claims would exceed the bounds
// above: a login with claims cut short could slip past an exclude rule.
func KeepClaims(raw map[string]any, names []string) (map[string][]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	out := make(map[string][]string, len(names))
	size := 0
	for _, name := range names {
		var vals []string
		switch v := raw[name].(type) {
		case nil:
		case []any:
			if len(v) > MaxClaimValues {
				return nil, fmt.Errorf("claim %q has %d values, more than %d", name, len(v), MaxClaimValues)
			}
			for _, e := range v {
				if s, ok := scalarClaim(e); ok {
					vals = append(vals, s)
				}
			}
		default:
			if s, ok := scalarClaim(v); ok {
				vals = []string{s}
			}
		}
		size += len(name)
		for _, s := range vals {
			if len(s) > MaxClaimValueLen {
				return nil, fmt.Errorf("claim %q has a value longer than %d bytes", name, MaxClaimValueLen)
			}
			size += len(s)
		}
		if size > MaxClaimsSize {
			return nil, fmt.Errorf("the claims kept (%v) are larger than %d bytes together", names, MaxClaimsSize)
		}
		if vals == nil {
			vals = []string{}
		}
		out[name] = vals
	}
	return out, nil
}

// scalarClaim is a claim value as a string, when it is a scalar.
func scalarClaim(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case interface{ String() string }: // json.Number
		return v.String(), true
	}
	return "", false
}
