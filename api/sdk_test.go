package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
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

// TestCloudflareGoSDKManagesAccessGroups: cloudflare-go creates, reads,
// lists, replaces and deletes Access groups, and writes policies with
// group and oidc rules, each decoded from Gatehouse's answers.
func TestCloudflareGoSDKManagesAccessGroups(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cf := cloudflare.NewClient(option.WithBaseURL(a.URL+"/client/v4/"), option.WithAPIToken(a.Token), option.WithMaxRetries(0), option.WithHTTPClient(a.HTTPClient()))
	acct := cloudflare.F(a.AccountID)
	email := func(e string) zero_trust.AccessRuleUnionParam {
		return zero_trust.EmailRuleParam{Email: cloudflare.F(zero_trust.EmailRuleEmailParam{Email: cloudflare.F(e)})}
	}

	g, err := cf.ZeroTrust.Access.Groups.New(ctx, zero_trust.AccessGroupNewParams{AccountID: acct, Name: cloudflare.F("on call"),
		Include: cloudflare.F([]zero_trust.AccessRuleUnionParam{email("ann@example.test")}),
		Exclude: cloudflare.F([]zero_trust.AccessRuleUnionParam{email("bob@example.test")}), IsDefault: cloudflare.F(false)})
	if err != nil {
		t.Fatalf("group create: %v", err)
	}
	if g.ID == "" || g.Name != "on call" || len(g.Include) != 1 || len(g.Exclude) != 1 || len(g.Require) != 0 {
		t.Fatalf("group decoded as %+v", g)
	}
	got, err := cf.ZeroTrust.Access.Groups.Get(ctx, g.ID, zero_trust.AccessGroupGetParams{AccountID: acct})
	if err != nil || got.ID != g.ID || got.Name != "on call" {
		t.Fatalf("group get: %+v %v", got, err)
	}
	upd, err := cf.ZeroTrust.Access.Groups.Update(ctx, g.ID, zero_trust.AccessGroupUpdateParams{AccountID: acct, Name: cloudflare.F("on call (eu)"),
		Include: cloudflare.F([]zero_trust.AccessRuleUnionParam{email("ann@example.test"), email("eve@example.test")})})
	if err != nil || upd.Name != "on call (eu)" || len(upd.Include) != 2 || len(upd.Exclude) != 0 {
		t.Fatalf("group update: %+v %v", upd, err)
	}
	policy, err := cf.ZeroTrust.Access.Policies.New(ctx, zero_trust.AccessPolicyNewParams{AccountID: acct, Name: cloudflare.F("on call in"),
		Decision: cloudflare.F(zero_trust.DecisionAllow),
		Include: cloudflare.F([]zero_trust.AccessRuleUnionParam{zero_trust.GroupRuleParam{
			Group: cloudflare.F(zero_trust.GroupRuleGroupParam{ID: cloudflare.F(g.ID)})}}),
		Exclude: cloudflare.F([]zero_trust.AccessRuleUnionParam{zero_trust.AccessRuleAccessOIDCClaimRuleParam{
			OIDC: cloudflare.F(zero_trust.AccessRuleAccessOIDCClaimRuleOIDCParam{ClaimName: cloudflare.F("groups"),
				ClaimValue: cloudflare.F("contractors"), IdentityProviderID: cloudflare.F("okta")})}}),
	})
	if err != nil {
		t.Fatalf("policy with a group rule: %v", err)
	}
	if r, ok := policy.Include[0].AsUnion().(zero_trust.GroupRule); !ok || r.Group.ID != g.ID {
		t.Errorf("group rule decoded as %+v", policy.Include[0])
	}
	if r, ok := policy.Exclude[0].AsUnion().(zero_trust.AccessRuleAccessOIDCClaimRule); !ok || r.OIDC.ClaimName != "groups" || r.OIDC.ClaimValue != "contractors" {
		t.Errorf("oidc rule decoded as %+v", policy.Exclude[0])
	}
	var listed []string
	iter := cf.ZeroTrust.Access.Groups.ListAutoPaging(ctx, zero_trust.AccessGroupListParams{AccountID: acct})
	for iter.Next() {
		listed = append(listed, iter.Current().ID)
	}
	if err := iter.Err(); err != nil || !slices.Equal(listed, []string{g.ID}) {
		t.Fatalf("group list: %q %v", listed, err)
	}
	if _, err := cf.ZeroTrust.Access.Groups.Delete(ctx, g.ID, zero_trust.AccessGroupDeleteParams{AccountID: acct}); err == nil {
		t.Fatal("deleted a group a policy uses")
	}
	if _, err := cf.ZeroTrust.Access.Policies.Delete(ctx, policy.ID, zero_trust.AccessPolicyDeleteParams{AccountID: acct}); err != nil {
		t.Fatalf("policy delete: %v", err)
	}
	del, err := cf.ZeroTrust.Access.Groups.Delete(ctx, g.ID, zero_trust.AccessGroupDeleteParams{AccountID: acct})
	if err != nil || del.ID != g.ID {
		t.Fatalf("group delete: %+v %v", del, err)
	}
}
