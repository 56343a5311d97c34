package api_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

type policyTestResult struct {
	AppID      string `json:"app_id"`
	Draft      bool   `json:"draft"`
	Decision   string `json:"decision"`
	Reason     string `json:"reason"`
	ReasonText string `json:"reason_text"`
	Policy     *struct {
		ID, Name, Decision string
	} `json:"policy"`
	Rule *struct {
		List  string `json:"list"`
		Index int    `json:"index"`
		Type  string `json:"type"`
	} `json:"rule"`
	Policies []struct {
		ID            string `json:"id"`
		Evaluated     bool   `json:"evaluated"`
		Matched       bool   `json:"matched"`
		FailedRequire *struct {
			Index int    `json:"index"`
			Type  string `json:"type"`
		} `json:"failed_require"`
		MatchedExclude *struct {
			Index int    `json:"index"`
			Type  string `json:"type"`
		} `json:"matched_exclude"`
		Explanation string `json:"explanation"`
	} `json:"policies"`
	Preflight *struct {
		Outcome string            `json:"outcome"`
		Reason  string            `json:"reason"`
		Status  any               `json:"status"`
		Headers map[string]string `json:"headers"`
	} `json:"preflight"`
}

func policyTest(t *testing.T, a *gatehousetest.API, body map[string]any) policyTestResult {
	t.Helper()
	var res policyTestResult
	a.MustCall(t, "POST", "gatehouse/policy_test", body, &res)
	return res
}

func TestPolicyTesterExplainsTheEnginesDecision(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	body := appBody("api", uniq(t, "api.example.test"))
	body["cors_headers"] = map[string]any{"allowed_origins": []string{"https://app.example.test"}, "allowed_methods": []string{"GET", "PUT"},
		"allowed_headers": []string{"X-Custom"}, "allow_credentials": true}
	app := createApp(t, a, body)
	var tok access.ServiceToken
	a.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "ci"}, &tok)
	for _, p := range []map[string]any{
		{"name": "ci", "decision": "non_identity", "include": []any{map[string]any{"service_token": map[string]any{"token_id": tok.ID}}}},
		{"name": "no-bob", "decision": "deny", "include": []any{map[string]any{"email": map[string]any{"email": "bob@example.test"}}}},
		{"name": "staff", "decision": "allow", "include": []any{map[string]any{"email_domain": map[string]any{"domain": "example.test"}}},
			"require": []any{map[string]any{"geo": map[string]any{"country_code": "DE"}}}},
	} {
		a.MustCall(t, "POST", "access/apps/"+app.ID+"/policies", p, nil)
	}

	res := policyTest(t, a, map[string]any{"app_id": app.ID, "email": "ann@example.test", "country": "de", "ip": "192.0.2.1"})
	if res.Decision != "allow" || res.Reason != "allow_policy" || res.Policy == nil || res.Policy.Name != "staff" ||
		res.Rule == nil || res.Rule.List != "include" || res.Rule.Index != 0 || res.Rule.Type != "email_domain" {
		t.Fatalf("ann from DE: %+v policy %+v rule %+v", res, res.Policy, res.Rule)
	}
	if len(res.Policies) != 3 || !res.Policies[0].Evaluated || res.Policies[0].Matched || res.Policies[1].Matched || !res.Policies[2].Matched {
		t.Fatalf("policies %+v", res.Policies)
	}
	if res.Preflight != nil {
		t.Errorf("preflight without origin: %+v", res.Preflight)
	}

	res = policyTest(t, a, map[string]any{"app_id": app.ID, "email": "ann@example.test", "country": "FR"})
	if res.Decision != "deny" || res.Reason != "no_policy_matched" || res.Policy != nil || res.Rule != nil {
		t.Fatalf("ann from FR: %+v", res)
	}
	if fr := res.Policies[2].FailedRequire; fr == nil || fr.Index != 0 || fr.Type != "geo" {
		t.Fatalf("staff policy from FR: %+v", res.Policies[2])
	}

	res = policyTest(t, a, map[string]any{"app_id": app.ID, "email": "bob@example.test", "country": "DE"})
	if res.Decision != "deny" || res.Reason != "deny_policy" || res.Policy.Name != "no-bob" || res.Policies[2].Evaluated {
		t.Fatalf("bob: %+v", res)
	}

	res = policyTest(t, a, map[string]any{"app_id": app.ID, "service_token_id": tok.ID})
	if res.Decision != "allow" || res.Reason != "service_auth_policy" || res.Rule.Type != "service_token" {
		t.Fatalf("service token: %+v", res)
	}

	res = policyTest(t, a, map[string]any{"app_id": app.ID, "origin": "https://app.example.test", "method": "PUT", "request_headers": []string{"X-Custom"}})
	if res.Decision != "login" || res.Reason != "login_required" {
		t.Fatalf("anonymous: %+v", res)
	}
	if p := res.Preflight; p == nil || p.Outcome != "answered" || p.Reason != "preflight_answered" || p.Status != float64(204) ||
		p.Headers["Access-Control-Allow-Origin"] != "https://app.example.test" || p.Headers["Access-Control-Allow-Credentials"] != "true" {
		t.Fatalf("preflight %+v", res.Preflight)
	}
	res = policyTest(t, a, map[string]any{"app_id": app.ID, "origin": "https://evil.test", "method": "GET"})
	if p := res.Preflight; p == nil || p.Reason != "preflight_origin_not_allowed" || p.Headers["Access-Control-Allow-Origin"] != "" {
		t.Fatalf("preflight from another origin %+v", res.Preflight)
	}
}

func TestPolicyTesterPreflightOutcomes(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	plain := createApp(t, a, appBody("plain", uniq(t, "plain.example.test")))
	bypassBody := appBody("bypass", uniq(t, "bypass.example.test"))
	bypassBody["options_preflight_bypass"] = true
	bypass := createApp(t, a, bypassBody)
	for app, want := range map[string][3]any{
		plain.ID:  {"refused", "preflight_no_cors_settings", float64(403)},
		bypass.ID: {"forwarded", "preflight_bypassed", "forwarded"},
	} {
		res := policyTest(t, a, map[string]any{"app_id": app, "origin": "https://app.example.test", "method": "DELETE"})
		if p := res.Preflight; p == nil || p.Outcome != want[0] || p.Reason != want[1] || p.Status != want[2] {
			t.Errorf("app %s: preflight %+v, want %v", app, res.Preflight, want)
		}
		if res.Decision != "login" || len(res.Policies) != 0 {
			t.Errorf("app without policies: %+v", res)
		}
	}
}

func TestPolicyTesterValidatesAndScopesToTheAccount(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	app := createApp(t, a, appBody("api", uniq(t, "api.example.test")))
	resp := a.Call(t, "POST", "gatehouse/policy_test", map[string]any{
		"app_id": app.ID, "ip": "10.0.0.300", "country": "DEU", "method": "FETCH", "origin": "https://x.test/path",
		"login_method": "otp", "request_headers": []string{"bad header"}, "path": "nope",
	})
	want := []string{"ip", "country", "method", "origin", "login_method", "request_headers[0]", "path"}
	got := resp.Fields()
	for _, f := range want {
		if !slices.Contains(got, f) {
			t.Errorf("no error for %s: %d %s", f, resp.Status, resp.Body)
		}
	}
	if resp.Status != 400 {
		t.Fatalf("status %d", resp.Status)
	}

	other := gatehousetest.NewAPI(t)
	otherApp := createApp(t, other, appBody("theirs", uniq(t, "theirs.example.test")))
	if resp := a.Call(t, "POST", "gatehouse/policy_test", map[string]any{"app_id": otherApp.ID}); resp.Status != 404 {
		t.Errorf("another account's app: %d %s", resp.Status, resp.Body)
	}
	var tok access.ServiceToken
	other.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "theirs"}, &tok)
	resp = a.Call(t, "POST", "gatehouse/policy_test", map[string]any{"app_id": app.ID, "service_token_id": tok.ID})
	if resp.Status != 400 || !slices.Contains(resp.Fields(), "service_token_id") {
		t.Errorf("another account's token: %d %s", resp.Status, resp.Body)
	}
}

// Draft CORS settings are tested instead of the saved ones, by the same
// engine, and nothing is stored: the dashboard previews unsaved settings
// with them.
func TestPolicyTesterAnswersForDraftCORSSettingsAndStoresNothing(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	body := appBody("api", uniq(t, "api.example.test"))
	saved := map[string]any{"allowed_origins": []string{"https://app.example.test"}, "allowed_methods": []string{"PUT"}}
	body["cors_headers"] = saved
	app := createApp(t, a, body)
	a.MustCall(t, "POST", "access/apps/"+app.ID+"/policies", map[string]any{"name": "staff", "decision": "allow",
		"include": []any{map[string]any{"email_domain": map[string]any{"domain": "example.test"}}}}, nil)
	other := "https://other.example.test"
	req := func(extra map[string]any) map[string]any {
		b := map[string]any{"app_id": app.ID, "email": "ann@example.test", "origin": other, "method": "PUT", "request_headers": []string{"X-Custom"}}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}

	res := policyTest(t, a, req(nil))
	if res.Draft || res.Preflight == nil || res.Preflight.Reason != "preflight_origin_not_allowed" {
		t.Fatalf("saved settings: draft %v, preflight %+v", res.Draft, res.Preflight)
	}
	draft := map[string]any{"allowed_origins": []string{"https://app.example.test", "HTTPS://Other.Example.test"},
		"allowed_methods": []string{"PUT"}, "allowed_headers": []string{"X-Custom"}}
	res = policyTest(t, a, req(map[string]any{"cors_headers": draft}))
	if p := res.Preflight; !res.Draft || p == nil || p.Outcome != "answered" || p.Status != float64(204) ||
		p.Headers["Access-Control-Allow-Origin"] != other || p.Headers["Access-Control-Allow-Headers"] == "" {
		t.Fatalf("draft listing %s: draft %v, preflight %+v", other, res.Draft, res.Preflight)
	}
	// Only the CORS settings are drafted: the policies are the saved ones.
	if res.Decision != "allow" || res.Policy == nil || res.Policy.Name != "staff" {
		t.Errorf("draft decision %+v", res)
	}
	var stored access.App
	a.MustCall(t, "GET", "access/apps/"+app.ID, nil, &stored)
	if stored.CORSHeaders == nil || fmt.Sprint(stored.CORSHeaders.AllowedOrigins) != "[https://app.example.test]" ||
		len(stored.CORSHeaders.AllowedHeaders) != 0 || stored.OptionsPreflightBypass || stored.UpdatedAt != app.UpdatedAt {
		t.Errorf("the stored app changed: %+v cors %+v", stored, stored.CORSHeaders)
	}
	if res := policyTest(t, a, req(nil)); res.Draft || res.Preflight.Reason != "preflight_origin_not_allowed" {
		t.Errorf("after a draft the saved settings answer: %+v", res.Preflight)
	}

	for _, tc := range []struct {
		name  string
		extra map[string]any
		want  [3]any
	}{
		{"bypass, cors_headers left out", map[string]any{"options_preflight_bypass": true}, [3]any{"forwarded", "preflight_bypassed", "forwarded"}},
		{"bypass, cors_headers empty", map[string]any{"options_preflight_bypass": true, "cors_headers": map[string]any{}}, [3]any{"forwarded", "preflight_bypassed", "forwarded"}},
		{"bypass off, cors_headers left out: none", map[string]any{"options_preflight_bypass": false}, [3]any{"refused", "preflight_no_cors_settings", float64(403)}},
		{"all-zero cors_headers: none", map[string]any{"cors_headers": map[string]any{}}, [3]any{"refused", "preflight_no_cors_settings", float64(403)}},
	} {
		res := policyTest(t, a, req(tc.extra))
		if p := res.Preflight; !res.Draft || p == nil || p.Outcome != tc.want[0] || p.Reason != tc.want[1] || p.Status != tc.want[2] {
			t.Errorf("%s: draft %v, preflight %+v, want %v", tc.name, res.Draft, res.Preflight, tc.want)
		}
	}

	// allow_all_origins with credentials: the engine echoes the origin,
	// never * with credentials (the fetch standard refuses that pair).
	res = policyTest(t, a, req(map[string]any{"cors_headers": map[string]any{"allow_all_origins": true, "allow_all_methods": true,
		"allow_all_headers": true, "allow_credentials": true}}))
	if p := res.Preflight; p == nil || p.Outcome != "answered" || p.Headers["Access-Control-Allow-Origin"] != other ||
		p.Headers["Access-Control-Allow-Credentials"] != "true" {
		t.Errorf("all origins with credentials: %+v", res.Preflight)
	}
	res = policyTest(t, a, req(map[string]any{"cors_headers": map[string]any{"allow_all_origins": true, "allow_all_methods": true, "allow_all_headers": true}}))
	if p := res.Preflight; p == nil || p.Headers["Access-Control-Allow-Origin"] != "*" || p.Headers["Access-Control-Allow-Credentials"] != "" {
		t.Errorf("all origins without credentials: %+v", res.Preflight)
	}

	// A read-only token may test drafts: nothing is changed.
	ro := a.Do(t, gatehousetest.Request{Method: "POST", Path: "gatehouse/policy_test", Token: a.ReadOnlyToken,
		Body: req(map[string]any{"cors_headers": draft})})
	var roRes policyTestResult
	if ro.Status != 200 {
		t.Fatalf("read-only draft: %d %s", ro.Status, ro.Body)
	}
	if ro.Decode(t, &roRes); !roRes.Draft || roRes.Preflight == nil || roRes.Preflight.Outcome != "answered" {
		t.Errorf("read-only draft: %+v", roRes)
	}
}

// A bad draft is refused exactly as the same settings in an app PUT are:
// the same status, field names and messages (one implementation).
func TestPolicyTesterDraftIsValidatedAsAnAppBody(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	body := appBody("api", uniq(t, "api.example.test"))
	app := createApp(t, a, body)
	for _, tc := range []struct {
		name  string
		draft map[string]any
		field string
	}{
		{"fail/origin with a path", map[string]any{"cors_headers": map[string]any{"allowed_origins": []string{"https://app.example.test/x"}}},
			"cors_headers.allowed_origins[0]"},
		{"fail/origin listed twice", map[string]any{"cors_headers": map[string]any{"allowed_origins": []string{"https://a.example.test", "HTTPS://A.example.test"}}},
			"cors_headers.allowed_origins[1]"},
		{"fail/fractional max_age", map[string]any{"cors_headers": map[string]any{"max_age": 1.5}}, "cors_headers.max_age"},
		{"fail/unknown method", map[string]any{"cors_headers": map[string]any{"allowed_methods": []string{"FETCH"}}}, "cors_headers.allowed_methods[0]"},
		{"fail/bypass with cors settings", map[string]any{"options_preflight_bypass": true,
			"cors_headers": map[string]any{"allowed_origins": []string{"https://app.example.test"}}}, "options_preflight_bypass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			test := map[string]any{"app_id": app.ID, "origin": "https://app.example.test", "method": "PUT"}
			put := appBody("api", app.Domain)
			for k, v := range tc.draft {
				test[k], put[k] = v, v
			}
			got := a.Call(t, "POST", "gatehouse/policy_test", test)
			want := a.Call(t, "PUT", "access/apps/"+app.ID, put)
			if got.Status != 400 || want.Status != 400 || !slices.Contains(got.Fields(), tc.field) {
				t.Fatalf("policy_test %d %s; PUT %d %s", got.Status, got.Body, want.Status, want.Body)
			}
			if !reflect.DeepEqual(got.Env.Errors, want.Env.Errors) {
				t.Errorf("policy_test errors %+v, PUT errors %+v", got.Env.Errors, want.Env.Errors)
			}
		})
	}
	var stored access.App
	a.MustCall(t, "GET", "access/apps/"+app.ID, nil, &stored)
	if stored.CORSHeaders != nil || stored.OptionsPreflightBypass {
		t.Errorf("stored app %+v", stored)
	}
}

// TestPolicyTesterDecidesGroupAndOIDCRules: the tester takes the claims a
// session kept, and explains a group rule and an oidc rule by type.
func TestPolicyTesterDecidesGroupAndOIDCRules(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	app := createApp(t, a, appBody("wiki", uniq(t, "wiki.example.test")))
	var g access.Group
	a.MustCall(t, "POST", "access/groups", map[string]any{"name": "contractors",
		"include": []any{map[string]any{"email_domain": map[string]any{"domain": "contractor.test"}}}}, &g)
	a.MustCall(t, "POST", "access/apps/"+app.ID+"/policies", map[string]any{"name": "engineers", "decision": "allow",
		"include": []any{map[string]any{"oidc": map[string]any{"claim_name": "groups", "claim_value": "eng", "identity_provider_id": "okta"}}},
		"exclude": []any{map[string]any{"group": map[string]any{"id": g.ID}}}}, nil)
	tests := []struct {
		name     string
		in       map[string]any
		decision string
		rule     *policyTestRuleOut
	}{
		{"ok/claim kept", map[string]any{"email": "ann@example.test", "login_method": "okta", "oidc_claims": map[string]any{"groups": []string{"ops", "eng"}}},
			"allow", &policyTestRuleOut{"include", 0, "oidc"}},
		{"fail/claim without the value", map[string]any{"email": "ann@example.test", "login_method": "okta", "oidc_claims": map[string]any{"groups": []string{"ops"}}},
			"deny", nil},
		{"fail/no claims", map[string]any{"email": "ann@example.test", "login_method": "okta"}, "deny", nil},
		{"fail/in the excluded group", map[string]any{"email": "bo@contractor.test", "login_method": "okta", "oidc_claims": map[string]any{"groups": []string{"eng"}}},
			"deny", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in["app_id"] = app.ID
			res := policyTest(t, a, tc.in)
			if res.Decision != tc.decision {
				t.Fatalf("decision %s (%s), want %s: %+v", res.Decision, res.Reason, tc.decision, res.Policies)
			}
			if tc.rule != nil && (res.Rule == nil || res.Rule.List != tc.rule.list || res.Rule.Index != tc.rule.index || res.Rule.Type != tc.rule.typ) {
				t.Errorf("rule %+v, want %+v", res.Rule, tc.rule)
			}
		})
	}
	resp := a.Call(t, "POST", "gatehouse/policy_test", map[string]any{"app_id": app.ID, "email": "ann@example.test",
		"oidc_claims": map[string]any{"groups": []string{"eng"}}})
	if resp.Status != 400 || !slices.Contains(resp.Fields(), "oidc_claims") {
		t.Errorf("claims without a login method: %d %s", resp.Status, resp.Body)
	}
}

type policyTestRuleOut struct {
	list  string
	index int
	typ   string
}
