package gatehousetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// LoopbackHosts are the names a browser test reaches the edge by (its
// host-resolver rules send them to loopback), and so the names of the
// certificate a TLS test edge serves.
var LoopbackHosts = []string{"*.example.test", "*.mysite.test", "auth.gatehouse.test", "localhost", "127.0.0.1", "::1"}

// TestCA is a certificate authority that exists only in this test
// process: nothing outside it trusts the certificates it issues.
type TestCA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Pool holds Cert, for clients that should trust this CA.
	Pool *x509.CertPool

	tb testing.TB
}

// NewTestCA makes a new certificate authority.
func NewTestCA(tb testing.TB) *TestCA {
	tb.Helper()
	ca, err := newTestCA()
	if err != nil {
		tb.Fatalf("gatehousetest: test CA: %v", err)
	}
	ca.tb = tb
	return ca
}

func newTestCA() (*TestCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Gatehouse test CA", Organization: []string{"Gatehouse tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &TestCA{Cert: cert, Key: key, Pool: pool}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

// ServerCert issues a server certificate for hosts (DNS names, "*."
// wildcards or IP addresses), with the CA's certificate in its chain.
func (ca *TestCA) ServerCert(hosts ...string) tls.Certificate {
	ca.tb.Helper()
	c, err := ca.serverCert(hosts...)
	if err != nil {
		ca.tb.Fatalf("gatehousetest: server certificate: %v", err)
	}
	return c
}

func (ca *TestCA) serverCert(hosts ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "Gatehouse test server"},
		NotBefore:    now.Add(-time.Hour),
		// Well within the 398 days browsers accept for a leaf.
		NotAfter:    now.Add(7 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// SPKIHash is the base64 SHA-256 of a certificate's public key, the form
// Chromium's --ignore-certificate-errors-spki-list takes.
func SPKIHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

var loopback struct {
	once sync.Once
	ca   *TestCA
	cert tls.Certificate
	err  error
}

// LoopbackCert is the certificate a TLS test edge serves: one per test
// process, for LoopbackHosts, issued by a CA of its own; roots holds that
// CA, for Go clients. StartBrowser trusts exactly this certificate.
func LoopbackCert(tb testing.TB) (cert tls.Certificate, roots *x509.CertPool) {
	tb.Helper()
	loopback.once.Do(func() {
		if loopback.ca, loopback.err = newTestCA(); loopback.err == nil {
			loopback.cert, loopback.err = loopback.ca.serverCert(LoopbackHosts...)
		}
	})
	if loopback.err != nil {
		tb.Fatalf("gatehousetest: loopback certificate: %v", loopback.err)
	}
	return loopback.cert, loopback.ca.Pool
}

// ClientCert issues a client certificate (for mutual TLS) with subject
// common name cn, with the CA's certificate in its chain.
func (ca *TestCA) ClientCert(cn string) tls.Certificate {
	ca.tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.tb.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		ca.tb.Fatalf("gatehousetest: client certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		ca.tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}
}

// PEM is the CA's certificate in PEM form, as uploaded to
// /access/certificates.
func (ca *TestCA) PEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
}
