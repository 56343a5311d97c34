package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestAPITokensAuthenticateByValueOnly(t *testing.T) {
	t.Parallel()
	st := gatehousetest.Store(t)
	ctx := context.Background()
	acct, err := st.CreateAccount(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	tok, value, err := st.CreateAPIToken(ctx, acct.ID, "deploy", true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.AuthenticateAPIToken(ctx, value)
	if err != nil || got.ID != tok.ID || got.AccountID != acct.ID || !got.ReadOnly {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	if _, err := st.AuthenticateAPIToken(ctx, value+"x"); access.KindOf(err) != access.EUnauthorized {
		t.Fatalf("wrong value: %v", err)
	}
	var stored int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM api_tokens t WHERE t::text LIKE '%' || $1 || '%'`, value).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("token value stored in clear (%d rows, %v)", stored, err)
	}
	if _, _, err := st.CreateAPIToken(ctx, "0123456789abcdef0123456789abcdef", "x", false); access.KindOf(err) != access.ENotFound {
		t.Fatalf("token for a missing account: %v", err)
	}
}

func TestDomainErrorsSurviveWrapping(t *testing.T) {
	t.Parallel()
	st := gatehousetest.Store(t)
	ctx := context.Background()
	acct, err := st.CreateAccount(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.GetApp(ctx, acct.ID, "6f1f7e7e-0000-4000-8000-000000000000")
	var ae *access.Error
	if !errors.As(err, &ae) || ae.Kind != access.ENotFound {
		t.Fatalf("missing app: %v", err)
	}
}
