package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/zero_trust"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestCloudflareGoSDKWorksAgainstGatehouse drives the API with Cloudflare's
// own Go SDK, changing only the base URL and the token: the contract a
// script written for Cloudflare relies on.
func TestCloudflareGoSDKWorksAgainstGatehouse(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cf := cloudflare.NewClient(option.WithBaseURL(a.URL+"/client/v4/"), option.WithAPIToken(a.Token), option.WithMaxRetries(0), option.WithHTTPClient(a.HTTPClient()))
	acct := cloudflare.F(a.AccountID)

	tok, err := cf.ZeroTrust.Access.ServiceTokens.New(ctx, zero_trust.AccessServiceTokenNewParams{AccountID: acct, Name: cloudflare.F("relay")})
	if err != nil {
		t.Fatalf("service token create: %v", err)
	}
	if tok.ClientSecret == "" || tok.ClientID == "" || tok.Duration != "8760h" {
		t.Fatalf("service token decoded as %+v", tok)
	}

	policy, err := cf.ZeroTrust.Access.Policies.New(ctx, zero_trust.AccessPolicyNewParams{
		AccountID: acct,
		Name:      cloudflare.F("service auth"),
		Decision:  cloudflare.F(zero_trust.DecisionNonIdentity),
		Include: cloudflare.F([]zero_trust.AccessRuleUnionParam{zero_trust.ServiceTokenRuleParam{
			ServiceToken: cloudflare.F(zero_trust.ServiceTokenRuleServiceTokenParam{TokenID: cloudflare.F(tok.ID)}),
		}}),
	})
	if err != nil {
		t.Fatalf("policy create: %v", err)
	}
	if policy.Decision != zero_trust.DecisionNonIdentity || len(policy.Include) != 1 {
		t.Fatalf("policy decoded as %+v", policy)
	}

	domain := uniq(t, "api.mysite.test")
	app, err := cf.ZeroTrust.Access.Applications.New(ctx, zero_trust.AccessApplicationNewParams{
		AccountID: acct,
		Body: zero_trust.AccessApplicationNewParamsBodySelfHostedApplication{
			Domain: cloudflare.F(domain),
			Type:   cloudflare.F(zero_trust.ApplicationTypeSelfHosted),
			Name:   cloudflare.F("API"),
			CORSHeaders: cloudflare.F(zero_trust.CORSHeadersParam{
				AllowedOrigins:   cloudflare.F([]zero_trust.AllowedOriginsParam{"https://example.test"}),
				AllowedMethods:   cloudflare.F([]zero_trust.AllowedMethods{zero_trust.AllowedMethodsGet, zero_trust.AllowedMethodsPost}),
				AllowCredentials: cloudflare.F(true),
				MaxAge:           cloudflare.F(600.0),
			}),
			Policies: cloudflare.F([]zero_trust.AccessApplicationNewParamsBodySelfHostedApplicationPolicyUnion{
				zero_trust.AccessApplicationNewParamsBodySelfHostedApplicationPoliciesAccessAppPolicyLink{
					ID: cloudflare.F(policy.ID), Precedence: cloudflare.F(int64(1)),
				},
			}),
		},
	})
	if err != nil {
		t.Fatalf("app create: %v", err)
	}
	if app.Domain != domain || len(app.AUD) != 64 || app.CORSHeaders.MaxAge != 600 || !app.CORSHeaders.AllowCredentials {
		t.Fatalf("app decoded as domain=%q aud=%q cors=%+v", app.Domain, app.AUD, app.CORSHeaders)
	}
	got, err := cf.ZeroTrust.Access.Applications.Get(ctx, app.ID, zero_trust.AccessApplicationGetParams{AccountID: acct})
	if err != nil || got.ID != app.ID || got.CORSHeaders.AllowedOrigins[0] != "https://example.test" {
		t.Fatalf("app get: %+v %v", got, err)
	}

	// The SDK's auto-pager walks every page using result_info.
	for i := range 30 {
		if _, err := cf.ZeroTrust.Access.ServiceTokens.New(ctx, zero_trust.AccessServiceTokenNewParams{AccountID: acct, Name: cloudflare.F(fmt.Sprintf("t%02d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	pager := cf.ZeroTrust.Access.ServiceTokens.ListAutoPaging(ctx, zero_trust.AccessServiceTokenListParams{AccountID: acct})
	n := 0
	for pager.Next() {
		if pager.Current().ClientID == "" {
			t.Fatal("listed token without client_id")
		}
		n++
	}
	if err := pager.Err(); err != nil || n != 31 {
		t.Fatalf("auto-pager saw %d tokens (err %v), want 31", n, err)
	}

	rotated, err := cf.ZeroTrust.Access.ServiceTokens.Rotate(ctx, tok.ID, zero_trust.AccessServiceTokenRotateParams{
		AccountID: acct, PreviousClientSecretExpiresAt: cloudflare.F(time.Now().Add(time.Hour)),
	})
	if err != nil || rotated.ClientSecret == "" || rotated.ClientSecret == tok.ClientSecret {
		t.Fatalf("rotate: %+v %v", rotated, err)
	}

	// Errors come back as the SDK's error type with the status and code.
	_, err = cf.ZeroTrust.Access.ServiceTokens.Delete(ctx, tok.ID, zero_trust.AccessServiceTokenDeleteParams{AccountID: acct})
	var apiErr *cloudflare.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict {
		t.Fatalf("deleting a token in use: %v", err)
	}
	_, err = cf.ZeroTrust.Access.Applications.New(ctx, zero_trust.AccessApplicationNewParams{
		AccountID: acct,
		Body: zero_trust.AccessApplicationNewParamsBodySelfHostedApplication{
			Domain: cloudflare.F(uniq(t, "other.test")), Type: cloudflare.F(zero_trust.ApplicationTypeSelfHosted), Name: cloudflare.F("bypass"),
			OptionsPreflightBypass: cloudflare.F(true),
			CORSHeaders:            cloudflare.F(zero_trust.CORSHeadersParam{AllowAllOrigins: cloudflare.F(true)}),
		},
	})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		t.Fatalf("bypass with CORS settings: %v", err)
	}
}
