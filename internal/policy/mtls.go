package policy

import (
	"crypto/x509"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// CA is one CA certificate uploaded for mutual TLS, compiled.
type CA struct {
	ID          string
	AccountID   string
	Name        string
	Fingerprint string
	cert        *x509.Certificate
	hosts       []string // as stored: host names and "*." wildcards
}

// ClientCert is a TLS client's certificate as verified for one request:
// the facts the certificate and common_name rules read.
type ClientCert struct {
	CommonName string
	// Fingerprint is the SHA-256 of the leaf's DER, lower-case hex.
	Fingerprint string
	// CA is the uploaded CA the chain was verified to.
	CA *CA
}

// caKey scopes a host entry ("*.example.com" for a wildcard) to an
// account.
type caKey struct{ account, host string }

// caIndex is every uploaded CA, indexed for the TLS handshake and for
// verification. It is small and rebuilt whole when a CA changes.
type caIndex struct {
	byID map[string]*CA
	// roots are, per account and host entry, the CAs associated with it:
	// what a client certificate is verified against.
	roots map[caKey]*x509.CertPool
	// hints are, per host entry, every account's CAs that can apply to a
	// host matching it (an exact host's entry includes the wildcards
	// above it): the CA names a TLS server sends when it asks for a
	// client certificate.
	hints map[string]*x509.CertPool
	// byRaw finds the CA a verified chain ends in: by account and the
	// CA's DER (two accounts may upload one CA).
	byRaw map[caKey]*CA
}

// compileCAs indexes the uploaded CAs. A stored certificate that does not
// parse (the API parses each before storing it) is left out: it verifies
// nothing.
func compileCAs(byID map[string]*CA) *caIndex {
	if len(byID) == 0 {
		return nil
	}
	ix := &caIndex{byID: byID, roots: map[caKey]*x509.CertPool{}, hints: map[string]*x509.CertPool{}, byRaw: map[caKey]*CA{}}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	entries := map[string][]*CA{}
	for _, id := range ids {
		ca := byID[id]
		ix.byRaw[caKey{ca.AccountID, string(ca.cert.Raw)}] = ca
		for _, h := range ca.hosts {
			entries[h] = append(entries[h], ca)
			k := caKey{ca.AccountID, h}
			if ix.roots[k] == nil {
				ix.roots[k] = x509.NewCertPool()
			}
			ix.roots[k].AddCert(ca.cert)
		}
	}
	for h := range entries {
		pool := x509.NewCertPool()
		for _, e := range caEntries(h) {
			for _, ca := range entries[e] {
				pool.AddCert(ca.cert)
			}
		}
		ix.hints[h] = pool
	}
	return ix
}

// caEntries are the host entries that cover host, nearest first: the host
// itself, then "*." and each parent domain. A wildcard entry is covered
// by the wildcards above it.
func caEntries(host string) []string {
	out := []string{host}
	rest := strings.TrimPrefix(host, "*.")
	for {
		_, parent, ok := strings.Cut(rest, ".")
		if !ok {
			return out
		}
		out = append(out, "*."+parent)
		rest = parent
	}
}

func compileCA(c *access.CertificateCredential) *CA {
	cert, err := x509.ParseCertificate(c.DER)
	if err != nil {
		return nil
	}
	return &CA{ID: c.ID, AccountID: intern(c.AccountID), Name: c.Name, Fingerprint: c.Fingerprint, cert: cert, hosts: c.AssociatedHostnames}
}

// applyCAs returns the CA index with the delta's certificates set and
// removed.
func applyCAs(old *caIndex, set []access.CertificateCredential, deleted []string) *caIndex {
	byID := map[string]*CA{}
	if old != nil {
		for id, ca := range old.byID {
			byID[id] = ca
		}
	}
	for _, id := range deleted {
		delete(byID, id)
	}
	for i := range set {
		delete(byID, set[i].ID)
		if ca := compileCA(&set[i]); ca != nil {
			byID[ca.ID] = ca
		}
	}
	return compileCAs(byID)
}

// ClientCAs returns the CAs a TLS server asks a client for when it
// connects for host (its SNI, lower-case): every account's CAs associated
// with host, or nil when there are none, and no certificate is asked for.
func (s *Snapshot) ClientCAs(host string) *x509.CertPool {
	if s.cas == nil || host == "" {
		return nil
	}
	for _, e := range caEntries(host) {
		if p := s.cas.hints[e]; p != nil {
			return p
		}
	}
	return nil
}

// VerifyClientCert verifies a TLS client's certificate chain (leaf
// first, as the client sent it) for a request to app on host (lower-case,
// without a port) at time now: against the CAs of app's account
// associated with host, for client authentication. It returns nil when
// none verifies it: a certificate of another account's CA, or of a CA
// associated with other hosts, is no certificate at all.
func (s *Snapshot) VerifyClientCert(app *App, host string, chain []*x509.Certificate, now time.Time) *ClientCert {
	if s.cas == nil || app == nil || len(chain) == 0 {
		return nil
	}
	var inter *x509.CertPool
	if len(chain) > 1 {
		inter = x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
	}
	leaf := chain[0]
	for _, e := range caEntries(host) {
		roots := s.cas.roots[caKey{app.AccountID, e}]
		if roots == nil {
			continue
		}
		chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil || len(chains) == 0 {
			continue
		}
		root := chains[0][len(chains[0])-1]
		ca := s.cas.byRaw[caKey{app.AccountID, string(root.Raw)}]
		if ca == nil {
			continue
		}
		return &ClientCert{CommonName: leaf.Subject.CommonName, Fingerprint: access.CertificateFingerprint(leaf.Raw), CA: ca}
	}
	return nil
}
