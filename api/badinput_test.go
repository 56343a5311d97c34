package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// stringPaths lists the field path of every string in a JSON value, in
// the API's field notation ("include[0].email.email").
func stringPaths(v any, prefix string) []string {
	var out []string
	switch v := v.(type) {
	case string:
		out = append(out, prefix)
	case []any:
		for i, e := range v {
			out = append(out, stringPaths(e, fmt.Sprintf("%s[%d]", prefix, i))...)
		}
	case map[string]any:
		for k, e := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out = append(out, stringPaths(e, p)...)
		}
	}
	sort.Strings(out)
	return out
}

// withNUL returns a copy of the JSON value with a NUL inserted into the
// string at path.
func withNUL(v any, prefix, path string) any {
	switch v := v.(type) {
	case string:
		if prefix == path {
			return v[:len(v)/2] + "\x00" + v[len(v)/2:]
		}
		return v
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = withNUL(e, fmt.Sprintf("%s[%d]", prefix, i), path)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out[k] = withNUL(e, p, path)
		}
		return out
	}
	return v
}

// generic turns a body into plain JSON values.
func generic(t *testing.T, body any) any {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNULInAnyStringOfAnyBodyIs400NamingTheField(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	l := gatehousetest.RunLabel(t) + ".test"
	var idp struct{ ID string }
	a.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "pin", "type": "onetimepin"}, &idp)
	var tok access.ServiceToken
	a.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "ci", "duration": "8760h"}, &tok)
	var reusable access.Policy
	a.MustCall(t, "POST", "access/policies", map[string]any{"name": "reusable", "decision": "allow",
		"include": []any{map[string]any{"everyone": map[string]any{}}}}, &reusable)
	app := createApp(t, a, appBody("existing", "existing."+l))
	var appPolicy access.Policy
	a.MustCall(t, "POST", "access/apps/"+app.ID+"/policies", map[string]any{"name": "own", "decision": "allow",
		"include": []any{map[string]any{"everyone": map[string]any{}}}}, &appPolicy)

	appFull := map[string]any{
		"type": "self_hosted", "name": "full", "domain": "full." + l,
		"destinations":        []any{map[string]any{"type": "public", "uri": "full." + l}},
		"self_hosted_domains": []any{"full." + l},
		"origin":              "http://127.0.0.1:9000", "session_duration": "12h",
		"cors_headers": map[string]any{"allowed_origins": []any{"https://o.test"}, "allowed_methods": []any{"GET"},
			"allowed_headers": []any{"X-Custom"}},
		"allowed_idps": []any{idp.ID}, "same_site_cookie_attribute": "lax", "read_service_tokens_from_header": "X-Token",
		"custom_deny_message": "no", "custom_deny_url": "https://deny.test/", "custom_non_identity_deny_url": "https://deny.test/ni",
		"logo_url": "https://logo.test/x.png", "tags": []any{"prod"},
		"upstream_service_token": map[string]any{"client_id": "id.access", "client_secret": "secret"},
		"policies":               []any{reusable.ID, map[string]any{"id": reusable.ID + "", "precedence": 2}},
	}
	policyFull := map[string]any{"name": "full", "decision": "allow", "session_duration": "1h",
		"purpose_justification_prompt": "why?",
		"include": []any{map[string]any{"email": map[string]any{"email": "a@b.test"}},
			map[string]any{"email_domain": map[string]any{"domain": "b.test"}},
			map[string]any{"ip": map[string]any{"ip": "10.0.0.0/8"}},
			map[string]any{"service_token": map[string]any{"token_id": tok.ID}},
			map[string]any{"geo": map[string]any{"country_code": "DE"}},
			map[string]any{"login_method": map[string]any{"id": idp.ID}}},
		"require": []any{map[string]any{"email_domain": map[string]any{"domain": "b.test"}}},
		"exclude": []any{map[string]any{"email": map[string]any{"email": "c@b.test"}}},
	}
	idpFull := map[string]any{"name": "dex", "type": "oidc", "config": map[string]any{
		"client_id": "gatehouse", "client_secret": "s3cret", "auth_url": "https://idp.test/authorize",
		"token_url": "https://idp.test/token", "certs_url": "https://idp.test/jwks", "scopes": []any{"openid", "email"},
		"email_claim_name": "email"}}

	resources := []struct {
		name, method, path string
		body               map[string]any
		get                string // a GET whose result must not change
	}{
		{"app create", "POST", "access/apps", appFull, "access/apps"},
		{"app update", "PUT", "access/apps/" + app.ID, appFull, "access/apps/" + app.ID},
		{"reusable policy create", "POST", "access/policies", policyFull, "access/policies"},
		{"reusable policy update", "PUT", "access/policies/" + reusable.ID, policyFull, "access/policies/" + reusable.ID},
		{"app policy create", "POST", "access/apps/" + app.ID + "/policies", policyFull, "access/apps/" + app.ID + "/policies"},
		{"app policy update", "PUT", "access/apps/" + app.ID + "/policies/" + appPolicy.ID, policyFull, "access/apps/" + app.ID + "/policies/" + appPolicy.ID},
		{"service token create", "POST", "access/service_tokens", map[string]any{"name": "t", "duration": "8760h"}, "access/service_tokens"},
		{"service token update", "PUT", "access/service_tokens/" + tok.ID, map[string]any{"name": "t2", "duration": "8760h"}, "access/service_tokens/" + tok.ID},
		{"service token rotate", "POST", "access/service_tokens/" + tok.ID + "/rotate", map[string]any{"previous_client_secret_expires_at": "2030-01-01T00:00:00Z"}, "access/service_tokens/" + tok.ID},
		{"identity provider create", "POST", "access/identity_providers", idpFull, "access/identity_providers"},
		{"identity provider update", "PUT", "access/identity_providers/" + idp.ID, map[string]any{"name": "pin2", "type": "onetimepin"}, "access/identity_providers/" + idp.ID},
		{"policy test", "POST", "gatehouse/policy_test", map[string]any{"app_id": app.ID, "path": "/x", "email": "a@b.test",
			"login_method": idp.ID, "ip": "10.1.2.3", "country": "DE", "method": "GET"}, ""},
		{"dashboard sign-in", "POST", "/client/v4/gatehouse/dashboard/session", map[string]any{"token": a.Token}, ""},
	}
	for _, res := range resources {
		body := generic(t, res.body)
		paths := stringPaths(body, "")
		if len(paths) == 0 {
			t.Fatalf("%s: no string fields", res.name)
		}
		before := ""
		if res.get != "" {
			before = string(a.MustCall(t, "GET", res.get, nil, nil).Env.Result)
		}
		for _, p := range paths {
			t.Run(res.name+"/"+p, func(t *testing.T) {
				resp := a.Call(t, res.method, res.path, withNUL(body, "", p))
				if resp.Status != http.StatusBadRequest || !slices.Equal(resp.Fields(), []string{p}) {
					t.Fatalf("status %d fields %q, want 400 naming %q: %s", resp.Status, resp.Fields(), p, resp.Body)
				}
				if res.get != "" {
					if after := string(a.MustCall(t, "GET", res.get, nil, nil).Env.Result); after != before {
						t.Errorf("stored data changed:\nbefore %s\nafter  %s", before, after)
					}
				}
			})
		}
	}
	// A NUL in a member name is refused too, naming it.
	resp := a.Call(t, "POST", "access/apps", map[string]any{"type": "self_hosted", "name": "x", "domain": "x." + l, "na\x00me": "y"})
	if resp.Status != 400 || !slices.Equal(resp.Fields(), []string{`na\u0000me`}) {
		t.Errorf("NUL in a member name: %d %s", resp.Status, resp.Body)
	}
}

func TestMalformedQueryParametersOfEveryListAre400NamingTheParameter(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	app := createApp(t, a, appBody("existing", uniq(t, "existing.test")))
	lists := map[string][]string{
		"access/apps":                         {"name", "domain", "search", "aud", "page", "per_page"},
		"access/apps/" + app.ID + "/policies": {"page", "per_page"},
		"access/policies":                     {"page", "per_page"},
		"access/service_tokens":               {"name", "search", "page", "per_page"},
		"access/identity_providers":           {"page", "per_page"},
		"audit_logs":                          {"resource_id", "since", "before", "direction", "page", "per_page"},
		"access/logs/access_requests":         {"email", "reason", "app_id", "since", "until", "direction", "limit", "allowed", "email_exact"},
		"gatehouse/edges":                     {"stale_after"},
	}
	bad := []struct{ name, value string }{
		{"NUL", "a%00b"}, {"lone NUL", "%00"}, {"invalid UTF-8", "%FF"}, {"truncated UTF-8", "caf%C3"},
		{"overlong UTF-8", "%C0%AF"}, {"surrogate", "%ED%A0%80"}, {"bad escape", "%zz"}, {"semicolon", "a;b"},
	}
	for path, params := range lists {
		for _, p := range params {
			for _, b := range bad {
				t.Run(path+"/"+p+"/"+b.name, func(t *testing.T) {
					sep := "?"
					if strings.Contains(path, "?") {
						sep = "&"
					}
					resp := a.Call(t, "GET", path+sep+p+"="+b.value, nil)
					if resp.Status != http.StatusBadRequest || !slices.Equal(resp.Fields(), []string{p}) || resp.Env.Errors[0].Code != 1002 {
						t.Fatalf("status %d fields %q, want 400 naming %q: %s", resp.Status, resp.Fields(), p, resp.Body)
					}
				})
			}
		}
	}
	// A malformed parameter name is named as the query.
	for _, q := range []string{"%00=1", "%FF=1", "a%zz=1", "a;b=1"} {
		resp := a.Call(t, "GET", "access/apps?"+q, nil)
		if resp.Status != 400 || !slices.Equal(resp.Fields(), []string{"query"}) {
			t.Errorf("%s: %d %s", q, resp.Status, resp.Body)
		}
	}
	// Valid UTF-8 beyond ASCII is a filter like any other.
	if resp := a.Call(t, "GET", "access/apps?search=caf%C3%A9", nil); resp.Status != 200 || resp.Env.ResultInfo.TotalCount != 0 {
		t.Errorf("search=café: %d %s", resp.Status, resp.Body)
	}
}

func TestSearchMatchesLikeWildcardsLiterally(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	l := gatehousetest.RunLabel(t) + ".test"
	names := []string{"plain", "100% sure", "snake_case", `back\slash`, "under_%mix"}
	for i, n := range names {
		createApp(t, a, appBody(n, fmt.Sprintf("app%d.%s", i, l)))
		a.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": n}, nil)
	}
	tests := []struct {
		search string
		want   []string
	}{
		{"%", []string{"100% sure", "under_%mix"}},
		{"_", []string{"snake_case", "under_%mix"}},
		{`\`, []string{`back\slash`}},
		{`\s`, []string{`back\slash`}},
		{"_%", []string{"under_%mix"}},
		{"%%", nil},
		{"0% S", []string{"100% sure"}}, // still case-insensitive
		{"e_c", []string{"snake_case"}},
		{"e%c", nil},
	}
	for _, tc := range tests {
		for _, list := range []string{"access/apps", "access/service_tokens"} {
			t.Run(list+"/"+tc.search, func(t *testing.T) {
				var got []struct{ Name string }
				a.MustCall(t, "GET", list+"?per_page=100&search="+url.QueryEscape(tc.search), nil, &got)
				var names []string
				for _, g := range got {
					names = append(names, g.Name)
				}
				slices.Sort(names)
				if !slices.Equal(names, tc.want) {
					t.Errorf("search %q: %q, want %q", tc.search, names, tc.want)
				}
			})
		}
	}
}
