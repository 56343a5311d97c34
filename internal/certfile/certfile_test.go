package certfile_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/certfile"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func writePair(t *testing.T, c tls.Certificate, certFile, keyFile string, at time.Time) {
	t.Helper()
	var chain []byte
	for _, der := range c.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReloaderServesRenewedCertificates serves TLS on loopback from
// files, replaces them, and checks that handshakes get the new
// certificate without a restart, and keep the last good one when the new
// files do not load.
func TestReloaderServesRenewedCertificates(t *testing.T) {
	ca := gatehousetest.NewTestCA(t)
	first, second := ca.ServerCert("reload.example.test"), ca.ServerCert("reload.example.test")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writePair(t, first, certFile, keyFile, time.Now().Add(-time.Hour))
	r, err := certfile.New(certFile, keyFile, 50*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: r.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(ca.PEM()))
	served := func() []byte {
		t.Helper()
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{ServerName: "reload.example.test", RootCAs: roots})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Raw
	}
	eventually := func(want []byte, what string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if string(served()) == string(want) {
				return
			}
		}
		t.Fatalf("%s: not served", what)
	}
	if string(served()) != string(first.Certificate[0]) {
		t.Fatal("the first certificate is not served")
	}
	writePair(t, second, certFile, keyFile, time.Now())
	eventually(second.Certificate[0], "the renewed certificate")

	// A key that does not match the certificate: the renewed one stays.
	third := ca.ServerCert("reload.example.test")
	writePair(t, third, certFile, filepath.Join(dir, "other.key"), time.Now().Add(time.Minute))
	time.Sleep(200 * time.Millisecond)
	if string(served()) != string(second.Certificate[0]) {
		t.Error("a certificate without its key replaced the one in use")
	}
	writePair(t, third, certFile, keyFile, time.Now().Add(2*time.Minute))
	eventually(third.Certificate[0], "the certificate once its key is there")

	if _, err := certfile.New(filepath.Join(dir, "missing.crt"), keyFile, 0, nil); err == nil {
		t.Error("missing files accepted")
	}
}
