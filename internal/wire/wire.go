// Package wire holds what the edge and the auth domain must agree on
// about the Access wire protocol: cookie and header names, how a request's
// host and client address are read, and the JSON error body of responses
// the edge makes itself.
package wire

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
)

// Cookie and header names of the Access wire protocol.
const (
	CookieName = "CF_Authorization"
	// BindingCookieName is the cookie an app's sessions are bound to when
	// it turns on enable_binding_cookie; the origin never sees it.
	BindingCookieName     = "CF_Binding"
	HeaderClientID        = "Cf-Access-Client-Id"
	HeaderClientSecret    = "Cf-Access-Client-Secret"
	HeaderAssertion       = "Cf-Access-Jwt-Assertion"
	HeaderToken           = "Cf-Access-Token"
	HeaderAuthenticatedAs = "Cf-Access-Authenticated-User-Email"
	// HeaderClientCertSHA256 tells the origin the SHA-256 (hex) of the
	// client certificate the edge verified, as Cloudflare's client
	// certificate forwarding does.
	HeaderClientCertSHA256 = "Cf-Client-Cert-Sha256"
)

// Paths every host answers.
const (
	// CertsPath serves the public signing keys.
	CertsPath = "/cdn-cgi/access/certs"
	// AccessPrefix starts every path the gateway answers itself on an
	// app's host.
	AccessPrefix = "/cdn-cgi/access/"
)

// CanonicalHost lower-cases a Host header and drops its port and any
// trailing dot.
func CanonicalHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// ClientIP is the address the request came from: the TCP peer, or the
// client a trusted proxy named (package forwarded rewrites RemoteAddr).
func ClientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// ErrorBody is the JSON body of every response the edge makes itself.
type ErrorBody struct {
	Error    string `json:"error"`
	Message  string `json:"message"`
	LoginURL string `json:"login_url,omitempty"`
}

// WriteJSON writes body with status, never cached.
func WriteJSON(w http.ResponseWriter, status int, body ErrorBody) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// SessionToken returns the app token from the CF_Authorization cookie or
// the cf-access-token header.
func SessionToken(r *http.Request) string {
	if t := r.Header[HeaderToken]; len(t) > 0 && t[0] != "" {
		return t[0]
	}
	return CookieValue(r, CookieName)
}

// CookieValue returns the first cookie called name. It scans the Cookie
// headers for the one cookie rather than parsing them all.
func CookieValue(r *http.Request, name string) string {
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			if v, ok := strings.CutPrefix(part, name+"="); ok {
				return strings.Trim(v, `"`)
			}
		}
	}
	return ""
}

// schemeKey carries the scheme a trusted proxy says the client used.
type schemeKey struct{}

// WithScheme returns ctx saying the client reached Gatehouse over scheme
// ("http" or "https"), as a trusted proxy in front of it reported.
func WithScheme(ctx context.Context, scheme string) context.Context {
	return context.WithValue(ctx, schemeKey{}, scheme)
}

// Scheme is the scheme the client used: the one a trusted proxy reported
// (WithScheme), else "https" when the request came over TLS, else "http".
func Scheme(r *http.Request) string {
	if s, ok := r.Context().Value(schemeKey{}).(string); ok {
		return s
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
