package api_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	otherAccount, otherToken, _ := gatehousetest.NewAccount(t, a.Store)

	tests := []struct {
		name   string
		req    gatehousetest.Request
		status int
		code   int
	}{
		{"fail/no token", gatehousetest.Request{Method: "GET", Path: "access/apps", Token: "-"}, 401, 10000},
		{"fail/unknown token", gatehousetest.Request{Method: "GET", Path: "access/apps", Token: "ghat_nope"}, 401, 10000},
		{"fail/basic auth is not a bearer token", gatehousetest.Request{Method: "GET", Path: "access/apps", Token: "-", Header: map[string]string{"Authorization": "Basic " + a.Token}}, 401, 10000},
		{"fail/another account's token gets 404", gatehousetest.Request{Method: "GET", Path: "access/apps", Token: otherToken}, 404, 1005},
		{"fail/own token on another account gets 404", gatehousetest.Request{Method: "GET", Path: "/client/v4/accounts/" + otherAccount + "/access/apps"}, 404, 1005},
		{"fail/own token on a made-up account gets 404", gatehousetest.Request{Method: "GET", Path: "/client/v4/accounts/0123456789abcdef0123456789abcdef/access/apps"}, 404, 1005},
		{"fail/read-only token cannot write", gatehousetest.Request{Method: "POST", Path: "access/service_tokens", Token: a.ReadOnlyToken, Body: map[string]any{"name": "x"}}, 403, 10001},
		{"fail/read-only token cannot delete", gatehousetest.Request{Method: "DELETE", Path: "access/apps/6f1f7e7e-0000-4000-8000-000000000000", Token: a.ReadOnlyToken}, 403, 10001},
		{"ok/read-only token may use the policy tester", gatehousetest.Request{Method: "POST", Path: "gatehouse/policy_test", Token: a.ReadOnlyToken, Body: map[string]any{"app_id": "nope"}}, 400, 1002},
		{"ok/read-only token can read", gatehousetest.Request{Method: "GET", Path: "access/apps", Token: a.ReadOnlyToken}, 200, 0},
		{"ok/read-write token can read", gatehousetest.Request{Method: "GET", Path: "access/service_tokens"}, 200, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.Do(t, tc.req)
			if resp.Status != tc.status {
				t.Fatalf("status = %d, want %d: %s", resp.Status, tc.status, resp.Body)
			}
			if tc.code != 0 && (len(resp.Env.Errors) != 1 || resp.Env.Errors[0].Code != tc.code || resp.Env.Success) {
				t.Fatalf("errors = %+v, want one with code %d", resp.Env.Errors, tc.code)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	// The read-only token's refused write changed nothing.
	var tokens []map[string]any
	a.MustCall(t, "GET", "access/service_tokens", nil, &tokens)
	if len(tokens) != 0 {
		t.Fatalf("read-only write created %d tokens", len(tokens))
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp := a.Do(t, gatehousetest.Request{Method: "GET", Path: path, Token: "-"})
		if resp.Status != http.StatusOK {
			t.Errorf("%s = %d: %s", path, resp.Status, resp.Body)
		}
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	if resp := a.Call(t, "GET", "access/nothing", nil); resp.Status != 404 || resp.Env.Success {
		t.Errorf("unknown route: %d %s", resp.Status, resp.Body)
	}
	if resp := a.Call(t, "PATCH", "access/apps", nil); resp.Status != 405 || resp.Env.Success {
		t.Errorf("unknown method: %d %s", resp.Status, resp.Body)
	}
}
