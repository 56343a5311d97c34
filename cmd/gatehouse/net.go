package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/autotls"
	"github.com/gatehouse-dev/gatehouse/internal/certfile"
	"github.com/gatehouse-dev/gatehouse/internal/forwarded"
)

// publicFlags say where users reach Gatehouse, which proxies stand in
// front of it, and where the edge's certificates come from, in both
// `edge` and `serve`.
type publicFlags struct {
	publicURL        string
	trustedProxy     string
	forwardedHeader  string
	acme             bool
	acmeDirectory    string
	acmeEmail        string
	acmeCache        string
	acmeCARoots      string
	httpRedirectAddr string
}

func (f *publicFlags) register(fs *pflag.FlagSet, env func(string, string) string) {
	fs.StringVar(&f.publicURL, "public-url", env("GATEHOUSE_PUBLIC_URL", ""), "URL users reach the login (auth) domain at, scheme included, e.g. https://auth.example.com: the tokens' issuer and every login and callback URL derive from it, and cookies are Secure when it is https (env GATEHOUSE_PUBLIC_URL; default: the edge's listen address)")
	fs.StringVar(&f.trustedProxy, "trusted-proxy", env("GATEHOUSE_TRUSTED_PROXY", ""), "comma-separated CIDR ranges or addresses of proxies in front of Gatehouse: only their forwarding headers give a request's client address, scheme and host; declaring one also declares that it terminates TLS (env GATEHOUSE_TRUSTED_PROXY; default none: the headers are removed)")
	fs.StringVar(&f.forwardedHeader, "forwarded-header", env("GATEHOUSE_FORWARDED_HEADER", string(forwarded.XForwarded)), "which headers the trusted proxies write: x-forwarded (X-Forwarded-For/-Proto/-Host) or forwarded (RFC 7239); the other is removed unread (env GATEHOUSE_FORWARDED_HEADER)")
	fs.BoolVar(&f.acme, "acme", env("GATEHOUSE_ACME", "") == "true", "get the edge's certificates from an ACME CA (Let's Encrypt by default) for the public URL's host and every application domain (env GATEHOUSE_ACME=true)")
	fs.StringVar(&f.acmeDirectory, "acme-directory", env("GATEHOUSE_ACME_DIRECTORY", autotls.LetsEncrypt), "ACME directory URL (env GATEHOUSE_ACME_DIRECTORY)")
	fs.StringVar(&f.acmeEmail, "acme-email", env("GATEHOUSE_ACME_EMAIL", ""), "contact address of the ACME account, for expiry notices (env GATEHOUSE_ACME_EMAIL)")
	fs.StringVar(&f.acmeCache, "acme-cache", env("GATEHOUSE_ACME_CACHE", ""), "directory keeping the ACME account key and the certificates with their private keys (env GATEHOUSE_ACME_CACHE; default: acme beside --local-postgres, else required with --acme)")
	fs.StringVar(&f.acmeCARoots, "acme-ca-roots", env("GATEHOUSE_ACME_CA_ROOTS", ""), "PEM file of the CAs to trust for the ACME server's own HTTPS instead of the system's, for a private or test ACME server (env GATEHOUSE_ACME_CA_ROOTS)")
	fs.StringVar(&f.httpRedirectAddr, "http-redirect-addr", env("GATEHOUSE_HTTP_REDIRECT_ADDR", ""), "plain-HTTP listen address (e.g. :80) that redirects requests for known hosts to HTTPS and answers ACME HTTP-01 challenges (env GATEHOUSE_HTTP_REDIRECT_ADDR; default off)")
}

// proxies are the trusted proxies --trusted-proxy and --forwarded-header
// declare.
func (f *publicFlags) proxies() (*forwarded.Proxies, error) {
	trusted, err := forwarded.ParseTrusted(f.trustedProxy)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxy: %w", err)
	}
	header, err := forwarded.ParseHeader(f.forwardedHeader)
	if err != nil {
		return nil, fmt.Errorf("--forwarded-header %w", err)
	}
	return forwarded.New(trusted, header), nil
}

// publicSetup is what the public flags resolve to at start.
type publicSetup struct {
	// url is the public URL: scheme and host[:port], nothing else. When
	// derived from the edge's address, its port is set once the edge
	// listens (derivedHost).
	url         *url.URL
	derivedHost string
	proxies     *forwarded.Proxies
	// acme, if set, configures certificates from an ACME CA; its host
	// policy is set once the edge runs.
	acme *autotls.Config
}

// issuer is the public URL as the tokens' issuer.
func (p *publicSetup) issuer() string { return p.url.Scheme + "://" + p.url.Host }

// resolvePublic validates the public flags with the edge's, and refuses
// combinations that cannot work, saying what to set.
func resolvePublic(ef *edgeFlags, localPG string, log *slog.Logger) (*publicSetup, error) {
	f := &ef.publicFlags
	p := &publicSetup{}
	var err error
	if p.proxies, err = f.proxies(); err != nil {
		return nil, err
	}
	if f.acme && ef.tlsCert != "" {
		return nil, errors.New("--acme and --tls-cert/--tls-key both give the edge certificates: set one")
	}
	edgeTLS := ef.tlsCert != "" || f.acme

	raw := f.publicURL
	if ef.authDomain != "" {
		alias := "https://" + ef.authDomain
		if raw != "" && raw != alias {
			return nil, fmt.Errorf("--auth-domain %s (deprecated) and --public-url %s disagree: set only --public-url", ef.authDomain, raw)
		}
		log.Warn("--auth-domain (GATEHOUSE_AUTH_DOMAIN) is deprecated: set --public-url (GATEHOUSE_PUBLIC_URL) " + alias)
		raw = alias
	}
	if raw != "" {
		if p.url, err = parsePublicURL(raw); err != nil {
			return nil, err
		}
	} else {
		host, _, _ := net.SplitHostPort(ef.addr)
		if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
			return nil, fmt.Errorf("--edge-addr %s listens on every address, so the login URL cannot be derived from it: set --public-url (env GATEHOUSE_PUBLIC_URL) to the URL users reach Gatehouse at, e.g. https://auth.example.com", ef.addr)
		}
		scheme := "http"
		if edgeTLS {
			scheme = "https"
		}
		p.url = &url.URL{Scheme: scheme, Host: ef.addr}
		p.derivedHost = host
	}

	https := p.url.Scheme == "https"
	switch {
	case https && !edgeTLS && !p.proxies.Any():
		return nil, fmt.Errorf("--public-url %s is https, but the edge serves plain HTTP and no TLS-terminating proxy is declared: give the edge a certificate (--tls-cert and --tls-key, or --acme), or declare the proxy in front of it with --trusted-proxy", p.issuer())
	case !https && edgeTLS && !p.proxies.Any():
		return nil, fmt.Errorf("--public-url %s is plain http, but the edge serves HTTPS: make --public-url https://", p.issuer())
	case !https && !isLoopback(p.url.Hostname()):
		log.Warn("the public URL is plain http on a host other machines reach: session cookies and tokens cross the network unencrypted; use https (--tls-cert/--tls-key, --acme, or a TLS-terminating --trusted-proxy)", "public_url", p.issuer())
	}
	if f.httpRedirectAddr != "" {
		if !edgeTLS {
			return nil, fmt.Errorf("--http-redirect-addr %s redirects to the edge's HTTPS, but the edge serves plain HTTP: give it a certificate (--tls-cert and --tls-key, or --acme), or leave --http-redirect-addr unset", f.httpRedirectAddr)
		}
		if _, _, err := net.SplitHostPort(f.httpRedirectAddr); err != nil {
			return nil, fmt.Errorf("--http-redirect-addr %q: must be host:port", f.httpRedirectAddr)
		}
	}
	if f.acme {
		if p.derivedHost != "" || net.ParseIP(p.url.Hostname()) != nil {
			return nil, fmt.Errorf("--acme needs --public-url with a DNS name (certificates are issued for names, not addresses), e.g. https://auth.example.com")
		}
		cache := f.acmeCache
		if cache == "" && localPG != "" {
			cache = filepath.Join(filepath.Dir(filepath.Clean(localPG)), "acme")
		}
		if cache == "" {
			return nil, errors.New("--acme needs --acme-cache DIR (env GATEHOUSE_ACME_CACHE): the certificates and the account key must survive restarts, or every start orders again and meets the CA's rate limits")
		}
		var roots *x509.CertPool
		if f.acmeCARoots != "" {
			pem, err := os.ReadFile(f.acmeCARoots)
			if err != nil {
				return nil, fmt.Errorf("--acme-ca-roots: %w", err)
			}
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--acme-ca-roots %s: no PEM certificate in it", f.acmeCARoots)
			}
		}
		if u, err := url.Parse(f.acmeDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("--acme-directory %q: must be an https URL", f.acmeDirectory)
		}
		p.acme = &autotls.Config{DirectoryURL: f.acmeDirectory, Email: f.acmeEmail, CacheDir: cache, Roots: roots}
	}
	return p, nil
}

// parsePublicURL reads --public-url: http or https, a valid host and
// optional port, no path, query, fragment or user. A default port is
// dropped.
func parsePublicURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	bad := func(why string) error {
		return fmt.Errorf("--public-url %q: %s (e.g. https://auth.example.com)", raw, why)
	}
	if err != nil {
		return nil, bad("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return nil, bad("the scheme must be http or https")
	case u.User != nil:
		return nil, bad("must not carry a user")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.ForceQuery, u.Fragment != "":
		return nil, bad("must have no path, query or fragment: the login pages are at fixed paths under it")
	}
	host := strings.ToLower(u.Host)
	if !access.ValidHostHeader(host) {
		return nil, bad("not a valid host")
	}
	if h, port, err := net.SplitHostPort(host); err == nil && (scheme == "https" && port == "443" || scheme == "http" && port == "80") {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	return &url.URL{Scheme: scheme, Host: host}, nil
}

// isLoopback reports whether host (a name or an address) is this machine.
func isLoopback(host string) bool {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return ip.IsLoopback()
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// listen listens on addr, naming the flag that sets it when that fails.
func listen(addr, flag string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen %s (%s): address already in use: stop what listens there or change %s", addr, flag, flag)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	return nil, fmt.Errorf("listen %s (%s): %w", addr, flag, err)
}

// listenerFlags name the flag that sets each listener's address.
var listenerFlags = map[string]string{"api": "--api-addr", "edge": "--edge-addr", "metrics": "--metrics-addr", "http-redirect": "--http-redirect-addr"}

// apiTLSFlags give the API and dashboard listener a certificate.
type apiTLSFlags struct {
	cert, key string
}

func (f *apiTLSFlags) register(fs *pflag.FlagSet, env func(string, string) string) {
	fs.StringVar(&f.cert, "api-tls-cert", env("GATEHOUSE_API_TLS_CERT", ""), "API and dashboard TLS certificate file (PEM); with --api-tls-key the API serves HTTPS (env GATEHOUSE_API_TLS_CERT)")
	fs.StringVar(&f.key, "api-tls-key", env("GATEHOUSE_API_TLS_KEY", ""), "API and dashboard TLS private key file (PEM) (env GATEHOUSE_API_TLS_KEY)")
}

// tlsConfig checks and loads the API's certificate, read again when its
// files change: nil without one.
func (f *apiTLSFlags) tlsConfig(log *slog.Logger) (*tls.Config, error) {
	if (f.cert == "") != (f.key == "") {
		return nil, errors.New("--api-tls-cert and --api-tls-key go together")
	}
	if f.cert == "" {
		return nil, nil
	}
	r, err := certfile.New(f.cert, f.key, 0, log)
	if err != nil {
		return nil, fmt.Errorf("--api-tls-cert %s / --api-tls-key %s: %w", f.cert, f.key, err)
	}
	return &tls.Config{GetCertificate: r.GetCertificate, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}, nil
}

// redirectHandler is the --http-redirect-addr listener's handler; m
// answers HTTP-01 challenges when not nil.
func (p *publicSetup) redirectHandler(m *autotls.Manager, known func(string) bool) http.Handler {
	port := ""
	if p.url.Scheme == "https" {
		port = p.url.Port()
	}
	return autotls.Redirect(m, known, port)
}
