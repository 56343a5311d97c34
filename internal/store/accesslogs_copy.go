package store

import (
	"bytes"
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Access log chunks are written in COPY's binary format, encoded here
// into one reused buffer. pgx's own CopyFrom boxes every array element in
// an interface to encode it: about 12 allocations and 2.8 KB per logged
// request, which the edge paid in garbage collection while serving.

// Element type OIDs of the chunk's arrays (pg_type).
const (
	oidBool        = 16
	oidInt8        = 20
	oidInt4        = 23
	oidText        = 25
	oidTimestamptz = 1184
)

// pgEpochMicros is 2000-01-01 00:00:00 UTC, PostgreSQL's epoch, in Unix
// microseconds.
const pgEpochMicros = 946_684_800_000_000

var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// chunkEncoder appends chunks to a binary COPY stream.
type chunkEncoder struct {
	b             []byte
	rows          []access.AccessLogEntry // the batch, sorted into chunks
	apps, reasons map[string]bool         // a chunk's distinct values
}

func (e *chunkEncoder) reset() { e.b = append(e.b[:0], copyHeader...) }

func (e *chunkEncoder) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *chunkEncoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *chunkEncoder) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }

// field starts a field of unknown length and returns where to patch it.
func (e *chunkEncoder) field() int {
	e.b = append(e.b, 0, 0, 0, 0)
	return len(e.b)
}

func (e *chunkEncoder) end(at int) {
	binary.BigEndian.PutUint32(e.b[at-4:], uint32(len(e.b)-at))
}

// text appends s as a text value: PostgreSQL refuses invalid UTF-8 and
// NUL bytes, and a row it refuses would fail its whole batch.
func (e *chunkEncoder) text(s string) {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		e.b = append(e.b, s...)
		return
	}
	e.b = append(e.b, strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")...)
}

func (e *chunkEncoder) textField(s string) {
	at := e.field()
	e.text(s)
	e.end(at)
}

func (e *chunkEncoder) timeField(t time.Time) {
	e.u32(8)
	e.u64(uint64(t.UnixMicro() - pgEpochMicros))
}

func (e *chunkEncoder) boolField(v bool) {
	e.u32(1)
	e.b = append(e.b, b2u8(v))
}

func b2u8(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// array appends a one-dimensional array of n elements without NULLs,
// each appended by elem(i).
func (e *chunkEncoder) array(oid uint32, n int, elem func(i int)) {
	at := e.field()
	e.u32(1) // dimensions
	e.u32(0) // no NULLs
	e.u32(oid)
	e.u32(uint32(n))
	e.u32(1) // lower bound
	for i := range n {
		elem(i)
	}
	e.end(at)
}

// entryArray is one of a chunk's per-entry columns: its name and how
// its array is encoded.
type entryArray struct {
	name   string
	encode func(e *chunkEncoder, es []access.AccessLogEntry)
}

func textArray(name string, f func(*access.AccessLogEntry) string) entryArray {
	return entryArray{name, func(e *chunkEncoder, es []access.AccessLogEntry) {
		e.array(oidText, len(es), func(i int) {
			at := e.field()
			e.text(f(&es[i]))
			e.end(at)
		})
	}}
}

func boolArray(name string, f func(*access.AccessLogEntry) bool) entryArray {
	return entryArray{name, func(e *chunkEncoder, es []access.AccessLogEntry) {
		e.array(oidBool, len(es), func(i int) { e.boolField(f(&es[i])) })
	}}
}

func int4Array(name string, f func(*access.AccessLogEntry) int32) entryArray {
	return entryArray{name, func(e *chunkEncoder, es []access.AccessLogEntry) {
		e.array(oidInt4, len(es), func(i int) { e.u32(4); e.u32(uint32(f(&es[i]))) })
	}}
}

func int8Array(name string, f func(*access.AccessLogEntry) int64) entryArray {
	return entryArray{name, func(e *chunkEncoder, es []access.AccessLogEntry) {
		e.array(oidInt8, len(es), func(i int) { e.u32(8); e.u64(uint64(f(&es[i]))) })
	}}
}

// entryArrays are the chunk's per-entry columns (migration 0007 and
// later), in the order they are copied.
var entryArrays = []entryArray{
	{"created_at", func(e *chunkEncoder, es []access.AccessLogEntry) {
		e.array(oidTimestamptz, len(es), func(i int) { e.timeField(es[i].CreatedAt) })
	}},
	textArray("ray_id", func(x *access.AccessLogEntry) string { return x.RayID }),
	textArray("app_id", func(x *access.AccessLogEntry) string { return x.AppUID }),
	textArray("app_domain", func(x *access.AccessLogEntry) string { return x.AppDomain }),
	textArray("action", func(x *access.AccessLogEntry) string { return x.Action }),
	boolArray("allowed", func(x *access.AccessLogEntry) bool { return x.Allowed }),
	textArray("reason", func(x *access.AccessLogEntry) string { return x.Reason }),
	textArray("user_email", func(x *access.AccessLogEntry) string { return x.UserEmail }),
	textArray("connection", func(x *access.AccessLogEntry) string { return x.Connection }),
	textArray("service_token_id", func(x *access.AccessLogEntry) string { return x.ServiceTokenID }),
	textArray("service_token_name", func(x *access.AccessLogEntry) string { return x.ServiceTokenName }),
	boolArray("non_identity", func(x *access.AccessLogEntry) bool { return x.NonIdentity }),
	textArray("ip_address", func(x *access.AccessLogEntry) string { return x.IPAddress }),
	textArray("country", func(x *access.AccessLogEntry) string { return x.Country }),
	textArray("method", func(x *access.AccessLogEntry) string { return x.Method }),
	textArray("origin", func(x *access.AccessLogEntry) string { return x.Origin }),
	textArray("request_method", func(x *access.AccessLogEntry) string { return x.RequestMethod }),
	textArray("request_headers", func(x *access.AccessLogEntry) string { return x.RequestHeaders }),
	int4Array("upstream_status", func(x *access.AccessLogEntry) int32 { return int32(x.UpstreamStatus) }),
	int8Array("upstream_latency_us", func(x *access.AccessLogEntry) int64 { return int64(math.Round(x.UpstreamLatencyMS * 1000)) }),
	int8Array("decision_us", func(x *access.AccessLogEntry) int64 { return x.DecisionUS }),
	// Migration 0011.
	textArray("purpose_justification", func(x *access.AccessLogEntry) string { return x.PurposeJustification }),
	// Migration 0016.
	textArray("path", func(x *access.AccessLogEntry) string { return x.Path }),
}

func (e *chunkEncoder) setArray(set []string) {
	e.array(oidText, len(set), func(i int) { e.textField(set[i]) })
}

// chunk appends one chunk of one account's entries, sorted by time, in
// the order of chunkColumns: the chunk's summary, then entryArrays.
func (e *chunkEncoder) chunk(es []access.AccessLogEntry) {
	n := len(es)
	e.u16(uint16(len(chunkColumns)))
	if es[0].AccountID == "" {
		e.u32(math.MaxUint32) // NULL
	} else {
		e.textField(es[0].AccountID)
	}
	e.timeField(es[0].CreatedAt)
	e.timeField(es[n-1].CreatedAt)
	e.u32(4)
	e.u32(uint32(n))
	// What the chunk may hold, for listings to skip it.
	var hasAllowed, hasDenied bool
	if e.apps == nil {
		e.apps, e.reasons = map[string]bool{}, map[string]bool{}
	}
	clear(e.apps)
	clear(e.reasons)
	for i := range es {
		hasAllowed = hasAllowed || es[i].Allowed
		hasDenied = hasDenied || !es[i].Allowed
		e.apps[es[i].AppUID], e.reasons[es[i].Reason] = true, true
	}
	e.boolField(hasAllowed)
	e.boolField(hasDenied)
	e.setArray(slices.Sorted(maps.Keys(e.apps)))
	e.setArray(slices.Sorted(maps.Keys(e.reasons)))
	for _, a := range entryArrays {
		a.encode(e, es)
	}
}

// finish ends the stream and returns it as a reader.
func (e *chunkEncoder) finish() *bytes.Reader {
	e.u16(math.MaxUint16) // trailer: -1
	return bytes.NewReader(e.b)
}
