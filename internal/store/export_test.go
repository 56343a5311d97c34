package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// WithMarkStride makes a long skip through a list leave marks every n
// rows (tests use a small n to exercise the seeks on a small list).
func WithMarkStride(n int) Option { return func(s *Store) { s.markStride = n } }

// BumpVersionPastFeed runs bumpVersionPastFeed in a transaction of its own.
func (s *Store) BumpVersionPastFeed(ctx context.Context) (int64, error) {
	var v int64
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		var err error
		v, err = bumpVersionPastFeed(ctx, tx, now)
		return err
	})
	return v, err
}

// SummarizeAccessLogsSQL is the query of SummarizeAccessLogs, for EXPLAIN.
const SummarizeAccessLogsSQL = summarizeAccessLogsSQL
