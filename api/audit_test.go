package api_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestAuditLogRecordsEveryChangeNewestFirst(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	app := createApp(t, a, appBody("app", uniq(t, "x.test")))
	a.MustCall(t, "PUT", "access/apps/"+app.ID, appBody("renamed", app.Domain), nil)
	var tok access.ServiceToken
	a.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "svc"}, &tok)
	a.MustCall(t, "POST", "access/service_tokens/"+tok.ID+"/rotate", nil, nil)
	a.MustCall(t, "DELETE", "access/apps/"+app.ID, nil, nil)
	// A refused change leaves no entry.
	a.Call(t, "POST", "access/apps", appBody("", "bad host"))

	var entries []access.AuditEntry
	resp := a.MustCall(t, "GET", "audit_logs", nil, &entries)
	want := []string{"app.delete", "service_token.rotate", "service_token.create", "app.update", "app.create"}
	if len(entries) != len(want) || resp.Env.ResultInfo.TotalCount != len(want) {
		t.Fatalf("%d entries, want %d: %s", len(entries), len(want), resp.Body)
	}
	for i, e := range entries {
		if e.Action.Type != want[i] {
			t.Errorf("entry %d is %s, want %s", i, e.Action.Type, want[i])
		}
		if e.Actor.Type != "api_token" || e.Actor.Name != "token rw" || e.RequestID == "" {
			t.Errorf("entry %d actor %+v request %q", i, e.Actor, e.RequestID)
		}
		if i > 0 && e.ConfigVersion >= entries[i-1].ConfigVersion {
			t.Errorf("config versions not increasing: %d then %d", e.ConfigVersion, entries[i-1].ConfigVersion)
		}
	}
	update := entries[3]
	var before, after access.App
	if err := jsonUnmarshal(update.OldValueJSON, &before); err != nil {
		t.Fatal(err)
	}
	if err := jsonUnmarshal(update.NewValueJSON, &after); err != nil {
		t.Fatal(err)
	}
	if before.Name != "app" || after.Name != "renamed" || update.Resource.ID != app.ID || update.Resource.Type != "app" {
		t.Errorf("update entry before=%q after=%q resource=%+v", before.Name, after.Name, update.Resource)
	}
	if entries[0].NewValueJSON != nil || entries[0].OldValueJSON == nil {
		t.Error("delete entry should have only a before value")
	}
	var asc []access.AuditEntry
	a.MustCall(t, "GET", "audit_logs?direction=asc&per_page=2", nil, &asc)
	if len(asc) != 2 || asc[0].Action.Type != "app.create" {
		t.Errorf("ascending page: %+v", asc)
	}
	var filtered []access.AuditEntry
	a.MustCall(t, "GET", "audit_logs?resource_id="+tok.ID, nil, &filtered)
	if len(filtered) != 2 {
		t.Errorf("resource filter found %d", len(filtered))
	}
	if resp := a.Call(t, "GET", "audit_logs?direction=sideways", nil); resp.Status != 400 {
		t.Errorf("bad direction: %d", resp.Status)
	}
	// Another account sees none of it.
	b := gatehousetest.NewAPI(t)
	var theirs []access.AuditEntry
	b.MustCall(t, "GET", "audit_logs", nil, &theirs)
	if len(theirs) != 0 {
		t.Errorf("another account sees %d entries", len(theirs))
	}
}

func TestEveryChangeNotifiesTheNewConfigVersion(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, gatehousetest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+store.ConfigChannel); err != nil {
		t.Fatal(err)
	}
	app := createApp(t, a, appBody("app", uniq(t, "x.test")))
	// Other tests write concurrently: wait for a version at least as new
	// as the one this change committed.
	committed, err := a.Store.ConfigVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var entries []access.AuditEntry
	a.MustCall(t, "GET", "audit_logs?resource_id="+app.ID, nil, &entries)
	mine := entries[0].ConfigVersion
	if mine > committed {
		t.Fatalf("audit version %d is newer than the committed version %d", mine, committed)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("no notification for version %d: %v", mine, err)
		}
		v, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil || n.Channel != store.ConfigChannel {
			t.Fatalf("notification %+v", n)
		}
		if v == mine {
			return
		}
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
