package api_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/zero_trust"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

const testClientSecret = "s3cr3t-0f-the-1dp-do-not-leak"

func oidcBody(name string) map[string]any {
	return map[string]any{"name": name, "type": "oidc", "config": map[string]any{
		"client_id":     "gatehouse",
		"client_secret": testClientSecret,
		"auth_url":      "https://idp.example.test/authorize",
		"token_url":     "https://idp.example.test/token",
		"certs_url":     "https://idp.example.test/jwks",
	}}
}

func createIdP(t *testing.T, a *gatehousetest.API, body map[string]any) access.IdentityProvider {
	t.Helper()
	var p access.IdentityProvider
	a.MustCall(t, "POST", "access/identity_providers", body, &p)
	return p
}

// loadedIdP returns a provider as the edge sees it in LoadConfig.
func loadedIdP(t *testing.T, a *gatehousetest.API, id string) (access.IdentityProvider, bool) {
	t.Helper()
	cfg, err := a.Store.LoadConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.IdentityProviders {
		if p.ID == id {
			return p, true
		}
	}
	return access.IdentityProvider{}, false
}

// leaks counts rows of identity_providers and audit_log whose text holds s.
func leaks(t *testing.T, a *gatehousetest.API, s string) int {
	t.Helper()
	var n int
	err := a.Store.Pool().QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM identity_providers p WHERE p::text LIKE '%' || $1 || '%'
		                                                   OR encode(p.client_secret, 'escape') LIKE '%' || $1 || '%')
		     + (SELECT count(*) FROM audit_log l WHERE l::text LIKE '%' || $1 || '%')`, s).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOIDCProviderSecretIsWriteOnlyAndStoredSealed(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	resp := a.Call(t, "POST", "access/identity_providers", oidcBody("Corp SSO"))
	if resp.Status != 200 || resp.Header.Get("ETag") != `"1"` {
		t.Fatalf("create: %d %s (ETag %q)", resp.Status, resp.Body, resp.Header.Get("ETag"))
	}
	var p access.IdentityProvider
	resp.Decode(t, &p)
	c := p.Config
	if p.Type != "oidc" || p.Name != "Corp SSO" || c.ClientID != "gatehouse" || !c.ClientSecretSet || c.ClientSecret != "" {
		t.Errorf("created %+v", p)
	}
	// Defaults apply at login and are not stored: the provider reads back
	// as written (Terraform compares the two), with SCIM off shown.
	if c.Scopes != nil || c.EmailClaimName != "" || c.PKCEEnabled != nil {
		t.Errorf("defaults stored: scopes %q, email claim %q, pkce %v", c.Scopes, c.EmailClaimName, c.PKCEEnabled)
	}
	if s := p.SCIMConfig; s == nil || s.Enabled || s.IdentityUpdateBehavior != "no_action" {
		t.Errorf("scim_config %+v, want SCIM off", s)
	}

	// Rename, keeping the secret by leaving it out.
	body := oidcBody("Corp SSO 2")
	delete(body["config"].(map[string]any), "client_secret")
	var renamed access.IdentityProvider
	resp = a.MustCall(t, "PUT", "access/identity_providers/"+p.ID, body, &renamed)
	if renamed.Name != "Corp SSO 2" || !renamed.Config.ClientSecretSet || resp.Header.Get("ETag") != `"2"` {
		t.Errorf("rename: %+v (ETag %q)", renamed, resp.Header.Get("ETag"))
	}

	// The secret is in no response, no audit entry and nowhere in clear in
	// the database; the edge gets it back from LoadConfig.
	for _, path := range []string{"access/identity_providers", "access/identity_providers/" + p.ID, "audit_logs"} {
		resp := a.Call(t, "GET", path, nil)
		if resp.Status != 200 || strings.Contains(string(resp.Body), testClientSecret) || strings.Contains(string(resp.Body), `"client_secret"`) {
			t.Errorf("GET %s leaks the secret or a client_secret member: %s", path, resp.Body)
		}
	}
	if n := leaks(t, a, testClientSecret); n != 0 {
		t.Errorf("the secret is stored in clear in %d rows", n)
	}
	loaded, ok := loadedIdP(t, a, p.ID)
	if !ok || loaded.Config.ClientSecret != testClientSecret || loaded.AccountID != a.AccountID || loaded.Name != "Corp SSO 2" {
		t.Fatalf("LoadConfig: found=%v %+v", ok, loaded)
	}

	// A new secret replaces the old one.
	body = oidcBody("Corp SSO 2")
	body["config"].(map[string]any)["client_secret"] = "another-secret-value"
	a.MustCall(t, "PUT", "access/identity_providers/"+p.ID, body, nil)
	if loaded, _ := loadedIdP(t, a, p.ID); loaded.Config.ClientSecret != "another-secret-value" {
		t.Errorf("after a new secret, LoadConfig has %q", loaded.Config.ClientSecret)
	}
	if n := leaks(t, a, "another-secret-value"); n != 0 {
		t.Errorf("the new secret is stored in clear in %d rows", n)
	}

	var entries []access.AuditEntry
	a.MustCall(t, "GET", "audit_logs?resource_id="+p.ID, nil, &entries)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action.Type)
		if e.Resource.Type != "identity_provider" {
			t.Errorf("audit resource %+v", e.Resource)
		}
	}
	if want := []string{"identity_provider.update", "identity_provider.update", "identity_provider.create"}; !slices.Equal(actions, want) {
		t.Errorf("audit actions %q, want %q", actions, want)
	}
	var after access.IdentityProvider
	if err := json.Unmarshal(entries[0].NewValueJSON, &after); err != nil || !after.Config.ClientSecretSet || after.Config.ClientSecret != "" {
		t.Errorf("audit after-value %s (err %v)", entries[0].NewValueJSON, err)
	}
}

func TestOIDCProviderWithDiscoveryAndOwnSettings(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	p := createIdP(t, a, map[string]any{"name": "Dex", "type": "oidc", "config": map[string]any{
		"client_id": "gh", "client_secret": "x", "issuer_url": "http://127.0.0.1:5556/dex",
		"scopes": []string{"openid", "email", "groups"}, "claims": []string{},
		"email_claim_name": "mail", "pkce_enabled": false,
	}})
	c := p.Config
	if c.IssuerURL != "http://127.0.0.1:5556/dex" || c.AuthURL != "" || !slices.Equal(c.Scopes, []string{"openid", "email", "groups"}) ||
		len(c.Claims) != 0 || c.EmailClaimName != "mail" || c.PKCEEnabled == nil || *c.PKCEEnabled {
		t.Errorf("config %+v", c)
	}
	var got access.IdentityProvider
	resp := a.MustCall(t, "GET", "access/identity_providers/"+p.ID, nil, &got)
	if got.Config.IssuerURL != c.IssuerURL || !got.CreatedAt.Equal(p.CreatedAt) || resp.Header.Get("ETag") != `"1"` {
		t.Errorf("GET returned %+v", got)
	}
}

func TestIdentityProviderValidationNamesEveryBadField(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	cfg := func(b map[string]any) map[string]any { return b["config"].(map[string]any) }
	tests := []struct {
		name   string
		mutate func(map[string]any)
		fields []string
	}{
		{"fail/missing name and type", func(b map[string]any) { delete(b, "name"); delete(b, "type") }, []string{"name", "type"}},
		{"fail/name too long", func(b map[string]any) { b["name"] = strings.Repeat("n", 351) }, []string{"name"}},
		{"fail/unsupported type", func(b map[string]any) { b["type"] = "saml" }, []string{"type"}},
		{"fail/no client id", func(b map[string]any) { delete(cfg(b), "client_id") }, []string{"config.client_id"}},
		{"fail/no client secret on create", func(b map[string]any) { delete(cfg(b), "client_secret") }, []string{"config.client_secret"}},
		{"fail/no endpoints", func(b map[string]any) {
			delete(cfg(b), "auth_url")
			delete(cfg(b), "token_url")
			delete(cfg(b), "certs_url")
		}, []string{"config.issuer_url"}},
		{"fail/some endpoints", func(b map[string]any) { delete(cfg(b), "token_url"); delete(cfg(b), "certs_url") },
			[]string{"config.certs_url", "config.token_url"}},
		{"fail/issuer and endpoints", func(b map[string]any) { cfg(b)["issuer_url"] = "https://idp.example.test" }, []string{"config.issuer_url"}},
		{"fail/not an http url", func(b map[string]any) { cfg(b)["auth_url"] = "ftp://idp.example.test/authorize" }, []string{"config.auth_url"}},
		{"fail/relative url", func(b map[string]any) { cfg(b)["token_url"] = "/token" }, []string{"config.token_url"}},
		{"fail/url with credentials", func(b map[string]any) { cfg(b)["certs_url"] = "https://u:p@idp.example.test/jwks" }, []string{"config.certs_url"}},
		{"fail/scopes without openid", func(b map[string]any) { cfg(b)["scopes"] = []string{"email"} }, []string{"config.scopes"}},
		{"fail/scope with a space", func(b map[string]any) { cfg(b)["scopes"] = []string{"openid", "a b"} }, []string{"config.scopes[1]"}},
		{"fail/scopes repeated", func(b map[string]any) { cfg(b)["scopes"] = []string{"openid", "openid"} }, []string{"config.scopes"}},
		// A response-only member (read back from a GET) is ignored, as in
		// Cloudflare's API: only the real mistake is named.
		{"fail/response-only member is ignored, not named", func(b map[string]any) {
			cfg(b)["client_secret_set"] = true
			cfg(b)["token_url"] = "/token"
		}, []string{"config.token_url"}},
		{"fail/unknown config member", func(b map[string]any) { cfg(b)["redirect_uri"] = "https://x.test" }, []string{"redirect_uri"}},
		{"fail/wrong json type", func(b map[string]any) { cfg(b)["pkce_enabled"] = "yes" }, []string{"config.pkce_enabled"}},
		{"fail/onetimepin with oidc config", func(b map[string]any) { b["type"] = "onetimepin" },
			[]string{"config.auth_url", "config.certs_url", "config.client_id", "config.client_secret", "config.token_url"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := oidcBody("idp")
			tc.mutate(body)
			resp := a.Call(t, "POST", "access/identity_providers", body)
			if resp.Status != 400 || resp.Env.Errors[0].Code != 1002 {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
			if got := resp.Fields(); !slices.Equal(got, tc.fields) {
				t.Errorf("fields %q, want %q (%s)", got, tc.fields, resp.Body)
			}
		})
	}
	var list []access.IdentityProvider
	a.MustCall(t, "GET", "access/identity_providers", nil, &list)
	if len(list) != 0 {
		t.Errorf("refused creates stored %d providers", len(list))
	}
	if n := leaks(t, a, testClientSecret); n != 0 {
		t.Errorf("refused creates left the secret in %d rows", n)
	}
}

func TestOneTimePINProviderHasAnEmptyConfigAndIsOnePerAccount(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	resp := a.Call(t, "POST", "access/identity_providers", map[string]any{"name": "Email PIN", "type": "onetimepin", "config": map[string]any{}})
	if resp.Status != 200 {
		t.Fatalf("create: %d %s", resp.Status, resp.Body)
	}
	var otp access.IdentityProvider
	resp.Decode(t, &otp)
	var raw struct {
		Config map[string]any `json:"config"`
	}
	resp.Decode(t, &raw)
	if otp.Type != "onetimepin" || raw.Config == nil || len(raw.Config) != 0 {
		t.Errorf("created %s", resp.Body)
	}
	if loaded, ok := loadedIdP(t, a, otp.ID); !ok || loaded.Config.ClientSecret != "" || loaded.Config.ClientSecretSet {
		t.Errorf("LoadConfig: %+v", loaded)
	}
	// config may be left out; a second one-time PIN provider is a conflict.
	resp = a.Call(t, "POST", "access/identity_providers", map[string]any{"name": "Another PIN", "type": "onetimepin"})
	if resp.Status != 409 || resp.Env.Errors[0].Field != "type" {
		t.Errorf("second onetimepin: %d %s", resp.Status, resp.Body)
	}
	// Names are unique within an account, not across accounts.
	if resp := a.Call(t, "POST", "access/identity_providers", oidcBody("Email PIN")); resp.Status != 409 || resp.Env.Errors[0].Field != "name" {
		t.Errorf("duplicate name: %d %s", resp.Status, resp.Body)
	}
	b := gatehousetest.NewAPI(t)
	createIdP(t, b, map[string]any{"name": "Email PIN", "type": "onetimepin"})
}

func TestUpdateIdentityProviderHonoursIfMatchAndTheStoredSecret(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	p := createIdP(t, a, oidcBody("sso"))

	body := oidcBody("renamed")
	resp := a.Do(t, gatehousetest.Request{Method: "PUT", Path: "access/identity_providers/" + p.ID, Body: body, Header: map[string]string{"If-Match": `"7"`}})
	if resp.Status != 412 || resp.Env.Errors[0].Code != 1007 {
		t.Fatalf("stale If-Match: %d %s", resp.Status, resp.Body)
	}
	// Becoming a onetimepin provider drops the secret ...
	var otp access.IdentityProvider
	a.MustCall(t, "PUT", "access/identity_providers/"+p.ID, map[string]any{"name": "pin", "type": "onetimepin"}, &otp)
	if otp.Type != "onetimepin" || otp.Config.ClientSecretSet || otp.Config.ClientID != "" {
		t.Errorf("to onetimepin: %+v", otp)
	}
	var stored []byte
	if err := a.Store.Pool().QueryRow(context.Background(), `SELECT client_secret FROM identity_providers WHERE id = $1`, p.ID).Scan(&stored); err != nil || stored != nil {
		t.Errorf("secret kept after becoming onetimepin: %x (err %v)", stored, err)
	}
	// ... so becoming oidc again needs a new one.
	body = oidcBody("sso")
	delete(body["config"].(map[string]any), "client_secret")
	resp = a.Call(t, "PUT", "access/identity_providers/"+p.ID, body)
	if resp.Status != 400 || resp.Env.Errors[0].Field != "config.client_secret" {
		t.Errorf("oidc without a stored secret: %d %s", resp.Status, resp.Body)
	}
	// Invalid updates change nothing.
	body = oidcBody("sso")
	body["config"].(map[string]any)["scopes"] = []string{"email"}
	if resp := a.Call(t, "PUT", "access/identity_providers/"+p.ID, body); resp.Status != 400 {
		t.Errorf("invalid update: %d %s", resp.Status, resp.Body)
	}
	var got access.IdentityProvider
	resp = a.MustCall(t, "GET", "access/identity_providers/"+p.ID, nil, &got)
	if got.Type != "onetimepin" || got.Name != "pin" || resp.Header.Get("ETag") != `"2"` {
		t.Errorf("refused updates changed the provider: %+v (ETag %q)", got, resp.Header.Get("ETag"))
	}
	a.MustCall(t, "PUT", "access/identity_providers/"+p.ID, oidcBody("sso"), &got)
	if !got.Config.ClientSecretSet {
		t.Errorf("back to oidc: %+v", got)
	}
	for _, path := range []string{"access/identity_providers/" + p.ID, "access/identity_providers/6f1f7e7e-0000-4000-8000-000000000000", "access/identity_providers/nope"} {
		if resp := a.Call(t, "PUT", path+"x", oidcBody("sso")); resp.Status != 404 {
			t.Errorf("PUT %sx: %d", path, resp.Status)
		}
	}
}

func TestIdentityProviderInUseCannotBeDeleted(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	p := createIdP(t, a, oidcBody("sso"))
	login := []any{jsonObj(t, `{"login_method":{"id":"`+p.ID+`"}}`)}

	body := appBody("wiki", uniq(t, "wiki.test"))
	body["allowed_idps"] = []string{p.ID}
	body["auto_redirect_to_identity"] = true
	app := createApp(t, a, body)
	if !slices.Equal(app.AllowedIdPs, []string{p.ID}) {
		t.Fatalf("allowed_idps %q", app.AllowedIdPs)
	}
	var reusable, scoped, claims access.Policy
	a.MustCall(t, "POST", "access/policies", map[string]any{"name": "sso users", "decision": "allow",
		"include": []any{jsonObj(t, `{"everyone":{}}`)}, "require": login}, &reusable)
	a.MustCall(t, "POST", "access/apps/"+app.ID+"/policies", map[string]any{"name": "not via sso", "decision": "deny",
		"include": []any{jsonObj(t, `{"everyone":{}}`)}, "exclude": login}, &scoped)

	a.MustCall(t, "POST", "access/policies", map[string]any{"name": "sso engineers", "decision": "allow",
		"include": []any{jsonObj(t, `{"oidc":{"claim_name":"groups","claim_value":"eng","identity_provider_id":"`+p.ID+`"}}`)}}, &claims)

	resp := a.Call(t, "DELETE", "access/identity_providers/"+p.ID, nil)
	if resp.Status != 409 || resp.Env.Errors[0].Code != 1006 {
		t.Fatalf("delete in use: %d %s", resp.Status, resp.Body)
	}
	for _, name := range []string{"wiki", "sso users", "wiki / not via sso", "sso engineers"} {
		if !strings.Contains(resp.Env.Errors[0].Message, name) {
			t.Errorf("the conflict does not name %q: %s", name, resp.Env.Errors[0].Message)
		}
	}
	a.MustCall(t, "GET", "access/identity_providers/"+p.ID, nil, nil)

	// Once nothing names it, it can go.
	a.MustCall(t, "PUT", "access/apps/"+app.ID, appBody("wiki", app.Domain), nil)
	a.MustCall(t, "DELETE", "access/apps/"+app.ID+"/policies/"+scoped.ID, nil, nil)
	if resp := a.Call(t, "DELETE", "access/identity_providers/"+p.ID, nil); resp.Status != 409 || strings.Contains(resp.Env.Errors[0].Message, "wiki") {
		t.Errorf("delete used by one policy: %d %s", resp.Status, resp.Body)
	}
	a.MustCall(t, "DELETE", "access/policies/"+reusable.ID, nil, nil)
	if resp := a.Call(t, "DELETE", "access/identity_providers/"+p.ID, nil); resp.Status != 409 || !strings.Contains(resp.Env.Errors[0].Message, "sso engineers") {
		t.Errorf("delete used by an oidc rule: %d %s", resp.Status, resp.Body)
	}
	a.MustCall(t, "DELETE", "access/policies/"+claims.ID, nil, nil)

	if resp := a.Do(t, gatehousetest.Request{Method: "DELETE", Path: "access/identity_providers/" + p.ID, Header: map[string]string{"If-Match": `"2"`}}); resp.Status != 412 {
		t.Errorf("delete with stale If-Match: %d", resp.Status)
	}
	var res map[string]string
	a.MustCall(t, "DELETE", "access/identity_providers/"+p.ID, nil, &res)
	if res["id"] != p.ID {
		t.Errorf("delete result %v", res)
	}
	if resp := a.Call(t, "GET", "access/identity_providers/"+p.ID, nil); resp.Status != 404 {
		t.Errorf("deleted provider readable: %d", resp.Status)
	}
	if resp := a.Call(t, "DELETE", "access/identity_providers/"+p.ID, nil); resp.Status != 404 {
		t.Errorf("second delete: %d", resp.Status)
	}
	if _, ok := loadedIdP(t, a, p.ID); ok {
		t.Error("deleted provider still in LoadConfig")
	}
}

func TestAllowedIdPsMustNameProvidersOfTheAccount(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	b := gatehousetest.NewAPI(t)
	mine := createIdP(t, a, oidcBody("mine"))
	theirs := createIdP(t, b, oidcBody("theirs"))

	body := appBody("app", uniq(t, "x.test"))
	body["allowed_idps"] = []string{mine.ID, "6f1f7e7e-0000-4000-8000-000000000000", theirs.ID, "not-a-uuid", strings.ToUpper(mine.ID)}
	resp := a.Call(t, "POST", "access/apps", body)
	want := []string{"allowed_idps[1]", "allowed_idps[2]", "allowed_idps[3]", "allowed_idps[4]"}
	if resp.Status != 400 || !slices.Equal(resp.Fields(), want) {
		t.Fatalf("create: %d fields %q, want %q: %s", resp.Status, resp.Fields(), want, resp.Body)
	}
	body["allowed_idps"] = []string{mine.ID}
	app := createApp(t, a, body)
	body["allowed_idps"] = []string{mine.ID, theirs.ID}
	if resp := a.Call(t, "PUT", "access/apps/"+app.ID, body); resp.Status != 400 || !slices.Equal(resp.Fields(), []string{"allowed_idps[1]"}) {
		t.Errorf("update: %d %s", resp.Status, resp.Body)
	}
	var got access.App
	a.MustCall(t, "GET", "access/apps/"+app.ID, nil, &got)
	if !slices.Equal(got.AllowedIdPs, []string{mine.ID}) {
		t.Errorf("a refused update changed allowed_idps to %q", got.AllowedIdPs)
	}
}

func TestRevokeTokensBumpsTheConfigVersion(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx := context.Background()
	app := createApp(t, a, appBody("app", uniq(t, "x.test")))
	before, err := a.Store.ConfigVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	resp := a.Call(t, "POST", "access/apps/"+app.ID+"/revoke_tokens", nil)
	if resp.Status != 200 || string(resp.Env.Result) != "null" {
		t.Fatalf("revoke: %d %s", resp.Status, resp.Body)
	}
	after, err := a.Store.ConfigVersion(ctx)
	if err != nil || after <= before {
		t.Fatalf("config version %d -> %d (err %v)", before, after, err)
	}
	var entries []access.AuditEntry
	a.MustCall(t, "GET", "audit_logs?resource_id="+app.ID, nil, &entries)
	if e := entries[0]; e.Action.Type != "app.revoke_tokens" || e.ConfigVersion <= before || e.NewValueJSON == nil {
		t.Errorf("audit entry %+v", e)
	}
	cfg, err := a.Store.LoadConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var revokedAt *string
	for _, x := range cfg.Apps {
		if x.ID == app.ID && x.SessionsRevokedAt != nil && !x.SessionsRevokedAt.Before(app.CreatedAt) {
			s := x.SessionsRevokedAt.String()
			revokedAt = &s
		}
	}
	if revokedAt == nil {
		t.Error("LoadConfig has no sessions_revoked_at for the app")
	}
	// The app's wire format does not change, but its ETag does.
	var got access.App
	resp = a.MustCall(t, "GET", "access/apps/"+app.ID, nil, &got)
	if resp.Header.Get("ETag") != `"2"` || strings.Contains(string(resp.Body), "revoked") {
		t.Errorf("after revoke: ETag %q, body %s", resp.Header.Get("ETag"), resp.Body)
	}
	if resp := a.Call(t, "POST", "access/apps/6f1f7e7e-0000-4000-8000-000000000000/revoke_tokens", nil); resp.Status != 404 {
		t.Errorf("unknown app: %d", resp.Status)
	}
	if resp := a.Do(t, gatehousetest.Request{Method: "POST", Path: "access/apps/" + app.ID + "/revoke_tokens", Token: a.ReadOnlyToken}); resp.Status != 403 {
		t.Errorf("read-only token: %d", resp.Status)
	}
	b := gatehousetest.NewAPI(t)
	if resp := b.Call(t, "POST", "access/apps/"+app.ID+"/revoke_tokens", nil); resp.Status != 404 {
		t.Errorf("another account's app: %d", resp.Status)
	}
}

func TestIdentityProviderListPaginatesAndStaysInItsAccount(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	names := []string{"one", "two", "three"}
	var ids []string
	for _, n := range names {
		ids = append(ids, createIdP(t, a, oidcBody(n)).ID)
	}
	var page []access.IdentityProvider
	resp := a.MustCall(t, "GET", "access/identity_providers?per_page=2", nil, &page)
	info := resp.Env.ResultInfo
	if len(page) != 2 || page[0].Name != "one" || page[1].Name != "two" || info.TotalCount != 3 || info.TotalPages != 2 {
		t.Errorf("page 1: %s", resp.Body)
	}
	resp = a.MustCall(t, "GET", "access/identity_providers?per_page=2&page=2", nil, &page)
	if len(page) != 1 || page[0].Name != "three" {
		t.Errorf("page 2: %s", resp.Body)
	}
	resp = a.MustCall(t, "GET", "access/identity_providers?page=9", nil, &page)
	if len(page) != 0 || resp.Env.ResultInfo.TotalCount != 3 {
		t.Errorf("past the end: %s", resp.Body)
	}
	if resp := a.Call(t, "GET", "access/identity_providers?per_page=0", nil); resp.Status != 400 {
		t.Errorf("per_page=0: %d", resp.Status)
	}
	// The read-only token reads but does not write.
	if resp := a.Do(t, gatehousetest.Request{Method: "GET", Path: "access/identity_providers/" + ids[0], Token: a.ReadOnlyToken}); resp.Status != 200 {
		t.Errorf("read-only GET: %d", resp.Status)
	}
	for _, r := range []gatehousetest.Request{
		{Method: "POST", Path: "access/identity_providers", Body: oidcBody("ro")},
		{Method: "PUT", Path: "access/identity_providers/" + ids[0], Body: oidcBody("ro")},
		{Method: "DELETE", Path: "access/identity_providers/" + ids[0]},
	} {
		r.Token = a.ReadOnlyToken
		if resp := a.Do(t, r); resp.Status != 403 {
			t.Errorf("read-only %s: %d", r.Method, resp.Status)
		}
	}
	// Another account sees none of them.
	b := gatehousetest.NewAPI(t)
	b.MustCall(t, "GET", "access/identity_providers", nil, &page)
	if len(page) != 0 {
		t.Errorf("another account lists %d providers", len(page))
	}
	for _, r := range []gatehousetest.Request{
		{Method: "GET", Path: "access/identity_providers/" + ids[0]},
		{Method: "PUT", Path: "access/identity_providers/" + ids[0], Body: oidcBody("stolen")},
		{Method: "DELETE", Path: "access/identity_providers/" + ids[0]},
		{Method: "GET", Path: "access/identity_providers/not-a-uuid"},
	} {
		if resp := b.Do(t, r); resp.Status != 404 {
			t.Errorf("another account's %s: %d", r.Method, resp.Status)
		}
	}
}

func TestIdentityProviderRequestBodyRules(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	for _, tc := range []struct {
		name   string
		req    gatehousetest.Request
		status int
		code   int
	}{
		{"fail/empty body", gatehousetest.Request{Method: "POST", Path: "access/identity_providers"}, 400, 1001},
		{"fail/not json", gatehousetest.Request{Method: "POST", Path: "access/identity_providers", Body: []byte("{nope")}, 400, 1001},
		{"fail/wrong content type", gatehousetest.Request{Method: "POST", Path: "access/identity_providers", Body: []byte("{}"),
			Header: map[string]string{"Content-Type": "text/plain"}}, 415, 1003},
		{"fail/too large", gatehousetest.Request{Method: "POST", Path: "access/identity_providers",
			Body: []byte(`{"name":"` + strings.Repeat("x", 1<<20) + `"}`)}, 413, 1004},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.Do(t, tc.req)
			if resp.Status != tc.status || resp.Env.Errors[0].Code != tc.code {
				t.Errorf("%d %s, want %d code %d", resp.Status, resp.Body, tc.status, tc.code)
			}
		})
	}
}

// TestCloudflareGoSDKManagesIdentityProviders drives identity providers and
// revoke_tokens with Cloudflare's own Go SDK.
func TestCloudflareGoSDKManagesIdentityProviders(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cf := cloudflare.NewClient(option.WithBaseURL(a.URL+"/client/v4/"), option.WithAPIToken(a.Token), option.WithMaxRetries(0), option.WithHTTPClient(a.HTTPClient()))
	acct := cloudflare.F(a.AccountID)

	oidc, err := cf.ZeroTrust.IdentityProviders.New(ctx, zero_trust.IdentityProviderNewParams{AccountID: acct,
		IdentityProvider: zero_trust.IdentityProviderAccessOIDCParam{
			Name: cloudflare.F("Corp SSO"),
			Type: cloudflare.F(zero_trust.IdentityProviderTypeOIDC),
			Config: cloudflare.F(zero_trust.IdentityProviderAccessOIDCConfigParam{
				ClientID:     cloudflare.F("gatehouse"),
				ClientSecret: cloudflare.F(testClientSecret),
				AuthURL:      cloudflare.F("https://idp.example.test/authorize"),
				TokenURL:     cloudflare.F("https://idp.example.test/token"),
				CERTsURL:     cloudflare.F("https://idp.example.test/jwks"),
				PKCEEnabled:  cloudflare.F(true),
			}),
		}})
	if err != nil {
		t.Fatalf("oidc create: %v", err)
	}
	if oidc.ID == "" || oidc.Type != zero_trust.IdentityProviderTypeOIDC || oidc.Name != "Corp SSO" {
		t.Fatalf("oidc decoded as %+v", oidc)
	}
	otp, err := cf.ZeroTrust.IdentityProviders.New(ctx, zero_trust.IdentityProviderNewParams{AccountID: acct,
		IdentityProvider: zero_trust.IdentityProviderAccessOnetimepinParam{
			Name:   cloudflare.F("PIN"),
			Type:   cloudflare.F(zero_trust.IdentityProviderTypeOnetimepin),
			Config: cloudflare.F(zero_trust.IdentityProviderAccessOnetimepinConfigParam{}),
		}})
	if err != nil || otp.Type != zero_trust.IdentityProviderTypeOnetimepin {
		t.Fatalf("onetimepin create: %+v %v", otp, err)
	}
	got, err := cf.ZeroTrust.IdentityProviders.Get(ctx, oidc.ID, zero_trust.IdentityProviderGetParams{AccountID: acct})
	if err != nil || got.ID != oidc.ID || strings.Contains(got.JSON.RawJSON(), testClientSecret) {
		t.Fatalf("get: %+v %v", got, err)
	}
	var listed []string
	iter := cf.ZeroTrust.IdentityProviders.ListAutoPaging(ctx, zero_trust.IdentityProviderListParams{AccountID: acct, PerPage: cloudflare.F(int64(1))})
	for iter.Next() {
		listed = append(listed, iter.Current().ID)
	}
	if err := iter.Err(); err != nil || !slices.Equal(listed, []string{oidc.ID, otp.ID}) {
		t.Fatalf("list: %q %v", listed, err)
	}

	app, err := cf.ZeroTrust.Access.Applications.New(ctx, zero_trust.AccessApplicationNewParams{AccountID: acct,
		Body: zero_trust.AccessApplicationNewParamsBodySelfHostedApplication{
			Domain:      cloudflare.F(uniq(t, "app.test")),
			Type:        cloudflare.F(zero_trust.ApplicationTypeSelfHosted),
			Name:        cloudflare.F("app"),
			AllowedIdPs: cloudflare.F([]zero_trust.AllowedIdPsParam{zero_trust.AllowedIdPsParam(oidc.ID)}),
		}})
	if err != nil {
		t.Fatalf("app create: %v", err)
	}
	if _, err := cf.ZeroTrust.Access.Applications.RevokeTokens(ctx, app.ID, zero_trust.AccessApplicationRevokeTokensParams{AccountID: acct}); err != nil {
		t.Fatalf("revoke tokens: %v", err)
	}
	if _, err := cf.ZeroTrust.IdentityProviders.Delete(ctx, oidc.ID, zero_trust.IdentityProviderDeleteParams{AccountID: acct}); err == nil {
		t.Fatal("deleting a provider an app allows worked")
	}
	deleted, err := cf.ZeroTrust.IdentityProviders.Delete(ctx, otp.ID, zero_trust.IdentityProviderDeleteParams{AccountID: acct})
	if err != nil || deleted.ID != otp.ID {
		t.Fatalf("delete: %+v %v", deleted, err)
	}
}
