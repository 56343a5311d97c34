package api_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestUnsupportedSettingsAreRefusedAndDefaultsAccepted covers every
// Unsupported field of access.Inventory, on create and on replace: a
// value other than the default is a 400 naming the field, and nothing is
// stored; the default (what Cloudflare-shaped bodies send) is accepted.
func TestUnsupportedSettingsAreRefusedAndDefaultsAccepted(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	policy := func(t *testing.T, field string, v any) map[string]any {
		b := allowEveryone(t.Name())
		b[field] = v
		return b
	}
	existingApp := createApp(t, a, appBody("existing", uniq(t, "existing.test")))
	var existingPolicy access.Policy
	a.MustCall(t, "POST", "access/policies", allowEveryone("existing"), &existingPolicy)
	var existingIdP access.IdentityProvider
	a.MustCall(t, "POST", "access/identity_providers", oidcBody("existing"), &existingIdP)
	group := func(name string, v any) map[string]any {
		return map[string]any{"name": name, "include": []any{map[string]any{"everyone": map[string]any{}}}, "is_default": v}
	}
	var existingGroup access.Group
	a.MustCall(t, "POST", "access/groups", group("existing", false), &existingGroup)
	a.MustCall(t, "PUT", "access/organizations", map[string]any{"name": "existing"}, nil)
	org := func(field string) func(t *testing.T, v any) map[string]any {
		return func(t *testing.T, v any) map[string]any { return map[string]any{"name": "existing", field: v} }
	}

	tests := []struct {
		name         string
		method, path string
		list         string // lists what a refused create must not have added
		body         func(t *testing.T, v any) map[string]any
		field        string
		bad, def     any
	}{
		{"app/create/skip_interstitial", "POST", "access/apps", "access/apps",
			func(t *testing.T, v any) map[string]any {
				b := appBody("new", uniq(t, "new.test"))
				b["skip_interstitial"] = v
				return b
			}, "skip_interstitial", true, false},
		{"app/replace/skip_interstitial", "PUT", "access/apps/" + existingApp.ID, "",
			func(t *testing.T, v any) map[string]any {
				b := appBody("existing", existingApp.Domain)
				b["skip_interstitial"] = v
				return b
			}, "skip_interstitial", true, false},
		{"policy/create/approval_required", "POST", "access/policies", "access/policies",
			func(t *testing.T, v any) map[string]any { return policy(t, "approval_required", v) }, "approval_required", true, false},
		{"policy/create/isolation_required", "POST", "access/policies", "access/policies",
			func(t *testing.T, v any) map[string]any { return policy(t, "isolation_required", v) }, "isolation_required", true, false},
		{"policy/create/approval_groups", "POST", "access/policies", "access/policies",
			func(t *testing.T, v any) map[string]any { return policy(t, "approval_groups", v) }, "approval_groups",
			[]any{map[string]any{"email_addresses": []string{"boss@example.test"}, "approvals_needed": 1}}, []any{}},
		{"policy/create/approval_groups null", "POST", "access/policies", "access/policies",
			func(t *testing.T, v any) map[string]any { return policy(t, "approval_groups", v) }, "approval_groups",
			[]any{map[string]any{}}, nil},
		{"policy/app-scoped/approval_required", "POST", "access/apps/" + existingApp.ID + "/policies", "access/apps/" + existingApp.ID + "/policies",
			func(t *testing.T, v any) map[string]any { return policy(t, "approval_required", v) }, "approval_required", true, false},
		{"policy/replace/isolation_required", "PUT", "access/policies/" + existingPolicy.ID, "",
			func(t *testing.T, v any) map[string]any { return policy(t, "isolation_required", v) }, "isolation_required", true, false},
		{"service token/create/previous_client_secret_expires_at", "POST", "access/service_tokens", "access/service_tokens",
			func(t *testing.T, v any) map[string]any {
				return map[string]any{"name": "tok", "previous_client_secret_expires_at": v}
			}, "previous_client_secret_expires_at", "2030-01-01T00:00:00Z", nil},
		{"access group/create/is_default", "POST", "access/groups", "access/groups",
			func(t *testing.T, v any) map[string]any { return group(t.Name(), v) }, "is_default", true, false},
		{"access group/replace/is_default", "PUT", "access/groups/" + existingGroup.ID, "",
			func(t *testing.T, v any) map[string]any { return group("existing", v) }, "is_default", true, false},
		{"organization/custom_pages.forbidden", "PUT", "access/organizations", "", org("custom_pages"), "custom_pages.forbidden",
			map[string]any{"forbidden": "page-1"}, map[string]any{"forbidden": ""}},
		{"organization/custom_pages.identity_denied", "PUT", "access/organizations", "", org("custom_pages"), "custom_pages.identity_denied",
			map[string]any{"identity_denied": "page-1"}, nil},
		{"organization/is_ui_read_only", "PUT", "access/organizations", "", org("is_ui_read_only"), "is_ui_read_only", true, false},
		{"organization/auto_redirect_to_identity", "PUT", "access/organizations", "", org("auto_redirect_to_identity"), "auto_redirect_to_identity", true, false},
		{"organization/allow_authenticate_via_warp", "PUT", "access/organizations", "", org("allow_authenticate_via_warp"), "allow_authenticate_via_warp", true, false},
		{"organization/deny_unmatched_requests_exempted_zone_names", "PUT", "access/organizations", "", org("deny_unmatched_requests_exempted_zone_names"),
			"deny_unmatched_requests_exempted_zone_names", []string{"example.test"}, []string{}},
		{"organization/mfa_config", "PUT", "access/organizations", "", org("mfa_config"), "mfa_config",
			map[string]any{"session_duration": "1h"}, map[string]any{}},
		{"organization/mfa_required_for_all_apps", "PUT", "access/organizations", "", org("mfa_required_for_all_apps"), "mfa_required_for_all_apps", true, false},
		{"organization/mfa_ssh_piv_key_requirements", "PUT", "access/organizations", "", org("mfa_ssh_piv_key_requirements"), "mfa_ssh_piv_key_requirements",
			map[string]any{"touch_policy": "always"}, nil},
		{"organization/mfa_configuration_allowed", "PUT", "access/organizations", "", org("mfa_configuration_allowed"), "mfa_configuration_allowed", true, false},
	}
	count := func(t *testing.T, list string) int {
		if list == "" {
			return 0
		}
		return a.MustCall(t, "GET", list, nil, nil).Env.ResultInfo.TotalCount
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := count(t, tc.list)
			var etag string
			if tc.method == "PUT" {
				etag = a.MustCall(t, "GET", tc.path, nil, nil).Header.Get("ETag")
			}
			resp := a.Call(t, tc.method, tc.path, tc.body(t, tc.bad))
			if resp.Status != 400 || len(resp.Env.Errors) != 1 || resp.Env.Errors[0].Field != tc.field ||
				!strings.Contains(resp.Env.Errors[0].Message, "not supported") {
				t.Fatalf("%v: status %d: %s, want 400 naming %s as not supported", tc.bad, resp.Status, resp.Body, tc.field)
			}
			if after := count(t, tc.list); after != before {
				t.Errorf("a refused create stored something: %d before, %d after", before, after)
			}
			if tc.method == "PUT" {
				if got := a.MustCall(t, "GET", tc.path, nil, nil).Header.Get("ETag"); got != etag {
					t.Errorf("a refused replace changed the resource: ETag %s, was %s", got, etag)
				}
			}
			resp = a.Call(t, tc.method, tc.path, tc.body(t, tc.def))
			if resp.Status != 200 {
				t.Fatalf("the default %v: status %d: %s", tc.def, resp.Status, resp.Body)
			}
		})
	}
}

// TestDenyURLsAreSentOnlyInTheirCanonicalAbsoluteForm: the edge sends a
// deny URL as the Location exactly as stored, so the API accepts only
// URLs every client reads alike.
func TestDenyURLsAreSentOnlyInTheirCanonicalAbsoluteForm(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	bad := []string{"/relative", "//evil.test/", "https:evil.test", "https:\\\\evil.test", "https://evil.test\\@good.test/",
		"https://user:pw@good.test/", "javascript:alert(1)", "HTTPS://good.test/", "https://good.test/ x",
		"https://good.test/\r\nSet-Cookie: a=b", "https://göod.test/", "https://good.test:0/", "ftp://good.test/"}
	for _, field := range []string{"custom_deny_url", "custom_non_identity_deny_url"} {
		for _, u := range bad {
			t.Run(field+"/"+u, func(t *testing.T) {
				b := appBody("app", uniq(t, "app.test"))
				b[field] = u
				resp := a.Call(t, "POST", "access/apps", b)
				if resp.Status != 400 || len(resp.Fields()) != 1 || resp.Fields()[0] != field {
					t.Fatalf("status %d: %s", resp.Status, resp.Body)
				}
			})
		}
		t.Run(field+"/ok", func(t *testing.T) {
			b := appBody(field, uniq(t, "ok.test"))
			b[field] = "https://deny.example.test/why?x=1#top"
			var app access.App
			a.MustCall(t, "POST", "access/apps", b, &app)
			if got := map[string]string{"custom_deny_url": app.CustomDenyURL, "custom_non_identity_deny_url": app.CustomNonIdentityDenyURL}[field]; got != b[field] {
				t.Errorf("stored %q", got)
			}
		})
	}
}
