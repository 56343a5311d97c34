package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// CreateAccount creates an account with a fresh id.
func (s *Store) CreateAccount(ctx context.Context, name string) (access.Account, error) {
	a := access.Account{ID: access.NewAccountID(), Name: name}
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		a.CreatedAt = now
		_, err := tx.Exec(ctx, `INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)`, a.ID, a.Name, now)
		return err
	})
	return a, wrap("create account", err)
}

// GetAccount returns the account with the given id.
func (s *Store) GetAccount(ctx context.Context, id string) (access.Account, error) {
	var a access.Account
	err := s.db(ctx).QueryRow(ctx, `SELECT id, name, created_at FROM accounts WHERE id = $1`, id).Scan(&a.ID, &a.Name, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return access.Account{}, notFound("account")
	}
	return a, wrap("get account", err)
}

// CountAccounts returns how many accounts exist.
func (s *Store) CountAccounts(ctx context.Context) (int, error) {
	var n int
	err := s.db(ctx).QueryRow(ctx, `SELECT count(*) FROM accounts`).Scan(&n)
	return n, wrap("count accounts", err)
}

// CreateAPIToken creates an API token for an account and returns it with
// its value, which is not stored and cannot be read again.
func (s *Store) CreateAPIToken(ctx context.Context, accountID, name string, readOnly bool) (access.APIToken, string, error) {
	value := access.NewAPITokenValue()
	t := access.APIToken{ID: uuid.NewString(), AccountID: accountID, Name: name, ReadOnly: readOnly}
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		t.CreatedAt = now
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)`, accountID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return notFound("account")
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO api_tokens (id, account_id, name, token_hash, read_only, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			t.ID, accountID, name, access.HashSecret(value), readOnly, now)
		return err
	})
	if err != nil {
		return access.APIToken{}, "", wrap("create api token", err)
	}
	return t, value, nil
}

// AuthenticateAPIToken returns the API token whose value is given, or an
// EUnauthorized error. The lookup is by hash, so the value's bytes are
// never compared in variable time.
func (s *Store) AuthenticateAPIToken(ctx context.Context, value string) (access.APIToken, error) {
	var t access.APIToken
	err := s.db(ctx).QueryRow(ctx, `
		SELECT id, account_id, name, read_only, created_at FROM api_tokens WHERE token_hash = $1`,
		access.HashSecret(value)).Scan(&t.ID, &t.AccountID, &t.Name, &t.ReadOnly, &t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return access.APIToken{}, access.Errorf(access.EUnauthorized, "invalid API token")
	}
	return t, wrap("authenticate api token", err)
}
