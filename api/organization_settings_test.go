package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/zero_trust"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// orgFields decodes a response's result as a JSON object.
func orgFields(t *testing.T, resp gatehousetest.Response) map[string]any {
	t.Helper()
	var m map[string]any
	resp.Decode(t, &m)
	return m
}

// The organization is created by PUT (as Terraform does) and read back
// with exactly the fields that were set, plus the booleans Cloudflare
// always returns; a PUT changes only the fields it carries, and null
// removes one.
func TestOrganizationRoundTripsOnlyWhatWasSet(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	if resp := a.Call(t, "GET", "access/organizations", nil); resp.Status != http.StatusNotFound {
		t.Fatalf("before creation: %d %s", resp.Status, resp.Body)
	}
	// What the provider sends for name, auth_domain and session_duration:
	// the computed booleans at their defaults, and no other field.
	resp := a.Call(t, "PUT", "access/organizations", map[string]any{"name": "Example", "auth_domain": "team.example.test",
		"session_duration": "12h", "allow_authenticate_via_warp": false, "auto_redirect_to_identity": false, "is_ui_read_only": false,
		"login_design": map[string]any{}, "mfa_config": map[string]any{}})
	if resp.Status != 200 || resp.Header.Get("ETag") != `"1"` {
		t.Fatalf("create: %d %s", resp.Status, resp.Body)
	}
	got := orgFields(t, resp)
	want := map[string]any{"name": "Example", "auth_domain": "team.example.test", "session_duration": "12h",
		"is_ui_read_only": false, "auto_redirect_to_identity": false, "allow_authenticate_via_warp": false,
		"mfa_required_for_all_apps": false} // deny_unmatched_requests: absent when false

	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && k != "created_at" && k != "updated_at" {
			t.Errorf("%s is returned (%v) though it was never set", k, got[k])
		}
	}
	if _, err := time.Parse(time.RFC3339, got["created_at"].(string)); err != nil {
		t.Errorf("created_at: %v", err)
	}

	// A later PUT carries some fields: the rest keep their values; null
	// removes a field.
	resp = a.Call(t, "PUT", "access/organizations", map[string]any{"session_duration": nil,
		"login_design": map[string]any{"background_color": "#0055ff", "text_color": "white", "logo_path": "https://cdn.example.test/logo.png",
			"header_text": "Welcome", "footer_text": "Example Inc."},
		"user_seat_expiration_inactive_time": "730h", "deny_unmatched_requests": true, "ui_read_only_toggle_reason": "terraform"})
	if resp.Status != 200 || resp.Header.Get("ETag") != `"2"` {
		t.Fatalf("update: %d %s", resp.Status, resp.Body)
	}
	got = orgFields(t, resp)
	if _, ok := got["session_duration"]; ok || got["name"] != "Example" || got["auth_domain"] != "team.example.test" ||
		got["user_seat_expiration_inactive_time"] != "730h" || got["deny_unmatched_requests"] != true ||
		got["login_design"].(map[string]any)["header_text"] != "Welcome" || got["ui_read_only_toggle_reason"] != "terraform" {
		t.Errorf("after update: %s", resp.Body)
	}
	read := a.Call(t, "GET", "access/organizations", nil)
	if read.Status != 200 || string(read.Env.Result) != string(resp.Env.Result) || read.Header.Get("ETag") != `"2"` {
		t.Errorf("GET after update: %d %s, PUT answered %s", read.Status, read.Env.Result, resp.Env.Result)
	}

	// POST creates only: the account has one.
	if resp := a.Call(t, "POST", "access/organizations", map[string]any{"name": "Other", "auth_domain": "other.example.test"}); resp.Status != http.StatusConflict {
		t.Errorf("second POST: %d %s", resp.Status, resp.Body)
	}
	// A stale ETag changes nothing.
	stale := a.Do(t, gatehousetest.Request{Method: "PUT", Path: "access/organizations", Body: map[string]any{"name": "Late"}, Header: map[string]string{"If-Match": `"1"`}})
	if stale.Status != http.StatusPreconditionFailed {
		t.Errorf("stale If-Match: %d %s", stale.Status, stale.Body)
	}
	fresh := a.Do(t, gatehousetest.Request{Method: "PUT", Path: "access/organizations", Body: map[string]any{"name": "Renamed"}, Header: map[string]string{"If-Match": `"2"`}})
	if fresh.Status != 200 || orgFields(t, fresh)["name"] != "Renamed" {
		t.Errorf("fresh If-Match: %d %s", fresh.Status, fresh.Body)
	}

	var entries []access.AuditEntry
	a.MustCall(t, "GET", "audit_logs?resource_id="+a.AccountID, nil, &entries)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action.Type)
	}
	if !slices.Contains(actions, "organization.create") || !slices.Contains(actions, "organization.update") {
		t.Errorf("audit actions %v", actions)
	}
}

// POST creates the organization, requiring name and auth_domain as
// Cloudflare does.
func TestOrganizationPostCreates(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	if resp := a.Call(t, "POST", "access/organizations", map[string]any{"session_duration": "1h"}); resp.Status != 400 ||
		!slices.Equal(resp.Fields(), []string{"name", "auth_domain"}) {
		t.Errorf("POST without name and auth_domain: %d %s", resp.Status, resp.Body)
	}
	if resp := a.Call(t, "GET", "access/organizations", nil); resp.Status != 404 {
		t.Errorf("a refused POST stored something: %d %s", resp.Status, resp.Body)
	}
	resp := a.Call(t, "POST", "access/organizations", map[string]any{"name": "Example", "auth_domain": "team.example.test"})
	if resp.Status != 200 || orgFields(t, resp)["name"] != "Example" {
		t.Errorf("POST: %d %s", resp.Status, resp.Body)
	}
}

// Bad input is refused with 400 naming the field, and nothing changes.
func TestOrganizationBadInputNamesTheField(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	before := a.MustCall(t, "PUT", "access/organizations", map[string]any{"name": "Example", "auth_domain": "team.example.test"}, nil)
	tests := []struct {
		name  string
		body  any
		field string
	}{
		{"fail/auth_domain with a space", map[string]any{"auth_domain": "bad domain.test"}, "auth_domain"},
		{"fail/auth_domain upper case", map[string]any{"auth_domain": "Team.example.test"}, "auth_domain"},
		{"fail/auth_domain with a scheme", map[string]any{"auth_domain": "https://team.example.test"}, "auth_domain"},
		{"fail/auth_domain with a path", map[string]any{"auth_domain": "team.example.test/x"}, "auth_domain"},
		{"fail/auth_domain a number", map[string]any{"auth_domain": 5}, "auth_domain"},
		{"fail/session_duration not a duration", map[string]any{"session_duration": "a day"}, "session_duration"},
		{"fail/session_duration too long", map[string]any{"session_duration": "9000h"}, "session_duration"},
		{"fail/session_duration negative", map[string]any{"session_duration": "-1h"}, "session_duration"},
		{"fail/seat expiration under a month", map[string]any{"user_seat_expiration_inactive_time": "24h"}, "user_seat_expiration_inactive_time"},
		{"fail/background color", map[string]any{"login_design": map[string]any{"background_color": "red;}body{"}}, "login_design.background_color"},
		{"fail/logo_path scheme", map[string]any{"login_design": map[string]any{"logo_path": "javascript:alert(1)"}}, "login_design.logo_path"},
		{"fail/background color not a color name", map[string]any{"login_design": map[string]any{"background_color": "expression"}}, "login_design.background_color"},
		{"fail/background color url", map[string]any{"login_design": map[string]any{"background_color": "url(https://x.test/a)"}}, "login_design.background_color"},
		{"fail/text color closing the style", map[string]any{"login_design": map[string]any{"text_color": "</style><script>alert(1)</script>"}}, "login_design.text_color"},
		{"fail/text color with a declaration", map[string]any{"login_design": map[string]any{"text_color": "#fff;background:url(//x)"}}, "login_design.text_color"},
		{"fail/logo_path http", map[string]any{"login_design": map[string]any{"logo_path": "http://cdn.example.test/logo.png"}}, "login_design.logo_path"},
		{"fail/logo_path protocol-relative", map[string]any{"login_design": map[string]any{"logo_path": "//evil.test/logo.png"}}, "login_design.logo_path"},
		{"fail/logo_path breaking the attribute", map[string]any{"login_design": map[string]any{"logo_path": `https://x.test/a.png" onerror="alert(1)`}}, "login_design.logo_path"},
		{"fail/logo_path data", map[string]any{"login_design": map[string]any{"logo_path": "data:image/svg+xml,<svg/onload=alert(1)>"}}, "login_design.logo_path"},
		{"fail/login_design unknown field", map[string]any{"login_design": map[string]any{"font": "x"}}, "font"},
		{"fail/unknown field", map[string]any{"team_name": "x"}, "team_name"},
		{"fail/name too long", map[string]any{"name": strings.Repeat("n", 256)}, "name"},
		{"fail/is_ui_read_only", map[string]any{"is_ui_read_only": true}, "is_ui_read_only"},
		{"fail/allow_authenticate_via_warp", map[string]any{"allow_authenticate_via_warp": true}, "allow_authenticate_via_warp"},
		{"fail/auto_redirect_to_identity", map[string]any{"auto_redirect_to_identity": true}, "auto_redirect_to_identity"},
		{"fail/custom page", map[string]any{"custom_pages": map[string]any{"forbidden": "page-1"}}, "custom_pages.forbidden"},
		{"fail/exempt zones", map[string]any{"deny_unmatched_requests_exempted_zone_names": []string{"example.test"}}, "deny_unmatched_requests_exempted_zone_names"},
		{"fail/mfa_config", map[string]any{"mfa_config": map[string]any{"allowed_authenticators": []string{"totp"}}}, "mfa_config"},
		{"fail/mfa_required_for_all_apps", map[string]any{"mfa_required_for_all_apps": true}, "mfa_required_for_all_apps"},
		{"fail/mfa_ssh_piv_key_requirements", map[string]any{"mfa_ssh_piv_key_requirements": map[string]any{"pin_policy": "always"}}, "mfa_ssh_piv_key_requirements"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.Call(t, "PUT", "access/organizations", tc.body)
			if resp.Status != 400 || !slices.Contains(resp.Fields(), tc.field) {
				t.Errorf("%d %s, want 400 on %s", resp.Status, resp.Body, tc.field)
			}
		})
	}
	for _, body := range []string{`[]`, `"x"`, `{"name": "a"} {}`, `{`} {
		resp := a.Do(t, gatehousetest.Request{Method: "PUT", Path: "access/organizations", Body: []byte(body)})
		if resp.Status != 400 {
			t.Errorf("body %s: %d %s", body, resp.Status, resp.Body)
		}
	}
	after := a.Call(t, "GET", "access/organizations", nil)
	if string(after.Env.Result) != string(before.Env.Result) {
		t.Errorf("refused writes changed the organization: %s, was %s", after.Env.Result, before.Env.Result)
	}
}

// A read-only token reads but cannot write; another account's token gets
// 404, as for every account route.
func TestOrganizationAuthorization(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	a.MustCall(t, "PUT", "access/organizations", map[string]any{"name": "Example"}, nil)
	if resp := a.Do(t, gatehousetest.Request{Method: "GET", Path: "access/organizations", Token: a.ReadOnlyToken}); resp.Status != 200 {
		t.Errorf("read-only GET: %d", resp.Status)
	}
	for _, m := range []string{"PUT", "POST"} {
		if resp := a.Do(t, gatehousetest.Request{Method: m, Path: "access/organizations", Body: map[string]any{"name": "x"}, Token: a.ReadOnlyToken}); resp.Status != 403 {
			t.Errorf("read-only %s: %d", m, resp.Status)
		}
	}
	_, other, _ := gatehousetest.NewAccount(t, a.Store)
	for _, m := range []string{"GET", "PUT"} {
		if resp := a.Do(t, gatehousetest.Request{Method: m, Path: "access/organizations", Body: map[string]any{"name": "x"}, Token: other}); resp.Status != 404 {
			t.Errorf("another account's token, %s: %d", m, resp.Status)
		}
	}
	if resp := a.Do(t, gatehousetest.Request{Method: "GET", Path: "access/organizations", Token: "-"}); resp.Status != 401 {
		t.Errorf("no token: %d", resp.Status)
	}
}

// Cloudflare's SDK creates, reads and updates the organization, and
// decodes every field it knows.
func TestCloudflareGoSDKManagesTheOrganization(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cf := cloudflare.NewClient(option.WithBaseURL(a.URL+"/client/v4/"), option.WithAPIToken(a.Token), option.WithMaxRetries(0), option.WithHTTPClient(a.HTTPClient()))
	created, err := cf.ZeroTrust.Organizations.New(ctx, zero_trust.OrganizationNewParams{AccountID: cloudflare.F(a.AccountID),
		Name: cloudflare.F("Example"), AuthDomain: cloudflare.F("team.example.test"), SessionDuration: cloudflare.F("8h"),
		LoginDesign: cloudflare.F(zero_trust.LoginDesignParam{TextColor: cloudflare.F("#222")})})
	if err != nil {
		t.Fatal(err)
	}
	if created.Name != "Example" || created.SessionDuration != "8h" || created.LoginDesign.TextColor != "#222" {
		t.Errorf("created %+v", created)
	}
	updated, err := cf.ZeroTrust.Organizations.Update(ctx, zero_trust.OrganizationUpdateParams{AccountID: cloudflare.F(a.AccountID),
		UserSeatExpirationInactiveTime: cloudflare.F("1460h")})
	if err != nil {
		t.Fatal(err)
	}
	read, err := cf.ZeroTrust.Organizations.List(ctx, zero_trust.OrganizationListParams{AccountID: cloudflare.F(a.AccountID)})
	if err != nil {
		t.Fatal(err)
	}
	if updated.UserSeatExpirationInactiveTime != "1460h" || read.AuthDomain != "team.example.test" || read.UserSeatExpirationInactiveTime != "1460h" {
		t.Errorf("updated %+v, read %+v", updated, read)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(read.JSON.RawJSON()), &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["custom_pages"]; ok {
		t.Errorf("custom_pages returned though never set: %s", read.JSON.RawJSON())
	}
}
