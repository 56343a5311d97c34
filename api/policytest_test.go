package api_test

import (
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

type policyTestResult struct {
	AppID      string `json:"app_id"`
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
