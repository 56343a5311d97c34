package access

import (
	"fmt"
	"strings"
)

// HostClaim is the part of the host name space that an app domain, or an
// entry of an account's domain list, takes. An exact domain claims its
// host (with every path under it); a wildcard domain "*.example.com"
// claims its zone: example.com and every host under it, at any depth.
// A host belongs to at most one account: two claims of different
// accounts may not overlap.
type HostClaim struct {
	// Zone is the canonical host: lower-case, without a port, a trailing
	// dot or the "*." of a wildcard.
	Zone     string
	Wildcard bool
}

// ClaimOf returns the host claim of an app domain (host[/path]) or of a
// domain list entry (host or *.host). It reports false for a domain
// without a host.
func ClaimOf(domain string) (HostClaim, bool) {
	host, _, _ := strings.Cut(domain, "/")
	host = strings.ToLower(host)
	if i := strings.LastIndexByte(host, ':'); i >= 0 && allDigits(host[i+1:]) {
		host = host[:i]
	}
	host = strings.TrimRight(host, ".")
	c := HostClaim{Zone: host}
	if z, ok := strings.CutPrefix(host, "*."); ok {
		c = HostClaim{Zone: z, Wildcard: true}
	}
	if c.Zone == "" || strings.HasPrefix(c.Zone, ".") || strings.Contains(c.Zone, "*") {
		return HostClaim{}, false
	}
	return c, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String is the claim as a domain: "example.com" or "*.example.com".
func (c HostClaim) String() string {
	if c.Wildcard {
		return "*." + c.Zone
	}
	return c.Zone
}

// Overlaps reports whether c and o claim a common host: the same host, or
// a host (or zone) under the other's wildcard zone.
func (c HostClaim) Overlaps(o HostClaim) bool {
	switch {
	case c.Zone == o.Zone:
		return true
	case c.Wildcard && under(o.Zone, c.Zone):
		return true
	case o.Wildcard && under(c.Zone, o.Zone):
		return true
	}
	return false
}

// Covers reports whether c, as an entry of an account's domain list,
// admits an app domain claiming d. An exact entry admits exactly its host;
// a wildcard entry admits every host under its zone and every wildcard of
// its zone or of a zone under it (but not the bare zone itself).
func (c HostClaim) Covers(d HostClaim) bool {
	if !c.Wildcard {
		return !d.Wildcard && d.Zone == c.Zone
	}
	if d.Wildcard {
		return d.Zone == c.Zone || under(d.Zone, c.Zone)
	}
	return under(d.Zone, c.Zone)
}

// under reports whether host h is a proper subdomain of zone z.
func under(h, z string) bool {
	return len(h) > len(z)+1 && strings.HasSuffix(h, z) && h[len(h)-len(z)-1] == '.'
}

// Key is the claim's zone reversed character by character ("svc.test"
// becomes "tset.cvs"), so that a zone and everything under it share a
// prefix and one ordered index finds them: the hosts under zone Z are
// exactly the keys from Key(Z)+"." up to, not including, Key(Z)+"/".
// The store computes the same key in SQL (reverse()).
func (c HostClaim) Key() string { return reverse(c.Zone) }

// AncestorKeys are the keys of every zone strictly above the claim's
// zone: for a.b.test, those of b.test and test.
func (c HostClaim) AncestorKeys() []string {
	k := c.Key()
	var out []string
	for i := 0; i < len(k); i++ {
		if k[i] == '.' {
			out = append(out, k[:i])
		}
	}
	return out
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// ParseAccountDomain parses an entry of an account's domain list: a
// hostname ("example.com", exactly that host) or a wildcard
// ("*.example.com", every host under it), without a path or port. The
// result is canonical (lower-case, no trailing dot).
func ParseAccountDomain(s string) (HostClaim, error) {
	bad := fmt.Errorf("domain %q: must be a hostname such as example.com or a wildcard such as *.example.com, without a path or port", s)
	if len(s) > 255 || strings.ContainsAny(s, "/:") {
		return HostClaim{}, bad
	}
	c, ok := ClaimOf(s)
	if !ok || len(c.Zone) > 253 {
		return HostClaim{}, bad
	}
	for _, label := range strings.Split(c.Zone, ".") {
		if !validLabel(label) {
			return HostClaim{}, bad
		}
	}
	return c, nil
}

// validLabel accepts a DNS label of letters, digits and inner hyphens
// (already lower-cased).
func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
