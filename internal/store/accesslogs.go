package store

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

var accessLogColumns = []string{
	"created_at", "ray_id", "account_id", "app_id", "app_domain", "action", "allowed", "reason",
	"user_email", "connection", "service_token_id", "service_token_name", "non_identity", "ip_address",
	"country", "method", "origin", "request_method", "request_headers", "upstream_status",
	"upstream_latency_us", "decision_us",
}

// InsertAccessLogs writes a batch of access log entries with one COPY.
// Entries without an account (no app matched) are stored with a NULL
// account and are never listed.
func (s *Store) InsertAccessLogs(ctx context.Context, entries []access.AccessLogEntry) error {
	rows := make([][]any, len(entries))
	for i := range entries {
		e := &entries[i]
		rows[i] = []any{
			e.CreatedAt, e.RayID, nullText(e.AccountID), nullUUID(e.AppUID), e.AppDomain, e.Action, e.Allowed, e.Reason,
			e.UserEmail, e.Connection, nullUUID(e.ServiceTokenID), e.ServiceTokenName, e.NonIdentity, e.IPAddress,
			e.Country, e.Method, e.Origin, e.RequestMethod, e.RequestHeaders, int32(e.UpstreamStatus),
			int64(math.Round(e.UpstreamLatencyMS * 1000)), e.DecisionUS,
		}
	}
	if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"access_logs"}, accessLogColumns, pgx.CopyFromRows(rows)); err != nil {
		return wrap("insert access logs", err)
	}
	return nil
}

func nullText(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

// nullUUID is a uuid column's value: NULL for "" or anything that is not
// a UUID (ids come from the edge's snapshot, so that never happens).
func nullUUID(v string) pgtype.UUID {
	var u pgtype.UUID
	if v != "" {
		_ = u.Scan(v)
	}
	return u
}

// ListAccessLogs returns one page of an account's access log, newest
// first unless q.Ascending. Rows without an account are never returned.
func (s *Store) ListAccessLogs(ctx context.Context, accountID string, q access.AccessLogQuery, pg access.Page) ([]access.AccessLogEntry, error) {
	order := "DESC"
	if q.Ascending {
		order = "ASC"
	}
	var since, until *time.Time
	if !q.Since.IsZero() {
		since = &q.Since
	}
	if !q.Until.IsZero() {
		until = &q.Until
	}
	var appID *string
	if q.AppID != "" {
		appID = &q.AppID
	}
	// The edge stores emails lower-cased.
	email, exact := strings.ToLower(q.Email), q.EmailExact
	if !exact && email != "" {
		email = "%" + escapeLike(email) + "%"
	}
	rows, err := s.pool.Query(ctx, `
		SELECT created_at, ray_id, account_id, COALESCE(app_id::text, ''), app_domain, action, allowed, reason,
		       user_email, connection, COALESCE(service_token_id::text, ''), service_token_name, non_identity,
		       ip_address, country, method, origin, request_method, request_headers, upstream_status,
		       upstream_latency_us, decision_us
		FROM access_logs
		WHERE account_id = $1
		  AND ($2::timestamptz IS NULL OR created_at >= $2)
		  AND ($3::timestamptz IS NULL OR created_at < $3)
		  AND ($4::uuid IS NULL OR app_id = $4)
		  AND ($5::boolean IS NULL OR allowed = $5)
		  AND ($6 = '' OR reason = $6)
		  AND ($7 = '' OR CASE WHEN $8 THEN user_email = $7 ELSE lower(user_email) LIKE $7 END)
		ORDER BY created_at `+order+`, id `+order+`
		LIMIT $9 OFFSET $10`,
		accountID, since, until, appID, q.Allowed, q.Reason, email, exact, pg.PerPage, pg.Offset())
	if err != nil {
		return nil, wrap("list access logs", err)
	}
	defer rows.Close()
	entries := []access.AccessLogEntry{}
	for rows.Next() {
		var e access.AccessLogEntry
		var upstreamUS int64
		if err := rows.Scan(&e.CreatedAt, &e.RayID, &e.AccountID, &e.AppUID, &e.AppDomain, &e.Action, &e.Allowed, &e.Reason,
			&e.UserEmail, &e.Connection, &e.ServiceTokenID, &e.ServiceTokenName, &e.NonIdentity,
			&e.IPAddress, &e.Country, &e.Method, &e.Origin, &e.RequestMethod, &e.RequestHeaders, &e.UpstreamStatus,
			&upstreamUS, &e.DecisionUS); err != nil {
			return nil, wrap("list access logs", err)
		}
		e.UpstreamLatencyMS = float64(upstreamUS) / 1000
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list access logs", err)
	}
	return entries, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// PruneAccessLogs deletes access log rows older than maxAge and, beyond
// the newest maxRows, the oldest rows, at most chunk rows per statement so
// that no statement holds locks for long. Zero maxAge or maxRows turns
// that limit off. Retention is the installation's, across accounts. It
// returns the number of rows deleted.
func (s *Store) PruneAccessLogs(ctx context.Context, maxAge time.Duration, maxRows int64, chunk int) (int64, error) {
	var total int64
	if maxAge > 0 {
		cutoff := s.now().Add(-maxAge)
		n, err := deleteInChunks(ctx, s, chunk, `
			DELETE FROM access_logs WHERE id IN (
				SELECT id FROM access_logs WHERE created_at < $1 LIMIT $2)`, cutoff)
		total += n
		if err != nil {
			return total, wrap("prune access logs by age", err)
		}
	}
	if maxRows > 0 {
		// Ids only grow, so the newest maxRows rows all have an id above
		// max(id) - maxRows: no count of a large table is needed.
		var maxID *int64
		if err := s.pool.QueryRow(ctx, `SELECT max(id) FROM access_logs`).Scan(&maxID); err != nil {
			return total, wrap("prune access logs by count", err)
		}
		if maxID != nil && *maxID > maxRows {
			n, err := deleteInChunks(ctx, s, chunk, `
				DELETE FROM access_logs WHERE id IN (
					SELECT id FROM access_logs WHERE id <= $1 ORDER BY id LIMIT $2)`, *maxID-maxRows)
			total += n
			if err != nil {
				return total, wrap("prune access logs by count", err)
			}
		}
	}
	return total, nil
}

func deleteInChunks(ctx context.Context, s *Store, chunk int, sql string, bound any) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, sql, bound, chunk)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(chunk) {
			return total, nil
		}
	}
}
