package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kinds of per-account count (account_counts.kind), the unfiltered
// total_count of the API lists.
const (
	countApp          = "app"
	countPolicy       = "policy" // reusable policies
	countServiceToken = "service_token"
	countIdP          = "identity_provider"
	countGroup        = "access_group"
	countAudit        = "audit"
)

// count adds delta to an account's count of kind, in the transaction of
// the insert or delete it counts. appendedAt is the created_at of an
// inserted row, which then joins the end of lists in created_at order
// (and moves no other row) when it is after every row counted before;
// zero says the insert moves rows (as in a newest-first list). Concurrent
// writers of one account and kind queue on the count's row until the
// first commits.
func count(ctx context.Context, tx pgx.Tx, accountID, kind string, delta int, appendedAt time.Time) error {
	var at *time.Time
	if !appendedAt.IsZero() {
		at = &appendedAt
	}
	_, err := tx.Exec(ctx, `INSERT INTO account_counts AS c (account_id, kind, n, last_at)
		VALUES ($1, $2, GREATEST($3::bigint, 0), COALESCE($4::timestamptz, '-infinity'))
		ON CONFLICT (account_id, kind) DO UPDATE SET n = c.n + $3::bigint,
			gen = c.gen + CASE WHEN $3::bigint > 0 AND $4::timestamptz > c.last_at THEN 0 ELSE 1 END,
			last_at = GREATEST(c.last_at, COALESCE($4::timestamptz, '-infinity'))`, accountID, kind, delta, at)
	if err != nil {
		return fmt.Errorf("count %s: %w", kind, err)
	}
	return nil
}

// readCount returns an account's count of kind, and its generation
// (which every insert and delete changes).
func readCount(ctx context.Context, q querier, accountID, kind string) (n int, gen int64, err error) {
	err = q.QueryRow(ctx, `SELECT n, gen FROM account_counts WHERE account_id = $1 AND kind = $2`, accountID, kind).Scan(&n, &gen)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, nil
	}
	return n, gen, err
}
