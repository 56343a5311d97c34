package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

func logRow(a *gatehousetest.API, ray, action string, allowed bool, reason policy.Reason, at time.Time) access.AccessLogEntry {
	return access.AccessLogEntry{CreatedAt: at, RayID: ray, AccountID: a.AccountID, AppDomain: "app.example.test", Action: action,
		Allowed: allowed, Reason: string(reason), UserEmail: "ann@example.test", IPAddress: "192.0.2.7", Method: "GET"}
}

func TestCLILogsShowsReasonsInWordsAndFollows(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx := context.Background()
	now := time.Now()
	if err := a.Store.InsertAccessLogs(ctx, []access.AccessLogEntry{
		logRow(a, "old", "allow", true, policy.ReasonAllowPolicy, now.Add(-time.Hour)),
		logRow(a, "r1", "allow", true, policy.ReasonAllowPolicy, now.Add(-2*time.Minute)),
		logRow(a, "r2", "deny", false, policy.ReasonNoPolicyMatched, now.Add(-time.Minute)),
	}); err != nil {
		t.Fatal(err)
	}
	out := ok(t, a, "", "logs", "--since", "10m")
	if !strings.Contains(out, "REASON") || !strings.Contains(out, policy.ReasonAllowPolicy.Describe()) ||
		!strings.Contains(out, policy.ReasonNoPolicyMatched.Describe()) || strings.Count(out, "\n") != 3 {
		t.Errorf("logs --since 10m:\n%s", out)
	}
	if strings.Index(out, "allowed") > strings.Index(out, "refused") {
		t.Errorf("not oldest first:\n%s", out)
	}
	var entries []access.AccessLogEntry
	if err := json.Unmarshal([]byte(ok(t, a, "", "logs", "--denied", "-o", "json")), &entries); err != nil || len(entries) != 1 || entries[0].RayID != "r2" {
		t.Errorf("logs --denied -o json: %+v %v", entries, err)
	}
	if res := cli(t, a, "", "logs", "--since", "yesterday"); res.code != exitUsage {
		t.Errorf("bad --since: exit %d", res.code)
	}

	// -f prints what is there, then what arrives, one JSON line each.
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(fctx, buildCLI(t), "logs", "-f", "--since", "10m", "-o", "json")
	cmd.Env = append(os.Environ(), "GATEHOUSE_URL="+a.URL, "GATEHOUSE_TOKEN="+a.Token, "GATEHOUSE_ACCOUNT="+a.AccountID)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	next := func() access.AccessLogEntry {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("logs -f ended: %v", lines.Err())
		}
		var e access.AccessLogEntry
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			t.Fatalf("logs -f line %q: %v", lines.Text(), err)
		}
		return e
	}
	if e1, e2 := next(), next(); e1.RayID != "r1" || e2.RayID != "r2" {
		t.Fatalf("first lines: %s %s", e1.RayID, e2.RayID)
	}
	if err := a.Store.InsertAccessLogs(ctx, []access.AccessLogEntry{
		logRow(a, "r3", "preflight_refused", false, policy.ReasonPreflightNoCORSSettings, time.Now()),
	}); err != nil {
		t.Fatal(err)
	}
	if e := next(); e.RayID != "r3" {
		t.Fatalf("followed line: %+v", e)
	}
}
