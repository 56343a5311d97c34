package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// selfSigned returns a self-signed certificate's PEM, shaped by edit.
func selfSigned(t *testing.T, edit func(*x509.Certificate)) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	edit(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestCertificateLifecycle(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ca := gatehousetest.NewTestCA(t)
	var c access.Certificate
	a.MustCall(t, "POST", "access/certificates", map[string]any{
		"name": "clients", "certificate": ca.PEM(), "associated_hostnames": []string{"API.Example.com", "*.svc.example.com"},
	}, &c)
	sum := sha256.Sum256(ca.Cert.Raw)
	if c.Fingerprint != hex.EncodeToString(sum[:]) {
		t.Errorf("fingerprint %q, want the SHA-256 of the DER", c.Fingerprint)
	}
	if !c.ExpiresOn.Equal(ca.Cert.NotAfter) || c.Certificate != ca.PEM() || c.Name != "clients" {
		t.Errorf("certificate %+v", c)
	}
	if !slices.Equal(c.AssociatedHostnames, []string{"api.example.com", "*.svc.example.com"}) {
		t.Errorf("associated_hostnames %q, want canonical form", c.AssociatedHostnames)
	}

	if resp := a.Call(t, "POST", "access/certificates", map[string]any{"name": "clients", "certificate": gatehousetest.NewTestCA(t).PEM()}); resp.Status != 409 {
		t.Errorf("duplicate name: %d %s", resp.Status, resp.Body)
	}
	if resp := a.Call(t, "POST", "access/certificates", map[string]any{"name": "again", "certificate": ca.PEM()}); resp.Status != 409 || !slices.Contains(resp.Fields(), "certificate") {
		t.Errorf("the same CA twice: %d %s", resp.Status, resp.Body)
	}

	var list []access.Certificate
	resp := a.MustCall(t, "GET", "access/certificates", nil, &list)
	if len(list) != 1 || list[0].ID != c.ID || resp.Env.ResultInfo.TotalCount != 1 {
		t.Errorf("list: %s", resp.Body)
	}

	var upd access.Certificate
	a.MustCall(t, "PUT", "access/certificates/"+c.ID, map[string]any{"associated_hostnames": []string{"other.example.com"}}, &upd)
	if upd.Name != "clients" || !slices.Equal(upd.AssociatedHostnames, []string{"other.example.com"}) || upd.Fingerprint != c.Fingerprint {
		t.Errorf("update: %+v", upd)
	}
	// An update without associated_hostnames leaves none and keeps the name:
	// Terraform's provider sends {} to clear them before a delete.
	var cleared access.Certificate
	a.MustCall(t, "PUT", "access/certificates/"+c.ID, map[string]any{}, &cleared)
	if cleared.Name != "clients" || cleared.AssociatedHostnames == nil || len(cleared.AssociatedHostnames) != 0 {
		t.Errorf("update without associated_hostnames: %+v", cleared)
	}

	var deleted struct{ ID string }
	a.MustCall(t, "DELETE", "access/certificates/"+c.ID, nil, &deleted)
	if deleted.ID != c.ID {
		t.Errorf("delete returned %+v", deleted)
	}
	if resp := a.Call(t, "GET", "access/certificates/"+c.ID, nil); resp.Status != 404 {
		t.Errorf("deleted certificate readable: %d", resp.Status)
	}
	if resp := a.Call(t, "GET", "access/certificates/not-a-uuid", nil); resp.Status != 404 {
		t.Errorf("malformed id: %d", resp.Status)
	}
}

func TestCertificateBadInputIs400NamingTheField(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	good := gatehousetest.NewTestCA(t).PEM()
	leaf := selfSigned(t, func(c *x509.Certificate) { c.IsCA, c.KeyUsage = false, x509.KeyUsageDigitalSignature })
	expired := selfSigned(t, func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	})
	noSign := selfSigned(t, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature })
	garbage := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")}))
	key := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")}))
	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"fail/no name", map[string]any{"certificate": good}, "name"},
		{"fail/no certificate", map[string]any{"name": "n"}, "certificate"},
		{"fail/not PEM", map[string]any{"name": "n", "certificate": "hello"}, "certificate"},
		{"fail/not DER", map[string]any{"name": "n", "certificate": garbage}, "certificate"},
		{"fail/a private key", map[string]any{"name": "n", "certificate": key}, "certificate"},
		{"fail/two certificates", map[string]any{"name": "n", "certificate": good + good}, "certificate"},
		{"fail/not a CA", map[string]any{"name": "n", "certificate": leaf}, "certificate"},
		{"fail/cannot sign certificates", map[string]any{"name": "n", "certificate": noSign}, "certificate"},
		{"fail/expired", map[string]any{"name": "n", "certificate": expired}, "certificate"},
		{"fail/too large", map[string]any{"name": "n", "certificate": good + strings.Repeat(" ", 40000)}, "certificate"},
		{"fail/hostname with a path", map[string]any{"name": "n", "certificate": good, "associated_hostnames": []string{"a.example.com/x"}}, "associated_hostnames[0]"},
		{"fail/hostname with a port", map[string]any{"name": "n", "certificate": good, "associated_hostnames": []string{"a.example.com:443"}}, "associated_hostnames[0]"},
		{"fail/hostname twice", map[string]any{"name": "n", "certificate": good, "associated_hostnames": []string{"a.example.com", "A.example.com"}}, "associated_hostnames[1]"},
		{"fail/unknown field", map[string]any{"name": "n", "certificate": good, "private_key": "x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := a.Call(t, "POST", "access/certificates", tt.body)
			if resp.Status != 400 {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
			if tt.field != "" && !slices.Contains(resp.Fields(), tt.field) {
				t.Errorf("fields %q, want %q: %s", resp.Fields(), tt.field, resp.Body)
			}
		})
	}
	var list []access.Certificate
	a.MustCall(t, "GET", "access/certificates", nil, &list)
	if len(list) != 0 {
		t.Errorf("a refused body stored %d certificates", len(list))
	}
}

func TestPolicyCertificateRules(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	var p access.Policy
	a.MustCall(t, "POST", "access/policies", map[string]any{
		"name": "mtls", "decision": "non_identity",
		"include": []any{map[string]any{"certificate": map[string]any{}}},
		"require": []any{map[string]any{"common_name": map[string]any{"common_name": "billing-service"}}},
	}, &p)
	if p.Include[0].Certificate == nil || p.Require[0].CommonName == nil || p.Require[0].CommonName.CommonName != "billing-service" {
		t.Errorf("policy %+v", p)
	}
	for name, rule := range map[string]any{
		"include[0].common_name.common_name": map[string]any{"common_name": map[string]any{"common_name": ""}},
		"include[0].common_name":             map[string]any{"common_name": map[string]any{"cn": "x"}},
		"include[0].certificate":             map[string]any{"certificate": map[string]any{"x": 1}},
	} {
		resp := a.Call(t, "POST", "access/policies", map[string]any{"name": "bad", "decision": "non_identity", "include": []any{rule}})
		if resp.Status != 400 || !slices.Contains(resp.Fields(), name) {
			t.Errorf("%s: %d %s", name, resp.Status, resp.Body)
		}
	}
}

func TestPolicyTesterExplainsCertificateRules(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	app := a.CreateApp(t, gatehousetest.Host(t, "mtls"), "http://127.0.0.1:1", nil,
		gatehousetest.Policy("billing", "non_identity", gatehousetest.Rules(t, `{"common_name":{"common_name":"billing"}}`)))
	for _, tt := range []struct {
		name           string
		cn             any
		decision, rule string
	}{
		{"ok/the common name", "billing", "allow", "common_name"},
		{"fail/another common name", "payroll", "login", ""},
		{"fail/no certificate", nil, "login", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"app_id": app.ID}
			if tt.cn != nil {
				body["client_certificate_common_name"] = tt.cn
			}
			var res struct {
				Decision string `json:"decision"`
				Rule     *struct {
					Type string `json:"type"`
				} `json:"rule"`
			}
			a.MustCall(t, "POST", "gatehouse/policy_test", body, &res)
			if res.Decision != tt.decision || (tt.rule != "" && (res.Rule == nil || res.Rule.Type != tt.rule)) {
				t.Errorf("decision %q, rule %+v", res.Decision, res.Rule)
			}
		})
	}
}
