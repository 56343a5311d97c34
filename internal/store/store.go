// Package store is Gatehouse's PostgreSQL data layer. Every public method
// runs in exactly one transaction, scopes every query by account, and for a
// write also records an audit entry, bumps the config version and notifies
// the edges, all in that same transaction. Batch runs several of them
// in one transaction, all or nothing.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// ConfigChannel is the LISTEN/NOTIFY channel on which every committed
// change announces the new config version (the payload, in decimal).
const ConfigChannel = "gatehouse_config"

// Store reads and writes Gatehouse's state.
type Store struct {
	pool      *pgxpool.Pool
	now       func() time.Time
	masterKey []byte
	// statementTimeout is statement_timeout on every connection.
	statementTimeout time.Duration
	// nextSweep is when expired login artefacts are next deleted (Unix ns).
	nextSweep atomic.Int64
	// copyBuf is the access log writer's COPY buffer, reused.
	copyMu  sync.Mutex
	copyBuf chunkEncoder
	// marks are where recent list pages ended (lists.go), and markStride
	// how far apart a long skip leaves them (defaultMarkStride if 0).
	marks      pageMarks
	markStride int
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes the store read "now" from clock instead of time.Now.
func WithClock(clock func() time.Time) Option { return func(s *Store) { s.now = clock } }

// WithMasterKey gives the store the installation's master key (32 bytes,
// from session.ParseMasterKey), with which it seals identity providers'
// client secrets at rest and opens them for LoadConfig. Without it,
// storing a secret fails and LoadConfig leaves secrets empty.
func WithMasterKey(key []byte) Option {
	return func(s *Store) { s.masterKey = append([]byte(nil), key...) }
}

// Defaults of the database timeouts.
const (
	// DefaultStatementTimeout is PostgreSQL's statement_timeout on every
	// connection: a statement running (or waiting for a lock) longer is
	// cancelled by the server.
	DefaultStatementTimeout = 30 * time.Second
	// DefaultConnectTimeout bounds opening a connection (TCP and the
	// startup exchange), which a hung server would otherwise stall.
	DefaultConnectTimeout = 5 * time.Second
)

// WithStatementTimeout sets statement_timeout on every connection
// (default DefaultStatementTimeout; a url that sets it wins).
func WithStatementTimeout(d time.Duration) Option {
	return func(s *Store) { s.statementTimeout = d }
}

// Open connects to the database at url. It does not run migrations.
// Callers bound each call with their context's deadline (which also
// bounds waiting for a pooled connection); the server bounds each
// statement with statement_timeout. Neither a hung nor a stopped database
// can hold a caller longer than its deadline.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse database url: %w", err)
	}
	s := &Store{now: time.Now, statementTimeout: DefaultStatementTimeout}
	for _, o := range opts {
		o(s)
	}
	if _, set := cfg.ConnConfig.RuntimeParams["statement_timeout"]; !set && s.statementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(s.statementTimeout.Milliseconds(), 10)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	s.pool = pool
	return s, nil
}

// Close closes every connection.
func (s *Store) Close() { s.pool.Close() }

// Pool is the underlying connection pool, for health checks and metrics.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// querier is either the pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// inTx runs fn in a transaction, with "now" fixed when it starts. The
// transaction is rolled back if fn fails or panics. A database that is
// unreachable or too slow (at BEGIN, in fn, or at COMMIT) is reported as
// EUnavailable.
//
// Inside a batch (Batch) it runs in a savepoint of the batch's
// transaction, with the batch's "now".
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx, now time.Time) error) error {
	now := s.now().UTC().Truncate(time.Microsecond)
	var begin interface {
		Begin(context.Context) (pgx.Tx, error)
	} = s.pool
	if b := batchOf(ctx); b != nil {
		begin, now = b.tx, b.now
	}
	err := pgx.BeginFunc(ctx, begin, func(tx pgx.Tx) error { return fn(tx, now) })
	var ae *access.Error
	if err != nil && !errors.As(err, &ae) && unavailable(err) {
		return access.Unavailable(err)
	}
	return err
}

// change is one audited write.
type change struct {
	accountID    string
	action       string // e.g. "create", "update", "delete", "rotate"
	resourceType string // e.g. "app", "policy", "service_token"
	resourceID   string
	before       any
	after        any
}

// record writes the audit entry for c, bumps the config version, records
// the changed objects in the change feed and notifies listeners. It must
// run inside the write's transaction, so that the version and the feed
// rows become visible exactly when the change does.
func record(ctx context.Context, tx pgx.Tx, now time.Time, actor access.Actor, c change, changed ...object) error {
	version, err := bumpVersion(ctx, tx, now, changed...)
	if err != nil {
		return err
	}
	before, err := auditJSON(c.before)
	if err != nil {
		return err
	}
	after, err := auditJSON(c.after)
	if err != nil {
		return err
	}
	var tokenID *string
	if actor.TokenID != "" {
		tokenID = &actor.TokenID
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO audit_log (account_id, created_at, actor_token_id, actor_name, request_id,
		                       action, resource_type, resource_id, before, after, config_version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		c.accountID, now, tokenID, actor.Name, actor.RequestID,
		c.resourceType+"."+c.action, c.resourceType, c.resourceID, before, after, version)
	if err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	return count(ctx, tx, c.accountID, countAudit, 1, time.Time{}) // newest first: every entry moves the rest
}

// bumpVersion bumps the config version, records the changed objects at
// the new version in the change feed (now and then sweeping rows past its
// retention) and notifies listeners, inside the write's transaction: the
// whole of a write the audit log does not record (a user's logout), and
// part of record.
func bumpVersion(ctx context.Context, tx pgx.Tx, now time.Time, changed ...object) (int64, error) {
	var version int64
	if err := tx.QueryRow(ctx, `UPDATE config_state SET version = version + 1 RETURNING version`).Scan(&version); err != nil {
		return 0, fmt.Errorf("bump config version: %w", err)
	}
	if err := recordChanges(ctx, tx, version, now, changed); err != nil {
		return 0, err
	}
	if version%feedSweepEvery == 0 {
		if _, err := sweepFeed(ctx, tx, version, now, FeedRetainVersions, FeedRetainAge); err != nil {
			return 0, err
		}
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, ConfigChannel, strconv.FormatInt(version, 10)); err != nil {
		return 0, fmt.Errorf("notify: %w", err)
	}
	return version, nil
}

// auditJSON encodes a before/after value. Secrets never reach it: service
// tokens are recorded without their secret (the field is empty on every
// stored value) and secret hashes are not part of any model.
func auditJSON(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode audit value: %w", err)
	}
	return b, nil
}

// ConfigVersion returns the version of the latest committed change.
func (s *Store) ConfigVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.db(ctx).QueryRow(ctx, `SELECT version FROM config_state`).Scan(&v); err != nil {
		return 0, wrap("config version", err)
	}
	return v, nil
}

// notFound is the error for a missing resource; the same for one that
// belongs to another account, so existence never leaks.
func notFound(what string) error { return access.Errorf(access.ENotFound, "%s not found", what) }

// wrap adds context to err, mapping PostgreSQL errors to domain errors.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var ae *access.Error
	if errors.As(err, &ae) {
		return err
	}
	if mapped := interpret(err); mapped != nil {
		return mapped
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// total returns the page's total row count from a COUNT(*) OVER () column,
// falling back to a count query when the page is past the end.
func pageTotal(ctx context.Context, q querier, n int, first int, countSQL string, args ...any) (int, error) {
	if n > 0 {
		return first, nil
	}
	var total int
	if err := q.QueryRow(ctx, countSQL, args...).Scan(&total); err != nil {
		return 0, err
	}
	return total, nil
}
