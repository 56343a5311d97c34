package edge

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

// identityHeaders are set by the edge alone: any copy a client sends is
// removed before a request goes upstream.
var identityHeaders = []string{wire.HeaderAssertion, wire.HeaderClientID, wire.HeaderClientSecret, wire.HeaderToken, wire.HeaderAuthenticatedAs}

// sameHeaderName reports whether an origin may read header names a and b
// as one: case-insensitively, and with "_" for "-", as CGI, PHP and
// nginx-fronted origins do (both become HTTP_CF_ACCESS_...).
func sameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if foldHeaderByte(a[i]) != foldHeaderByte(b[i]) {
			return false
		}
	}
	return true
}

func foldHeaderByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case c == '_':
		return '-'
	}
	return c
}

// isIdentityHeader reports whether a client header could be read by an
// origin as one the edge sets (or as the app's service-token header).
func isIdentityHeader(name, tokenField string) bool {
	// Every identity header starts with "Cf-"; most names do not.
	if len(name) < 3 || (name[0] != 'c' && name[0] != 'C') {
		return tokenField != "" && sameHeaderName(name, tokenField)
	}
	for _, id := range identityHeaders {
		if sameHeaderName(name, id) {
			return true
		}
	}
	return tokenField != "" && sameHeaderName(name, tokenField)
}

// stripClientIdentity removes every client header an origin could take
// for one the edge sets: the exact names, their case variants, and the
// variants with "_" for "-", and every header that could describe a
// verified client certificate (isClientCertHeader). tokenField is the
// app's read_service_tokens_from_header, or empty.
func stripClientIdentity(h http.Header, tokenField string) {
	for name := range h {
		if isIdentityHeader(name, tokenField) || isClientCertHeader(name) {
			delete(h, name)
		}
	}
}

// isSessionCookieName reports whether an origin may read a cookie name as
// CF_Authorization. Browsers compare cookie names exactly, but origins do
// not all: ASP.NET Core compares them case-insensitively, and PHP
// URL-decodes names, trims leading spaces and turns " ", "." and "[" into
// "_". A name is the session cookie if, after percent-decoding, trimming,
// lower-casing and mapping " ", ".", "[" and "-" to "_", it is
// "cf_authorization".
func isSessionCookieName(name string) bool { return cookieNameReadsAs(name, "cf_authorization") }

// isBindingCookieName reports whether an origin may read a cookie name as
// CF_Binding, by the same rules: the binding cookie is the edge's alone,
// and an origin that never sees it cannot leak it beside the session
// token.
func isBindingCookieName(name string) bool { return cookieNameReadsAs(name, "cf_binding") }

// cookieNameReadsAs reports whether an origin may read a cookie name as
// want (lower-case, "_" for the separators).
func cookieNameReadsAs(name, want string) bool {
	if strings.Contains(name, "%") || strings.Contains(name, "+") {
		if dec, err := url.QueryUnescape(name); err == nil {
			name = dec
		}
	}
	name = strings.Trim(name, " \t")
	if len(name) != len(want) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == ' ' || c == '.' || c == '[' || c == '-':
			c = '_'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

// stripSessionCookie removes the CF_Authorization and CF_Binding cookies
// (and every name an origin could read as them) from the Cookie headers going upstream: the
// origin gets a verified identity in Cf-Access-Jwt-Assertion, never the
// bearer credential, whatever kind of forward it is (an allowed identity,
// a service token, a bypass, a preflight bypass, a relay). Lines without
// such a cookie are left byte for byte.
func stripSessionCookie(h http.Header) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	var kept []string
	changed := false
	for i, line := range lines {
		clean, dropped := withoutSessionCookie(line)
		if !dropped {
			if changed {
				kept = append(kept, line)
			}
			continue
		}
		if !changed {
			kept = append(kept, lines[:i]...)
			changed = true
		}
		if clean != "" {
			kept = append(kept, clean)
		}
	}
	if !changed {
		return
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = kept
}

// withoutSessionCookie returns a Cookie line without its session-cookie
// pairs, and whether it had any. It allocates only once it meets such a
// pair: a line without one (most lines) is returned as it is.
func withoutSessionCookie(line string) (string, bool) {
	var parts []string
	dropped := false
	for rest := line; rest != ""; {
		before := rest
		var p string
		p, rest = nextCookie(rest)
		switch {
		case p == "":
		case !isEdgeCookie(p):
			if dropped {
				parts = append(parts, p)
			}
		case !dropped:
			// The first one: every pair before it is kept.
			dropped = true
			parts = appendCookiePairs(make([]string, 0, strings.Count(line, ";")), line[:len(line)-len(before)])
		}
	}
	if !dropped {
		return line, false
	}
	return strings.Join(parts, "; "), true
}

// appendCookiePairs appends a Cookie line's trimmed, non-empty pairs.
func appendCookiePairs(parts []string, line string) []string {
	for rest := line; rest != ""; {
		var p string
		p, rest = nextCookie(rest)
		if p != "" {
			parts = append(parts, p)
		}
	}
	return parts
}

// nextCookie splits the first name=value pair, trimmed, off a Cookie line.
func nextCookie(line string) (pair, rest string) {
	pair, rest, _ = strings.Cut(line, ";")
	return strings.Trim(pair, " \t"), rest
}

// isEdgeCookie reports whether a name=value pair is a cookie only the edge
// may see.
func isEdgeCookie(pair string) bool {
	name, _, _ := strings.Cut(pair, "=")
	return isSessionCookieName(name) || isBindingCookieName(name)
}
