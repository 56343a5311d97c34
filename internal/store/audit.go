package store

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

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
	if since == nil && before == nil && q.ResourceID == "" {
		return s.listWholeAudit(ctx, accountID, !q.Ascending, pg)
	}
	const where = `account_id = $1 AND ($2::timestamptz IS NULL OR created_at >= $2)
		AND ($3::timestamptz IS NULL OR created_at < $3) AND ($4 = '' OR resource_id = $4)`
	args := []any{accountID, since, before, q.ResourceID}
	rows, err := s.db(ctx).Query(ctx, `SELECT `+auditColumns+`, count(*) OVER ()
		FROM audit_log WHERE `+where+` ORDER BY id `+order+` LIMIT $5 OFFSET $6`,
		append(args, pg.PerPage, pg.Offset())...)
	if err != nil {
		return nil, access.ListInfo{}, wrap("list audit log", err)
	}
	defer rows.Close()
	entries := []access.AuditEntry{}
	total := 0
	for rows.Next() {
		e, err := scanAudit(rows, &total)
		if err != nil {
			return nil, access.ListInfo{}, wrap("list audit log", err)
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, access.ListInfo{}, wrap("list audit log", err)
	}
	total, err = pageTotal(ctx, s.db(ctx), len(entries), total, `SELECT count(*) FROM audit_log WHERE `+where, args...)
	if err != nil {
		return nil, access.ListInfo{}, wrap("count audit log", err)
	}
	return entries, access.NewListInfo(pg, len(entries), total), nil
}

// listWholeAudit is ListAudit without a filter.
func (s *Store) listWholeAudit(ctx context.Context, accountID string, newestFirst bool, pg access.Page) ([]access.AuditEntry, access.ListInfo, error) {
	entries := []access.AuditEntry{}
	var total int
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		pl, err := s.openPage(ctx, tx, list{table: "audit_log", cols: []string{"id"}, desc: newestFirst, accountID: accountID, kind: countAudit}, pg)
		if err != nil {
			return err
		}
		total = pl.total
		rows, err := tx.Query(ctx, `SELECT `+auditColumns+` FROM audit_log JOIN `+pl.keys+` k USING (id)
			ORDER BY `+orderBy([]string{"id"}, newestFirst), pl.args...)
		if err != nil {
			return err
		}
		if entries, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (access.AuditEntry, error) { return scanAudit(r) }); err != nil {
			return err
		}
		if n := len(entries); n > 0 {
			id, err := strconv.ParseInt(entries[n-1].ID, 10, 64)
			if err != nil {
				return err
			}
			s.donePage(pl, n, []any{id})
		}
		return nil
	})
	if err != nil {
		return nil, access.ListInfo{}, wrap("list audit log", err)
	}
	return entries, access.NewListInfo(pg, len(entries), total), nil
}

const auditColumns = `id, action, resource_type, resource_id, COALESCE(actor_token_id::text, ''), actor_name, request_id,
	created_at, before, after, config_version`

func scanAudit(row pgx.Row, extra ...any) (access.AuditEntry, error) {
	var e access.AuditEntry
	var id int64
	if err := row.Scan(append([]any{&id, &e.Action.Type, &e.Resource.Type, &e.Resource.ID, &e.Actor.ID, &e.Actor.Name, &e.RequestID,
		&e.When, &e.OldValueJSON, &e.NewValueJSON, &e.ConfigVersion}, extra...)...); err != nil {
		return access.AuditEntry{}, err
	}
	e.ID = strconv.FormatInt(id, 10)
	e.Action.Result = true
	e.Actor.Type = "api_token"
	if e.Actor.ID == "" {
		e.Actor.Type = "operator"
	}
	return e, nil
}
