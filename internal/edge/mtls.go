package edge

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

// TLSConfig returns base (the edge's certificate and TLS settings, which
// it must hold) set to ask for a client certificate on the hosts that
// have CAs uploaded for mutual TLS, chosen per connection by its SNI from
// the config in force: a CA uploaded, changed or deleted applies to the
// next handshake without a restart. The handshake only asks (naming the
// host's CAs, so that a client can pick its certificate) and never fails
// for want of one: each request's certificate is verified for its own
// app and host (policy.Snapshot.VerifyClientCert), so a certificate
// presented on a connection opened for another host proves nothing.
func (s *Server) TLSConfig(base *tls.Config) *tls.Config {
	base = base.Clone()
	cfg := base.Clone()
	configs := &clientCertConfigs{base: base}
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		st := s.loader.State()
		if st == nil || hello.ServerName == "" {
			return nil, nil
		}
		pool := st.Snap.ClientCAs(wire.CanonicalHost(hello.ServerName))
		if pool == nil {
			return nil, nil // the listener's own config: no certificate asked for
		}
		return configs.get(pool), nil
	}
	return cfg
}

// clientCertConfigs are the TLS configs that ask for a client
// certificate, one per CA pool: a snapshot keeps its pools until a CA
// changes, so handshakes share them.
type clientCertConfigs struct {
	base *tls.Config
	mu   sync.Mutex
	m    map[*x509.CertPool]*tls.Config
}

// maxClientCertConfigs bounds the configs kept: pools of older snapshots
// are dropped by starting over.
const maxClientCertConfigs = 4096

func (c *clientCertConfigs) get(pool *x509.CertPool) *tls.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg, ok := c.m[pool]; ok {
		return cfg
	}
	if c.m == nil || len(c.m) >= maxClientCertConfigs {
		c.m = map[*x509.CertPool]*tls.Config{}
	}
	cfg := c.base.Clone()
	cfg.ClientAuth = tls.RequestClientCert
	cfg.ClientCAs = pool
	c.m[pool] = cfg
	return cfg
}

// clientCert returns the request's TLS client certificate verified for
// app on host, or nil (none presented, plain HTTP, or not verified).
// Verifying a chain costs more than the rest of a request, so the answer
// is kept for the connection's later requests to the same app and host
// at the same config version, for at most a second.
func (s *Server) clientCert(r *http.Request, snap *policy.Snapshot, app *policy.App, host string, now time.Time) *policy.ClientCert {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	k := certCacheKey{conn: r.TLS, version: snap.Version, app: app.ID, host: host}
	if v, ok := s.certs.entries.Load().Load(k); ok {
		if e := v.(*certVerified); now.Sub(e.at) < time.Second && !now.Before(e.at) {
			return e.cert
		}
	}
	cert := snap.VerifyClientCert(app, host, r.TLS.PeerCertificates, now)
	s.certs.put(k, &certVerified{cert: cert, at: now})
	return cert
}

// certCache remembers client certificate verifications per connection.
// The time bound keeps a certificate that expires from outliving its
// expiry by more than a second on a long-lived connection.
type certCache struct {
	entries atomic.Pointer[sync.Map] // certCacheKey -> *certVerified
	size    atomic.Int64
}

// certCacheKey is one verification: net/http keeps one ConnectionState
// per connection, so its address names the connection.
type certCacheKey struct {
	conn    *tls.ConnectionState
	version int64
	app     string
	host    string
}

type certVerified struct {
	cert *policy.ClientCert // nil: not verified
	at   time.Time
}

// maxCertCache bounds the verifications kept; when full, it starts over.
const maxCertCache = 65536

func (c *certCache) init() { c.entries.Store(&sync.Map{}) }

func (c *certCache) put(k certCacheKey, v *certVerified) {
	if c.size.Add(1) > maxCertCache {
		c.entries.Store(&sync.Map{})
		c.size.Store(1)
	}
	c.entries.Load().Store(k, v)
}

// certMintKey is a minted assertion's cache key for a client certificate.
type certMintKey struct {
	fingerprint, app string
}

// mintForCert returns the assertion for a request let in by its client
// certificate: an app token whose common_name is the certificate's, with
// no user. It sets no cookie: the certificate comes with every request.
func (s *Server) mintForCert(st *State, app *policy.App, cert *policy.ClientCert, now time.Time) (string, error) {
	k := certMintKey{fingerprint: cert.Fingerprint, app: app.ID}
	gen := st.Keys.Generation()
	if v, ok := s.minted.Load(k); ok {
		m := v.(*mintedToken)
		if m.generation == gen && now.Before(m.renewAt) {
			return m.jwt, nil
		}
	}
	life := app.SessionDuration
	exp := now.Add(life)
	jwt, err := st.Keys.Sign(session.Claims{
		Audience: []string{app.AUD}, Issuer: s.cfg.Issuer, IssuedAt: now, NotBefore: now, Expiry: exp,
		Type: session.TypeApp, CommonName: cert.CommonName,
	})
	if err != nil {
		return "", err
	}
	s.minted.Store(k, &mintedToken{jwt: jwt, renewAt: now.Add(life * 4 / 5), expires: exp, generation: gen})
	return jwt, nil
}

// clientCertHeaderPrefixes are the (folded) name prefixes of headers
// through which proxies tell an origin about a client certificate: a
// client's copy is removed, so that only the edge speaks of one.
var clientCertHeaderPrefixes = []string{"cf-client-cert", "x-forwarded-client-cert", "x-client-cert", "x-ssl-client", "ssl-client", "x-tls-client"}

// isClientCertHeader reports whether an origin could read a header as
// one describing a verified client certificate.
func isClientCertHeader(name string) bool {
	if len(name) == 0 {
		return false
	}
	switch name[0] {
	case 'c', 'C', 'x', 'X', 's', 'S':
	default:
		return false
	}
	for _, p := range clientCertHeaderPrefixes {
		if len(name) >= len(p) && sameHeaderName(name[:len(p)], p) {
			return true
		}
	}
	return false
}

// hostHeader is the Host the origin is sent for app: the client's
// (preserve_host_header), a fixed one (http_host_header), or "" for the
// origin's own address.
func hostHeader(r *http.Request, app *policy.App) string {
	switch {
	case app.HTTPHostHeader != "":
		return app.HTTPHostHeader
	case app.PreserveHostHeader:
		return strings.TrimSpace(r.Host)
	}
	return ""
}
