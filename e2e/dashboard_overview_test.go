package e2e_test

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// seedOverviewLog writes a known access log over the last 50 minutes:
// two apps, users, a service token, blocks with three reasons and
// preflights of each outcome.
func seedOverviewLog(t *testing.T, c *console) {
	t.Helper()
	web, api := uuid.NewString(), uuid.NewString()
	tokenID := uuid.NewString()
	now := time.Now().UTC()
	var entries []access.AccessLogEntry
	add := func(n int, minsAgo int, app, action string, allowed bool, reason, email, path string) {
		for i := 0; i < n; i++ {
			e := access.AccessLogEntry{CreatedAt: now.Add(-time.Duration(minsAgo)*time.Minute - time.Duration(i)*time.Second),
				RayID: fmt.Sprintf("%08x%x", uuid.New().ID(), len(entries)), AccountID: c.api.AccountID, AppUID: app, Action: action,
				Allowed: allowed, Reason: reason, UserEmail: email, Method: "GET", Path: path, IPAddress: "2001:db8:ffff:ffff:ffff:ffff:ffff:1234", Country: "NL"}
			e.AppDomain = "web.example.test"
			if app == api {
				e.AppDomain = "api.example.test/v1"
			}
			if email == "" && action == "allow" {
				e.ServiceTokenID, e.ServiceTokenName, e.NonIdentity = tokenID, "ci-bot", true
			}
			if strings.HasPrefix(action, "preflight") {
				e.Method, e.Origin, e.RequestMethod, e.RequestHeaders = "OPTIONS", "https://a-rather-long-origin-name.example.test", "PUT", "x-custom, content-type"
			}
			entries = append(entries, e)
		}
	}
	add(5, 45, web, "allow", true, "allow_policy", "ann@example.test", "/dashboard/reports/2026/quarterly-revenue-by-region")
	add(3, 30, web, "deny", false, "no_policy_matched", "bob@example.test", "/admin")
	add(2, 20, api, "allow", true, "service_auth_policy", "", "/v1/orders")
	add(1, 12, api, "preflight_answered", true, "preflight_answered", "", "/v1/orders")
	add(1, 11, web, "preflight_bypassed", true, "preflight_bypassed", "", "/upload")
	add(2, 10, api, "preflight_refused", false, "preflight_origin_not_allowed", "", "/v1/orders")
	add(1, 5, web, "deny", false, "login_required", "", "/")
	if err := c.api.Store.InsertAccessLogs(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
}

// overviewNumbers is what the Overview page shows, read from the DOM's
// data attributes, in the API's shape.
const overviewNumbers = `(() => {
	const o = document.querySelector('#overview .overview');
	const n = (el, k) => Number(el.dataset[k]);
	const count = (k) => Number(document.querySelector('[data-total=' + k + ']').dataset.count);
	return {
		since: o.dataset.since, until: o.dataset.until, bucket_seconds: Number(o.dataset.bucketSeconds),
		requests: count('requests'), allowed: count('allowed'), blocked: count('blocked'),
		buckets: [...document.querySelectorAll('#chart-time g.bucket')].map((g) => ({start: g.dataset.start, allowed: n(g, 'allowed'), blocked: n(g, 'blocked')})),
		top_block_reasons: [...document.querySelectorAll('#chart-reasons li')].map((li) => ({reason: li.dataset.reason, blocked: n(li, 'blocked')})),
		top_apps: [...document.querySelectorAll('#chart-apps li')].map((li) => ({app_id: li.dataset.appId, requests: n(li, 'requests'), blocked: n(li, 'blocked')})),
		top_identities: [...document.querySelectorAll('#chart-identities li')].map((li) => ({identity: li.dataset.identity, requests: n(li, 'requests'), blocked: n(li, 'blocked')})),
		preflights: Object.fromEntries([...document.querySelectorAll('#chart-preflights li')].map((li) => [li.dataset.preflight, n(li, 'count')])),
	};
})()`

// TestDashboardOverviewShowsTheAPISummaryAndLinksToTheTable seeds a known
// log, checks that every number the Overview draws is the API's summary
// of the same range, follows a reason bar and a time bar to the filtered
// requests table, checks that the table fits a 1280 px window with its
// Ray ID column whole, and audits both pages with axe-core.
func TestDashboardOverviewShowsTheAPISummaryAndLinksToTheTable(t *testing.T) {
	t.Parallel()
	c := newConsole(t, gatehousetest.EdgeOptions{})
	seedOverviewLog(t, c)
	c.signIn(t, c.api.Token)
	c.open(t, "#/overview?range=1h", `document.querySelector('#overview .overview')`)
	c.browser.Screenshot(t, "traffic-overview")

	type shown struct {
		Since         string `json:"since"`
		Until         string `json:"until"`
		BucketSeconds int64  `json:"bucket_seconds"`
		Requests      int64  `json:"requests"`
		Allowed       int64  `json:"allowed"`
		Blocked       int64  `json:"blocked"`
		Buckets       []access.AccessLogBucket
		Reasons       []access.AccessLogReason `json:"top_block_reasons"`
		Apps          []access.AccessLogApp    `json:"top_apps"`
		Identities    []struct {
			Identity string `json:"identity"`
			Requests int64  `json:"requests"`
			Blocked  int64  `json:"blocked"`
		} `json:"top_identities"`
		Preflights access.AccessLogPreflights `json:"preflights"`
	}
	var got shown
	c.js(t, overviewNumbers, &got)
	var sum access.AccessLogSummary
	q := url.Values{"since": {got.Since}, "until": {got.Until}}
	c.api.MustCall(t, "GET", "access/logs/access_requests/summary?"+q.Encode(), nil, &sum)
	if got.Requests != 15 || sum.Requests != 15 || got.Blocked != 6 || sum.Blocked != 6 {
		t.Errorf("requests %d (API %d), blocked %d (API %d), want 15 and 6", got.Requests, sum.Requests, got.Blocked, sum.Blocked)
	}
	want := shown{Since: got.Since, Until: got.Until, BucketSeconds: sum.BucketSeconds, Requests: sum.Requests, Allowed: sum.Allowed, Blocked: sum.Blocked,
		Buckets: sum.Buckets, Preflights: sum.Preflights, Apps: []access.AccessLogApp{}}
	for _, r := range sum.BlockReasons {
		want.Reasons = append(want.Reasons, access.AccessLogReason{Reason: r.Reason, Blocked: r.Blocked})
	}
	for _, a := range sum.Apps {
		want.Apps = append(want.Apps, access.AccessLogApp{AppID: a.AppID, Requests: a.Requests, Blocked: a.Blocked})
	}
	want.Identities = got.Identities[:0:0]
	for _, i := range sum.Identities {
		id := i.UserEmail
		if i.ServiceTokenID != "" {
			id = i.ServiceTokenID
		}
		want.Identities = append(want.Identities, struct {
			Identity string `json:"identity"`
			Requests int64  `json:"requests"`
			Blocked  int64  `json:"blocked"`
		}{id, i.Requests, i.Blocked})
	}
	if len(got.Buckets) != 60 || got.BucketSeconds != 60 || len(got.Reasons) != 3 || len(got.Apps) != 2 || len(got.Identities) != 3 {
		t.Errorf("overview shows %d buckets of %ds, %d reasons, %d apps, %d identities", len(got.Buckets), got.BucketSeconds, len(got.Reasons), len(got.Apps), len(got.Identities))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("overview shows\n%+v\nthe API says\n%+v", got, want)
	}
	if got.Preflights != (access.AccessLogPreflights{Answered: 1, Bypassed: 1, Refused: 2}) {
		t.Errorf("preflights %+v", got.Preflights)
	}

	// A custom range: the last 35 minutes hold 10 of the requests.
	c.click(t, `label[for="range-custom"]`)
	c.browser.WaitJS(t, "the custom range fields", `!document.querySelector('.range-custom').hidden`)
	c.js(t, `(() => {
		const p = (n) => String(n).padStart(2, '0');
		const local = (d) => d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
		document.querySelector('#range-from').value = local(new Date(Date.now() - 35 * 60e3));
		document.querySelector('#range-to').value = local(new Date(Date.now() + 60e3));
		document.querySelector('#range-to').dispatchEvent(new Event('change', {bubbles: true}));
	})()`, nil)
	c.browser.WaitJS(t, "the custom range's counts", `location.hash.includes('since=') && document.querySelector('#overview .overview') &&
		document.querySelector('#overview .overview').dataset.since === new URLSearchParams(location.hash.split('?')[1]).get('since')`)
	var custom shown
	c.js(t, overviewNumbers, &custom)
	q = url.Values{"since": {custom.Since}, "until": {custom.Until}}
	c.api.MustCall(t, "GET", "access/logs/access_requests/summary?"+q.Encode(), nil, &sum)
	if custom.Requests != 10 || sum.Requests != 10 || custom.Blocked != sum.Blocked || len(custom.Buckets) != len(sum.Buckets) {
		t.Errorf("custom range %s to %s: page %d requests (%d blocked, %d buckets), API %d (%d blocked, %d buckets)", custom.Since, custom.Until,
			custom.Requests, custom.Blocked, len(custom.Buckets), sum.Requests, sum.Blocked, len(sum.Buckets))
	}

	// A reason's bar opens the table of exactly those requests.
	c.click(t, `#chart-reasons li[data-reason="no_policy_matched"] a`)
	c.browser.WaitJS(t, "the filtered table", `location.hash.startsWith('#/logs?') && document.querySelectorAll('#log-list tbody tr').length > 0`)
	var hash string
	c.js(t, `location.hash`, &hash)
	hq, _ := url.ParseQuery(strings.TrimPrefix(hash, "#/logs?"))
	if hq.Get("allowed") != "false" || hq.Get("reason") != "no_policy_matched" || hq.Get("since") != custom.Since || hq.Get("until") != custom.Until {
		t.Errorf("reason bar led to %s", hash)
	}
	var rows []string
	c.js(t, `[...document.querySelectorAll('#log-list tbody tr')].map((r) => r.textContent)`, &rows)
	if len(rows) != 3 {
		t.Errorf("%d rows for no_policy_matched, want 3: %q", len(rows), rows)
	}
	for _, r := range rows {
		if !strings.Contains(r, "blocked") || !strings.Contains(r, "/admin") || !strings.Contains(r, "bob@example.test") {
			t.Errorf("row %q", r)
		}
	}
	var filters []string
	c.js(t, `[...document.querySelectorAll('.filters select')].map((s) => s.value)`, &filters)
	if len(filters) < 3 || filters[1] != "false" || filters[2] != "no_policy_matched" {
		t.Errorf("the table's filters show %q", filters)
	}

	// A blocked segment of the time chart opens that bucket's blocked requests.
	c.open(t, "#/overview?range=1h", `document.querySelector('#overview .overview')`)
	var seg struct {
		Start   string
		Blocked int
	}
	c.js(t, `(() => { const g = [...document.querySelectorAll('#chart-time g.bucket')].find((g) => Number(g.dataset.blocked) > 0);
		return {start: g.dataset.start, blocked: Number(g.dataset.blocked)}; })()`, &seg)
	c.click(t, fmt.Sprintf(`#chart-time g.bucket[data-start=%q] a.seg-deny`, seg.Start))
	c.browser.WaitJS(t, "the bucket's table", `location.hash.startsWith('#/logs?') && document.querySelector('#log-list tbody tr, #log-list .empty')`)
	c.js(t, `location.hash`, &hash)
	hq, _ = url.ParseQuery(strings.TrimPrefix(hash, "#/logs?"))
	c.js(t, `[...document.querySelectorAll('#log-list tbody tr')].map((r) => r.textContent)`, &rows)
	if hq.Get("allowed") != "false" || hq.Get("since") != seg.Start || len(rows) != seg.Blocked {
		t.Errorf("time bar (%d blocked from %s) led to %s with %d rows", seg.Blocked, seg.Start, hash, len(rows))
	}

	// The whole table fits 1280 px: compact rows, the Ray ID whole, the path shown.
	c.open(t, "#/logs", `document.querySelectorAll('#log-list tbody tr').length === 15`)
	c.browser.Screenshot(t, "access-requests-1280")
	var fit struct {
		Right, ScrollWidth, ClientWidth, MaxRow float64
		RayCut                                  []string
		Paths                                   int
	}
	c.js(t, `(() => {
		const t = document.querySelector('#log-list table'), w = t.parentElement;
		const rows = [...t.querySelectorAll('tbody tr')];
		return {right: t.getBoundingClientRect().right, scrollWidth: w.scrollWidth, clientWidth: w.clientWidth,
			maxRow: Math.max(...rows.map((r) => r.getBoundingClientRect().height)),
			rayCut: rows.map((r) => r.lastElementChild).filter((td) => td.scrollWidth > td.clientWidth ||
				td.querySelector('code').getBoundingClientRect().right > td.getBoundingClientRect().right).map((td) => td.textContent),
			paths: rows.filter((r) => /GET \/|OPTIONS \//.test(r.textContent)).length};
	})()`, &fit)
	if fit.Right > 1280 || fit.ScrollWidth > fit.ClientWidth {
		t.Errorf("the table ends at %.0f px and scrolls %.0f px in %.0f px", fit.Right, fit.ScrollWidth, fit.ClientWidth)
	}
	if fit.MaxRow > 40 || len(fit.RayCut) > 0 || fit.Paths != 15 {
		t.Errorf("rows up to %.0f px tall, Ray IDs cut %q, %d rows show a path", fit.MaxRow, fit.RayCut, fit.Paths)
	}

	// Both pages pass axe, light and dark.
	var violations []gatehousetest.Violation
	for _, scheme := range []string{"light", "dark"} {
		c.browser.PreferColorScheme(t, scheme)
		c.open(t, "#/overview?range=1h", `document.querySelector('#overview .overview')`)
		c.js(t, `document.querySelector('.chart-table').open = true`, nil)
		violations = append(violations, c.browser.Axe(t, scheme+" overview")...)
		c.open(t, "#/logs", `document.querySelectorAll('#log-list tbody tr').length === 15`)
		violations = append(violations, c.browser.Axe(t, scheme+" access requests")...)
	}
	for _, v := range violations {
		t.Errorf("axe: %s", v)
	}
	consoleClean(t, c)
}
