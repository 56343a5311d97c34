package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestRequestLogLinesNameTheTokenNotItsSecret checks the API's request log:
// each request authenticated with a token carries that token's id (also
// when the token is refused for the route), one without a valid token
// carries none, and the token's value never appears.
func TestRequestLogLinesNameTheTokenNotItsSecret(t *testing.T) {
	t.Parallel()
	st := gatehousetest.Store(t)
	var logged lockedBuffer
	srv := httptest.NewServer(api.New(st, slog.New(slog.NewJSONHandler(&logged, nil))).Handler())
	t.Cleanup(srv.Close)
	acct, token, readOnly := gatehousetest.NewAccount(t, st)
	rw, err := st.AuthenticateAPIToken(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := st.AuthenticateAPIToken(context.Background(), readOnly)
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path, token string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(`{"name": "x"}`))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("X-Test", method+" "+path)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	base := "/client/v4/accounts/" + acct
	send("GET", base+"/access/apps", token)
	send("GET", "/client/v4/user/tokens/verify", token)
	send("POST", base+"/access/service_tokens", readOnly) // 403: read-only
	send("GET", base+"/access/apps", "ghat_not-a-token")  // 401
	send("GET", "/healthz", "")

	want := []struct{ route, tokenID string }{
		{"/client/v4/accounts/{account_id}/access/apps", rw.ID},
		{"/client/v4/user/tokens/verify", rw.ID},
		// Refused before the account's routes: the route is their mount.
		{"/client/v4/accounts/{account_id}/*", ro.ID},
		{"/client/v4/accounts/{account_id}/*", ""},
		{"/healthz", ""},
	}
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logged.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if m["msg"] == "api request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != len(want) {
		t.Fatalf("%d request lines, want %d:\n%s", len(lines), len(want), logged.String())
	}
	for i, w := range want {
		if lines[i]["route"] != w.route || lines[i]["token_id"] != w.tokenID {
			t.Errorf("line %d: route %v token_id %q, want %s %q", i, lines[i]["route"], lines[i]["token_id"], w.route, w.tokenID)
		}
	}
	if rw.ID == "" || ro.ID == rw.ID {
		t.Fatalf("token ids %q %q", rw.ID, ro.ID)
	}
	for _, secret := range []string{token, readOnly} {
		if strings.Contains(logged.String(), secret) {
			t.Error("a token's value is in the log")
		}
	}
}
