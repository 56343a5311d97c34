package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// cliApp creates an app through the CLI from a YAML body and returns it.
func cliApp(t *testing.T, api *gatehousetest.API, body string) access.App {
	t.Helper()
	return decodeOut[access.App](t, ok(t, api, "type: self_hosted\n"+uniqDomains(t, body), "apps", "create", "-f", "-", "-o", "json"))
}

func TestCLIEditChangesOneFieldAndKeepsTheRest(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	var reusable access.Policy
	api.MustCall(t, "POST", "access/policies", map[string]any{"name": "staff", "decision": "allow",
		"include": []any{map[string]any{"email_domain": map[string]any{"domain": "example.com"}}}}, &reusable)
	app := cliApp(t, api, `
name: Edited
domain: edit.cli.example
origin: http://127.0.0.1:9000
cors_headers: {allowed_origins: [https://web.example.com], allowed_methods: [GET], max_age: 600}
policies:
  - {id: `+reusable.ID+`, precedence: 1}
  - {name: own, decision: non_identity, precedence: 2, include: [{any_valid_service_token: {}}]}
`)
	before := api.Call(t, "GET", "access/apps/"+app.ID, nil)

	// By name, two fields of a nested object.
	out := ok(t, api, "", "apps", "edit", "Edited", "--set", "cors_headers.max_age=900", "--set", "cors_headers.allowed_methods=[GET, PUT]")
	if !strings.Contains(out, app.ID) {
		t.Errorf("edit output:\n%s", out)
	}
	after := api.Call(t, "GET", "access/apps/"+app.ID, nil)
	var got access.App
	after.Decode(t, &got)
	if got.CORSHeaders.MaxAge != 900 || strings.Join(got.CORSHeaders.AllowedMethods, ",") != "GET,PUT" {
		t.Errorf("cors_headers after the edit: %+v", got.CORSHeaders)
	}
	// Nothing else changed: not the origins, not the policies and their
	// links, not the generated fields.
	b, a := comparable(t, before.Env.Result), comparable(t, after.Env.Result)
	delete(b, "cors_headers")
	delete(a, "cors_headers")
	if bj, aj := mustJSON(t, b), mustJSON(t, a); bj != aj {
		t.Errorf("the edit changed more than it said:\nbefore %s\nafter  %s", bj, aj)
	}
	if got.CORSHeaders.AllowedOrigins[0] != "https://web.example.com" {
		t.Errorf("origins lost: %+v", got.CORSHeaders)
	}

	// By domain, a top-level field; a reusable policy stays reusable.
	ok(t, api, "", "apps", "edit", uniqDomains(t, "EDIT.cli.example"), "--set", "session_duration=2h")
	api.MustCall(t, "GET", "access/apps/"+app.ID, nil, &got)
	if got.SessionDuration != "2h" || len(got.Policies) != 2 || !got.Policies[0].Reusable || got.Policies[0].ID != reusable.ID {
		t.Errorf("after the second edit: %s %+v", got.SessionDuration, got.Policies)
	}

	// A policy of the app (the app named by its domain), and a service token.
	ok(t, api, "", "policies", "edit", "own", "--app", got.Domain, "--set", "name=own-renamed")
	api.MustCall(t, "GET", "access/apps/"+app.ID, nil, &got)
	if got.Policies[1].Name != "own-renamed" || got.Policies[1].Decision != access.DecisionNonIdentity {
		t.Errorf("app policy after edit: %+v", got.Policies[1])
	}
	ok(t, api, "", "service-tokens", "create", "--name", "ci")
	ok(t, api, "", "service-tokens", "edit", "ci", "--set", "name=ci-renamed", "--set", "duration=720h")
	var tokens []access.ServiceToken
	api.MustCall(t, "GET", "access/service_tokens", nil, &tokens)
	if len(tokens) != 1 || tokens[0].Name != "ci-renamed" || tokens[0].Duration != "720h" {
		t.Errorf("service token after edit: %+v", tokens)
	}
	ok(t, api, "", "policies", "edit", "staff", "--set", "include[0].email_domain.domain=example.org")
	api.MustCall(t, "GET", "access/policies/"+reusable.ID, nil, &reusable)
	if reusable.Include[0].EmailDomain.Domain != "example.org" {
		t.Errorf("reusable policy after edit: %+v", reusable.Include)
	}

	// Mistakes: a bad path or value is a usage error before any request,
	// a value the API refuses is its 400 naming the field, an unknown
	// name is an error naming it.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"apps", "edit", "Edited"}, 1, "--set"},
		{[]string{"apps", "edit", "Edited", "--set", "name"}, 1, "PATH=VALUE"},
		{[]string{"apps", "edit", "Edited", "--set", "name.first=x"}, 1, "name: is a string"},
		{[]string{"apps", "edit", "Edited", "--set", "cors_headers.max_age=100000"}, 2, "cors_headers.max_age"},
		{[]string{"apps", "edit", "Edited", "--set", "no_such_field=1"}, 2, "no_such_field"},
		{[]string{"apps", "edit", "Nobody", "--set", "name=x"}, 2, `no app named, or with the domain, "Nobody"`},
	} {
		if r := cli(t, api, "", tc.args...); r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %s; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// comparable decodes a resource without updated_at, which every write sets.
func comparable(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "updated_at")
	if list, ok := m["policies"].([]any); ok {
		for _, p := range list {
			delete(p.(map[string]any), "updated_at")
		}
	}
	return m
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCLIEditRefusesToOverwriteAConcurrentChange puts a proxy between the
// CLI and the API that, when the CLI's PUT arrives, first changes the app
// itself: the CLI's If-Match no longer matches, the API answers 412, and
// the CLI says to retry; the other change stays.
func TestCLIEditRefusesToOverwriteAConcurrentChange(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	app := cliApp(t, api, "name: Raced\ndomain: race.cli.example\norigin: http://127.0.0.1:9000\n")
	target, _ := url.Parse(api.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			once.Do(func() {
				body := map[string]any{"type": "self_hosted", "name": "Raced", "domain": app.Domain, "origin": "http://127.0.0.1:9000", "session_duration": "3h"}
				api.MustCall(t, "PUT", "access/apps/"+app.ID, body, nil)
			})
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	r := cliWithEnv(t, []string{"GATEHOUSE_URL=" + srv.URL, "GATEHOUSE_TOKEN=" + api.Token, "GATEHOUSE_ACCOUNT=" + api.AccountID}, "",
		"apps", "edit", "Raced", "--set", "session_duration=1h")
	if r.code != 2 || !strings.Contains(r.stderr, "changed by someone else") || !strings.Contains(r.stderr, "retry") {
		t.Fatalf("edit across a concurrent change: exit %d: %s", r.code, r.stderr)
	}
	var got access.App
	api.MustCall(t, "GET", "access/apps/"+app.ID, nil, &got)
	if got.SessionDuration != "3h" {
		t.Errorf("session_duration %q: the concurrent change was overwritten", got.SessionDuration)
	}
	// Run again, it applies.
	ok(t, api, "", "apps", "edit", "Raced", "--set", "session_duration=1h")
}

// TestCLIGetOutputCanBeSentBackAsTheUpdate: apps get -o json | apps update ID -f -.
func TestCLIGetOutputCanBeSentBackAsTheUpdate(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	app := cliApp(t, api, `
name: Piped
domain: pipe.cli.example
origin: http://127.0.0.1:9000
policies: [{name: all, decision: allow, include: [{everyone: {}}]}]
`)
	for _, kind := range []struct{ cmd, id string }{{"apps", app.ID}, {"policies", app.Policies[0].ID}} {
		args := []string{kind.cmd}
		if kind.cmd == "policies" {
			args = append(args, "--app", "Piped")
		}
		got := ok(t, api, "", append(args, "get", kind.id, "-o", "json")...)
		if r := cli(t, api, got, append(args, "update", kind.id, "-f", "-", "-o", "json")...); r.code != 0 {
			t.Errorf("%s get | update: exit %d: %s", kind.cmd, r.code, r.stderr)
		}
	}
}

func TestCLIPoliciesTestExplainsTheDecision(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	ok(t, api, "", "service-tokens", "create", "--name", "robot")
	tokens := decodeOut[[]access.ServiceToken](t, ok(t, api, "", "service-tokens", "list", "-o", "json"))
	app := cliApp(t, api, `
name: Tested
domain: tested.cli.example
origin: http://127.0.0.1:9000
cors_headers: {allowed_origins: [https://web.example.com], allowed_methods: [GET]}
policies:
  - {name: staff, decision: allow, include: [{email_domain: {domain: example.com}}]}
  - {name: robots, decision: non_identity, include: [{service_token: {token_id: `+tokens[0].ID+`}}]}
`)
	out := ok(t, api, "", "policies", "test", "--app", "Tested", "--email", "ann@example.com", "--path", "/reports")
	if !strings.Contains(out, "Decision:  allow (allow_policy") || !strings.Contains(out, "Policy:    staff (allow), rule include[0] email_domain") ||
		!strings.Contains(out, "POLICY") || !strings.Contains(out, "matched") {
		t.Errorf("allowed user:\n%s", out)
	}
	out = ok(t, api, "", "policies", "test", "--app", app.Domain, "--email", "bob@elsewhere.test")
	if !strings.Contains(out, "Decision:  deny") {
		t.Errorf("other user:\n%s", out)
	}
	res := decodeOut[struct {
		Decision string `json:"decision"`
		Reason   string `json:"reason"`
	}](t, ok(t, api, "", "policies", "test", "--app", app.ID, "--service-token", "robot", "-o", "json"))
	if res.Decision != "non_identity" && res.Decision != "allow" || res.Reason != string(policy.ReasonServiceAuthPolicy) {
		t.Errorf("service token: %+v", res)
	}
	out = ok(t, api, "", "policies", "test", "--app", "Tested", "--origin", "https://web.example.com", "--method", "GET")
	if !strings.Contains(out, "Preflight: answered, status 204") {
		t.Errorf("preflight:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"policies", "test", "--email", "a@example.com"}, 1, "--app is required"},
		{[]string{"policies", "test", "--app", "Nope"}, 2, `--app: no app named, or with the domain, "Nope"`},
		{[]string{"policies", "test", "--app", "Tested", "--ip", "not-an-ip"}, 2, "ip"},
		{[]string{"policies", "test", "--app", "Tested", "--service-token", "nobody"}, 2, `no service token named "nobody"`},
		{[]string{"policies", "test", "--app", "Tested", "--claim", "novalue"}, 1, "NAME=VALUE"},
	} {
		if r := cli(t, api, "", tc.args...); r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %s; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
	// Read-only tokens may ask.
	r := cliWithEnv(t, []string{"GATEHOUSE_URL=" + api.URL, "GATEHOUSE_TOKEN=" + api.ReadOnlyToken, "GATEHOUSE_ACCOUNT=" + api.AccountID}, "",
		"policies", "test", "--app", "Tested", "--email", "ann@example.com")
	if r.code != 0 {
		t.Errorf("read-only token: exit %d: %s", r.code, r.stderr)
	}
}

// TestCLILogsTakeTheAppByNameOrDomainAndShowThePath: --app resolves
// through the app list (an ambiguous value lists the matches), and the
// table has the request path.
func TestCLILogsTakeTheAppByNameOrDomainAndShowThePath(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	one := cliApp(t, api, "name: One\ndomain: one.cli.example\norigin: http://127.0.0.1:9000\n")
	two := cliApp(t, api, "name: Two\ndomain: two.cli.example\norigin: http://127.0.0.1:9000\n")
	// An app named like another's domain.
	cliApp(t, api, "name: two.cli.example\ndomain: three.cli.example\norigin: http://127.0.0.1:9000\n")
	now := time.Now()
	row := func(ray string, app access.App, path string) access.AccessLogEntry {
		e := logRow(api, ray, "allow", true, policy.ReasonAllowPolicy, now.Add(-time.Minute))
		e.AppUID, e.AppDomain, e.Path = app.ID, app.Domain, path
		return e
	}
	if err := api.Store.InsertAccessLogs(context.Background(), []access.AccessLogEntry{
		row("ray-one", one, "/reports/q1"), row("ray-two", two, "/admin"),
	}); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"One", one.Domain, one.ID} {
		out := ok(t, api, "", "logs", "--app", ref)
		if !strings.Contains(out, "PATH") || !strings.Contains(out, "/reports/q1") || strings.Contains(out, "/admin") {
			t.Errorf("logs --app %s:\n%s", ref, out)
		}
	}
	r := cli(t, api, "", "logs", "--app", two.Domain)
	if r.code != 1 || !strings.Contains(r.stderr, "names 2 apps") || !strings.Contains(r.stderr, two.ID) {
		t.Errorf("ambiguous --app: exit %d: %s", r.code, r.stderr)
	}
	if out := ok(t, api, "", "logs", "--app", "Two"); !strings.Contains(out, "/admin") {
		t.Errorf("logs --app Two:\n%s", out)
	}
	// policies --app takes a name too.
	if out := ok(t, api, "", "policies", "list", "--app", "Two"); !strings.HasPrefix(out, "ID") {
		t.Errorf("policies list --app Two:\n%s", out)
	}
}

func TestCLIHelpSaysPolicies(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	out := ok(t, api, "", "policies", "--help")
	if strings.Contains(out, "policys") || !strings.Contains(out, "List policies") {
		t.Errorf("policies --help:\n%s", out)
	}
}
