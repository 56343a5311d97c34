package main

import (
	"bufio"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestAccountDomainsCommands(t *testing.T) {
	env := map[string]string{"DATABASE_URL": gatehousetest.DatabaseURL(t)}
	st := gatehousetest.Store(t)
	a := gatehousetest.NewAPIOn(t, st)
	b := gatehousetest.NewAPIOn(t, st)
	l := gatehousetest.RunLabel(t) + ".test"
	a.MustCall(t, "POST", "access/apps", map[string]any{"type": "self_hosted", "name": "a", "domain": "used." + l}, nil)

	steps := []struct {
		name    string
		args    []string
		wantOut string
		wantErr string // a substring of the error; empty for success
	}{
		{"ok/list of an account without a list", []string{"list", b.AccountID}, "", ""},
		{"ok/add a host", []string{"add", b.AccountID, "Site." + l + "."}, "site." + l + "\n", ""},
		{"ok/add a wildcard", []string{"add", b.AccountID, "*.apps." + l}, "*.apps." + l + "\n", ""},
		{"ok/add again is a no-op", []string{"add", b.AccountID, "site." + l}, "site." + l + "\n", ""},
		{"ok/list", []string{"list", b.AccountID}, "*.apps." + l + "\nsite." + l + "\n", ""},
		{"fail/a host another account's app uses", []string{"add", b.AccountID, "used." + l}, "", "already used by another account"},
		{"fail/a wildcard over another account's app", []string{"add", b.AccountID, "*." + l}, "", "already used by another account"},
		{"fail/a host another account lists", []string{"add", a.AccountID, "x.apps." + l}, "", "already used by another account"},
		{"fail/a path", []string{"add", b.AccountID, "site." + l + "/x"}, "", "without a path or port"},
		{"fail/a port", []string{"add", b.AccountID, "site." + l + ":443"}, "", "without a path or port"},
		{"fail/a bare wildcard", []string{"add", b.AccountID, "*"}, "", "must be a hostname"},
		{"fail/a NUL", []string{"add", b.AccountID, "a\x00." + l}, "", "must be a hostname"},
		{"fail/a malformed account id", []string{"add", "acme\x00", "free." + l}, "", "not an account id"},
		{"fail/an unknown account", []string{"add", "0123456789abcdef0123456789abcdef", "free." + l}, "", "account not found"},
		{"fail/remove what is not listed", []string{"remove", b.AccountID, "nope." + l}, "", "not in the account's domain list"},
		{"ok/remove", []string{"remove", b.AccountID, "site." + l}, "", ""},
		{"ok/list after remove", []string{"list", b.AccountID}, "*.apps." + l + "\n", ""},
	}
	for _, s := range steps {
		out, err := gatehouse(t, env, append([]string{"account", "domains"}, s.args...)...)
		switch {
		case s.wantErr == "" && err != nil:
			t.Fatalf("%s: %v", s.name, err)
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Fatalf("%s: error %v, want one saying %q", s.name, err, s.wantErr)
		case out != s.wantOut:
			t.Fatalf("%s: printed %q, want %q", s.name, out, s.wantOut)
		}
	}

	// The list binds B's apps and keeps A out of its hosts.
	if resp := b.Call(t, "POST", "access/apps", map[string]any{"type": "self_hosted", "name": "b", "domain": "x.apps." + l}); resp.Status != 200 {
		t.Errorf("B inside its list: %d %s", resp.Status, resp.Body)
	}
	if resp := b.Call(t, "POST", "access/apps", map[string]any{"type": "self_hosted", "name": "b2", "domain": "site." + l}); resp.Status != 400 {
		t.Errorf("B outside its list (site was removed): %d %s", resp.Status, resp.Body)
	}
	if resp := a.Call(t, "POST", "access/apps", map[string]any{"type": "self_hosted", "name": "a2", "domain": "y.apps." + l}); resp.Status != 409 {
		t.Errorf("A in B's listed zone: %d %s", resp.Status, resp.Body)
	}

	// Each change is in B's audit log, as the operator's.
	var entries []access.AuditEntry
	b.MustCall(t, "GET", "audit_logs?per_page=100", nil, &entries)
	var got []string
	for _, e := range entries {
		if e.Resource.Type == "account_domain" {
			got = append(got, e.Action.Type+" "+e.Resource.ID+" by "+e.Actor.Name)
		}
	}
	want := []string{"account_domain.delete site." + l + " by operator (gatehouse cli)",
		"account_domain.create *.apps." + l + " by operator (gatehouse cli)",
		"account_domain.create site." + l + " by operator (gatehouse cli)"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestServeLogsEveryHostOverlapBetweenAccountsAtStartup(t *testing.T) {
	url := gatehousetest.NewDatabase(t)
	if err := store.MigrateUp(url); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := gatehousetest.NewAPIOn(t, st)
	b := gatehousetest.NewAPIOn(t, st)
	var appA, appB, appB2 access.App
	a.MustCall(t, "POST", "access/apps", map[string]any{"type": "self_hosted", "name": "victim", "domain": "svc.test"}, &appA)
	b.MustCall(t, "POST", "access/apps", map[string]any{"type": "self_hosted", "name": "squatter", "domain": "b.test"}, &appB)
	b.MustCall(t, "POST", "access/apps", map[string]any{"type": "self_hosted", "name": "wild", "domain": "c.test"}, &appB2)
	a.MustCall(t, "POST", "access/apps", map[string]any{"type": "self_hosted", "name": "own", "domain": "svc.test/own"}, nil)
	// As a database from before the rule would hold them: B's apps take
	// a path under A's host and a wildcard over it (which also covers A's
	// path app). A's own overlaps are not reported.
	for _, q := range []struct{ id, domain string }{{appB.ID, "svc.test/admin"}, {appB2.ID, "*.test"}} {
		if _, err := st.Pool().Exec(ctx, `UPDATE app_domains SET domain = $2 WHERE app_id = $1`, q.id, q.domain); err != nil {
			t.Fatal(err)
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out, logs syncBuffer
	env := map[string]string{"DATABASE_URL": url, "GATEHOUSE_API_ADDR": "127.0.0.1:0", "GATEHOUSE_NO_EDGE": "true"}
	done := make(chan error, 1)
	go func() { done <- run(runCtx, []string{"serve"}, func(k string) string { return env[k] }, &out, &logs) }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !strings.Contains(out.String(), "Gatehouse API on"); time.Sleep(20 * time.Millisecond) {
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, logs.String())
	}

	type side struct {
		AccountID string `json:"account_id"`
		ID        string `json:"id"`
		Name      string `json:"name"`
		Domain    string `json:"domain"`
	}
	accountOf := map[string]string{"victim": a.AccountID, "own": a.AccountID, "squatter": b.AccountID, "wild": b.AccountID}
	var got []string
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			App   side   `json:"app"`
			Other side   `json:"other_app"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || !strings.Contains(line.Msg, "claim a common host") {
			continue
		}
		if line.Level != "WARN" {
			t.Errorf("overlap logged at %s", line.Level)
		}
		pair := []string{line.App.Name + " " + line.App.Domain, line.Other.Name + " " + line.Other.Domain}
		for _, s := range []side{line.App, line.Other} {
			if s.AccountID != accountOf[s.Name] || s.ID == "" {
				t.Errorf("%s: account %q id %q, want account %q and its id", s.Name, s.AccountID, s.ID, accountOf[s.Name])
			}
		}
		slices.Sort(pair)
		got = append(got, strings.Join(pair, " / "))
	}
	slices.Sort(got)
	// Overlaps within one account (victim and own; squatter and wild) are
	// not reported.
	want := []string{
		"own svc.test/own / squatter svc.test/admin",
		"own svc.test/own / wild *.test",
		"squatter svc.test/admin / victim svc.test",
		"victim svc.test / wild *.test",
	}
	if !slices.Equal(got, want) {
		t.Errorf("overlap warnings:\n%s\nwant:\n%s\nlogs:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), logs.String())
	}
}
