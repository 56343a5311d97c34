package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func jsonObj(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// storedHashes reads a token's stored secret hashes.
func storedHashes(t *testing.T, a *gatehousetest.API, id string) (current, previous []byte, prevExpires *time.Time) {
	t.Helper()
	err := a.Store.Pool().QueryRow(context.Background(),
		`SELECT secret_hash, previous_secret_hash, previous_secret_expires_at FROM service_tokens WHERE id = $1`, id).
		Scan(&current, &previous, &prevExpires)
	if err != nil {
		t.Fatal(err)
	}
	return current, previous, prevExpires
}

func TestServiceTokenSecretIsShownOnceAndStoredHashed(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	resp := a.Call(t, "POST", "access/service_tokens", map[string]any{"name": "ci", "duration": "720h"})
	if resp.Status != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d %s (Cache-Control %q)", resp.Status, resp.Body, resp.Header.Get("Cache-Control"))
	}
	var tok access.ServiceToken
	resp.Decode(t, &tok)
	if !regexp.MustCompile(`^[0-9a-f]{32}\.access$`).MatchString(tok.ClientID) || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(tok.ClientSecret) {
		t.Fatalf("client_id %q / secret %q have the wrong shape", tok.ClientID, tok.ClientSecret)
	}
	if tok.Duration != "720h" || tok.ClientSecretVersion != 1 || tok.LastSeenAt != nil {
		t.Errorf("token %+v", tok)
	}
	if d := tok.ExpiresAt.Sub(tok.CreatedAt); d != 720*time.Hour {
		t.Errorf("expires_at - created_at = %v", d)
	}
	current, _, _ := storedHashes(t, a, tok.ID)
	if sum := sha256.Sum256([]byte(tok.ClientSecret)); !bytes.Equal(current, sum[:]) {
		t.Error("stored hash is not the secret's SHA-256")
	}
	// The secret appears in no later response, and nowhere in the database.
	for _, path := range []string{"access/service_tokens", "access/service_tokens/" + tok.ID, "audit_logs"} {
		resp := a.Call(t, "GET", path, nil)
		if resp.Status != 200 || strings.Contains(string(resp.Body), tok.ClientSecret) || strings.Contains(string(resp.Body), "client_secret\"") {
			t.Errorf("GET %s leaks the secret or a client_secret field: %s", path, resp.Body)
		}
	}
	var leaks int
	err := a.Store.Pool().QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM service_tokens t WHERE t::text LIKE '%' || $1 || '%')
		     + (SELECT count(*) FROM audit_log l WHERE l::text LIKE '%' || $1 || '%')`, tok.ClientSecret).Scan(&leaks)
	if err != nil || leaks != 0 {
		t.Errorf("secret stored in clear in %d rows (err %v)", leaks, err)
	}
	var deleted access.ServiceToken
	a.MustCall(t, "DELETE", "access/service_tokens/"+tok.ID, nil, &deleted)
	if deleted.ID != tok.ID || deleted.ClientSecret != "" {
		t.Errorf("delete returned %+v", deleted)
	}
	if resp := a.Call(t, "GET", "access/service_tokens/"+tok.ID, nil); resp.Status != 404 {
		t.Errorf("deleted token readable: %d", resp.Status)
	}
}

func TestRotateKeepsPreviousSecretForTheGracePeriod(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	var tok access.ServiceToken
	a.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "svc"}, &tok)
	oldHash, _, _ := storedHashes(t, a, tok.ID)

	grace := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	var rotated access.ServiceToken
	resp := a.MustCall(t, "POST", "access/service_tokens/"+tok.ID+"/rotate", map[string]any{"previous_client_secret_expires_at": grace}, &rotated)
	if rotated.ClientSecret == "" || rotated.ClientSecret == tok.ClientSecret || rotated.ClientID != tok.ClientID || rotated.ClientSecretVersion != 2 {
		t.Fatalf("rotate returned %+v", rotated)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("rotate response may be cached")
	}
	current, previous, prevExpires := storedHashes(t, a, tok.ID)
	if !access.SecretMatches(rotated.ClientSecret, current) || !bytes.Equal(previous, oldHash) || prevExpires == nil || !prevExpires.Equal(grace) {
		t.Errorf("after rotate: new secret matches=%v, previous kept=%v, expires %v want %v",
			access.SecretMatches(rotated.ClientSecret, current), bytes.Equal(previous, oldHash), prevExpires, grace)
	}
	// Without a grace period the previous secret stops at once.
	var again access.ServiceToken
	a.MustCall(t, "POST", "access/service_tokens/"+tok.ID+"/rotate", nil, &again)
	_, _, prevExpires = storedHashes(t, a, tok.ID)
	if prevExpires == nil || prevExpires.After(time.Now()) || again.ClientSecretVersion != 3 {
		t.Errorf("rotate without grace: previous expires %v, version %d", prevExpires, again.ClientSecretVersion)
	}
	// Raising client_secret_version through PUT rotates too.
	var viaPut access.ServiceToken
	a.MustCall(t, "PUT", "access/service_tokens/"+tok.ID, map[string]any{"client_secret_version": 4}, &viaPut)
	if viaPut.ClientSecret == "" || viaPut.ClientSecretVersion != 4 {
		t.Errorf("PUT rotation: %+v", viaPut)
	}
	if resp := a.Call(t, "PUT", "access/service_tokens/"+tok.ID, map[string]any{"client_secret_version": 2}); resp.Status != 400 {
		t.Errorf("lowering the version: %d", resp.Status)
	}
}

func TestRefreshAndUpdateServiceToken(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	var tok access.ServiceToken
	a.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "svc", "duration": "1h"}, &tok)
	var upd access.ServiceToken
	a.MustCall(t, "PUT", "access/service_tokens/"+tok.ID, map[string]any{"name": "renamed", "duration": "48h"}, &upd)
	if upd.Name != "renamed" || upd.Duration != "48h" || !upd.ExpiresAt.Equal(tok.ExpiresAt) || upd.ClientSecret != "" {
		t.Errorf("update: %+v", upd)
	}
	var refreshed access.ServiceToken
	a.MustCall(t, "POST", "access/service_tokens/"+tok.ID+"/refresh", nil, &refreshed)
	if d := refreshed.ExpiresAt.Sub(refreshed.UpdatedAt); d != 48*time.Hour {
		t.Errorf("refresh set expires_at to updated_at + %v, want 48h", d)
	}
	for name, body := range map[string]map[string]any{
		"duration":                          {"duration": "-5m"},
		"name":                              {"name": ""},
		"previous_client_secret_expires_at": {"previous_client_secret_expires_at": "tomorrow"},
	} {
		if resp := a.Call(t, "PUT", "access/service_tokens/"+tok.ID, body); resp.Status != 400 || resp.Env.Errors[0].Field != name {
			t.Errorf("bad %s: %d %s", name, resp.Status, resp.Body)
		}
	}
	if resp := a.Call(t, "POST", "access/service_tokens", map[string]any{"name": "renamed"}); resp.Status != 409 {
		t.Errorf("duplicate name: %d", resp.Status)
	}
}

func TestTokenInUseCannotBeDeleted(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	var tok access.ServiceToken
	a.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "svc"}, &tok)
	app := createApp(t, a, appBody("api", uniq(t, "api.test")))
	var p access.Policy
	a.MustCall(t, "POST", "access/apps/"+app.ID+"/policies", map[string]any{"name": "service auth", "decision": "non_identity",
		"include": []any{jsonObj(t, `{"service_token":{"token_id":"`+tok.ID+`"}}`)}}, &p)

	resp := a.Call(t, "DELETE", "access/service_tokens/"+tok.ID, nil)
	if resp.Status != 409 || !strings.Contains(resp.Env.Errors[0].Message, "api / service auth") {
		t.Fatalf("delete token in use: %d %s", resp.Status, resp.Body)
	}
	a.MustCall(t, "GET", "access/service_tokens/"+tok.ID, nil, nil)
	// Once no rule names it, it can go.
	a.MustCall(t, "PUT", "access/apps/"+app.ID+"/policies/"+p.ID, map[string]any{"name": "service auth", "decision": "non_identity",
		"include": []any{jsonObj(t, `{"any_valid_service_token":{}}`)}}, nil)
	a.MustCall(t, "DELETE", "access/service_tokens/"+tok.ID, nil, nil)
}
