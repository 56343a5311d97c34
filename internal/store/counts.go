package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Kinds of per-account count (account_counts.kind), the unfiltered
// total_count of the API lists.
const (
	countApp          = "app"
	countPolicy       = "policy" // reusable policies
	countServiceToken = "service_token"
	countIdP          = "identity_provider"
	countAudit        = "audit"
)

// count adds delta to an account's count of kind, in the transaction of
// the insert or delete it counts. Concurrent writers of one account and
// kind queue on the count's row until the first commits.
func count(ctx context.Context, tx pgx.Tx, accountID, kind string, delta int) error {
	_, err := tx.Exec(ctx, `INSERT INTO account_counts (account_id, kind, n) VALUES ($1, $2, GREATEST($3::bigint, 0))
		ON CONFLICT (account_id, kind) DO UPDATE SET n = account_counts.n + $3::bigint`, accountID, kind, delta)
	if err != nil {
		return fmt.Errorf("count %s: %w", kind, err)
	}
	return nil
}

// readCount returns an account's count of kind.
func readCount(ctx context.Context, q querier, accountID, kind string) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT n FROM account_counts WHERE account_id = $1 AND kind = $2`, accountID, kind).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return n, err
}
