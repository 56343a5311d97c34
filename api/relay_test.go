package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func relayBody(t *testing.T, upstream any) map[string]any {
	body := appBody("relay", uniq(t, "relay.example.test")+"/api")
	body["upstream_service_token"] = upstream
	return body
}

func TestUpstreamServiceTokenSetKeepRemove(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	const secret = "relay-secret-5e1f0c2a9b"
	app := createApp(t, a, relayBody(t, map[string]any{"client_id": "upstream.access", "client_secret": secret}))
	if app.UpstreamServiceToken == nil || *app.UpstreamServiceToken != (access.UpstreamServiceToken{ClientID: "upstream.access", ClientSecretSet: true}) {
		t.Fatalf("created upstream_service_token = %+v", app.UpstreamServiceToken)
	}
	path := "access/apps/" + app.ID
	opened := func() string {
		t.Helper()
		cfg, err := a.Store.LoadConfig(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cfg.Apps {
			if c.ID == app.ID {
				return c.UpstreamClientSecret
			}
		}
		t.Fatal("app not in the edge's config")
		return ""
	}
	if got := opened(); got != secret {
		t.Fatalf("edge config secret = %q", got)
	}

	// Absent: the credential is kept.
	var got access.App
	body := relayBody(t, nil)
	delete(body, "upstream_service_token")
	body["name"] = "renamed"
	a.MustCall(t, "PUT", path, body, &got)
	if got.Name != "renamed" || got.UpstreamServiceToken == nil || got.UpstreamServiceToken.ClientID != "upstream.access" || opened() != secret {
		t.Fatalf("absent field should keep the credential: %+v", got.UpstreamServiceToken)
	}

	// An object without client_secret replaces the id and keeps the secret.
	a.MustCall(t, "PUT", path, relayBody(t, map[string]any{"client_id": "renamed.access"}), &got)
	if got.UpstreamServiceToken == nil || got.UpstreamServiceToken.ClientID != "renamed.access" || !got.UpstreamServiceToken.ClientSecretSet || opened() != secret {
		t.Fatalf("client id change: %+v", got.UpstreamServiceToken)
	}

	// A new secret replaces the old one.
	a.MustCall(t, "PUT", path, relayBody(t, map[string]any{"client_id": "renamed.access", "client_secret": "second-secret"}), nil)
	if opened() != "second-secret" {
		t.Fatal("new secret not stored")
	}

	// null removes it; then a secret is needed again.
	got = access.App{}
	a.MustCall(t, "PUT", path, relayBody(t, nil), &got)
	if got.UpstreamServiceToken != nil || opened() != "" {
		t.Fatalf("null: %+v", got.UpstreamServiceToken)
	}
	resp := a.Call(t, "PUT", path, relayBody(t, map[string]any{"client_id": "renamed.access"}))
	if resp.Status != 400 || strings.Join(resp.Fields(), ",") != "upstream_service_token.client_secret" {
		t.Fatalf("keep without a stored secret: %d %s", resp.Status, resp.Body)
	}
	var reread access.App
	a.MustCall(t, "GET", path, nil, &reread)
	if reread.UpstreamServiceToken != nil {
		t.Fatalf("failed PUT changed the app: %+v", reread.UpstreamServiceToken)
	}
}

func TestUpstreamServiceTokenValidation(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	noOrigin := relayBody(t, map[string]any{"client_id": "x.access", "client_secret": "s"})
	delete(noOrigin, "origin")
	for name, tc := range map[string]struct {
		body  any
		field string
	}{
		"client_id missing":  {relayBody(t, map[string]any{"client_secret": "s"}), "upstream_service_token.client_id"},
		"client_id too long": {relayBody(t, map[string]any{"client_id": strings.Repeat("a", 257), "client_secret": "s"}), "upstream_service_token.client_id"},
		"client_id control":  {relayBody(t, map[string]any{"client_id": "a\nb", "client_secret": "s"}), "upstream_service_token.client_id"},
		"secret too long":    {relayBody(t, map[string]any{"client_id": "x.access", "client_secret": strings.Repeat("s", 513)}), "upstream_service_token.client_secret"},
		"secret required":    {relayBody(t, map[string]any{"client_id": "x.access"}), "upstream_service_token.client_secret"},
		"origin required":    {noOrigin, "upstream_service_token"},
		"unknown member":     {relayBody(t, map[string]any{"client_id": "x.access", "client_secret": "s", "extra": 1}), ""},
		"not an object":      {relayBody(t, "x.access"), ""},
	} {
		resp := a.Call(t, "POST", "access/apps", tc.body)
		if resp.Status != 400 || strings.Join(resp.Fields(), ",") != tc.field {
			t.Errorf("%s: %d fields %q: %s", name, resp.Status, resp.Fields(), resp.Body)
		}
	}
	// The limits themselves are accepted.
	createApp(t, a, relayBody(t, map[string]any{"client_id": strings.Repeat("a", 256), "client_secret": strings.Repeat("s", 512)}))
}

func TestUpstreamSecretIsNeverReturnedStoredOrAudited(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	const secret = "never-shown-9f8e7d6c5b4a"
	app := createApp(t, a, relayBody(t, map[string]any{"client_id": "upstream.access", "client_secret": secret}))
	a.MustCall(t, "PUT", "access/apps/"+app.ID, relayBody(t, map[string]any{"client_id": "upstream.access", "client_secret": secret + "-2"}), nil)
	for _, path := range []string{"access/apps", "access/apps/" + app.ID, "audit_logs"} {
		resp := a.Call(t, "GET", path, nil)
		if resp.Status != 200 || strings.Contains(string(resp.Body), secret) || strings.Contains(string(resp.Body), "client_secret\"") {
			t.Errorf("GET %s leaks the secret or a client_secret field: %s", path, resp.Body)
		}
	}
	var leaks int
	err := a.Store.Pool().QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM apps x WHERE x::text LIKE '%' || $1 || '%')
		     + (SELECT count(*) FROM audit_log l WHERE l::text LIKE '%' || $1 || '%')`, secret).Scan(&leaks)
	if err != nil || leaks != 0 {
		t.Errorf("secret stored in clear in %d rows (err %v)", leaks, err)
	}
	// The opened secret in the edge's config never serializes.
	cfg, err := a.Store.LoadConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfg.Apps {
		if c.ID != app.ID {
			continue
		}
		if c.UpstreamClientSecret != secret+"-2" {
			t.Fatalf("edge config secret = %q", c.UpstreamClientSecret)
		}
		b, err := json.Marshal(c)
		if err != nil || strings.Contains(string(b), secret) {
			t.Errorf("access.App with its opened secret marshals it: %s (err %v)", b, err)
		}
	}
}
