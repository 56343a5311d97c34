package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestCLIOrganizationKeysAndUsers(t *testing.T) {
	st := gatehousetest.Store(t)
	a := gatehousetest.NewAPIOn(t, st, api.WithKeyStore(gatehousetest.KeyStore(st), 0))

	if r := cli(t, a, "", "org", "get"); r.code != 2 {
		t.Errorf("org get before creation: exit %d %s", r.code, r.stderr)
	}
	out := ok(t, a, "", "org", "set", "--name", "Example", "--auth-domain", "team.example.test", "--session-duration", "12h")
	if !strings.Contains(out, "AUTH DOMAIN") || !strings.Contains(out, "team.example.test") || !strings.Contains(out, "12h") {
		t.Errorf("org set: %s", out)
	}
	// set changes only what it is given; -f takes a body (null removes).
	ok(t, a, `{"session_duration": null, "login_design": {"text_color": "#222"}}`, "org", "set", "-f", "-")
	got := decodeOut[map[string]any](t, ok(t, a, "", "org", "get", "-o", "json"))
	if got["name"] != "Example" || got["session_duration"] != nil || got["login_design"].(map[string]any)["text_color"] != "#222" {
		t.Errorf("org get: %v", got)
	}
	if r := cli(t, a, "", "org", "set", "--auth-domain", "Not A Host"); r.code != 2 || !strings.Contains(r.stderr, "auth_domain") {
		t.Errorf("bad auth domain: exit %d %s", r.code, r.stderr)
	}
	if r := cli(t, a, "", "org", "set"); r.code != 1 {
		t.Errorf("org set without fields: exit %d", r.code)
	}

	out = ok(t, a, "", "keys", "set", "--interval-days", "30")
	if !strings.Contains(out, "ROTATION INTERVAL") || !strings.Contains(out, "30") {
		t.Errorf("keys set: %s", out)
	}
	before := decodeOut[access.KeyStatus](t, ok(t, a, "", "keys", "get", "-o", "json"))
	rotated := decodeOut[access.KeyStatus](t, ok(t, a, "", "keys", "rotate", "-o", "json"))
	if rotated.KeyRotationIntervalDays != 30 || !rotated.LastKeyRotationAt.After(before.LastKeyRotationAt) && !before.LastKeyRotationAt.IsZero() {
		t.Errorf("keys rotate: %+v, before %+v", rotated, before)
	}
	if r := cli(t, a, "", "keys", "set", "--interval-days", "7"); r.code != 2 || !strings.Contains(r.stderr, "key_rotation_interval_days") {
		t.Errorf("keys set 7: exit %d %s", r.code, r.stderr)
	}

	err := st.InsertAccessLogs(context.Background(), []access.AccessLogEntry{{CreatedAt: time.Now(), RayID: "r1", AccountID: a.AccountID,
		Action: "login", Allowed: true, UserEmail: "ann@example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	out = ok(t, a, "", "users", "list")
	if !strings.Contains(out, "EMAIL") || !strings.Contains(out, "ann@example.test") {
		t.Errorf("users list: %s", out)
	}
	users := decodeOut[[]struct{ ID string }](t, ok(t, a, "", "users", "list", "-o", "json"))
	if len(users) != 1 || !strings.Contains(ok(t, a, "", "users", "get", users[0].ID), "ann@example.test") {
		t.Errorf("users: %+v", users)
	}
}
