package api_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func appBody(name, domain string) map[string]any {
	return map[string]any{"type": "self_hosted", "name": name, "domain": domain, "origin": "http://127.0.0.1:9000"}
}

func createApp(t *testing.T, a *gatehousetest.API, body map[string]any) access.App {
	t.Helper()
	var app access.App
	a.MustCall(t, "POST", "access/apps", body, &app)
	return app
}

// uniq makes a domain unique to the test's run: domains are unique
// across all accounts, and -count=N reruns share the database.
func uniq(t *testing.T, host string) string { return gatehousetest.RunLabel(t) + "." + host }

func TestCreateAppReturnsDefaultsAndGeneratedFields(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	domain := uniq(t, "API.Example.test") + "/v1/"
	body := appBody("api", domain)
	body["cors_headers"] = map[string]any{
		"allowed_origins": []string{"https://App.Example.test"}, "allowed_methods": []string{"GET", "POST"},
		"allowed_headers": []string{"X-Requested-With"}, "allow_credentials": true, "max_age": 600,
	}
	resp := a.Call(t, "POST", "access/apps", body)
	if resp.Status != 200 {
		t.Fatalf("create: %d %s", resp.Status, resp.Body)
	}
	var app access.App
	resp.Decode(t, &app)
	wantDomain := strings.ToLower(strings.TrimSuffix(domain, "/"))
	if app.Domain != wantDomain || !slices.Equal(app.SelfHostedDomains, []string{wantDomain}) ||
		len(app.Destinations) != 1 || app.Destinations[0] != (access.Destination{Type: "public", URI: wantDomain}) {
		t.Errorf("domains = %q %q %+v, want %q everywhere", app.Domain, app.SelfHostedDomains, app.Destinations, wantDomain)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(app.AUD) {
		t.Errorf("aud = %q, want 64 hex characters", app.AUD)
	}
	if app.SessionDuration != "24h" || app.HTTPOnlyCookieAttribute == nil || !*app.HTTPOnlyCookieAttribute || app.Type != "self_hosted" {
		t.Errorf("defaults: session_duration=%q http_only=%v type=%q", app.SessionDuration, app.HTTPOnlyCookieAttribute, app.Type)
	}
	if app.CORSHeaders == nil || app.CORSHeaders.AllowedOrigins[0] != "https://app.example.test" || app.CORSHeaders.MaxAge != 600 || !app.CORSHeaders.AllowCredentials {
		t.Errorf("cors_headers = %+v", app.CORSHeaders)
	}
	if resp.Header.Get("ETag") != `"1"` {
		t.Errorf("ETag = %q", resp.Header.Get("ETag"))
	}
	var got access.App
	a.MustCall(t, "GET", "access/apps/"+app.ID, nil, &got)
	if got.AUD != app.AUD || got.Name != "api" || got.Origin != "http://127.0.0.1:9000" || !got.CreatedAt.Equal(app.CreatedAt) {
		t.Errorf("GET returned %+v, want the created app", got)
	}
}

func TestAppDestinationsListForm(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	d1, d2 := uniq(t, "one.test"), uniq(t, "two.test")+"/admin"
	app := createApp(t, a, map[string]any{"type": "self_hosted", "name": "multi", "domain": d2,
		"destinations": []map[string]string{{"type": "public", "uri": d1}, {"type": "public", "uri": d2}}})
	if app.Domain != d2 || !slices.Equal(app.SelfHostedDomains, []string{d2, d1}) {
		t.Errorf("domain %q, self_hosted_domains %q: want primary %q first", app.Domain, app.SelfHostedDomains, d2)
	}
	// Each destination is claimed: another app cannot take it.
	resp := a.Call(t, "POST", "access/apps", appBody("other", d1))
	if resp.Status != 409 || resp.Env.Errors[0].Field != "domain" {
		t.Errorf("duplicate destination: %d %s", resp.Status, resp.Body)
	}
}

func TestAppValidationNamesEveryBadField(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	tests := []struct {
		name   string
		mutate func(map[string]any)
		fields []string
	}{
		{"fail/missing name and type", func(b map[string]any) { delete(b, "name"); delete(b, "type") }, []string{"type", "name"}},
		{"fail/wrong type", func(b map[string]any) { b["type"] = "saas" }, []string{"type"}},
		{"fail/missing domain", func(b map[string]any) { delete(b, "domain") }, []string{"domain"}},
		{"fail/domain with a space", func(b map[string]any) { b["domain"] = "bad host.test" }, []string{"domain"}},
		{"fail/domain with a scheme", func(b map[string]any) { b["domain"] = "https://x.test" }, []string{"domain"}},
		{"fail/domain with a query", func(b map[string]any) { b["domain"] = "x.test/a?b=c" }, []string{"domain"}},
		{"fail/domain with a dot-dot segment", func(b map[string]any) { b["domain"] = "x.test/../admin" }, []string{"domain"}},
		{"fail/domain with an encoded dot-dot segment", func(b map[string]any) { b["domain"] = "x.test/%2e%2e/admin" }, []string{"domain"}},
		{"fail/domain with a dot segment", func(b map[string]any) { b["domain"] = "x.test/./admin" }, []string{"domain"}},
		{"fail/domain with an empty segment", func(b map[string]any) { b["domain"] = "x.test//admin" }, []string{"domain"}},
		{"fail/domain with path parameters", func(b map[string]any) { b["domain"] = "x.test/admin;x" }, []string{"domain"}},
		{"fail/domain with a backslash", func(b map[string]any) { b["domain"] = `x.test/a\admin` }, []string{"domain"}},
		{"fail/domain with NUL", func(b map[string]any) { b["domain"] = "x.test/admin%00" }, []string{"domain"}},
		{"fail/domain with an encoded slash", func(b map[string]any) { b["domain"] = "x.test/a%2fadmin" }, []string{"domain"}},
		{"fail/domain with a trailing dot segment", func(b map[string]any) { b["domain"] = "x.test/admin." }, []string{"domain"}},
		{"fail/domain with a port", func(b map[string]any) { b["domain"] = "x.test:8443/admin" }, []string{"domain"}},
		{"fail/domain with an inner wildcard", func(b map[string]any) { b["domain"] = "a.*.x.test" }, []string{"domain"}},
		{"fail/destination uri", func(b map[string]any) {
			b["destinations"] = []map[string]any{{"type": "public", "uri": b["domain"]}, {"type": "public", "uri": "x.test/a;b"}}
		}, []string{"destinations[1].uri"}},
		{"fail/self-hosted domain", func(b map[string]any) {
			b["self_hosted_domains"] = []string{b["domain"].(string), "x.test/a b"}
		}, []string{"self_hosted_domains[1]"}},
		{"fail/domain beside another bad field", func(b map[string]any) { b["domain"] = "x.test/a:b"; delete(b, "name") }, []string{"name", "domain"}},
		{"fail/destination not public", func(b map[string]any) {
			b["destinations"] = []map[string]string{{"type": "private", "uri": b["domain"].(string)}}
		}, []string{"destinations[0].type"}},
		{"fail/origin not http", func(b map[string]any) { b["origin"] = "ftp://files.test" }, []string{"origin"}},
		{"fail/origin with credentials", func(b map[string]any) { b["origin"] = "http://u:p@x.test" }, []string{"origin"}},
		{"fail/session duration", func(b map[string]any) { b["session_duration"] = "forever" }, []string{"session_duration"}},
		{"fail/cors origin with a path", func(b map[string]any) {
			b["cors_headers"] = map[string]any{"allowed_origins": []string{"https://e.test/path"}}
		}, []string{"cors_headers.allowed_origins[0]"}},
		{"fail/cors origin wildcard", func(b map[string]any) {
			b["cors_headers"] = map[string]any{"allowed_origins": []string{"https://ok.test", "*"}}
		}, []string{"cors_headers.allowed_origins[1]"}},
		{"fail/cors origins equal once lower-cased", func(b map[string]any) {
			b["cors_headers"] = map[string]any{"allowed_origins": []string{"https://A.test", "https://a.test"}}
		}, []string{"cors_headers.allowed_origins[1]"}},
		{"fail/cors method", func(b map[string]any) {
			b["cors_headers"] = map[string]any{"allowed_methods": []string{"GET", "get", "FETCH"}}
		}, []string{"cors_headers.allowed_methods[1]", "cors_headers.allowed_methods[2]"}},
		{"fail/cors header", func(b map[string]any) {
			b["cors_headers"] = map[string]any{"allowed_headers": []string{"X Bad"}}
		}, []string{"cors_headers.allowed_headers[0]"}},
		{"fail/max_age above what browsers honour", func(b map[string]any) {
			b["cors_headers"] = map[string]any{"max_age": 86401}
		}, []string{"cors_headers.max_age"}},
		{"fail/max_age fractional", func(b map[string]any) {
			b["cors_headers"] = map[string]any{"max_age": 1.5}
		}, []string{"cors_headers.max_age"}},
		{"fail/bypass and cors at once", func(b map[string]any) {
			b["options_preflight_bypass"] = true
			b["cors_headers"] = map[string]any{"allow_all_origins": true}
		}, []string{"options_preflight_bypass"}},
		{"fail/same site", func(b map[string]any) { b["same_site_cookie_attribute"] = "sometimes" }, []string{"same_site_cookie_attribute"}},
		{"fail/auto redirect without one idp", func(b map[string]any) { b["auto_redirect_to_identity"] = true }, []string{"auto_redirect_to_identity"}},
		{"fail/unknown field", func(b map[string]any) { b["colour"] = "blue" }, []string{"colour"}},
		{"fail/wrong json type", func(b map[string]any) { b["options_preflight_bypass"] = "yes" }, []string{"options_preflight_bypass"}},
		{"fail/policy link not a uuid", func(b map[string]any) { b["policies"] = []string{"nope"} }, []string{"policies[0].id"}},
		{"fail/policy link unknown", func(b map[string]any) {
			b["policies"] = []string{"6f1f7e7e-0000-4000-8000-000000000000"}
		}, []string{"policies[0].id"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := appBody(fmt.Sprintf("app-%d", i), uniq(t, "valid.test"))
			tc.mutate(body)
			resp := a.Call(t, "POST", "access/apps", body)
			if resp.Status != 400 || resp.Env.Success || resp.Env.Result != nil && string(resp.Env.Result) != "null" {
				t.Fatalf("status %d, want 400: %s", resp.Status, resp.Body)
			}
			if got := resp.Fields(); !slices.Equal(got, tc.fields) {
				t.Errorf("fields = %q, want %q (%s)", got, tc.fields, resp.Body)
			}
			for _, e := range resp.Env.Errors {
				if e.Code != 1002 || !strings.Contains(e.Message, e.Field) {
					t.Errorf("error %+v: want code 1002 and a message naming the field", e)
				}
			}
		})
	}
	var apps []access.App
	a.MustCall(t, "GET", "access/apps", nil, &apps)
	if len(apps) != 0 {
		t.Errorf("invalid requests stored %d apps", len(apps))
	}
}

// TestAppDomainsAreStoredCanonical: every spelling the parser accepts is
// stored, and returned, in one canonical form.
func TestAppDomainsAreStoredCanonical(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	h := uniq(t, "canon.test")
	for i, tc := range []struct{ in, want string }{
		{"CANON-A." + h + "/Adm%69n/", "canon-a." + h + "/admin"},
		{"canon-b." + h + "./x/%7Euser", "canon-b." + h + "/x/~user"},
		{"*.Canon-C." + h + "/A..B", "*.canon-c." + h + "/a..b"},
	} {
		app := createApp(t, a, appBody(fmt.Sprintf("c%d", i), tc.in))
		if app.Domain != tc.want || app.SelfHostedDomains[0] != tc.want || app.Destinations[0].URI != tc.want {
			t.Errorf("%q stored as %q %q %+v, want %q", tc.in, app.Domain, app.SelfHostedDomains, app.Destinations, tc.want)
		}
		var got access.App
		a.MustCall(t, "GET", "access/apps/"+app.ID, nil, &got)
		if got.Domain != tc.want {
			t.Errorf("%q read back as %q", tc.in, got.Domain)
		}
	}
	// Two spellings of one domain are one domain.
	resp := a.Call(t, "POST", "access/apps", appBody("dup", "canon-a."+h+"/ADMIN"))
	if resp.Status != 409 {
		t.Errorf("second spelling of a stored domain: %d %s, want 409", resp.Status, resp.Body)
	}
}

func TestRequestBodyRules(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	huge := `{"type":"self_hosted","name":"` + strings.Repeat("x", 2<<20) + `"}`
	tests := []struct {
		name   string
		req    gatehousetest.Request
		status int
		code   int
	}{
		{"fail/body too large", gatehousetest.Request{Method: "POST", Path: "access/apps", Body: []byte(huge)}, 413, 1004},
		{"fail/not json content type", gatehousetest.Request{Method: "POST", Path: "access/apps", Body: []byte(`{}`), Header: map[string]string{"Content-Type": "text/plain"}}, 415, 1003},
		{"fail/malformed json", gatehousetest.Request{Method: "POST", Path: "access/apps", Body: []byte(`{"name": `)}, 400, 1001},
		{"fail/two json values", gatehousetest.Request{Method: "POST", Path: "access/apps", Body: []byte(`{} {}`)}, 400, 1001},
		{"fail/empty body", gatehousetest.Request{Method: "POST", Path: "access/apps", Body: []byte(``)}, 400, 1001},
		{"fail/array body", gatehousetest.Request{Method: "POST", Path: "access/apps", Body: []byte(`[]`)}, 400, 1001},
		{"fail/bad page", gatehousetest.Request{Method: "GET", Path: "access/apps?page=0"}, 400, 1002},
		{"fail/bad per_page", gatehousetest.Request{Method: "GET", Path: "access/apps?per_page=5000"}, 400, 1002},
		{"fail/malformed id is not found", gatehousetest.Request{Method: "GET", Path: "access/apps/not-a-uuid"}, 404, 1005},
		{"fail/unknown id", gatehousetest.Request{Method: "GET", Path: "access/apps/6f1f7e7e-0000-4000-8000-000000000000"}, 404, 1005},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.Do(t, tc.req)
			if resp.Status != tc.status || len(resp.Env.Errors) == 0 || resp.Env.Errors[0].Code != tc.code {
				t.Fatalf("got %d %s, want %d with code %d", resp.Status, resp.Body, tc.status, tc.code)
			}
		})
	}
}

func TestListAppsPaginatesAndFilters(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	for i := range 5 {
		createApp(t, a, appBody(fmt.Sprintf("app-%d", i), uniq(t, fmt.Sprintf("h%d.test", i))))
	}
	var seen []string
	for page := 1; page <= 3; page++ {
		var apps []access.App
		resp := a.MustCall(t, "GET", fmt.Sprintf("access/apps?per_page=2&page=%d", page), nil, &apps)
		info := resp.Env.ResultInfo
		wantCount := min(2, 5-(page-1)*2)
		if info == nil || info.Page != page || info.PerPage != 2 || info.Count != wantCount || info.TotalCount != 5 || info.TotalPages != 3 || len(apps) != wantCount {
			t.Fatalf("page %d: result_info %+v with %d apps", page, info, len(apps))
		}
		for _, app := range apps {
			seen = append(seen, app.Name)
		}
	}
	if !slices.Equal(seen, []string{"app-0", "app-1", "app-2", "app-3", "app-4"}) {
		t.Errorf("pages held %q, want every app once in creation order", seen)
	}
	var past []access.App
	resp := a.MustCall(t, "GET", "access/apps?per_page=2&page=9", nil, &past)
	if len(past) != 0 || resp.Env.ResultInfo.TotalCount != 5 {
		t.Errorf("past the end: %s", resp.Body)
	}
	var found []access.App
	a.MustCall(t, "GET", "access/apps?name=app-3", nil, &found)
	if len(found) != 1 || found[0].Name != "app-3" {
		t.Errorf("name filter found %d", len(found))
	}
	a.MustCall(t, "GET", "access/apps?search=H4.TEST", nil, &found)
	if len(found) != 1 || found[0].Name != "app-4" {
		t.Errorf("search filter found %d", len(found))
	}
	a.MustCall(t, "GET", "access/apps?aud="+found[0].AUD, nil, &found)
	if len(found) != 1 || found[0].Name != "app-4" {
		t.Errorf("aud filter found %d", len(found))
	}
	a.MustCall(t, "GET", "access/apps?domain="+uniq(t, "h2.test"), nil, &found)
	if len(found) != 1 || found[0].Name != "app-2" {
		t.Errorf("domain filter found %d", len(found))
	}
}

func TestAppNamesAndDomainsAreUnique(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	createApp(t, a, appBody("same", uniq(t, "one.test")))
	resp := a.Call(t, "POST", "access/apps", appBody("same", uniq(t, "two.test")))
	if resp.Status != 409 || resp.Env.Errors[0].Field != "name" || resp.Env.Errors[0].Code != 1006 {
		t.Errorf("duplicate name: %d %s", resp.Status, resp.Body)
	}
	resp = a.Call(t, "POST", "access/apps", appBody("other", strings.ToUpper(uniq(t, "one.test"))))
	if resp.Status != 409 || resp.Env.Errors[0].Field != "domain" {
		t.Errorf("duplicate domain (other case): %d %s", resp.Status, resp.Body)
	}
	// A domain is claimed across accounts: the edge routes by host.
	b := gatehousetest.NewAPI(t)
	resp = b.Call(t, "POST", "access/apps", appBody("theirs", uniq(t, "one.test")))
	if resp.Status != 409 {
		t.Errorf("domain of another account: %d %s", resp.Status, resp.Body)
	}
	// A name is only unique within an account.
	createApp(t, b, appBody("same", uniq(t, "three.test")))
}

func TestUpdateAppReplacesItAndHonoursIfMatch(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	body := appBody("app", uniq(t, "x.test"))
	body["cors_headers"] = map[string]any{"allow_all_origins": true, "allow_credentials": true}
	app := createApp(t, a, body)

	body["name"] = "renamed"
	body["session_duration"] = "30m"
	resp := a.Do(t, gatehousetest.Request{Method: "PUT", Path: "access/apps/" + app.ID, Body: body, Header: map[string]string{"If-Match": `"1"`}})
	if resp.Status != 200 || resp.Header.Get("ETag") != `"2"` {
		t.Fatalf("update: %d %s (ETag %q)", resp.Status, resp.Body, resp.Header.Get("ETag"))
	}
	var got access.App
	resp.Decode(t, &got)
	if got.Name != "renamed" || got.SessionDuration != "30m" || got.AUD != app.AUD || !got.CreatedAt.Equal(app.CreatedAt) || !got.UpdatedAt.After(app.UpdatedAt) {
		t.Errorf("after update: %+v", got)
	}

	// A stale ETag is refused and changes nothing.
	body["name"] = "lost"
	resp = a.Do(t, gatehousetest.Request{Method: "PUT", Path: "access/apps/" + app.ID, Body: body, Header: map[string]string{"If-Match": `"1"`}})
	if resp.Status != 412 || resp.Env.Errors[0].Code != 1007 {
		t.Fatalf("stale If-Match: %d %s", resp.Status, resp.Body)
	}
	// An invalid update is refused and changes nothing either.
	body["origin"] = "not a url"
	if resp := a.Call(t, "PUT", "access/apps/"+app.ID, body); resp.Status != 400 {
		t.Fatalf("invalid update: %d %s", resp.Status, resp.Body)
	}
	a.MustCall(t, "GET", "access/apps/"+app.ID, nil, &got)
	if got.Name != "renamed" || got.Origin != "http://127.0.0.1:9000" {
		t.Errorf("a refused update changed the app: %+v", got)
	}
}

func TestPreflightBypassRemovesCORSSettings(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	body := appBody("app", uniq(t, "x.test"))
	body["cors_headers"] = map[string]any{"allowed_origins": []string{"https://a.test"}, "allowed_methods": []string{"GET"}}
	app := createApp(t, a, body)
	if app.CORSHeaders == nil {
		t.Fatal("cors_headers not stored")
	}
	// Turning the bypass on with cors_headers left out (or empty) clears them.
	delete(body, "cors_headers")
	body["options_preflight_bypass"] = true
	var got access.App
	a.MustCall(t, "PUT", "access/apps/"+app.ID, body, &got)
	if !got.OptionsPreflightBypass || got.CORSHeaders != nil {
		t.Errorf("after bypass: bypass=%v cors=%+v", got.OptionsPreflightBypass, got.CORSHeaders)
	}
	body["cors_headers"] = map[string]any{}
	a.MustCall(t, "PUT", "access/apps/"+app.ID, body, &got)
	if got.CORSHeaders != nil {
		t.Errorf("empty cors_headers stored as %+v", got.CORSHeaders)
	}
	// Setting CORS settings again needs the bypass off.
	body["cors_headers"] = map[string]any{"allow_all_origins": true}
	if resp := a.Call(t, "PUT", "access/apps/"+app.ID, body); resp.Status != 400 {
		t.Errorf("bypass with cors: %d %s", resp.Status, resp.Body)
	}
	body["options_preflight_bypass"] = false
	got = access.App{} // false is left out of the response, as in Cloudflare
	a.MustCall(t, "PUT", "access/apps/"+app.ID, body, &got)
	if got.OptionsPreflightBypass || got.CORSHeaders == nil || !got.CORSHeaders.AllowAllOrigins {
		t.Errorf("back to CORS settings: %+v", got)
	}
}

func TestDeleteApp(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	domain := uniq(t, "x.test")
	app := createApp(t, a, appBody("app", domain))
	var own access.Policy
	a.MustCall(t, "POST", "access/apps/"+app.ID+"/policies", allowEveryone("own"), &own)

	if resp := a.Do(t, gatehousetest.Request{Method: "DELETE", Path: "access/apps/" + app.ID, Header: map[string]string{"If-Match": `"7"`}}); resp.Status != 412 {
		t.Fatalf("delete with stale If-Match: %d", resp.Status)
	}
	var res map[string]string
	a.MustCall(t, "DELETE", "access/apps/"+app.ID, nil, &res)
	if res["id"] != app.ID {
		t.Errorf("delete result %v", res)
	}
	if resp := a.Call(t, "GET", "access/apps/"+app.ID, nil); resp.Status != 404 {
		t.Errorf("deleted app still readable: %d", resp.Status)
	}
	if resp := a.Call(t, "DELETE", "access/apps/"+app.ID, nil); resp.Status != 404 {
		t.Errorf("second delete: %d", resp.Status)
	}
	// Its domain is free again and its own policy went with it.
	createApp(t, a, appBody("again", domain))
	var exists bool
	if err := a.Store.Pool().QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM policies WHERE id = $1)`, own.ID).Scan(&exists); err != nil || exists {
		t.Errorf("app-scoped policy survived its app (err %v)", err)
	}
}

func TestConcurrentUpdatesWithIfMatchLoseNothing(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	body := appBody("app", uniq(t, "x.test"))
	app := createApp(t, a, body)
	const writers = 8
	statuses := make([]int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := appBody(fmt.Sprintf("writer-%d", i), uniq(t, "x.test"))
			resp := a.Do(t, gatehousetest.Request{Method: "PUT", Path: "access/apps/" + app.ID, Body: b, Header: map[string]string{"If-Match": `"1"`}})
			statuses[i] = resp.Status
		}()
	}
	wg.Wait()
	won := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			won++
		case http.StatusPreconditionFailed:
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers won with the same ETag, want exactly 1 (%v)", won, statuses)
	}
	var got access.App
	resp := a.MustCall(t, "GET", "access/apps/"+app.ID, nil, &got)
	if resp.Header.Get("ETag") != `"2"` || !strings.HasPrefix(got.Name, "writer-") {
		t.Errorf("final state %q at %s", got.Name, resp.Header.Get("ETag"))
	}
}

// TestOriginLeftOutOfAReplacementIsKept: origin is a Gatehouse extension
// that Cloudflare's clients (Terraform's provider, the SDKs) never send, so
// their replacement of an app keeps it; an empty origin clears it.
func TestOriginLeftOutOfAReplacementIsKept(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	body := appBody("kept", uniq(t, "kept.test"))
	app := createApp(t, a, body)
	delete(body, "origin")
	body["name"] = "renamed"
	var got access.App
	a.MustCall(t, "PUT", "access/apps/"+app.ID, body, &got)
	if got.Origin != "http://127.0.0.1:9000" || got.Name != "renamed" {
		t.Errorf("after a replacement without origin: origin %q name %q", got.Origin, got.Name)
	}
	body["origin"] = ""
	a.MustCall(t, "PUT", "access/apps/"+app.ID, body, &got)
	if got.Origin != "" {
		t.Errorf("an empty origin kept %q", got.Origin)
	}
	// An upstream credential needs an origin, stored or sent.
	body["upstream_service_token"] = map[string]any{"client_id": "id.access", "client_secret": "s"}
	if resp := a.Call(t, "PUT", "access/apps/"+app.ID, body); resp.Status != 400 || !slices.Contains(resp.Fields(), "upstream_service_token") {
		t.Errorf("upstream without any origin: %d %s", resp.Status, resp.Body)
	}
	delete(body, "origin")
	if resp := a.Call(t, "PUT", "access/apps/"+app.ID, body); resp.Status != 400 || !slices.Contains(resp.Fields(), "upstream_service_token") {
		t.Errorf("upstream with the origin left out and none stored: %d %s", resp.Status, resp.Body)
	}
}
