// Package autotls gets the edge's certificates from an ACME CA (Let's
// Encrypt, or any RFC 8555 server) for the hosts it serves, and serves the
// plain-HTTP listener that answers the CA's HTTP-01 challenges and sends
// every other request for a known host to HTTPS.
package autotls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

// LetsEncrypt is Let's Encrypt's production directory.
const LetsEncrypt = acme.LetsEncryptURL

// Config configures certificate issuance.
type Config struct {
	// DirectoryURL is the ACME server's directory.
	DirectoryURL string
	// Email is the account's contact address; "" registers none.
	Email string
	// CacheDir keeps the account key and the certificates (with their
	// private keys), mode 0700; it must survive restarts, or every start
	// orders again and meets the CA's rate limits.
	CacheDir string
	// Roots, if set, are the only CAs trusted for the ACME server's own
	// HTTPS (a test CA); nil trusts the system's.
	Roots *x509.CertPool
	// Allowed reports whether a certificate may be ordered for host
	// (lower-case, no port). Only hosts the edge serves may be: an
	// attacker sending arbitrary server names would otherwise spend the
	// CA's rate limits (and fill the cache).
	Allowed func(host string) bool
}

// Manager gets, caches and renews certificates.
type Manager struct {
	m *autocert.Manager
}

// New returns a Manager; certificates are ordered at the first handshake
// that asks for an allowed host, and renewed 30 days before they expire.
func New(c Config) (*Manager, error) {
	if c.DirectoryURL == "" {
		c.DirectoryURL = LetsEncrypt
	}
	if c.CacheDir == "" {
		return nil, fmt.Errorf("autotls: no cache directory")
	}
	if c.Allowed == nil {
		return nil, fmt.Errorf("autotls: no host policy")
	}
	if err := os.MkdirAll(c.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("autotls: cache directory: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	if c.Roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: c.Roots, MinVersion: tls.VersionTLS12}
	}
	allowed := c.Allowed
	m := &autocert.Manager{
		Prompt: autocert.AcceptTOS,
		Cache:  autocert.DirCache(c.CacheDir),
		Email:  c.Email,
		// Called with a handshake's server name, and with an HTTP-01
		// request's Host (which may carry a port).
		HostPolicy: func(_ context.Context, host string) error {
			if h := wire.CanonicalHost(host); h == "" || !allowed(h) {
				return fmt.Errorf("autotls: no certificate for %q: not a host this edge serves", host)
			}
			return nil
		},
		Client: &acme.Client{DirectoryURL: c.DirectoryURL, HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second}},
	}
	return &Manager{m: m}, nil
}

// TLSConfig is the base TLS config of a listener whose certificates come
// from the CA; it also answers TLS-ALPN-01 challenges.
func (m *Manager) TLSConfig() *tls.Config {
	cfg := m.m.TLSConfig()
	cfg.NextProtos = []string{"h2", "http/1.1", acme.ALPNProto}
	cfg.MinVersion = tls.VersionTLS12
	return cfg
}

// ChallengePrefix starts the paths of HTTP-01 challenges.
const ChallengePrefix = "/.well-known/acme-challenge/"

// Redirect is the plain-HTTP listener's handler: for a host known(host)
// reports (lower-case, no port), the CA's HTTP-01 challenges (when m is
// not nil) and a redirect to the same path and query over HTTPS on
// httpsPort ("" or "443": the default port); for any other host a 404,
// never a redirect (a Host header chosen by an attacker must not make
// Gatehouse send a browser elsewhere).
func Redirect(m *Manager, known func(host string) bool, httpsPort string) http.Handler {
	var challenges http.Handler
	if m != nil {
		challenges = m.m.HTTPHandler(http.NotFoundHandler())
	}
	port := ""
	if httpsPort != "" && httpsPort != "443" {
		port = ":" + httpsPort
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := strings.ToLower(r.Host)
		host := wire.CanonicalHost(raw)
		if !access.ValidHostHeader(raw) || host == "" || !known(host) {
			wire.WriteJSON(w, http.StatusNotFound, wire.ErrorBody{Error: "unknown_host", Message: "no application is served on this host"})
			return
		}
		if challenges != nil && strings.HasPrefix(r.URL.Path, ChallengePrefix) {
			challenges.ServeHTTP(w, r)
			return
		}
		path := r.URL.EscapedPath()
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		target := "https://" + bracket(host) + port + path
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		status := http.StatusPermanentRedirect // keeps the method and body
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			status = http.StatusMovedPermanently
		}
		w.Header().Set("Location", target)
		w.WriteHeader(status)
	})
}

// bracket puts an IPv6 address in brackets for a URL.
func bracket(host string) string {
	if strings.Contains(host, ":") && net.ParseIP(host) != nil {
		return "[" + host + "]"
	}
	return host
}
