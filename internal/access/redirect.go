package access

import (
	"net/url"
	"strconv"
	"strings"
)

// MaxRedirectURLLen bounds a deny URL.
const MaxRedirectURLLen = 2048

// ValidRedirectURL reports whether s may be sent as a Location header
// exactly as it is (custom_deny_url, custom_non_identity_deny_url): an
// absolute http(s) URL with a host, no credentials, only printable ASCII
// without spaces or backslashes, and already in the canonical form Go
// writes it in. Browsers and Go then read it alike, so it goes where it
// says and nowhere else: no scheme-relative "//host", no "https:\\host",
// no "https:host", no hidden control characters.
func ValidRedirectURL(s string) bool {
	if s == "" || len(s) > MaxRedirectURLLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.User != nil {
		return false
	}
	if u.Hostname() == "" || strings.HasSuffix(u.Host, ":") {
		return false
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || p[0] == '0' {
			return false
		}
	}
	return u.String() == s
}
