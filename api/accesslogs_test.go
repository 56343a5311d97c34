package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/zero_trust"
	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestCloudflareGoSDKReadsTheAccessLog lists the access log with
// Cloudflare's SDK, which decodes Cloudflare's fields of our entries.
func TestCloudflareGoSDKReadsTheAccessLog(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	appID := uuid.NewString()
	now := time.Now().UTC().Truncate(time.Millisecond)
	rows := []access.AccessLogEntry{
		{CreatedAt: now.Add(-2 * time.Minute), RayID: "ray1", AccountID: a.AccountID, AppUID: appID, AppDomain: "app.example.test",
			Action: "allow", Allowed: true, Reason: "allow_policy", UserEmail: "ann@example.test", Connection: "idp-1", IPAddress: "192.0.2.1",
			Method: "GET", UpstreamStatus: 200, UpstreamLatencyMS: 1.5, DecisionUS: 40},
		{CreatedAt: now.Add(-time.Minute), RayID: "ray2", AccountID: a.AccountID, AppUID: appID, AppDomain: "app.example.test",
			Action: "preflight_refused", Reason: "preflight_no_cors_settings", IPAddress: "192.0.2.2", Method: "OPTIONS",
			Origin: "https://web.example.test", RequestMethod: "PUT", NonIdentity: true},
		// Another account's row, and one for no account: never listed here.
		{CreatedAt: now, RayID: "ray3", AccountID: uuid.NewString(), Action: "allow", Allowed: true},
		{CreatedAt: now, RayID: "ray4", Action: "not_found", Reason: "app_not_found"},
	}
	if err := a.Store.InsertAccessLogs(ctx, rows); err != nil {
		t.Fatal(err)
	}
	cf := cloudflare.NewClient(option.WithBaseURL(a.URL+"/client/v4/"), option.WithAPIToken(a.Token), option.WithMaxRetries(0), option.WithHTTPClient(a.HTTPClient()))
	got, err := cf.ZeroTrust.Access.Logs.AccessRequests.List(ctx, zero_trust.AccessLogAccessRequestListParams{
		AccountID: cloudflare.F(a.AccountID),
		Since:     cloudflare.F(now.Add(-time.Hour)),
		Limit:     cloudflare.F(int64(10)),
	})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(*got) != 2 {
		t.Fatalf("%d entries: %+v", len(*got), *got)
	}
	e := (*got)[1] // newest first
	if e.RayID != "ray1" || e.Action != "allow" || !e.Allowed || e.AppUID != appID || e.AppDomain != "app.example.test" ||
		e.UserEmail != "ann@example.test" || e.Connection != "idp-1" || e.IPAddress != "192.0.2.1" || !e.CreatedAt.Equal(rows[0].CreatedAt) {
		t.Errorf("SDK decoded %+v", e)
	}
	if (*got)[0].RayID != "ray2" || (*got)[0].Allowed {
		t.Errorf("newest entry: %+v", (*got)[0])
	}
	asc, err := cf.ZeroTrust.Access.Logs.AccessRequests.List(ctx, zero_trust.AccessLogAccessRequestListParams{
		AccountID: cloudflare.F(a.AccountID),
		Direction: cloudflare.F(zero_trust.AccessLogAccessRequestListParamsDirectionAsc),
		Email:     cloudflare.F("ann@"),
	})
	if err != nil || len(*asc) != 1 || (*asc)[0].RayID != "ray1" {
		t.Fatalf("filtered by email: %+v %v", asc, err)
	}

	// Gatehouse's extensions, over plain HTTP.
	var entries []access.AccessLogEntry
	a.MustCall(t, "GET", "access/logs/access_requests?allowed=false", nil, &entries)
	if len(entries) != 1 || entries[0].Origin != "https://web.example.test" || entries[0].RequestMethod != "PUT" ||
		entries[0].ReasonText == "" || !entries[0].NonIdentity {
		t.Errorf("refused preflight: %+v", entries)
	}
	a.MustCall(t, "GET", "access/logs/access_requests?per_page=1&page=2", nil, &entries)
	if len(entries) != 1 || entries[0].RayID != "ray1" || entries[0].UpstreamLatencyMS != 1.5 || entries[0].DecisionUS != 40 {
		t.Errorf("second page: %+v", entries)
	}
}
