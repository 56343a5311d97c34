package main

import (
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// buildGatehouse builds the command once for the test, to run it as an
// operator does and see its real exit codes.
func buildGatehouse(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gatehouse")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBinary runs the built command and returns its stdout and exit code.
func runBinary(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), exit.ExitCode()
	}
	t.Fatalf("run %v: %v\n%s", args, err, stderr.String())
	return "", -1
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l+"\n") {
			t.Errorf("output lacks the line %q:\n%s", l, out)
		}
	}
}

func TestCORSCheckCommand(t *testing.T) {
	t.Parallel()
	bin := buildGatehouse(t)
	a := gatehousetest.NewAPI(t)
	edge := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store})
	origin := gatehousetest.StartCORSOrigin(t)
	withCORS, neither := gatehousetest.Host(t, "cors"), gatehousetest.Host(t, "neither")
	for domain, fields := range map[string]map[string]any{
		withCORS: {"cors_headers": map[string]any{"allowed_origins": []string{"https://app.example.test"}, "allowed_methods": []string{"PUT"}, "allow_credentials": true}},
		neither:  {},
	} {
		a.CreateApp(t, domain, origin.URL, fields, map[string]any{"name": "all", "decision": "bypass",
			"include": []any{map[string]any{"everyone": map[string]any{}}}})
	}
	edge.Sync(t, a.Store)
	u, _ := url.Parse(edge.URL)
	target := func(host string) []string {
		return []string{"http://" + host + ":" + u.Port() + "/data", "--host-resolve", host + ":127.0.0.1", "--origin", "https://app.example.test"}
	}

	out, code := runBinary(t, bin, append(append([]string{"cors", "check"}, target(withCORS)...), "-X", "PUT", "--credentials",
		"--cookie", "CF_Authorization=x")...)
	if code != 0 {
		t.Fatalf("allowed request exited %d:\n%s", code, out)
	}
	wantLines(t, out, "preflight needed: method PUT is not CORS-safelisted", "  < 204 No Content",
		"  < Access-Control-Allow-Origin: https://app.example.test", "  > Cookie: CF_Authorization=…",
		"ALLOWED: a browser lets the page read the response")

	out, code = runBinary(t, bin, append(append([]string{"cors", "check"}, target(neither)...), "-X", "PUT", "-H", "X-Custom: 1")...)
	if code != 1 {
		t.Fatalf("blocked request exited %d:\n%s", code, out)
	}
	wantLines(t, out, "preflight needed: method PUT is not CORS-safelisted; header x-custom is not CORS-safelisted",
		"  < 403 Forbidden", "  < edge error: preflight_no_cors_settings",
		"  FAIL preflight got 403: the app has neither CORS settings nor preflight bypass",
		"       fix: set cors_headers (allowed_origins …) or options_preflight_bypass",
		"BLOCKED: a browser would block this request")

	out, code = runBinary(t, bin, append(append([]string{"cors", "check"}, target(withCORS)...), "-X", "DELETE", "-o", "json")...)
	if code != 1 {
		t.Fatalf("json: exit %d:\n%s", code, out)
	}
	var rep struct {
		Allowed   bool
		Exchanges []struct {
			Step     string
			Status   int
			Problems []struct{ Header, Message, Fix string }
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	if rep.Allowed || len(rep.Exchanges) != 1 || rep.Exchanges[0].Step != "preflight" || rep.Exchanges[0].Problems[0].Header != "Access-Control-Allow-Origin" ||
		!strings.Contains(rep.Exchanges[0].Problems[0].Fix, "DELETE in allowed_methods") {
		t.Fatalf("json report %+v", rep)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if out, code := runBinary(t, bin, "cors", "check", "http://"+closed+"/", "--origin", "https://app.example.test"); code != 3 {
		t.Fatalf("network error exited %d:\n%s", code, out)
	}
	if out, code := runBinary(t, bin, "cors", "check", "http://x.test/"); code != 1 || out != "" {
		t.Fatalf("missing --origin exited %d: %q", code, out)
	}
}
