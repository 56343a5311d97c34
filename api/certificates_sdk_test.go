package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/zero_trust"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestCloudflareGoSDKManagesCertificates drives /access/certificates and
// the certificate and common_name rules with Cloudflare's Go SDK.
func TestCloudflareGoSDKManagesCertificates(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cf := cloudflare.NewClient(option.WithBaseURL(a.URL+"/client/v4/"), option.WithAPIToken(a.Token), option.WithMaxRetries(0), option.WithHTTPClient(a.HTTPClient()))
	acct := cloudflare.F(a.AccountID)
	ca := gatehousetest.NewTestCA(t)

	c, err := cf.ZeroTrust.Access.Certificates.New(ctx, zero_trust.AccessCertificateNewParams{AccountID: acct,
		Name: cloudflare.F("clients"), Certificate: cloudflare.F(ca.PEM()),
		AssociatedHostnames: cloudflare.F([]zero_trust.AssociatedHostnamesParam{"api.example.test"})})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if c.Name != "clients" || c.Fingerprint != access.CertificateFingerprint(ca.Cert.Raw) || !c.ExpiresOn.Equal(ca.Cert.NotAfter.Truncate(time.Second)) ||
		len(c.AssociatedHostnames) != 1 {
		t.Fatalf("create decoded as %+v", c)
	}
	up, err := cf.ZeroTrust.Access.Certificates.Update(ctx, c.ID, zero_trust.AccessCertificateUpdateParams{AccountID: acct,
		AssociatedHostnames: cloudflare.F([]zero_trust.AssociatedHostnamesParam{"a.example.test", "b.example.test"})})
	if err != nil || len(up.AssociatedHostnames) != 2 || up.Name != "clients" {
		t.Fatalf("update: %+v %v", up, err)
	}
	page, err := cf.ZeroTrust.Access.Certificates.List(ctx, zero_trust.AccessCertificateListParams{AccountID: acct})
	if err != nil || len(page.Result) != 1 || page.Result[0].ID != c.ID {
		t.Fatalf("list: %+v %v", page, err)
	}

	p, err := cf.ZeroTrust.Access.Policies.New(ctx, zero_trust.AccessPolicyNewParams{AccountID: acct,
		Name: cloudflare.F("mtls"), Decision: cloudflare.F(zero_trust.DecisionNonIdentity),
		Include: cloudflare.F([]zero_trust.AccessRuleUnionParam{zero_trust.CertificateRuleParam{Certificate: cloudflare.F(zero_trust.CertificateRuleCertificateParam{})}}),
		Require: cloudflare.F([]zero_trust.AccessRuleUnionParam{zero_trust.AccessRuleAccessCommonNameRuleParam{
			CommonName: cloudflare.F(zero_trust.AccessRuleAccessCommonNameRuleCommonNameParam{CommonName: cloudflare.F("billing")})}}),
	})
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	if len(p.Include) != 1 || len(p.Require) != 1 {
		t.Fatalf("policy decoded as %+v", p)
	}
	if _, ok := p.Require[0].AsUnion().(zero_trust.AccessRuleAccessCommonNameRule); !ok {
		t.Errorf("require decoded as %T", p.Require[0].AsUnion())
	}

	del, err := cf.ZeroTrust.Access.Certificates.Delete(ctx, c.ID, zero_trust.AccessCertificateDeleteParams{AccountID: acct})
	if err != nil || del.ID != c.ID {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, err := cf.ZeroTrust.Access.Certificates.Get(ctx, c.ID, zero_trust.AccessCertificateGetParams{AccountID: acct}); err == nil {
		t.Error("a deleted certificate is still read")
	}
}
