package store_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/sealed"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func oidcSpec(name, secret string) access.IdentityProviderSpec {
	spec := access.IdentityProviderSpec{Name: name, Type: access.IdPTypeOIDC, Config: access.IdPConfigSpec{
		ClientID: "gatehouse", ClientSecret: secret, IssuerURL: "https://idp.example.test"}}
	if err := spec.Normalize(secret != ""); err != nil {
		panic(err)
	}
	return spec
}

func loadIdP(t *testing.T, st *store.Store, id string) (access.IdentityProvider, error) {
	t.Helper()
	cfg, err := st.LoadConfig(context.Background())
	if err != nil {
		return access.IdentityProvider{}, err
	}
	for _, p := range cfg.IdentityProviders {
		if p.ID == id {
			return p, nil
		}
	}
	t.Fatalf("provider %s not in LoadConfig", id)
	return access.IdentityProvider{}, nil
}

func TestIdentityProviderSecretsNeedTheMasterKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	withKey := gatehousetest.Store(t)
	acct, err := withKey.CreateAccount(ctx, "idp keys")
	if err != nil {
		t.Fatal(err)
	}
	actor := access.Actor{Name: "test"}
	p, err := withKey.CreateIdentityProvider(ctx, actor, acct.ID, oidcSpec("sso", "the-secret"))
	if err != nil || !p.Config.ClientSecretSet || p.Config.ClientSecret != "" {
		t.Fatalf("create: %+v %v", p, err)
	}
	// Sealed for its row: the stored bytes open with the master key and the
	// provider id as additional data, and hold no plaintext.
	var box []byte
	if err := withKey.Pool().QueryRow(ctx, `SELECT client_secret FROM identity_providers WHERE id = $1`, p.ID).Scan(&box); err != nil {
		t.Fatal(err)
	}
	if plain, err := sealed.Open(gatehousetest.MasterKey, p.ID, box); err != nil || string(plain) != "the-secret" || bytes.Contains(box, []byte("the-secret")) {
		t.Errorf("stored secret: open=%q err=%v", plain, err)
	}
	if loaded, err := loadIdP(t, withKey, p.ID); err != nil || loaded.Config.ClientSecret != "the-secret" || !loaded.Config.ClientSecretSet {
		t.Errorf("LoadConfig with the key: %+v %v", loaded.Config, err)
	}

	// Without a key, storing a secret is an internal error that names the
	// cause; a onetimepin provider needs no key; LoadConfig leaves the
	// secret empty.
	noKey, err := store.Open(ctx, gatehousetest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer noKey.Close()
	_, err = noKey.CreateIdentityProvider(ctx, actor, acct.ID, oidcSpec("sso 2", "x"))
	if access.KindOf(err) != access.EInternal || !strings.Contains(err.Error(), "master key") {
		t.Errorf("create without a key: %v", err)
	}
	if _, err := noKey.CreateIdentityProvider(ctx, actor, acct.ID, access.IdentityProviderSpec{Name: "pin", Type: access.IdPTypeOneTimePIN}); err != nil {
		t.Errorf("onetimepin without a key: %v", err)
	}
	if loaded, err := loadIdP(t, noKey, p.ID); err != nil || loaded.Config.ClientSecret != "" || !loaded.Config.ClientSecretSet {
		t.Errorf("LoadConfig without a key: %+v %v", loaded.Config, err)
	}
	// A replacement that keeps the secret needs no key either.
	if _, err := noKey.UpdateIdentityProvider(ctx, actor, acct.ID, p.ID, 0, oidcSpec("sso renamed", "")); err != nil {
		t.Errorf("rename without a key: %v", err)
	}

	// The wrong key fails the load loudly rather than handing the edge a
	// wrong secret.
	wrongKey, err := store.Open(ctx, gatehousetest.DatabaseURL(t), store.WithMasterKey(bytes.Repeat([]byte{1}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	defer wrongKey.Close()
	if _, err := wrongKey.LoadConfig(ctx); !errors.Is(err, sealed.ErrOpen) {
		t.Errorf("LoadConfig with the wrong key: %v", err)
	}
	// Leave the package database loadable for other tests.
	if err := withKey.DeleteIdentityProvider(ctx, actor, acct.ID, p.ID, 0); err != nil {
		t.Fatal(err)
	}
}

func TestRevokedSessionsReachLoadConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, c := clockedStore(t, store.WithMasterKey(gatehousetest.MasterKey))
	acct, err := st.CreateAccount(ctx, "revoke")
	if err != nil {
		t.Fatal(err)
	}
	spec := access.AppSpec{Type: access.AppTypeSelfHosted, Name: "app", Domain: strings.ToLower(acct.ID) + ".revoke.test"}
	valid, err := spec.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	app, err := st.CreateApp(ctx, access.Actor{Name: "test"}, acct.ID, valid)
	if err != nil {
		t.Fatal(err)
	}
	if app.SessionsRevokedAt != nil {
		t.Fatalf("new app has sessions_revoked_at %v", app.SessionsRevokedAt)
	}
	when := c.Now().UTC().Truncate(1e3)
	revoked, err := st.RevokeAppSessions(ctx, access.Actor{Name: "test"}, acct.ID, app.ID)
	if err != nil || revoked.SessionsRevokedAt == nil || !revoked.SessionsRevokedAt.Equal(when) || revoked.Revision != app.Revision+1 {
		t.Fatalf("revoke: %v %v (revision %d)", revoked.SessionsRevokedAt, err, revoked.Revision)
	}
	cfg, err := st.LoadConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.Apps {
		if a.ID == app.ID && (a.SessionsRevokedAt == nil || !a.SessionsRevokedAt.Equal(when)) {
			t.Errorf("LoadConfig: sessions_revoked_at %v, want %v", a.SessionsRevokedAt, when)
		}
	}
	if _, err := st.RevokeAppSessions(ctx, access.Actor{Name: "test"}, acct.ID, "6f1f7e7e-0000-4000-8000-000000000000"); access.KindOf(err) != access.ENotFound {
		t.Errorf("unknown app: %v", err)
	}
}

// TestLoadAccountConfigIsOneAccountWithoutSecrets: the policy tester's
// load sees the caller's account only, and opens no secret, where the
// edge's load sees every account with its secrets.
func TestLoadAccountConfigIsOneAccountWithoutSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := gatehousetest.Store(t)
	actor := access.Actor{Name: "test"}
	var ids [2]string
	for i := range ids {
		acct, err := st.CreateAccount(ctx, "scoped load")
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = acct.ID
		if _, err := st.CreateIdentityProvider(ctx, actor, acct.ID, oidcSpec("sso", "secret-of-"+acct.ID)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateServiceToken(ctx, actor, acct.ID, access.ServiceTokenSpec{Name: "ci", Duration: "8760h"}); err != nil {
			t.Fatal(err)
		}
	}
	scoped, err := st.LoadAccountConfig(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(scoped.IdentityProviders) != 1 || len(scoped.ServiceTokens) != 1 {
		t.Fatalf("scoped load: %d providers, %d tokens, want 1 and 1", len(scoped.IdentityProviders), len(scoped.ServiceTokens))
	}
	if p := scoped.IdentityProviders[0]; p.AccountID != ids[0] || p.Config.ClientSecret != "" {
		t.Fatalf("scoped load: provider of %s with secret %q", p.AccountID, p.Config.ClientSecret)
	}
	if tok := scoped.ServiceTokens[0]; tok.AccountID != ids[0] {
		t.Fatalf("scoped load: a token of %s", tok.AccountID)
	}
	all, err := st.LoadConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	for _, p := range all.IdentityProviders {
		if (p.AccountID == ids[0] || p.AccountID == ids[1]) && p.Config.ClientSecret == "secret-of-"+p.AccountID {
			opened++
		}
	}
	if opened != 2 {
		t.Fatalf("the edge's load opened %d of the 2 secrets", opened)
	}
}
