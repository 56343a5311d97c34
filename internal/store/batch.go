package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// batchKey carries a batch's transaction in a context (Batch).
type batchKey struct{}

// batch is the one transaction every store call of a batch runs in.
type batch struct {
	tx  pgx.Tx
	now time.Time
}

func batchOf(ctx context.Context) *batch {
	b, _ := ctx.Value(batchKey{}).(*batch)
	return b
}

// db is what a read runs on: the batch's transaction inside a batch (so
// that it sees the batch's earlier writes), otherwise the pool.
func (s *Store) db(ctx context.Context) querier {
	if b := batchOf(ctx); b != nil {
		return b.tx
	}
	return s.pool
}

// Batch runs fn with a context in which every store call runs in one
// transaction: each write in a savepoint of it, each read on it, with
// "now" fixed when the batch starts. The transaction commits when fn
// returns nil and commit is true; otherwise (fn fails or panics, or
// commit is false: a dry run) it is rolled back and nothing of it was
// ever visible, neither the writes nor their audit entries, config
// versions or notifications (PostgreSQL delivers NOTIFY at commit).
//
// The calls in fn must not run concurrently: a transaction is one
// connection. A batch holds the config version's row lock from its first
// write to its end, so other writes wait for it: keep batches short (the
// caller's context bounds it). Lists must not run in a batch: the page
// marks they remember (lists.go) would outlive a rollback.
func (s *Store) Batch(ctx context.Context, commit bool, fn func(ctx context.Context) error) error {
	if batchOf(ctx) != nil {
		return errors.New("store: a batch inside a batch")
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return unavailableOr("begin batch", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op once committed
	if err := fn(context.WithValue(ctx, batchKey{}, &batch{tx: tx, now: now})); err != nil {
		return err
	}
	if !commit {
		return nil
	}
	if err := tx.Commit(ctx); err != nil {
		return unavailableOr("commit batch", err)
	}
	return nil
}

// unavailableOr reports a database that cannot be reached or is too slow
// as EUnavailable, and anything else wrapped.
func unavailableOr(op string, err error) error {
	var ae *access.Error
	if !errors.As(err, &ae) && unavailable(err) {
		return access.Unavailable(err)
	}
	return wrap(op, err)
}
