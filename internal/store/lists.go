package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// The API lists keep Cloudflare's page/per_page interface without reading
// every row. An unfiltered list takes its total_count from account_counts
// (maintained in each insert's and delete's transaction) and reads the
// page's keys from the list's (account_id, created_at, id) index, then
// fetches those rows by key. The keys are read with a keyset seek from
// where an earlier page ended (the store remembers, per list, where recent
// pages ended, while the list's generation is unchanged), or else with an
// index-only scan from whichever end of the list is nearer. A walk through
// the pages in order thus reads each page's rows only; a jump deep into a
// large list skips up to half of it once. A filtered list (name, search,
// ...) counts the rows that match: its cost is the filter's.

// readTx runs fn in one repeatable-read, read-only transaction, so that a
// page and its count agree. Inside a batch it runs in a savepoint of the
// batch's transaction, which sees the batch's writes.
func (s *Store) readTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if b := batchOf(ctx); b != nil {
		return pgx.BeginFunc(ctx, b.tx, fn)
	}
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// list is one account's unfiltered list over a table, in order cols
// (ascending, or descending when desc), the last col being id.
type list struct {
	table      string
	extraWhere string // ANDed to account_id = $1
	cols       []string
	desc       bool
	accountID  string
	kind       string // its account_counts kind
}

func (l list) cacheKey() string {
	return l.table + "|" + l.extraWhere + "|" + strconv.FormatBool(l.desc) + "|" + l.accountID
}

// mark says where a page of a list ended: the rows after key start at
// position offset (0-based).
type mark struct {
	offset int
	key    []any
}

// marks are the recent page ends of one list, valid at generation gen.
type marks struct {
	gen  int64
	ends []mark
}

// Bounds of the page-end memory.
const (
	maxListsRemembered = 1024
	maxMarksPerList    = 4096
)

// pageMarks remembers where pages ended, per list.
type pageMarks struct {
	mu    sync.Mutex
	lists map[string]*marks
}

// nearest returns, for a list at generation gen, the remembered mark
// nearest before position off (before: its offset is at most off) and the
// one nearest after position end (after: its row is at end or later).
func (pm *pageMarks) nearest(l list, gen int64, off, end int) (before, after mark, okBefore, okAfter bool) {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	m := pm.lists[l.cacheKey()]
	if m == nil || m.gen != gen {
		return
	}
	for _, e := range m.ends {
		if e.offset <= off && (!okBefore || e.offset > before.offset) {
			before, okBefore = e, true
		}
		if e.offset-1 >= end && (!okAfter || e.offset < after.offset) {
			after, okAfter = e, true
		}
	}
	return
}

// remember records a page end of a list at generation gen.
func (pm *pageMarks) remember(l list, gen int64, e mark) {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if pm.lists == nil {
		pm.lists = map[string]*marks{}
	}
	k := l.cacheKey()
	m := pm.lists[k]
	if m == nil || m.gen != gen {
		if m == nil && len(pm.lists) >= maxListsRemembered {
			for other := range pm.lists { // forget one list, any
				delete(pm.lists, other)
				break
			}
		}
		m = &marks{gen: gen}
		pm.lists[k] = m
	}
	for _, old := range m.ends {
		if old.offset == e.offset {
			return
		}
	}
	if len(m.ends) >= maxMarksPerList {
		m.ends = m.ends[1:]
	}
	m.ends = append(m.ends, e)
}

// defaultMarkStride is how many rows apart a skip through a list leaves
// marks.
const defaultMarkStride = 1000

// orderBy is an ORDER BY list of cols, each ascending or descending.
func orderBy(cols []string, desc bool) string {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	return strings.Join(cols, dir+", ") + dir
}

// page is how to read one page of an unfiltered list.
type page struct {
	l     list
	gen   int64
	total int
	start int // the page's first position
	keys  string
	args  []any
}

// openPage reads the list's count and generation in tx and plans the
// page: keys is a subquery of the page's ids (to join the table on), with
// args its parameters ($1 is the account). It reads from the start, from
// the end, or from a remembered mark, whichever skips the fewest rows; a
// long skip leaves marks every defaultMarkStride rows for the pages after.
func (s *Store) openPage(ctx context.Context, tx pgx.Tx, l list, pg access.Page) (page, error) {
	total, gen, err := readCount(ctx, tx, l.accountID, l.kind)
	if err != nil {
		return page{}, err
	}
	p := page{l: l, gen: gen, total: total, start: pg.Offset()}
	off, limit := p.start, pg.PerPage
	if off >= total {
		p.keys, p.args = keysSQL(l, false, false), []any{l.accountID, 0, 0}
		return p, nil
	}
	end := min(off+limit, total) // the page is rows [off, end)
	// The scan: its direction, the mark it starts after (nil: at the
	// list's start or end), the position of its first row, and how many
	// rows it skips.
	reverse, skip, first := false, off, 0
	var from []any
	if back := total - end; back < skip {
		reverse, skip, first = true, back, total-1
	}
	before, after, okBefore, okAfter := s.marks.nearest(l, gen, off, end)
	if okBefore && off-before.offset < skip {
		reverse, skip, first, from = false, off-before.offset, before.offset, before.key
	}
	if okAfter && after.offset-1-end < skip {
		reverse, skip, first, from = true, after.offset-1-end, after.offset-2, after.key
	}
	stride := s.markStride
	if stride <= 0 {
		stride = defaultMarkStride
	}
	if skip > stride {
		// Skip with a scan that notes a mark every markStride rows, then
		// seek from the last.
		args := append([]any{l.accountID, skip, stride}, from...)
		cols := strings.Join(l.cols, ", ")
		rows, err := tx.Query(ctx, `SELECT `+cols+`, rn FROM (SELECT `+cols+`, row_number() OVER (ORDER BY `+orderBy(l.cols, l.desc != reverse)+`) AS rn
			FROM `+l.table+` WHERE `+whereOf(l, reverse, from != nil)+` ORDER BY `+orderBy(l.cols, l.desc != reverse)+` LIMIT $2) x
			WHERE rn % $3 = 0`, args...)
		if err != nil {
			return page{}, err
		}
		var lastRN int
		var lastKey []any
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				rows.Close()
				return page{}, err
			}
			rn := int(vals[len(vals)-1].(int64))
			key := vals[:len(vals)-1]
			if len(l.cols) == 2 {
				key[1] = uuidString(key[1])
			}
			pos := first + rn - 1
			if reverse {
				pos = first - (rn - 1)
			}
			s.marks.remember(l, gen, mark{offset: pos + 1, key: key})
			lastRN, lastKey = rn, key
		}
		if err := rows.Err(); err != nil {
			return page{}, err
		}
		if lastKey != nil {
			skip -= lastRN
			from = lastKey
		}
	}
	if reverse {
		limit = end - off
	}
	p.keys = keysSQL(l, reverse, from != nil)
	p.args = append([]any{l.accountID, limit, skip}, from...)
	return p, nil
}

// whereOf is the condition of a scan of l, in its order or reverse, after
// a mark's key ($4, ...) when seek says so.
func whereOf(l list, reverse, seek bool) string {
	where := "account_id = $1"
	if l.extraWhere != "" {
		where += " AND " + l.extraWhere
	}
	if seek {
		cmp := " < "
		if l.desc == reverse {
			cmp = " > "
		}
		ps := make([]string, len(l.cols))
		for i := range ps {
			ps[i] = "$" + strconv.Itoa(4+i)
		}
		where += " AND (" + strings.Join(l.cols, ", ") + ")" + cmp + "(" + strings.Join(ps, ", ") + ")"
	}
	return where
}

// keysSQL is the subquery of a page's ids: $2 rows after skipping $3.
func keysSQL(l list, reverse, seek bool) string {
	return `(SELECT id FROM ` + l.table + ` WHERE ` + whereOf(l, reverse, seek) + ` ORDER BY ` + orderBy(l.cols, l.desc != reverse) + ` LIMIT $2 OFFSET $3)`
}

// uuidString is a uuid column's value, as read by rows.Values, as text.
func uuidString(v any) any {
	if b, ok := v.([16]byte); ok {
		return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	}
	return v
}

// done remembers where the page, of n rows the last of which has key
// last, ended.
func (s *Store) donePage(p page, n int, last []any) {
	if n > 0 {
		s.marks.remember(p.l, p.gen, mark{offset: p.start + n, key: last})
	}
}

// readPage reads one page of l, a list ordered by (created_at, id): the
// rows of l.table (as alias) whose keys openPage finds, selected as
// columns and scanned by scan; key gives a row's created_at and id, which
// donePage remembers. It runs in tx, the list's read transaction.
func readPage[T any](ctx context.Context, s *Store, tx pgx.Tx, l list, pg access.Page, alias, columns string,
	scan func(pgx.CollectableRow) (T, error), key func(*T) (time.Time, string)) ([]T, int, error) {
	p, err := s.openPage(ctx, tx, l, pg)
	if err != nil {
		return nil, 0, err
	}
	rows, err := tx.Query(ctx, `SELECT `+columns+` FROM `+l.table+` `+alias+` JOIN `+p.keys+` k ON k.id = `+alias+`.id
		ORDER BY `+alias+`.created_at, `+alias+`.id`, p.args...)
	if err != nil {
		return nil, 0, err
	}
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, 0, err
	}
	if n := len(out); n > 0 {
		at, id := key(&out[n-1])
		s.donePage(p, n, []any{at, id})
	}
	return out, p.total, nil
}
