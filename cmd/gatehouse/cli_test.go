package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

var cliBinary struct {
	once sync.Once
	path string
	err  error
}

// buildCLI builds the gatehouse binary once, beside the test binary (in
// go test's work directory, which is removed afterwards).
func buildCLI(t *testing.T) string {
	t.Helper()
	cliBinary.once.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			cliBinary.err = err
			return
		}
		cliBinary.path = filepath.Join(filepath.Dir(exe), "gatehouse-cli")
		out, err := exec.Command("go", "build", "-o", cliBinary.path, ".").CombinedOutput()
		if err != nil {
			cliBinary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if cliBinary.err != nil {
		t.Fatal(cliBinary.err)
	}
	return cliBinary.path
}

type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs the gatehouse binary against api with stdin, as a script would.
func cli(t *testing.T, api *gatehousetest.API, stdin string, args ...string) cliResult {
	t.Helper()
	return cliWithEnv(t, []string{"GATEHOUSE_URL=" + api.URL, "GATEHOUSE_TOKEN=" + api.Token, "GATEHOUSE_ACCOUNT=" + api.AccountID}, stdin, args...)
}

// cliWithEnv runs the gatehouse binary with env added to the environment.
func cliWithEnv(t *testing.T, env []string, stdin string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(buildCLI(t), args...)
	// No saved profile (gatehouse login) of the machine's user leaks in,
	// unless env names a configuration directory.
	cmd.Env = append(append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "GATEHOUSE_PROFILE="), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := cliResult{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return res
}

// ok runs a command that must succeed and returns its stdout.
func ok(t *testing.T, api *gatehousetest.API, stdin string, args ...string) string {
	t.Helper()
	r := cli(t, api, stdin, args...)
	if r.code != 0 {
		t.Fatalf("gatehouse %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// uniqDomains makes the *.cli.example and *.apply.example domains in s
// unique to the test's run: domains are unique across accounts, and
// -count=N reruns share the database.
func uniqDomains(t *testing.T, s string) string {
	l := gatehousetest.RunLabel(t)
	return strings.NewReplacer(".cli.example", ".cli.example."+l, ".apply.example", ".apply.example."+l).Replace(s)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func decodeOut[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, out)
	}
	return v
}

func TestCLIAppsCRUDShowsCORSMode(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	file := writeFile(t, "app.yaml", uniqDomains(t, `
type: self_hosted
name: API
domain: api.cli.example
origin: http://127.0.0.1:9000
cors_headers: {allowed_origins: [https://example.com], allowed_methods: [GET, POST], max_age: 600}
`))
	out := ok(t, api, "", "apps", "create", "-f", file)
	if !strings.Contains(out, "answered at edge") || !strings.Contains(out, "api.cli.example") {
		t.Fatalf("create table: %s", out)
	}
	apps := decodeOut[[]access.App](t, ok(t, api, "", "apps", "list", "-o", "json"))
	if len(apps) != 1 || apps[0].Name != "API" || apps[0].CORSHeaders.MaxAge != 600 {
		t.Fatalf("list -o json: %+v", apps)
	}
	id := apps[0].ID

	// -o json prints the API's result exactly.
	var fromAPI any
	api.MustCall(t, "GET", "access/apps/"+id, nil, &fromAPI)
	if got := decodeOut[any](t, ok(t, api, "", "apps", "get", id, "-o", "json")); fmt.Sprint(got) != fmt.Sprint(fromAPI) {
		t.Errorf("get -o json = %v, API result %v", got, fromAPI)
	}

	// Bypass on from stdin (JSON is YAML too).
	out = ok(t, api, uniqDomains(t, `{"name": "API", "type": "self_hosted", "domain": "api.cli.example", "options_preflight_bypass": true}`), "apps", "update", id, "-f", "-")
	if !strings.Contains(out, "bypass to origin") {
		t.Fatalf("update table: %s", out)
	}
	ok(t, api, uniqDomains(t, "name: Plain\ndomain: plain.cli.example\ntype: self_hosted\n"), "apps", "create", "-f", "-")
	out = ok(t, api, "", "apps", "list")
	for _, want := range []string{"ID", "NAME", "DOMAIN", "CORS", "POLICIES", "bypass to origin", "none (preflights get 403)"} {
		if !strings.Contains(out, want) {
			t.Errorf("list table lacks %q:\n%s", want, out)
		}
	}
	if out := ok(t, api, "", "apps", "delete", id); !strings.Contains(out, id) {
		t.Errorf("delete printed %q", out)
	}
	if r := cli(t, api, "", "apps", "get", id); r.code != 2 {
		t.Errorf("get deleted app: exit %d, stderr %s", r.code, r.stderr)
	}
}

func TestCLIPoliciesReusableAndAppScoped(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	out := ok(t, api, `{"name": "Staff", "decision": "allow", "include": [{"email_domain": {"domain": "example.com"}}]}`,
		"policies", "create", "-f", "-", "-o", "json")
	staff := decodeOut[access.Policy](t, out)
	if !staff.Reusable || staff.Name != "Staff" {
		t.Fatalf("create: %+v", staff)
	}
	var app access.App
	api.MustCall(t, "POST", "access/apps", map[string]any{"type": "self_hosted", "name": "P", "domain": uniqDomains(t, "p.cli.example"),
		"policies": []string{staff.ID}}, &app)
	out = ok(t, api, "name: relay\ndecision: non_identity\ninclude: [{any_valid_service_token: {}}]\n", "policies", "create", "--app", app.ID, "-f", "-")
	if !strings.Contains(out, "Service Auth") {
		t.Fatalf("app policy create table: %s", out)
	}
	out = ok(t, api, "", "policies", "list", "--app", app.ID)
	if !strings.Contains(out, "Staff") || !strings.Contains(out, "relay") || !strings.Contains(out, "PRECEDENCE") {
		t.Fatalf("app policies: %s", out)
	}
	out = ok(t, api, `{"name": "Staff", "decision": "deny", "include": [{"everyone": {}}]}`, "policies", "update", staff.ID, "-f", "-", "-o", "json")
	if p := decodeOut[access.Policy](t, out); p.Decision != access.DecisionDeny {
		t.Fatalf("update: %+v", p)
	}
	if out := ok(t, api, "", "policies", "get", staff.ID); !strings.Contains(out, "deny") {
		t.Errorf("get: %s", out)
	}
	// In use: 409 is a 4xx.
	if r := cli(t, api, "", "policies", "delete", staff.ID); r.code != 2 || !strings.Contains(r.stderr, "409") {
		t.Errorf("delete linked policy: exit %d, %s", r.code, r.stderr)
	}
	ok(t, api, "", "apps", "delete", app.ID)
	ok(t, api, "", "policies", "delete", staff.ID)
	if out := ok(t, api, "", "policies", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("after delete: %s", out)
	}
}

func TestCLIServiceTokensPrintTheSecretOnce(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	out := ok(t, api, "", "service-tokens", "create", "--name", "ci", "--duration", "720h")
	if !strings.Contains(out, "client_secret: ") || !strings.Contains(out, "shown only once") {
		t.Fatalf("create: %s", out)
	}
	tokens := decodeOut[[]access.ServiceToken](t, ok(t, api, "", "service-tokens", "list", "-o", "json"))
	if len(tokens) != 1 || tokens[0].ClientSecret != "" || tokens[0].Duration != "720h" {
		t.Fatalf("list: %+v", tokens)
	}
	id := tokens[0].ID
	if !strings.Contains(out, tokens[0].ClientID) {
		t.Errorf("create table lacks the client id: %s", out)
	}
	out = ok(t, api, "", "service-tokens", "list")
	for _, want := range []string{"CLIENT ID", "EXPIRES", "LAST SEEN", "never", tokens[0].ClientID} {
		if !strings.Contains(out, want) {
			t.Errorf("list table lacks %q:\n%s", want, out)
		}
	}
	rotated := decodeOut[access.ServiceToken](t, ok(t, api, "", "service-tokens", "rotate", id, "-o", "json"))
	if rotated.ClientSecret == "" || rotated.ClientSecretVersion != 2 {
		t.Errorf("rotate -o json: %+v", rotated)
	}
	if out := ok(t, api, "", "service-tokens", "rotate", id); !strings.Contains(out, "client_secret: ") {
		t.Errorf("rotate table: %s", out)
	}
	ok(t, api, "", "service-tokens", "refresh", id)
	if out := ok(t, api, "", "service-tokens", "get", id); !strings.Contains(out, "ci") || strings.Contains(out, "client_secret") {
		t.Errorf("get: %s", out)
	}
	ok(t, api, "", "service-tokens", "delete", id)
	if r := cli(t, api, "", "service-tokens", "create"); r.code != 1 || !strings.Contains(r.stderr, "--name") {
		t.Errorf("create without --name: exit %d, %s", r.code, r.stderr)
	}
}

func TestCLIListFollowsPagination(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	for i := range 102 {
		api.MustCall(t, "POST", "access/service_tokens", map[string]string{"name": fmt.Sprintf("t%03d", i)}, nil)
	}
	if all := decodeOut[[]access.ServiceToken](t, ok(t, api, "", "service-tokens", "list", "-o", "json")); len(all) != 102 {
		t.Errorf("list returned %d tokens, want all 102", len(all))
	}
	page := decodeOut[[]access.ServiceToken](t, ok(t, api, "", "service-tokens", "list", "--page", "2", "--per-page", "5", "-o", "json"))
	if len(page) != 5 || page[0].Name != "t005" {
		t.Errorf("page 2 of 5: %d tokens, first %+v", len(page), page)
	}
}

func TestCLIIdentityProviders(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	out := ok(t, api, "name: Email PIN\ntype: onetimepin\nconfig: {}\n", "idps", "create", "-f", "-", "-o", "json")
	idp := decodeOut[access.IdentityProvider](t, out)
	out = ok(t, api, "", "idps", "list")
	if !strings.Contains(out, "TYPE") || !strings.Contains(out, "onetimepin") || !strings.Contains(out, "Email PIN") {
		t.Fatalf("list: %s", out)
	}
	out = ok(t, api, "name: PIN\ntype: onetimepin\nconfig: {}\n", "idps", "update", idp.ID, "-f", "-")
	if !strings.Contains(out, "PIN") {
		t.Errorf("update: %s", out)
	}
	ok(t, api, "", "idps", "get", idp.ID)
	ok(t, api, "", "idps", "delete", idp.ID)
	if r := cli(t, api, "", "idps", "get", idp.ID); r.code != 2 {
		t.Errorf("get deleted: exit %d", r.code)
	}
}

func TestCLIAccessGroups(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	out := ok(t, api, "name: Staff\ninclude: [{email_domain: {domain: example.com}}]\nexclude: [{email: {email: con@example.com}}]\n",
		"groups", "create", "-f", "-", "-o", "json")
	g := decodeOut[access.Group](t, out)
	out = ok(t, api, "", "groups", "list")
	if !strings.Contains(out, "INCLUDE") || !strings.Contains(out, "Staff") || !strings.Contains(out, g.ID) {
		t.Fatalf("list: %s", out)
	}
	pol := map[string]any{"name": "staff in", "decision": "allow", "include": []any{map[string]any{"group": map[string]any{"id": g.ID}}}}
	var p access.Policy
	api.MustCall(t, "POST", "access/policies", pol, &p)
	if r := cli(t, api, "", "groups", "delete", g.ID); r.code != 2 || !strings.Contains(r.stderr, "staff in") {
		t.Errorf("delete in use: exit %d, stderr %s", r.code, r.stderr)
	}
	ok(t, api, "", "policies", "delete", p.ID)
	out = ok(t, api, "name: Staff\ninclude: [{everyone: {}}]\n", "groups", "update", g.ID, "-f", "-", "-o", "json")
	if !strings.Contains(out, "everyone") {
		t.Errorf("update: %s", out)
	}
	ok(t, api, "", "groups", "get", g.ID)
	ok(t, api, "", "groups", "delete", g.ID)
	if r := cli(t, api, "", "groups", "get", g.ID); r.code != 2 {
		t.Errorf("get deleted: exit %d", r.code)
	}
}

func TestCLIExitCodes(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	r := cli(t, api, uniqDomains(t, `{"type": "self_hosted", "name": "Bad", "domain": "bad.cli.example", "cors_headers": {"allowed_origins": ["example.com"]}}`),
		"apps", "create", "-f", "-")
	if r.code != 2 || !strings.Contains(r.stderr, "cors_headers.allowed_origins[0]") {
		t.Errorf("invalid app: exit %d, stderr %s", r.code, r.stderr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	if r := cli(t, api, "", "apps", "list", "--url", closed); r.code != 3 || !strings.Contains(r.stderr, "cannot reach") {
		t.Errorf("unreachable API: exit %d, stderr %s", r.code, r.stderr)
	}
	if r := cli(t, api, "", "apps", "list", "--url", api.URL+"/client/v4/", "--api-token", "ghat_nope"); r.code != 2 || !strings.Contains(r.stderr, "401") {
		t.Errorf("bad token (URL with /client/v4): exit %d, stderr %s", r.code, r.stderr)
	}
	if r := cli(t, api, "", "apps", "list", "--url", "ftp://x"); r.code != 1 || !strings.Contains(r.stderr, "--url") {
		t.Errorf("bad URL scheme: exit %d, stderr %s", r.code, r.stderr)
	}
	r = cliWithEnv(t, []string{"GATEHOUSE_URL=", "GATEHOUSE_TOKEN=" + api.Token, "GATEHOUSE_ACCOUNT="}, "", "apps", "list", "-o", "yaml")
	if r.code != 1 || !strings.Contains(r.stderr, "GATEHOUSE_URL") || !strings.Contains(r.stderr, "-o") {
		t.Errorf("missing URL and bad -o: exit %d, stderr %s", r.code, r.stderr)
	}
	if r := cliWithEnv(t, []string{"GATEHOUSE_URL=", "GATEHOUSE_TOKEN=", "GATEHOUSE_ACCOUNT="}, "", "apps", "list",
		"--url", api.URL, "--api-token", api.Token, "--account", api.AccountID); r.code != 0 {
		t.Errorf("flags instead of the environment: exit %d, %s", r.code, r.stderr)
	}
	if r := cli(t, api, "", "apps", "--help"); r.code != 0 || strings.Contains(r.stdout, api.Token) {
		t.Errorf("--help shows the API token or fails: exit %d\n%s", r.code, r.stdout)
	}
	if r := cli(t, api, "", "apps", "create", "-f", filepath.Join(t.TempDir(), "missing.yaml")); r.code != 1 {
		t.Errorf("missing file: exit %d", r.code)
	}
}

const applyConfig = `
service_tokens:
  - name: ci-relay
    duration: 8760h
  - name: old
policies:
  - name: staff
    decision: allow
    include: [{email_domain: {domain: Example.com}}]
apps:
  - name: API
    domain: API.apply.example
    origin: http://127.0.0.1:9000/
    cors_headers: {allowed_origins: [https://Example.com], allowed_methods: [GET, POST], allow_credentials: true, max_age: 600}
    policies:
      - {name: service auth, decision: non_identity, include: [{service_token: {token_name: ci-relay}}]}
      - staff
  - name: Docs
    domain: docs.apply.example
    options_preflight_bypass: true
    policies: [staff]
`

func TestCLIApplyConvergesAndPrunes(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	// Something the file does not know about, for --prune.
	api.MustCall(t, "POST", "access/policies", map[string]any{"name": "stale", "decision": "allow", "include": []any{map[string]any{"everyone": map[string]any{}}}}, nil)
	file := writeFile(t, "config.yaml", uniqDomains(t, applyConfig))

	// A dry run with changes planned exits 2 (terraform plan -detailed-exitcode).
	r := cli(t, api, "", "apply", "-f", file, "--dry-run")
	out := r.stdout
	if r.code != 2 || !strings.Contains(r.stderr, "change(s) planned") {
		t.Errorf("dry run with changes: exit %d, stderr %s", r.code, r.stderr)
	}
	for _, want := range []string{"+ create service_token ci-relay", "+ create policy staff", "+ create app API", "+ create policy API/service auth", "Dry run"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	var apps []access.App
	api.MustCall(t, "GET", "access/apps", nil, &apps)
	if len(apps) != 0 {
		t.Fatalf("dry run created apps: %+v", apps)
	}

	out = ok(t, api, "", "apply", "-f", file)
	if !strings.Contains(out, "+ create app Docs") || !strings.Contains(out, "client_secret: ") || strings.Contains(out, "delete") {
		t.Fatalf("first apply:\n%s", out)
	}
	api.MustCall(t, "GET", "access/apps", nil, &apps)
	if len(apps) != 2 {
		t.Fatalf("apps after apply: %+v", apps)
	}
	var appAPI access.App
	for _, a := range apps {
		if a.Name == "API" {
			appAPI = a
		}
	}
	if len(appAPI.Policies) != 2 || appAPI.Policies[0].Name != "service auth" || appAPI.Policies[1].Name != "staff" ||
		appAPI.Policies[0].Include[0].ServiceToken == nil || !appAPI.CORSHeaders.AllowCredentials {
		t.Fatalf("app API: %+v", appAPI)
	}

	if out := ok(t, api, "", "apply", "-f", file); !strings.Contains(out, "No changes") {
		t.Fatalf("second apply is not a no-op:\n%s", out)
	}
	if out := ok(t, api, "", "apply", "-f", file, "--dry-run"); !strings.Contains(out, "No changes") {
		t.Fatalf("a dry run without changes does not exit 0 with No changes:\n%s", out)
	}

	// One field changes; only it is updated.
	changed := strings.Replace(uniqDomains(t, applyConfig), "max_age: 600", "max_age: 900", 1)
	changed = strings.Replace(changed, "      - staff\n", "      - staff\n      - {name: office, decision: allow, include: [{ip: {ip: 10.1.2.3/8}}]}\n", 1)
	if err := os.WriteFile(file, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	out = ok(t, api, "", "apply", "-f", file)
	want := "~ update app API: cors_headers.max_age 600 -> 900\n+ create policy API/office\nApplied 2 change(s).\n"
	if out != want {
		t.Fatalf("apply after a change:\n%s\nwant:\n%s", out, want)
	}
	if out := ok(t, api, "", "apply", "-f", file); !strings.Contains(out, "No changes") {
		t.Fatalf("apply after the change is not a no-op:\n%s", out)
	}

	// Reorder the app's policies and drop one of its own.
	reordered := strings.Replace(changed, "      - {name: service auth, decision: non_identity, include: [{service_token: {token_name: ci-relay}}]}\n      - staff\n",
		"      - staff\n      - {name: service auth, decision: non_identity, include: [{service_token: {token_name: ci-relay}}]}\n", 1)
	reordered = strings.Replace(reordered, "      - {name: office, decision: allow, include: [{ip: {ip: 10.1.2.3/8}}]}\n", "", 1)
	if err := os.WriteFile(file, []byte(reordered), 0o600); err != nil {
		t.Fatal(err)
	}
	out = ok(t, api, "", "apply", "-f", file)
	if !strings.Contains(out, "- delete policy API/office") || !strings.Contains(out, "~ update app API: policies [service auth, staff] -> [staff, service auth]") {
		t.Fatalf("reorder:\n%s", out)
	}
	if out := ok(t, api, "", "apply", "-f", file); !strings.Contains(out, "No changes") {
		t.Fatalf("apply after reorder is not a no-op:\n%s", out)
	}

	// Remove Docs and the token "old" from the file; --prune deletes them
	// and the stale policy, a dry run first changes nothing.
	pruned := strings.Replace(reordered, "  - name: old\n", "", 1)
	pruned = pruned[:strings.Index(pruned, "  - name: Docs")]
	if err := os.WriteFile(file, []byte(pruned), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := ok(t, api, "", "apply", "-f", file); !strings.Contains(out, "No changes") {
		t.Fatalf("without --prune nothing is deleted:\n%s", out)
	}
	r = cli(t, api, "", "apply", "-f", file, "--prune", "--dry-run")
	out = r.stdout
	if r.code != 2 {
		t.Errorf("prune dry run: exit %d, %s", r.code, r.stderr)
	}
	for _, want := range []string{"- delete app Docs", "- delete policy stale", "- delete service_token old"} {
		if !strings.Contains(out, want) {
			t.Errorf("prune plan lacks %q:\n%s", want, out)
		}
	}
	api.MustCall(t, "GET", "access/apps", nil, &apps)
	if len(apps) != 2 {
		t.Fatalf("dry run deleted apps: %+v", apps)
	}
	res := decodeOut[struct {
		Changes []string `json:"changes"`
	}](t, ok(t, api, "", "apply", "-f", file, "--prune", "-o", "json"))
	if len(res.Changes) != 3 {
		t.Fatalf("prune changes: %q", res.Changes)
	}
	api.MustCall(t, "GET", "access/apps", nil, &apps)
	var tokens []access.ServiceToken
	api.MustCall(t, "GET", "access/service_tokens", nil, &tokens)
	var policies []access.Policy
	api.MustCall(t, "GET", "access/policies", nil, &policies)
	if len(apps) != 1 || len(tokens) != 1 || len(policies) != 1 {
		t.Fatalf("after prune: %d apps, %d tokens, %d policies", len(apps), len(tokens), len(policies))
	}
	if out := ok(t, api, "", "apply", "-f", file, "--prune"); !strings.Contains(out, "No changes") {
		t.Fatalf("apply after prune is not a no-op:\n%s", out)
	}
}

func TestCLIApplyRefusesUnknownReferences(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	file := writeFile(t, "bad.yaml", uniqDomains(t, "apps:\n  - {name: X, domain: x.apply.example, policies: [nobody]}\n"))
	if r := cli(t, api, "", "apply", "-f", file); r.code != 1 || !strings.Contains(r.stderr, `"nobody"`) {
		t.Errorf("unknown policy: exit %d, %s", r.code, r.stderr)
	}
	file = writeFile(t, "bad2.yaml", "policies:\n  - {name: p, decision: non_identity, include: [{service_token: {token_name: ghost}}]}\n")
	if r := cli(t, api, "", "apply", "-f", file); r.code != 1 || !strings.Contains(r.stderr, `"ghost"`) {
		t.Errorf("unknown token: exit %d, %s", r.code, r.stderr)
	}
	file = writeFile(t, "bad3.yaml", "apps:\n  - {name: X, domian: x.apply.example}\n")
	if r := cli(t, api, "", "apply", "-f", file); r.code != 1 || !strings.Contains(r.stderr, "domian") {
		t.Errorf("unknown field: exit %d, %s", r.code, r.stderr)
	}
	var apps []access.App
	api.MustCall(t, "GET", "access/apps", nil, &apps)
	if len(apps) != 0 {
		t.Errorf("a refused file changed the account: %+v", apps)
	}
}

func TestCLICertificates(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	ca := gatehousetest.NewTestCA(t)
	file := writeFile(t, "ca.pem", ca.PEM())
	c := decodeOut[access.Certificate](t, ok(t, api, "", "certificates", "create", "--name", "clients", "--cert", file,
		"--hostname", "api.cli.example", "--hostname", "*.svc.cli.example", "-o", "json"))
	if c.Fingerprint != access.CertificateFingerprint(ca.Cert.Raw) || len(c.AssociatedHostnames) != 2 {
		t.Fatalf("create: %+v", c)
	}
	out := ok(t, api, "", "certificates", "list")
	for _, want := range []string{"FINGERPRINT", "clients", c.Fingerprint, "api.cli.example,*.svc.cli.example"} {
		if !strings.Contains(out, want) {
			t.Errorf("list table lacks %q:\n%s", want, out)
		}
	}
	ok(t, api, "", "certificates", "get", c.ID)
	if r := cli(t, api, "", "certificates", "create", "--name", "x", "--cert", writeFile(t, "bad.pem", "not a certificate")); r.code != 2 || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("a bad PEM: exit %d, %s", r.code, r.stderr)
	}
	if r := cli(t, api, "", "certificates", "create", "--name", "x"); r.code != 1 || !strings.Contains(r.stderr, "--cert") {
		t.Errorf("create without --cert: exit %d, %s", r.code, r.stderr)
	}
	if out := ok(t, api, "", "certificates", "delete", c.ID); !strings.Contains(out, "Deleted") {
		t.Errorf("delete: %s", out)
	}
	if r := cli(t, api, "", "certificates", "get", c.ID); r.code != 2 {
		t.Errorf("get deleted: exit %d", r.code)
	}
}

// applyBadSecond is a file whose second app the API refuses (its domain
// is not a host), after a service token and a policy that would be new.
const applyBadSecond = `
service_tokens:
  - name: ci
policies:
  - {name: staff, decision: allow, include: [{everyone: {}}]}
apps:
  - {name: good, domain: good.apply.example, policies: [staff]}
  - {name: bad, domain: "not a host", policies: [staff]}
`

func TestCLIApplyThatTheAPIRefusesAppliesNothingAndNamesTheEntry(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	file := writeFile(t, "bad.yaml", uniqDomains(t, applyBadSecond))
	// A refused plan is an error: 1 in a dry run (where 2 means "changes
	// planned"), 2 (the API refused) for the real apply.
	for _, tc := range []struct {
		args []string
		code int
	}{{[]string{"apply", "-f", file, "--dry-run"}, 1}, {[]string{"apply", "-f", file}, 2}} {
		args := tc.args
		r := cli(t, api, "", args...)
		if r.code != tc.code || !strings.Contains(r.stderr, "apps[1] (+ create app bad)") || !strings.Contains(r.stderr, "domain") ||
			!strings.Contains(r.stderr, "Nothing was") || strings.Contains(r.stderr, "operations[") {
			t.Errorf("%q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
	}
	for _, path := range []string{"access/service_tokens", "access/policies", "access/apps"} {
		var items []json.RawMessage
		api.MustCall(t, "GET", path, nil, &items)
		if len(items) != 0 {
			t.Errorf("%s after a refused apply: %d", path, len(items))
		}
	}
}

func TestCLIApplySecretsOut(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	file := writeFile(t, "tokens.yaml", "service_tokens:\n  - name: one\n  - name: two\n")
	secrets := filepath.Join(t.TempDir(), "secrets.json")
	// An existing file, world-readable, with old contents: truncated and made 0600.
	if err := os.WriteFile(secrets, []byte(strings.Repeat("old secret\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := ok(t, api, "", "apply", "-f", file, "--secrets-out", secrets)
	if !strings.Contains(out, "Secrets of 2 new service token(s) written to "+secrets) || strings.Contains(out, "client_secret") {
		t.Fatalf("apply with --secrets-out:\n%s", out)
	}
	st, err := os.Stat(secrets)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file: %v %v", st.Mode(), err)
	}
	b, _ := os.ReadFile(secrets)
	var got []struct {
		Name         string `json:"name"`
		ID           string `json:"id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(b, &got); err != nil || len(got) != 2 || got[0].Name != "one" || got[1].ClientSecret == "" {
		t.Fatalf("secrets file %s: %v", b, err)
	}
	// The secrets are those the API stored (by their hash).
	for _, g := range got {
		var hash []byte
		if err := api.Store.Pool().QueryRow(context.Background(), `SELECT secret_hash FROM service_tokens WHERE id = $1`, g.ID).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256([]byte(g.ClientSecret)); !bytes.Equal(hash, sum[:]) {
			t.Errorf("token %s: the secret written is not the stored one", g.Name)
		}
	}
	// Nothing to create: a new file is not left behind.
	fresh := filepath.Join(t.TempDir(), "none.json")
	ok(t, api, "", "apply", "-f", file, "--secrets-out", fresh)
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("a run that created no token left %s: %v", fresh, err)
	}
	// Without --secrets-out the secrets are printed.
	out = ok(t, api, "", "apply", "-f", writeFile(t, "three.yaml", "service_tokens:\n  - name: one\n  - name: two\n  - name: three\n"))
	if !strings.Contains(out, "three\n    client_id:") || !strings.Contains(out, "client_secret: ") {
		t.Errorf("printed secrets:\n%s", out)
	}
}
