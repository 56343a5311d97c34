package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// benchEntries is a batch the edge might write: n allowed requests by
// one user to one app.
func benchEntries(acct string, n int) []access.AccessLogEntry {
	app, now := uuid.NewString(), time.Now()
	es := make([]access.AccessLogEntry, n)
	for i := range es {
		es[i] = access.AccessLogEntry{
			CreatedAt: now.Add(time.Duration(i) * time.Microsecond), RayID: fmt.Sprintf("1a2b3c4d%08x", i), AccountID: acct,
			AppUID: app, AppDomain: "app.example.test", Action: "allow", Allowed: true, Reason: "allow_policy",
			UserEmail: "ann@example.test", Connection: uuid.NewString()[:8], IPAddress: "192.0.2.1", Method: "GET",
			UpstreamStatus: 200, UpstreamLatencyMS: 0.42, DecisionUS: 3,
		}
	}
	return es
}

// BenchmarkInsertAccessLogs writes batches of 1000 entries as the edge's
// writer does; rows/s is the rate the store sustains on one connection.
func BenchmarkInsertAccessLogs(b *testing.B) {
	st := gatehousetest.Store(b)
	es := benchEntries(uuid.NewString(), 1000)
	ctx := context.Background()
	for b.Loop() {
		if err := st.InsertAccessLogs(ctx, es); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(es))/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkInsertAccessLogsRowPerEntry is the baseline: the same batches
// copied into a row-per-entry table with the indexes the log had before
// it was stored in chunks (migration 0005).
func BenchmarkInsertAccessLogsRowPerEntry(b *testing.B) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, gatehousetest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `
		CREATE TABLE rows_log (
			id bigserial PRIMARY KEY, created_at timestamptz NOT NULL, ray_id text NOT NULL, account_id text,
			app_id uuid, app_domain text NOT NULL, action text NOT NULL, allowed boolean NOT NULL, reason text NOT NULL,
			user_email text NOT NULL, connection text NOT NULL, service_token_id uuid, service_token_name text NOT NULL,
			non_identity boolean NOT NULL, ip_address text NOT NULL, country text NOT NULL, method text NOT NULL,
			origin text NOT NULL, request_method text NOT NULL, request_headers text NOT NULL,
			upstream_status integer NOT NULL, upstream_latency_us bigint NOT NULL, decision_us bigint NOT NULL);
		CREATE INDEX ON rows_log (account_id, created_at DESC);
		CREATE INDEX ON rows_log (account_id, app_id, created_at DESC);
		CREATE INDEX ON rows_log USING brin (created_at);`); err != nil {
		b.Fatal(err)
	}
	es := benchEntries(uuid.NewString(), 1000)
	cols := []string{"created_at", "ray_id", "account_id", "app_id", "app_domain", "action", "allowed", "reason",
		"user_email", "connection", "service_token_id", "service_token_name", "non_identity", "ip_address",
		"country", "method", "origin", "request_method", "request_headers", "upstream_status",
		"upstream_latency_us", "decision_us"}
	for b.Loop() {
		rows := make([][]any, len(es))
		for i, e := range es {
			rows[i] = []any{e.CreatedAt, e.RayID, e.AccountID, e.AppUID, e.AppDomain, e.Action, e.Allowed, e.Reason,
				e.UserEmail, e.Connection, nil, e.ServiceTokenName, e.NonIdentity, e.IPAddress,
				e.Country, e.Method, e.Origin, e.RequestMethod, e.RequestHeaders, int32(e.UpstreamStatus),
				int64(e.UpstreamLatencyMS * 1000), e.DecisionUS}
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"rows_log"}, cols, pgx.CopyFromRows(rows)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(es))/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkListAccessLogs reads the newest page of 25, and a filtered
// page, from an account's 100,000 entries.
func BenchmarkListAccessLogs(b *testing.B) {
	st := gatehousetest.Store(b)
	ctx := context.Background()
	acct := uuid.NewString()
	for range 100 {
		if err := st.InsertAccessLogs(ctx, benchEntries(acct, 1000)); err != nil {
			b.Fatal(err)
		}
	}
	denied := false
	for name, q := range map[string]access.AccessLogQuery{"newest": {}, "denied": {Allowed: &denied}, "email": {Email: "ann"}} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := st.ListAccessLogs(ctx, acct, q, access.Page{Page: 1, PerPage: 25}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
