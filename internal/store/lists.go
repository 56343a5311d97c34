package store

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// The API lists keep Cloudflare's page/per_page interface without reading
// every row: an unfiltered list takes its total_count from account_counts
// (maintained in each insert's and delete's transaction) and reads the
// page's keys with an index-only scan of the list's (account_id,
// created_at, id) index, from whichever end of it is nearer, then fetches
// those rows by key. A filtered list (name, search, ...) still counts the
// rows that match: its cost is the filter's.

// readTx runs fn in one repeatable-read, read-only transaction, so that a
// page and its count agree.
func (s *Store) readTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// pageWindow says how to read a page of total rows over the list's
// index: skipping offset rows and taking limit, in the list's order or,
// for a page in the second half, from the other end (reverse).
func pageWindow(pg access.Page, total int) (reverse bool, limit, offset int) {
	off := pg.Offset()
	if off < total/2 || off >= total {
		return false, pg.PerPage, off
	}
	left := total - off // rows from the page's first to the end
	limit = min(pg.PerPage, left)
	return true, limit, left - limit
}

// orderBy is an ORDER BY list of cols, each ascending or descending.
func orderBy(cols []string, desc bool) string {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	return strings.Join(cols, dir+", ") + dir
}

// pageKeysSQL is a subquery of the ids on a page of an unfiltered list:
// the table's rows where account_id = $1, in order (cols, desc), $2
// rows after skipping $3, read from the nearer end. total is the list's
// length.
func pageKeysSQL(table, extraWhere string, cols []string, desc bool, pg access.Page, total int) (sql string, limit, offset int) {
	reverse, limit, offset := pageWindow(pg, total)
	where := "account_id = $1"
	if extraWhere != "" {
		where += " AND " + extraWhere
	}
	return `(SELECT id FROM ` + table + ` WHERE ` + where + ` ORDER BY ` + orderBy(cols, desc != reverse) +
		` LIMIT $2 OFFSET $3)`, limit, offset
}
