// Package terraform drives a real gatehouse serve with Cloudflare's own
// Terraform provider, unchanged: the provider is pointed at Gatehouse by
// its base_url. It needs the terraform binary and the provider built from
// source (scripts/build-terraform.sh), named by GATEHOUSE_TERRAFORM and
// GATEHOUSE_TF_PROVIDER_DIR; without them the test is skipped, so that
// make test never builds them. make test-terraform runs it.
package terraform

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestMain(m *testing.M) { gatehousetest.Main(m) }

// gatehouse is a running gatehouse serve process.
type gatehouse struct {
	api, edge, account, token string
}

// startServe builds and starts gatehouse serve on a database of its own,
// bootstrapping an account, and stops it when the test ends.
func startServe(t *testing.T) gatehouse {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gatehouse")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/gatehouse").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+gatehousetest.NewDatabase(t), "GATEHOUSE_API_ADDR=127.0.0.1:0",
		"GATEHOUSE_EDGE_ADDR=127.0.0.1:0", "GATEHOUSE_BOOTSTRAP=true", "GATEHOUSE_STATE_DIR="+t.TempDir(),
		"GATEHOUSE_MASTER_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("gatehouse serve logs (tail):\n%s", tail(logs.String(), 4000))
		}
	})
	var g gatehouse
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out strings.Builder
	deadline := time.After(60 * time.Second)
	for g.api == "" || g.edge == "" || g.token == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("gatehouse serve exited: %s", out.String())
			}
			out.WriteString(l + "\n")
			if m := regexp.MustCompile(`Gatehouse API on (http://[0-9.:]+)/client/v4`).FindStringSubmatch(l); m != nil {
				g.api = m[1]
			}
			if m := regexp.MustCompile(`Gatehouse edge on (http://[0-9.:]+)`).FindStringSubmatch(l); m != nil {
				g.edge = m[1]
			}
			if m := regexp.MustCompile(`account id: ([0-9a-f]{32})`).FindStringSubmatch(l); m != nil {
				g.account = m[1]
			}
			if m := regexp.MustCompile(`admin token: (ghat_[0-9a-f]{64})`).FindStringSubmatch(l); m != nil {
				g.token = m[1]
			}
		case <-deadline:
			t.Fatalf("gatehouse serve did not start: %s", out.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return g
}

func union(ms ...map[string]any) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			out[k] = true
		}
	}
	return out
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// call makes an API request and decodes the envelope's result into v.
func (g gatehouse) call(t *testing.T, method, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(method, g.api+"/client/v4/accounts/"+g.account+path, nil)
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == 200 {
		var env struct{ Result json.RawMessage }
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, body)
		}
		if err := json.Unmarshal(env.Result, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, body)
		}
	}
	return resp.StatusCode
}

// workspace is a Terraform working directory using the provider built
// from source through dev_overrides (no registry, no terraform init).
type workspace struct {
	t        *testing.T
	dir, bin string
	env      []string
	vars     map[string]any
}

func newWorkspace(t *testing.T, tf, providerDir string, g gatehouse) *workspace {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cli.tfrc")
	writeFile(t, cfg, fmt.Sprintf(`provider_installation {
  dev_overrides {
    "cloudflare/cloudflare" = %q
  }
  direct {}
}
`, providerDir))
	main, err := os.ReadFile("testdata/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "main.tf"), string(main))
	w := &workspace{t: t, dir: dir, bin: tf,
		env: append(os.Environ(), "TF_CLI_CONFIG_FILE="+cfg, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1",
			"TF_INPUT=0", "NO_COLOR=1", "HOME="+dir),
		vars: map[string]any{
			"base_url": g.api + "/client/v4", "api_token": g.token, "account_id": g.account,
			"zone": "tf.gatehouse.test", "cors_origins": []string{"https://app.example.com"},
			"client_ca_pem": gatehousetest.NewTestCA(t).PEM(),
		}}
	w.writeVars()
	return w
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (w *workspace) writeVars() {
	b, _ := json.Marshal(w.vars)
	writeFile(w.t, filepath.Join(w.dir, "terraform.tfvars.json"), string(b))
}

// run runs terraform with args and returns its output and exit code.
func (w *workspace) run(args ...string) (string, int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if len(args) > 0 && args[0] != "show" && args[0] != "state" {
		args = append(args[:1:1], append([]string{"-no-color"}, args[1:]...)...)
	}
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Dir, cmd.Env = w.dir, w.env
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), 0
}

// must runs terraform and fails the test unless it exits 0.
func (w *workspace) must(args ...string) string {
	w.t.Helper()
	out, code := w.run(args...)
	if code != 0 {
		w.t.Fatalf("terraform %s exited %d:\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// noChanges fails the test when a plan is not empty, showing the plan.
func (w *workspace) noChanges(when string) {
	w.t.Helper()
	out, code := w.run("plan", "-detailed-exitcode", "-input=false")
	if code != 0 {
		w.t.Errorf("%s: terraform plan exited %d, want 0 (no changes):\n%s", when, code, out)
	}
}

// state is `terraform show -json`'s resources by address.
func (w *workspace) state() map[string]map[string]any {
	w.t.Helper()
	var s struct {
		Values struct {
			RootModule struct {
				Resources []struct {
					Address string         `json:"address"`
					Values  map[string]any `json:"values"`
				} `json:"resources"`
			} `json:"root_module"`
		} `json:"values"`
	}
	if err := json.Unmarshal([]byte(w.must("show", "-json")), &s); err != nil {
		w.t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, r := range s.Values.RootModule.Resources {
		out[r.Address] = r.Values
	}
	return out
}

// preflight sends a CORS preflight for host to the edge.
func preflight(t *testing.T, edge, host, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, edge+"/", nil)
	req.Host = host
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "PUT")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestTerraformProviderDrivesGatehouse(t *testing.T) {
	tf, providerDir := os.Getenv("GATEHOUSE_TERRAFORM"), os.Getenv("GATEHOUSE_TF_PROVIDER_DIR")
	if tf == "" || providerDir == "" {
		t.Skip("set GATEHOUSE_TERRAFORM and GATEHOUSE_TF_PROVIDER_DIR (make test-terraform builds them)")
	}
	g := startServe(t)
	w := newWorkspace(t, tf, providerDir, g)

	// Apply, then a plan right after finds nothing to change.
	w.must("apply", "-auto-approve", "-input=false")
	w.noChanges("after apply")

	// The edge enforces the applied CORS settings, and a change of them.
	api := "api.tf.gatehouse.test"
	waitPreflight := func(origin string, allowed bool) {
		t.Helper()
		var resp *http.Response
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			resp = preflight(t, g.edge, api, origin)
			if (resp.Header.Get("Access-Control-Allow-Origin") == origin) == allowed {
				return
			}
		}
		t.Fatalf("preflight from %s: status %d, Access-Control-Allow-Origin %q; want allowed=%v",
			origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), allowed)
	}
	waitPreflight("https://app.example.com", true)
	waitPreflight("https://new.example.com", false)
	w.vars["cors_origins"] = []string{"https://app.example.com", "https://new.example.com"}
	w.writeVars()
	w.must("apply", "-auto-approve", "-input=false")
	waitPreflight("https://new.example.com", true)
	if resp := preflight(t, g.edge, api, "https://new.example.com"); resp.StatusCode != http.StatusNoContent ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" || resp.Header.Get("Access-Control-Max-Age") != "600" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PUT") {
		t.Errorf("preflight after the change: %d %v", resp.StatusCode, resp.Header)
	}
	w.noChanges("after the CORS change")

	// Every resource type imports to a state that plans no changes.
	st := w.state()
	imports := map[string]string{}
	for addr, v := range st {
		id, _ := v["id"].(string)
		switch {
		case strings.HasPrefix(addr, "cloudflare_zero_trust_organization."):
			imports[addr] = g.account
		case strings.HasPrefix(addr, "cloudflare_zero_trust_access_policy."):
			imports[addr] = g.account + "/" + id
		default:
			imports[addr] = "accounts/" + g.account + "/" + id
		}
	}
	addrs := make([]string, 0, len(imports))
	for a := range imports {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	types := map[string]bool{}
	for _, addr := range addrs {
		types[strings.Split(addr, ".")[0]] = true
		w.must("state", "rm", addr)
		w.must("import", "-input=false", addr, imports[addr])
	}
	if len(types) != 7 {
		t.Errorf("imported %d resource types (%v), want 7", len(types), types)
	}
	// Right after the import, the plan changes nothing but what the
	// provider itself never reads back from any server (Cloudflare's
	// included): a service token's client_secret_version and an mTLS
	// certificate's PEM (no_refresh in its models), an OIDC client secret
	// (write-only), and an app's legacy inline policies (its import keeps
	// only their ids). Everything Gatehouse returns matches.
	w.must("plan", "-input=false", "-out=import.plan")
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Type    string `json:"type"`
			Change  struct {
				Actions     []string       `json:"actions"`
				Before      map[string]any `json:"before"`
				After       map[string]any `json:"after"`
				AfterUnkown map[string]any `json:"after_unknown"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(w.must("show", "-json", "import.plan")), &plan); err != nil {
		t.Fatal(err)
	}
	neverRead := map[string][]string{
		"cloudflare_zero_trust_access_service_token":     {"client_secret_version", "client_secret", "expires_at"},
		"cloudflare_zero_trust_access_mtls_certificate":  {"certificate", "id", "fingerprint", "expires_on"},
		"cloudflare_zero_trust_access_identity_provider": {"config"},
		"cloudflare_zero_trust_access_application":       {"policies"},
	}
	for _, rc := range plan.ResourceChanges {
		if slices.Equal(rc.Change.Actions, []string{"no-op"}) {
			continue
		}
		for k := range union(rc.Change.Before, rc.Change.After, rc.Change.AfterUnkown) {
			if unknown, _ := rc.Change.AfterUnkown[k].(bool); jsonEqual(rc.Change.Before[k], rc.Change.After[k]) && !unknown {
				continue
			}
			if !slices.Contains(neverRead[rc.Type], k) {
				t.Errorf("after import, %s plans a change of %s: %v -> %v", rc.Address, k, rc.Change.Before[k], rc.Change.After[k])
			}
		}
		switch rc.Type {
		case "cloudflare_zero_trust_access_identity_provider":
			before, _ := rc.Change.Before["config"].(map[string]any)
			after, _ := rc.Change.After["config"].(map[string]any)
			for k := range union(before, after) {
				if k != "client_secret" && !jsonEqual(before[k], after[k]) {
					t.Errorf("after import, %s plans a change of config.%s: %v -> %v", rc.Address, k, before[k], after[k])
				}
			}
		case "cloudflare_zero_trust_access_application":
			if rc.Address != "cloudflare_zero_trust_access_application.paths" && !jsonEqual(rc.Change.Before["policies"], rc.Change.After["policies"]) {
				t.Errorf("after import, %s plans a change of its (linked) policies", rc.Address)
			}
		}
	}
	// Applying that converges: nothing is left to change.
	w.must("apply", "-input=false", "import.plan")
	w.noChanges("after importing every resource and applying")

	// A resource deleted behind Terraform's back is re-created.
	spare := st["cloudflare_zero_trust_access_service_token.spare"]["id"].(string)
	if code := g.call(t, http.MethodDelete, "/access/service_tokens/"+spare, nil); code != 200 {
		t.Fatalf("delete the spare token: %d", code)
	}
	out, code := w.run("plan", "-detailed-exitcode", "-input=false")
	if code != 2 || !strings.Contains(out, "cloudflare_zero_trust_access_service_token.spare will be created") {
		t.Errorf("plan after an out-of-band delete exited %d, want 2 with the token re-created:\n%s", code, out)
	}
	w.must("apply", "-auto-approve", "-input=false")
	w.noChanges("after re-creating")

	// Destroy leaves nothing behind.
	w.must("destroy", "-auto-approve", "-input=false")
	for _, path := range []string{"/access/apps", "/access/policies", "/access/service_tokens", "/access/identity_providers", "/access/groups", "/access/certificates"} {
		var list []json.RawMessage
		if code := g.call(t, http.MethodGet, path, &list); code != 200 || len(list) != 0 {
			t.Errorf("after destroy, GET %s: %d with %d left", path, code, len(list))
		}
	}
}
