package api_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestAccessLogSummaryCountsTheRangeFromItsChunksOnly seeds three chunks
// (before, in and after a range) and checks every count of the summary
// exactly, and that only the chunk overlapping the range was read.
func TestAccessLogSummaryCountsTheRangeFromItsChunksOnly(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx := context.Background()
	base := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	web, api := uuid.NewString(), uuid.NewString()
	tokenID := uuid.NewString()
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	entry := func(min int, app, action string, allowed bool, reason, email string) access.AccessLogEntry {
		domain := "web.example.test"
		if app == api {
			domain = "api.example.test"
		}
		return access.AccessLogEntry{CreatedAt: at(min), RayID: uuid.NewString(), AccountID: a.AccountID, AppUID: app, AppDomain: domain,
			Action: action, Allowed: allowed, Reason: reason, UserEmail: email, Method: "GET"}
	}
	tok := func(e access.AccessLogEntry) access.AccessLogEntry {
		e.ServiceTokenID, e.ServiceTokenName, e.Connection, e.NonIdentity = tokenID, "ci-bot", "service_token", true
		return e
	}
	inRange := []access.AccessLogEntry{
		// Bucket 0 [12:00, 12:15).
		entry(1, web, "allow", true, "allow_policy", "ann@example.test"),
		entry(2, web, "allow", true, "allow_policy", "ann@example.test"),
		entry(3, web, "deny", false, "no_policy_matched", "bob@example.test"),
		// Bucket 1 [12:15, 12:30).
		tok(entry(16, api, "allow", true, "service_auth_policy", "")),
		tok(entry(17, api, "allow", true, "service_auth_policy", "")),
		tok(entry(18, api, "allow", true, "service_auth_policy", "")),
		entry(20, api, "preflight_answered", true, "preflight_answered", ""),
		entry(21, api, "preflight_refused", false, "preflight_origin_not_allowed", ""),
		entry(22, api, "preflight_refused", false, "preflight_origin_not_allowed", ""),
		entry(23, web, "deny", false, "no_policy_matched", "bob@example.test"),
		// Bucket 2 [12:30, 12:45): empty. Bucket 3 [12:45, 12:50).
		entry(46, web, "preflight_bypassed", true, "preflight_bypassed", ""),
		entry(47, web, "deny", false, "login_required", ""),
	}
	// The range's chunk also holds an entry just past until.
	inChunk := append(append([]access.AccessLogEntry{}, inRange...), entry(50, web, "deny", false, "deny_policy", "eve@example.test"))
	before := []access.AccessLogEntry{entry(-60*24, web, "deny", false, "deny_policy", "eve@example.test")}
	after := []access.AccessLogEntry{entry(60*24, web, "deny", false, "deny_policy", "eve@example.test")}
	other := []access.AccessLogEntry{{CreatedAt: at(5), RayID: "other", AccountID: uuid.NewString(), AppUID: web, Action: "deny", Reason: "deny_policy"}}
	for _, batch := range [][]access.AccessLogEntry{before, inChunk, after, other} {
		if err := a.Store.InsertAccessLogs(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}

	var got access.AccessLogSummary
	q := url.Values{"since": {base.Format(time.RFC3339)}, "until": {at(50).Format(time.RFC3339)}, "bucket": {"15m"}}
	a.Do(t, gatehousetest.Request{Method: "GET", Path: "access/logs/access_requests/summary?" + q.Encode(), Token: a.ReadOnlyToken}).Decode(t, &got)
	want := access.AccessLogSummary{
		Since: base, Until: at(50), BucketSeconds: 900,
		Requests: 12, Allowed: 7, Blocked: 5,
		Buckets: []access.AccessLogBucket{
			{Start: at(0), Allowed: 2, Blocked: 1}, {Start: at(15), Allowed: 4, Blocked: 3},
			{Start: at(30)}, {Start: at(45), Allowed: 1, Blocked: 1},
		},
		BlockReasons: []access.AccessLogReason{
			{Reason: "no_policy_matched", Blocked: 2}, {Reason: "preflight_origin_not_allowed", Blocked: 2}, {Reason: "login_required", Blocked: 1},
		},
		Apps: []access.AccessLogApp{
			{AppID: api, AppDomain: "api.example.test", Requests: 6, Blocked: 2},
			{AppID: web, AppDomain: "web.example.test", Requests: 6, Blocked: 3},
		},
		Identities: []access.AccessLogIdentity{
			{ServiceTokenID: tokenID, ServiceTokenName: "ci-bot", Requests: 3},
			{UserEmail: "ann@example.test", Requests: 2},
			{UserEmail: "bob@example.test", Requests: 2, Blocked: 2},
		},
		Preflights: access.AccessLogPreflights{Answered: 1, Bypassed: 1, Refused: 2},
		ChunksRead: 1,
	}
	if api > web { // equal counts: ordered by app id
		want.Apps[0], want.Apps[1] = want.Apps[1], want.Apps[0]
	}
	for i := range got.BlockReasons {
		if got.BlockReasons[i].ReasonText == "" {
			t.Errorf("reason %s has no text", got.BlockReasons[i].Reason)
		}
		got.BlockReasons[i].ReasonText = ""
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summary:\n got %+v\nwant %+v", got, want)
	}

	// What the overview links to: the table filtered by action, or by service token, over the range.
	var entries []access.AccessLogEntry
	q.Del("bucket")
	a.MustCall(t, "GET", "access/logs/access_requests?action=preflight_refused&"+q.Encode(), nil, &entries)
	if len(entries) != 2 || entries[0].Reason != "preflight_origin_not_allowed" {
		t.Errorf("action=preflight_refused: %+v", entries)
	}
	a.MustCall(t, "GET", "access/logs/access_requests?service_token_id="+tokenID+"&"+q.Encode(), nil, &entries)
	if len(entries) != 3 || entries[0].ServiceTokenName != "ci-bot" {
		t.Errorf("service_token_id: %+v", entries)
	}
	if resp := a.Call(t, "GET", "access/logs/access_requests?service_token_id=ci-bot", nil); resp.Status != http.StatusBadRequest ||
		!reflect.DeepEqual(resp.Fields(), []string{"service_token_id"}) {
		t.Errorf("service_token_id=ci-bot: %d %s", resp.Status, resp.Body)
	}

	// A range holding no chunk reads none.
	q = url.Values{"since": {at(60 * 6).Format(time.RFC3339)}, "until": {at(60 * 7).Format(time.RFC3339)}}
	a.MustCall(t, "GET", "access/logs/access_requests/summary?"+q.Encode(), nil, &got)
	if got.ChunksRead != 0 || got.Requests != 0 || len(got.Buckets) != 60 || got.BucketSeconds != 60 {
		t.Errorf("empty range: %+v", got)
	}
	// The whole stretch reads the three chunks of this account.
	q = url.Values{"since": {at(-60 * 25).Format(time.RFC3339)}, "until": {at(60 * 25).Format(time.RFC3339)}}
	a.MustCall(t, "GET", "access/logs/access_requests/summary?"+q.Encode(), nil, &got)
	if got.ChunksRead != 3 || got.Requests != 15 || got.BucketSeconds != 3600 || len(got.Buckets) != 50 {
		t.Errorf("wide range: chunks %d requests %d bucket %ds, %d buckets", got.ChunksRead, got.Requests, got.BucketSeconds, len(got.Buckets))
	}
}

// TestAccessLogSummaryRefusesUnboundedRanges checks the bounds on the range
// and the buckets, each a 400 naming its field.
func TestAccessLogSummaryRefusesUnboundedRanges(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	now := time.Now().UTC().Truncate(time.Second)
	for _, c := range []struct {
		name  string
		query url.Values
		field string
	}{
		{"fail/range over 31 days", url.Values{"since": {now.Add(-32 * 24 * time.Hour).Format(time.RFC3339)}}, "since"},
		{"fail/since after until", url.Values{"since": {now.Format(time.RFC3339)}, "until": {now.Add(-time.Hour).Format(time.RFC3339)}}, "since"},
		{"fail/malformed since", url.Values{"since": {"yesterday"}}, "since"},
		{"fail/too many buckets", url.Values{"bucket": {"1m"}}, "bucket"},
		{"fail/bucket below a minute", url.Values{"bucket": {"30s"}}, "bucket"},
		{"fail/bucket not a duration", url.Values{"bucket": {"hourly"}}, "bucket"},
	} {
		resp := a.Call(t, "GET", "access/logs/access_requests/summary?"+c.query.Encode(), nil)
		if resp.Status != http.StatusBadRequest || !reflect.DeepEqual(resp.Fields(), []string{c.field}) {
			t.Errorf("%s: %d %s", c.name, resp.Status, resp.Body)
		}
	}
	var got access.AccessLogSummary
	a.MustCall(t, "GET", "access/logs/access_requests/summary?bucket=1h", nil, &got)
	if len(got.Buckets) != 24 || got.BucketSeconds != 3600 || got.Until.Sub(got.Since) != 24*time.Hour {
		t.Errorf("default range: %v to %v, %d buckets", got.Since, got.Until, len(got.Buckets))
	}
}
