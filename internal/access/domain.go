package access

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Domain is an app domain (host[/path]) in canonical form. Only
// ParseDomain makes one, so a Domain is always one the edge can match: a
// request for exactly its host and path goes to its app.
type Domain struct {
	host string // lower-case ASCII (IDNA A-labels), "*." first for a wildcard
	path string // "" or "/segment[/segment...]", lower-case, no trailing slash
}

// Host is the domain's host, "*.example.com" for a wildcard.
func (d Domain) Host() string { return d.host }

// Path is "" for a whole host, or the path prefix the domain covers.
func (d Domain) Path() string { return d.path }

// String is the canonical form: host and path together, as stored.
func (d Domain) String() string { return d.host + d.path }

// IsZero reports whether d is the zero Domain, which ParseDomain never
// returns.
func (d Domain) IsZero() bool { return d.host == "" }

// MaxDomainLen bounds an app domain's canonical form.
const MaxDomainLen = 255

// domainAdvice ends every ParseDomain error.
const domainAdvice = "; give host[/path], such as app.example.com or example.com/admin"

// ParseDomain parses an app domain, host[/path], into its canonical form,
// or says why it is refused.
//
// The host is lower-cased, converted from Unicode to IDNA A-labels
// (punycode), and loses a trailing dot; it may start with a "*." wildcard
// label and nothing else may be a wildcard. A scheme, user info, port,
// query or fragment is refused. The path is canonicalised as the edge
// canonicalises request paths (CanonicalPath) and lower-cased, loses a
// trailing slash, and must then consist of segments of letters, digits and
// -._~!$&'()+,=@ only: nothing the edge reads in more than one way (";"
// parameters, ":" streams, a trailing "." or space, backslashes, encoded
// slashes, "%", non-ASCII, whitespace, control characters), no "." or ".."
// segment and no empty segment. "*" in a path is refused, as paths have no
// wildcards: a path covers everything under it.
func ParseDomain(s string) (Domain, error) {
	if s == "" {
		return Domain{}, errors.New("is required")
	}
	if len(s) > 2*MaxDomainLen {
		return Domain{}, fmt.Errorf("must be at most %d characters long", MaxDomainLen)
	}
	if !utf8.ValidString(s) {
		return Domain{}, errors.New("must be UTF-8 text" + domainAdvice)
	}
	if strings.Contains(s, "://") {
		return Domain{}, errors.New("must not have a scheme" + domainAdvice)
	}
	if strings.ContainsAny(s, "?#") {
		return Domain{}, errors.New("must not have a query or fragment" + domainAdvice)
	}
	rawHost, rawPath, hasPath := strings.Cut(s, "/")
	host, err := parseDomainHost(rawHost)
	if err != nil {
		return Domain{}, err
	}
	d := Domain{host: host}
	if hasPath {
		if d.path, err = parseDomainPath("/" + rawPath); err != nil {
			return Domain{}, err
		}
	}
	if len(d.String()) > MaxDomainLen {
		return Domain{}, fmt.Errorf("must be at most %d characters long", MaxDomainLen)
	}
	return d, nil
}

// MustParseDomain is ParseDomain for domains known to be valid, such as
// constants in tests. It panics on an invalid one.
func MustParseDomain(s string) Domain {
	d, err := ParseDomain(s)
	if err != nil {
		panic(fmt.Sprintf("access: domain %q: %v", s, err))
	}
	return d
}

func parseDomainHost(h string) (string, error) {
	if h == "" {
		return "", errors.New("must start with a host name" + domainAdvice)
	}
	if strings.Contains(h, "@") {
		return "", errors.New("must not have user info" + domainAdvice)
	}
	if strings.Contains(h, ":") {
		return "", errors.New("must not have a port: an app domain covers every port" + domainAdvice)
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c <= ' ' || c == 0x7f || c == '\\' || c == '%' {
			return "", errors.New("host must not contain spaces, control characters, backslashes or percent-encoding" + domainAdvice)
		}
	}
	wildcard := ""
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		wildcard, h = "*.", rest
	}
	if strings.Contains(h, "*") {
		return "", errors.New("may have a wildcard only as its whole first label, as in *.example.com" + domainAdvice)
	}
	h = strings.TrimSuffix(h, ".")
	if plainHostName(h) {
		// Already in the form IDNA gives it (most stored domains are):
		// an edge start parses every app's domains.
		return wildcard + h, nil
	}
	ascii, err := idna.Lookup.ToASCII(h)
	if again, err2 := idna.Lookup.ToASCII(ascii); err == nil && (err2 != nil || again != ascii) {
		err = errors.New("not stable under IDNA")
	}
	if err != nil {
		return "", errors.New("host is not a valid host name" + domainAdvice)
	}
	ascii = strings.ToLower(ascii)
	if len(ascii) > 253 || !validHostName(ascii) {
		return "", errors.New("host is not a valid host name (labels of letters, digits and hyphens)" + domainAdvice)
	}
	return wildcard + ascii, nil
}

// plainHostName reports whether h is a valid host name that IDNA's
// lookup profile leaves as it is: lower-case LDH labels, none with
// hyphens in its third and fourth places (as in the "xn--" of a
// punycode label, which IDNA validates).
func plainHostName(h string) bool {
	if len(h) > 253 || !validHostName(h) {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' {
			return false
		}
	}
	for label := range strings.SplitSeq(h, ".") {
		if len(label) >= 4 && label[2] == '-' && label[3] == '-' {
			return false
		}
	}
	return true
}

// validHostName checks LDH labels of 1 to 63 characters that neither start
// nor end with a hyphen.
func validHostName(h string) bool {
	if h == "" {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func parseDomainPath(raw string) (string, error) {
	body := strings.TrimSuffix(raw[1:], "/")
	if body == "" {
		return "", nil
	}
	p, err := canonicalEscapes("/" + body)
	if err != nil {
		return "", fmt.Errorf("path is refused: %v", err)
	}
	p = strings.ToLower(p)
	for seg := range strings.SplitSeq(p[1:], "/") {
		switch seg {
		case "":
			return "", errors.New("path must not have empty segments (//)")
		case ".", "..":
			return "", errors.New(`path must not have "." or ".." segments`)
		}
		for i := 0; i < len(seg); i++ {
			if !domainPathChar(seg[i]) {
				return "", fmt.Errorf("path may only have letters, digits and -._~!$&'()+,=@ (%s): origins read it in more than one way", describePathByte(seg, i))
			}
		}
		if strings.HasSuffix(seg, ".") {
			return "", errors.New("path segments must not end with a dot: Windows origins drop it")
		}
	}
	return p, nil
}

// domainPathChar is the alphabet of a canonical domain path segment: what
// every reading of a request path (see internal/policy) leaves unchanged.
func domainPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()+,=@", c) >= 0
}

func describePathByte(seg string, i int) string {
	c, what := seg[i], fmt.Sprintf("%q", seg[i:i+1])
	if c == '%' && i+2 < len(seg) {
		c, what = unhex(seg[i+1])<<4|unhex(seg[i+2]), "the percent-encoding "+strings.ToUpper(seg[i:i+3])
	}
	switch {
	case c == ';':
		return what + `: ";" starts path parameters`
	case c == ':':
		return what + `: ":" names a Windows file stream`
	case c == '*':
		return what + `: paths have no wildcard, a path covers everything under it`
	case c == '/' || c == '\\':
		return what + ": an encoded slash or a backslash"
	case c == ' ' || c == '\t':
		return what + ": whitespace"
	case c >= 0x80:
		return what + ": non-ASCII (give the path in ASCII)"
	}
	return what + " is not allowed"
}
