package authdomain

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// maxRedirectLen bounds a redirect_url: longer ones are refused, not cut.
const maxRedirectLen = 4096

// Redirect is a validated return address of a login: an absolute http(s)
// URL on one host, kept as its parts. Every Location built from it is an
// absolute URL written from those parts, so no reading of it (RFC 3986
// or a browser's) can put it on another host.
type Redirect struct {
	Scheme   string // "http" or "https"
	Host     string // canonical: lower-case ASCII, no trailing dot
	Port     string // "" or a port number without leading zeros
	Path     string // as sent (percent-encoded), starting with "/"
	RawQuery string // as sent, without "?"; no fragment is kept
}

var errRedirect = errors.New("redirect_url must be an absolute http(s) URL on the application's host, without user info")

// ParseRedirect validates a redirect_url. It accepts only
// scheme://host[:port][path][?query][#fragment] with scheme http or https
// (any case), a host name of letters, digits, '-', '_' and dots (no IP
// literal, no percent-encoding, no user info), and nothing but RFC 3986
// URL characters, with well-formed percent-escapes: no spaces, controls,
// backslashes or non-ASCII, which browsers read differently from servers.
// The fragment is dropped (browsers keep their own across a redirect).
func ParseRedirect(raw string) (Redirect, error) {
	if raw == "" || len(raw) > maxRedirectLen {
		return Redirect{}, errRedirect
	}
	for i := 0; i < len(raw); i++ {
		if !urlByte(raw[i]) {
			return Redirect{}, errRedirect
		}
		if raw[i] == '%' && (i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2])) {
			return Redirect{}, errRedirect
		}
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Redirect{}, errRedirect
	}
	var r Redirect
	switch strings.ToLower(scheme) {
	case "http":
		r.Scheme = "http"
	case "https":
		r.Scheme = "https"
	default:
		return Redirect{}, errRedirect
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, rest := rest[:end], rest[end:]
	host, port, hasPort := strings.Cut(authority, ":")
	if hasPort && !validPort(port) {
		return Redirect{}, errRedirect
	}
	if r.Host, ok = canonicalHostName(host); !ok {
		return Redirect{}, errRedirect
	}
	r.Port = port
	rest, _, _ = strings.Cut(rest, "#")
	r.Path, r.RawQuery, _ = strings.Cut(rest, "?")
	if r.Path == "" {
		r.Path = "/"
	}
	return r, nil
}

// String is the redirect as an absolute URL.
func (r Redirect) String() string {
	var b strings.Builder
	b.Grow(len(r.Scheme) + len(r.Host) + len(r.Port) + len(r.Path) + len(r.RawQuery) + 5)
	b.WriteString(r.Scheme)
	b.WriteString("://")
	b.WriteString(r.HostPort())
	b.WriteString(r.Path)
	if r.RawQuery != "" {
		b.WriteByte('?')
		b.WriteString(r.RawQuery)
	}
	return b.String()
}

// HostPort is the host with its port, if any.
func (r Redirect) HostPort() string {
	if r.Port == "" {
		return r.Host
	}
	return r.Host + ":" + r.Port
}

// With returns the absolute URL of another path (and query) on the
// redirect's scheme, host and port.
func (r Redirect) With(path string, query url.Values) string {
	u := url.URL{Scheme: r.Scheme, Host: r.HostPort(), Path: path, RawQuery: query.Encode()}
	return u.String()
}

// urlByte reports whether c may appear in a URL (RFC 3986: unreserved,
// reserved and '%').
func urlByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

// canonicalHostName checks a host name (letters, digits, '-', '_',
// non-empty dot-separated labels, an optional trailing dot) and returns it
// lower-cased without the trailing dot.
func canonicalHostName(h string) (string, bool) {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return "", false
	}
	label := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return "", false
		}
		label++
		if label > 63 {
			return "", false
		}
	}
	if label == 0 {
		return "", false // "a.." : an empty last label
	}
	return strings.ToLower(h), true
}
