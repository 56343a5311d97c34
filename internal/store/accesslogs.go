package store

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// The access log is stored in chunks (migration 0007): a row of
// access_log_chunks holds one batch of one account's entries, each column
// an array with an element per entry, sorted by time. Per entry that
// costs PostgreSQL a few array elements instead of a tuple, its index
// entries and their WAL.

// accessLogArrays names entryArrays, the chunk's per-entry columns.
var accessLogArrays = func() []string {
	names := make([]string, len(entryArrays))
	for i, a := range entryArrays {
		names[i] = a.name
	}
	return names
}()

var chunkColumns = append([]string{"account_id", "first_at", "last_at", "n", "has_allowed", "has_denied", "app_ids", "reasons"}, accessLogArrays...)

// InsertAccessLogs writes a batch of access log entries with one COPY, as
// one chunk per account. Entries without an account (no app matched) are
// stored with a NULL account and are never listed.
func (s *Store) InsertAccessLogs(ctx context.Context, entries []access.AccessLogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	s.copyMu.Lock()
	defer s.copyMu.Unlock()
	enc := &s.copyBuf
	enc.reset()
	// One chunk per account, in the order accounts first appear, each in
	// time order: pruning trims a chunk's oldest entries off its front.
	first := map[string]int{}
	for i := range entries {
		if _, ok := first[entries[i].AccountID]; !ok {
			first[entries[i].AccountID] = i
		}
	}
	enc.rows = append(enc.rows[:0], entries...)
	rows := enc.rows
	slices.SortStableFunc(rows, func(a, b access.AccessLogEntry) int {
		return cmp.Or(cmp.Compare(first[a.AccountID], first[b.AccountID]), a.CreatedAt.Compare(b.CreatedAt))
	})
	for len(rows) > 0 {
		n := 1
		for n < len(rows) && rows[n].AccountID == rows[0].AccountID {
			n++
		}
		enc.chunk(rows[:n])
		rows = rows[n:]
	}
	clear(enc.rows[:len(entries)]) // let the entries' strings be collected
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return wrap("insert access logs", err)
	}
	defer conn.Release()
	_, err = conn.Conn().PgConn().CopyFrom(ctx, enc.finish(), copyChunks)
	if cap(enc.b) > 16<<20 {
		enc.b, enc.rows = nil, nil // a huge batch: don't keep its buffers
	}
	return wrap("insert access logs", err)
}

var copyChunks = "COPY access_log_chunks (" + strings.Join(chunkColumns, ", ") + ") FROM STDIN (FORMAT binary)"

// unnestChunk is the FROM clause that turns chunks c into entries r.
var unnestChunk = `access_log_chunks c CROSS JOIN LATERAL unnest(` +
	"c." + strings.Join(accessLogArrays, ", c.") + `) WITH ORDINALITY AS r(` +
	strings.Join(accessLogArrays, ", ") + `, ord)`

// Chunks are read in batches, newest (or oldest) first, until the page
// is complete and no unread chunk can hold an entry that belongs on it.
const (
	firstChunkBatch = 2
	maxChunkBatch   = 256
)

// listedEntry is an entry with its position in the log's total order.
type listedEntry struct {
	access.AccessLogEntry
	chunk, ord int64
}

// ListAccessLogs returns one page of an account's access log, newest
// first unless q.Ascending. Rows without an account are never returned.
func (s *Store) ListAccessLogs(ctx context.Context, accountID string, q access.AccessLogQuery, pg access.Page) ([]access.AccessLogEntry, error) {
	var since, until *time.Time
	if !q.Since.IsZero() {
		since = &q.Since
	}
	if !q.Until.IsZero() {
		until = &q.Until
	}
	// The edge stores emails lower-cased.
	email, exact := strings.ToLower(q.Email), q.EmailExact
	if !exact && email != "" {
		email = containsPattern(email)
	}
	// Entries sort by time, then by where they were written.
	compare := func(a, b listedEntry) int {
		c := cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.chunk, b.chunk), cmp.Compare(a.ord, b.ord))
		if q.Ascending {
			return c
		}
		return -c
	}
	dir, chunkOrder, chunkEdge, cursorOp := "DESC", "last_at DESC, id DESC", "last_at", "<"
	if q.Ascending {
		dir, chunkOrder, chunkEdge, cursorOp = "ASC", "first_at ASC, id ASC", "first_at", ">"
	}
	need := pg.Offset() + pg.PerPage
	var (
		got       []listedEntry
		cursorAt  *time.Time
		cursorID  int64
		batchSize = firstChunkBatch
	)
	for {
		ids, last, err := s.accessLogChunks(ctx, accountID, q, since, until, chunkEdge, chunkOrder, cursorOp, cursorAt, cursorID, batchSize)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			break
		}
		rows, err := s.pool.Query(ctx, `
			SELECT c.id, r.ord, r.created_at, r.ray_id, r.app_id, r.app_domain, r.action, r.allowed, r.reason,
			       r.user_email, r.connection, r.service_token_id, r.service_token_name, r.non_identity,
			       r.ip_address, r.country, r.method, r.origin, r.request_method, r.request_headers,
			       r.upstream_status, r.upstream_latency_us, r.decision_us, r.purpose_justification, r.path
			FROM `+unnestChunk+`
			WHERE c.id = ANY($1)
			  AND ($2::timestamptz IS NULL OR r.created_at >= $2)
			  AND ($3::timestamptz IS NULL OR r.created_at < $3)
			  AND ($4 = '' OR r.app_id = $4)
			  AND ($5::boolean IS NULL OR r.allowed = $5)
			  AND ($6 = '' OR r.reason = $6)
			  AND ($7 = '' OR CASE WHEN $8 THEN r.user_email = $7 ELSE lower(r.user_email) LIKE $7 END)
			  AND ($10 = '' OR r.action = $10)
			  AND ($11 = '' OR r.service_token_id = $11)
			ORDER BY r.created_at `+dir+`, c.id `+dir+`, r.ord `+dir+`
			LIMIT $9`,
			ids, since, until, q.AppID, q.Allowed, q.Reason, email, exact, need, q.Action, q.ServiceTokenID)
		if err != nil {
			return nil, wrap("list access logs", err)
		}
		for rows.Next() {
			var e listedEntry
			var upstreamUS int64
			if err := rows.Scan(&e.chunk, &e.ord, &e.CreatedAt, &e.RayID, &e.AppUID, &e.AppDomain, &e.Action, &e.Allowed, &e.Reason,
				&e.UserEmail, &e.Connection, &e.ServiceTokenID, &e.ServiceTokenName, &e.NonIdentity,
				&e.IPAddress, &e.Country, &e.Method, &e.Origin, &e.RequestMethod, &e.RequestHeaders, &e.UpstreamStatus,
				&upstreamUS, &e.DecisionUS, &e.PurposeJustification, &e.Path); err != nil {
				rows.Close()
				return nil, wrap("list access logs", err)
			}
			e.AccountID = accountID
			e.UpstreamLatencyMS = float64(upstreamUS) / 1000
			got = append(got, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, wrap("list access logs", err)
		}
		slices.SortFunc(got, compare)
		got = got[:min(len(got), need)]
		// Every unread chunk's entries are at or beyond its edge, which
		// is at or beyond the last edge read.
		if len(ids) < batchSize {
			break
		}
		if len(got) == need {
			t := got[need-1].CreatedAt
			if (!q.Ascending && t.After(last)) || (q.Ascending && t.Before(last)) {
				break
			}
		}
		cursorAt, cursorID = &last, ids[len(ids)-1]
		batchSize = min(2*batchSize, maxChunkBatch)
	}
	entries := make([]access.AccessLogEntry, 0, pg.PerPage)
	for i := pg.Offset(); i < len(got); i++ {
		entries = append(entries, got[i].AccessLogEntry)
	}
	return entries, nil
}

// accessLogChunks returns the ids of the next batch of an account's
// chunks that may hold entries in [since, until) matching q, after the
// cursor, and the last one's edge time (last_at, or first_at when reading
// oldest first).
func (s *Store) accessLogChunks(ctx context.Context, accountID string, q access.AccessLogQuery, since, until *time.Time,
	edge, order, cursorOp string, cursorAt *time.Time, cursorID int64, limit int) ([]int64, time.Time, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, `+edge+` FROM access_log_chunks
		WHERE account_id = $1
		  AND ($2::timestamptz IS NULL OR last_at >= $2)
		  AND ($3::timestamptz IS NULL OR first_at < $3)
		  AND ($4::timestamptz IS NULL OR (`+edge+`, id) `+cursorOp+` ($4, $5))
		  AND ($7::boolean IS NULL OR CASE WHEN $7 THEN has_allowed ELSE has_denied END)
		  AND ($8 = '' OR $8 = ANY(app_ids))
		  AND ($9 = '' OR $9 = ANY(reasons))
		ORDER BY `+order+`
		LIMIT $6`, accountID, since, until, cursorAt, cursorID, limit, q.Allowed, q.AppID, q.Reason)
	if err != nil {
		return nil, time.Time{}, wrap("list access log chunks", err)
	}
	var ids []int64
	var id int64
	var last time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &last}, func() error {
		ids = append(ids, id)
		return nil
	})
	return ids, last, wrap("list access log chunks", err)
}

// trimFront is the SET list that drops a chunk's first k entries (k an
// SQL expression), keeping the rest in order.
func trimFront(k string) string {
	var b strings.Builder
	for _, col := range accessLogArrays {
		b.WriteString(col + " = " + col + "[" + k + " + 1:], ")
	}
	b.WriteString("first_at = created_at[" + k + " + 1], n = n - " + k)
	return b.String()
}

// PruneAccessLogs deletes access log entries older than maxAge and,
// beyond the newest maxRows, the oldest entries. Whole chunks are deleted
// at most chunk at a time, so that no statement holds locks for long, and
// a chunk straddling a limit is trimmed. Zero maxAge or maxRows turns
// that limit off. Retention is the installation's, across accounts. It
// returns the number of entries deleted.
func (s *Store) PruneAccessLogs(ctx context.Context, maxAge time.Duration, maxRows int64, chunk int) (int64, error) {
	var total int64
	if maxAge > 0 {
		cutoff := s.now().Add(-maxAge)
		n, err := deleteChunks(ctx, s, chunk, `last_at < $1`, cutoff)
		total += n
		if err != nil {
			return total, wrap("prune access logs by age", err)
		}
		var trimmed *int64
		err = s.pool.QueryRow(ctx, `
			WITH old AS (
				SELECT id, (SELECT count(*) FROM unnest(created_at) t WHERE t < $1)::int AS k
				FROM access_log_chunks WHERE first_at < $1 AND last_at >= $1),
			trimmed AS (
				UPDATE access_log_chunks c SET `+trimFront("old.k")+`
				FROM old WHERE c.id = old.id AND old.k > 0
				RETURNING old.k)
			SELECT sum(k) FROM trimmed`, cutoff).Scan(&trimmed)
		if trimmed != nil {
			total += *trimmed
		}
		if err != nil {
			return total, wrap("prune access logs by age", err)
		}
	}
	if maxRows > 0 {
		// The newest chunks holding maxRows entries stay; the oldest of
		// them may lose its front.
		var keepFrom, n, keep int64
		err := s.pool.QueryRow(ctx, `
			SELECT id, n, $1 - newer FROM (
				SELECT id, n, sum(n) OVER (ORDER BY id DESC) - n AS newer FROM access_log_chunks) t
			WHERE newer < $1 ORDER BY id LIMIT 1`, maxRows).Scan(&keepFrom, &n, &keep)
		switch {
		case err == pgx.ErrNoRows:
		case err != nil:
			return total, wrap("prune access logs by count", err)
		default:
			deleted, err := deleteChunks(ctx, s, chunk, `id < $1`, keepFrom)
			total += deleted
			if err != nil {
				return total, wrap("prune access logs by count", err)
			}
			if n > keep {
				if _, err := s.pool.Exec(ctx, `
					UPDATE access_log_chunks SET `+trimFront("$2::int")+` WHERE id = $1`, keepFrom, n-keep); err != nil {
					return total, wrap("prune access logs by count", err)
				}
				total += n - keep
			}
		}
	}
	return total, nil
}

// deleteChunks deletes the chunks matching where ($1 is bound), at most
// chunk per statement, and returns how many entries they held.
func deleteChunks(ctx context.Context, s *Store, chunk int, where string, bound any) (int64, error) {
	var total int64
	for {
		var chunks, entries int64
		err := s.pool.QueryRow(ctx, `
			WITH gone AS (
				DELETE FROM access_log_chunks WHERE id IN (
					SELECT id FROM access_log_chunks WHERE `+where+` LIMIT $2)
				RETURNING n)
			SELECT count(*), COALESCE(sum(n), 0) FROM gone`, bound, chunk).Scan(&chunks, &entries)
		if err != nil {
			return total, err
		}
		total += entries
		if chunks < int64(chunk) {
			return total, nil
		}
	}
}
