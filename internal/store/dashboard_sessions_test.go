package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// accountToken makes an account and returns it with its read-write API
// token, as the API authenticated it.
func accountToken(t *testing.T, st *store.Store) (string, access.APIToken) {
	t.Helper()
	acct, token, _ := gatehousetest.NewAccount(t, st)
	tok, err := st.AuthenticateAPIToken(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	return acct, tok
}

func TestDashboardSessionsStoreOnlyTheSecretsHash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := gatehousetest.Store(t)
	acct, tok := accountToken(t, st)
	d, secret, err := st.CreateDashboardSession(ctx, acct, tok.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if d.Token != tok || d.CSRFToken == "" || secret == "" || d.CSRFToken == secret {
		t.Fatalf("session = %+v, secret %q", d, secret)
	}
	var n int
	if err := st.Pool().QueryRow(ctx, `
		SELECT count(*) FROM dashboard_sessions
		WHERE id = $1 AND secret_hash = sha256(convert_to($2, 'UTF8')) AND position(convert_to($2, 'UTF8') in secret_hash) = 0`,
		d.ID, secret).Scan(&n); err != nil || n != 1 {
		t.Fatalf("stored row with the secret's SHA-256: n=%d err=%v", n, err)
	}
	got, err := st.AuthenticateDashboardSession(ctx, secret, time.Hour)
	if err != nil || got.ID != d.ID || got.Token != tok || got.CSRFToken != d.CSRFToken {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	for _, wrong := range []string{"", d.CSRFToken, secret + "x"} {
		if _, err := st.AuthenticateDashboardSession(ctx, wrong, time.Hour); access.KindOf(err) != access.EUnauthorized {
			t.Errorf("authenticate with %q: %v", wrong, err)
		}
	}
}

func TestDashboardSessionNeedsATokenOfTheAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := gatehousetest.Store(t)
	acct, tok := accountToken(t, st)
	other, _, _ := gatehousetest.NewAccount(t, st)
	if _, _, err := st.CreateDashboardSession(ctx, other, tok.ID, time.Hour); access.KindOf(err) != access.EUnauthorized {
		t.Errorf("session for another account's token: %v", err)
	}
	if _, _, err := st.CreateDashboardSession(ctx, acct, "6f1f7e7e-0000-4000-8000-000000000000", time.Hour); access.KindOf(err) != access.EUnauthorized {
		t.Errorf("session for an unknown token: %v", err)
	}
	d, secret, err := st.CreateDashboardSession(ctx, acct, tok.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteDashboardSession(ctx, other, d.ID); access.KindOf(err) != access.EUnauthorized {
		t.Errorf("delete through another account: %v", err)
	}
	if _, err := st.AuthenticateDashboardSession(ctx, secret, time.Hour); err != nil {
		t.Errorf("session gone after another account's delete: %v", err)
	}
	if err := st.DeleteDashboardSession(ctx, acct, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AuthenticateDashboardSession(ctx, secret, time.Hour); access.KindOf(err) != access.EUnauthorized {
		t.Errorf("authenticate after delete: %v", err)
	}
}

func TestDashboardSessionLastSeenIsRefreshedAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, c := clockedStore(t)
	acct, tok := accountToken(t, st)
	d, secret, err := st.CreateDashboardSession(ctx, acct, tok.ID, 8*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	lastSeen := func() time.Time {
		t.Helper()
		var ts time.Time
		if err := st.Pool().QueryRow(ctx, `SELECT last_seen_at FROM dashboard_sessions WHERE id = $1`, d.ID).Scan(&ts); err != nil {
			t.Fatal(err)
		}
		return ts
	}
	signedIn := lastSeen()
	c.Advance(30 * time.Second)
	if _, err := st.AuthenticateDashboardSession(ctx, secret, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := lastSeen(); !got.Equal(signedIn) {
		t.Errorf("last_seen_at written after 30s: %v, was %v", got, signedIn)
	}
	c.Advance(31 * time.Second)
	got, err := st.AuthenticateDashboardSession(ctx, secret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if ls := lastSeen(); !ls.After(signedIn) || !ls.Equal(got.LastSeenAt) {
		t.Errorf("last_seen_at not refreshed after 61s: %v (session says %v)", ls, got.LastSeenAt)
	}
}

func TestDeadDashboardSessionsAreDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, c := clockedStore(t)
	acct, tok := accountToken(t, st)
	exists := func(id string) bool {
		t.Helper()
		var ok bool
		if err := st.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dashboard_sessions WHERE id = $1)`, id).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	// Presented after it died: refused and deleted.
	idle, idleSecret, err := st.CreateDashboardSession(ctx, acct, tok.ID, 8*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Never presented again: swept by a later sign-in, an hour after expiry.
	forgotten, _, err := st.CreateDashboardSession(ctx, acct, tok.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Hour)
	if _, err := st.AuthenticateDashboardSession(ctx, idleSecret, time.Hour); access.KindOf(err) != access.EUnauthorized {
		t.Fatalf("idle for an hour: %v", err)
	}
	if exists(idle.ID) {
		t.Error("the idle session was refused but not deleted")
	}
	if _, _, err := st.CreateDashboardSession(ctx, acct, tok.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if !exists(forgotten.ID) {
		t.Error("swept a session that expired less than an hour ago")
	}
	c.Advance(2 * time.Minute)
	if _, _, err := st.CreateDashboardSession(ctx, acct, tok.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if exists(forgotten.ID) {
		t.Error("a session expired for over an hour was not swept")
	}
}

func TestDashboardSessionsEndWithTheirAPIToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := gatehousetest.Store(t)
	acct, tok := accountToken(t, st)
	_, secret, err := st.CreateDashboardSession(ctx, acct, tok.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `DELETE FROM api_tokens WHERE id = $1`, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AuthenticateDashboardSession(ctx, secret, time.Hour); access.KindOf(err) != access.EUnauthorized {
		t.Errorf("session outlived its API token: %v", err)
	}
}
