package policy_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// testCA is a CA for the engine's tests: its certificate and key.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var certNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func newTestCA(tb testing.TB, cn string, notAfter time.Time) testCA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: certNow.Add(-24 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCA{cert, key}
}

// leaf issues a certificate with common name cn for the extended key
// usages given.
func (ca testCA) leaf(tb testing.TB, cn string, usage ...x509.ExtKeyUsage) []*x509.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: certNow.Add(-time.Hour), NotAfter: certNow.Add(24 * time.Hour), ExtKeyUsage: usage}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return []*x509.Certificate{cert}
}

func (ca testCA) credential(id, accountID string, hosts ...string) access.CertificateCredential {
	return access.CertificateCredential{ID: id, AccountID: accountID, Name: id, DER: ca.cert.Raw,
		Fingerprint: access.CertificateFingerprint(ca.cert.Raw), AssociatedHostnames: hosts}
}

func TestVerifyClientCert(t *testing.T) {
	ca := newTestCA(t, "ca", certNow.Add(24*time.Hour))
	wild := newTestCA(t, "wild", certNow.Add(24*time.Hour))
	otherAccount := newTestCA(t, "other account", certNow.Add(24*time.Hour))
	expired := newTestCA(t, "expired", certNow.Add(-time.Minute))
	apps := []access.App{newApp("api", "api.example.test"), newApp("svc", "*.svc.example.test"), newApp("bare", "bare.example.test"), newApp("svcroot", "svc.example.test")}
	s := compile(t, access.Config{Apps: apps, Certificates: []access.CertificateCredential{
		ca.credential("ca", account, "api.example.test"),
		wild.credential("wild", account, "*.svc.example.test"),
		otherAccount.credential("other", "ffffffffffffffffffffffffffffffff", "api.example.test"),
		expired.credential("expired", account, "bare.example.test"),
	}})
	client := x509.ExtKeyUsageClientAuth
	tests := []struct {
		name   string
		host   string
		chain  []*x509.Certificate
		wantCA string // "" for not verified
	}{
		{"ok/CA associated with the host", "api.example.test", ca.leaf(t, "bot", client), "ca"},
		{"ok/no extended key usage at all", "api.example.test", ca.leaf(t, "bot"), "ca"},
		{"ok/wildcard hostname", "a.svc.example.test", wild.leaf(t, "bot", client), "wild"},
		{"ok/wildcard covers deeper hosts", "a.b.svc.example.test", wild.leaf(t, "bot", client), "wild"},
		{"fail/a server certificate", "api.example.test", ca.leaf(t, "bot", x509.ExtKeyUsageServerAuth), ""},
		{"fail/CA associated with another host", "a.svc.example.test", ca.leaf(t, "bot", client), ""},
		{"fail/wildcard does not cover its own domain", "svc.example.test", wild.leaf(t, "bot", client), ""},
		{"fail/another account's CA on the same host", "api.example.test", otherAccount.leaf(t, "bot", client), ""},
		{"fail/expired CA", "bare.example.test", expired.leaf(t, "bot", client), ""},
		{"fail/no certificate", "api.example.test", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := s.Match(tt.host, "/")
			if app == nil {
				t.Fatalf("no app for %s", tt.host)
			}
			got := s.VerifyClientCert(app, tt.host, tt.chain, certNow)
			switch {
			case tt.wantCA == "" && got != nil:
				t.Fatalf("verified by %s", got.CA.ID)
			case tt.wantCA != "" && (got == nil || got.CA.ID != tt.wantCA):
				t.Fatalf("got %+v, want verified by %s", got, tt.wantCA)
			case got != nil && (got.CommonName != "bot" || got.Fingerprint != access.CertificateFingerprint(tt.chain[0].Raw)):
				t.Fatalf("got %+v", got)
			}
		})
	}

	// The handshake names every account's CAs for a host, and none for a
	// host without any.
	if s.ClientCAs("api.example.test") == nil || s.ClientCAs("a.svc.example.test") == nil {
		t.Error("no CAs named for hosts that have some")
	}
	if s.ClientCAs("nothing.example.test") != nil || s.ClientCAs("") != nil {
		t.Error("CAs named for a host without any")
	}

	// A delta removes a CA: its certificates stop verifying.
	next, err := s.Apply(access.Delta{From: s.Version, To: s.Version + 1, DeletedCertificates: []string{"ca"}})
	if err != nil {
		t.Fatal(err)
	}
	app := next.Match("api.example.test", "/")
	if next.VerifyClientCert(app, "api.example.test", ca.leaf(t, "bot", client), certNow) != nil {
		t.Error("a deleted CA still verifies")
	}
	if s.VerifyClientCert(s.Match("api.example.test", "/"), "api.example.test", ca.leaf(t, "bot", client), certNow) == nil {
		t.Error("Apply changed the snapshot it was applied to")
	}
	// And adds one back, associated with another host.
	again, err := next.Apply(access.Delta{From: next.Version, To: next.Version + 1,
		Certificates: []access.CertificateCredential{ca.credential("ca", account, "bare.example.test")}})
	if err != nil {
		t.Fatal(err)
	}
	if again.VerifyClientCert(again.Match("bare.example.test", "/"), "bare.example.test", ca.leaf(t, "bot", client), certNow) == nil {
		t.Error("a CA added by a delta does not verify")
	}
}

func TestDecideCertificateRules(t *testing.T) {
	certificate := access.Rule{Certificate: &struct{}{}}
	commonName := func(cn string) access.Rule { return access.Rule{CommonName: &access.CommonNameRule{CommonName: cn}} }
	bot := &policy.ClientCert{CommonName: "billing", Fingerprint: "ab"}
	tests := []struct {
		name     string
		policies []access.Policy
		facts    policy.Facts
		action   policy.Action
		reason   policy.Reason
	}{
		{"ok/certificate", []access.Policy{serviceAuth("sa", certificate)}, policy.Facts{ClientCert: bot}, policy.Allow, policy.ReasonServiceAuthPolicy},
		{"ok/common name", []access.Policy{serviceAuth("sa", commonName("billing"))}, policy.Facts{ClientCert: bot}, policy.Allow, policy.ReasonServiceAuthPolicy},
		{"ok/common name parsed from JSON", []access.Policy{serviceAuth("sa", parsed(`{"common_name":{"common_name":"billing"}}`))},
			policy.Facts{ClientCert: bot}, policy.Allow, policy.ReasonServiceAuthPolicy},
		{"ok/certificate required beside a service token", []access.Policy{requiring(serviceAuth("sa", anyValidServiceToken()), certificate)},
			policy.Facts{ClientCert: bot, Token: &policy.Token{ID: tokenA, AccountID: account}}, policy.Allow, policy.ReasonServiceAuthPolicy},
		{"fail/no certificate", []access.Policy{serviceAuth("sa", certificate)}, policy.Facts{}, policy.Login, policy.ReasonLoginRequired},
		{"fail/common name differs", []access.Policy{serviceAuth("sa", commonName("payroll"))}, policy.Facts{ClientCert: bot}, policy.Login, policy.ReasonLoginRequired},
		{"fail/common name compares exactly", []access.Policy{serviceAuth("sa", commonName("Billing"))}, policy.Facts{ClientCert: bot}, policy.Login, policy.ReasonLoginRequired},
		{"fail/certificate required, token alone", []access.Policy{requiring(serviceAuth("sa", anyValidServiceToken()), certificate)},
			policy.Facts{Token: &policy.Token{ID: tokenA, AccountID: account}}, policy.Deny, policy.ReasonServiceTokenNoPolicy},
		{"fail/certificate excluded", []access.Policy{excluding(allow("p", everyone()), certificate)},
			policy.Facts{ClientCert: bot, Identity: user("ann@example.test")}, policy.Deny, policy.ReasonNoPolicyMatched},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := compile(t, access.Config{Apps: []access.App{withPolicies(newApp("a", "a.example.test"), tt.policies...)}})
			d := s.Decide(s.Match("a.example.test", "/"), tt.facts)
			if d.Action != tt.action || d.Reason != tt.reason {
				t.Fatalf("%v %s, want %v %s", d.Action, d.Reason, tt.action, tt.reason)
			}
		})
	}
}

// BenchmarkVerifyClientCert is the cost the edge's per-connection cache
// saves on each later request of a connection.
func BenchmarkVerifyClientCert(b *testing.B) {
	ca := newTestCA(b, "ca", certNow.Add(24*time.Hour))
	s := compile(b, access.Config{Apps: []access.App{newApp("api", "api.example.test")},
		Certificates: []access.CertificateCredential{ca.credential("ca", account, "api.example.test")}})
	app := s.Match("api.example.test", "/")
	chain := ca.leaf(b, "bot", x509.ExtKeyUsageClientAuth)
	b.ReportAllocs()
	for b.Loop() {
		if s.VerifyClientCert(app, "api.example.test", chain, certNow) == nil {
			b.Fatal("not verified")
		}
	}
}
