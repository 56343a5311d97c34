package store

import (
	"context"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// ListAudit returns one page of an account's audit log, newest first
// unless q.Ascending.
func (s *Store) ListAudit(ctx context.Context, accountID string, q access.AuditQuery, pg access.Page) ([]access.AuditEntry, access.ListInfo, error) {
	order := "DESC"
	if q.Ascending {
		order = "ASC"
	}
	var since, before *time.Time
	if !q.Since.IsZero() {
		since = &q.Since
	}
	if !q.Before.IsZero() {
		before = &q.Before
	}
	const where = `account_id = $1 AND ($2::timestamptz IS NULL OR created_at >= $2)
		AND ($3::timestamptz IS NULL OR created_at < $3) AND ($4 = '' OR resource_id = $4)`
	args := []any{accountID, since, before, q.ResourceID}
	rows, err := s.pool.Query(ctx, `
		SELECT id, action, resource_type, resource_id, COALESCE(actor_token_id::text, ''), actor_name, request_id,
		       created_at, before, after, config_version, count(*) OVER ()
		FROM audit_log WHERE `+where+` ORDER BY id `+order+` LIMIT $5 OFFSET $6`,
		append(args, pg.PerPage, pg.Offset())...)
	if err != nil {
		return nil, access.ListInfo{}, wrap("list audit log", err)
	}
	defer rows.Close()
	entries := []access.AuditEntry{}
	total := 0
	for rows.Next() {
		var e access.AuditEntry
		var id int64
		if err := rows.Scan(&id, &e.Action.Type, &e.Resource.Type, &e.Resource.ID, &e.Actor.ID, &e.Actor.Name, &e.RequestID,
			&e.When, &e.OldValueJSON, &e.NewValueJSON, &e.ConfigVersion, &total); err != nil {
			return nil, access.ListInfo{}, wrap("list audit log", err)
		}
		e.ID = strconv.FormatInt(id, 10)
		e.Action.Result = true
		e.Actor.Type = "api_token"
		if e.Actor.ID == "" {
			e.Actor.Type = "operator"
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, access.ListInfo{}, wrap("list audit log", err)
	}
	total, err = pageTotal(ctx, s.pool, len(entries), total, `SELECT count(*) FROM audit_log WHERE `+where, args...)
	if err != nil {
		return nil, access.ListInfo{}, wrap("count audit log", err)
	}
	return entries, access.NewListInfo(pg, len(entries), total), nil
}
