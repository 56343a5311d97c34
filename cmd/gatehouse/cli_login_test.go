package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestCLILoginSavesProfilesUsedWhenNoFlagOrEnvironmentIs runs login,
// profiles and logout, and the API commands with what they saved: a flag
// beats the environment, which beats the profile.
func TestCLILoginSavesProfilesUsedWhenNoFlagOrEnvironmentIs(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	cfgHome := t.TempDir()
	bare := []string{"XDG_CONFIG_HOME=" + cfgHome, "GATEHOUSE_URL=", "GATEHOUSE_TOKEN=", "GATEHOUSE_ACCOUNT="}
	run := func(stdin string, extraEnv []string, args ...string) cliResult {
		t.Helper()
		return cliWithEnv(t, append(append([]string{}, bare...), extraEnv...), stdin, args...)
	}
	file := filepath.Join(cfgHome, "gatehouse", "config.yaml")

	// Nothing set: the error says how to set it.
	if r := run("", nil, "apps", "list"); r.code != 1 || !strings.Contains(r.stderr, "gatehouse login") {
		t.Errorf("no settings: exit %d: %s", r.code, r.stderr)
	}
	// A bad token is refused and nothing is saved.
	if r := run("", nil, "login", "--url", api.URL, "--token", "ghat_wrong"); r.code != 2 || !strings.Contains(r.stderr, "401") {
		t.Errorf("login with a bad token: exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("a refused login wrote %s: %v", file, err)
	}
	// An account the token cannot use is refused.
	if r := run("", nil, "login", "--url", api.URL, "--token", api.Token, "--account", "0123456789abcdef0123456789abcdef"); r.code != 1 || !strings.Contains(r.stderr, api.AccountID) {
		t.Errorf("login for another account: exit %d: %s", r.code, r.stderr)
	}

	// The token comes from stdin; the account is the token's.
	r := run(api.Token+"\n", nil, "login", "--url", api.URL+"/client/v4", "--token", "-")
	if r.code != 0 || !strings.Contains(r.stdout, `profile "default"`) || !strings.Contains(r.stdout, api.AccountID) {
		t.Fatalf("login: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v mode %v", err, st.Mode())
	}
	if dir, err := os.Stat(filepath.Dir(file)); err != nil || dir.Mode().Perm() != 0o700 {
		t.Fatalf("config dir: %v mode %v", err, dir.Mode())
	}
	if r := run("", nil, "apps", "list"); r.code != 0 || !strings.HasPrefix(r.stdout, "ID") {
		t.Errorf("apps list with the default profile: exit %d: %s", r.code, r.stderr)
	}

	// A second, read-only profile, chosen with --profile or GATEHOUSE_PROFILE.
	if r := run("", nil, "login", "--profile", "ro", "--url", api.URL, "--token", api.ReadOnlyToken); r.code != 0 {
		t.Fatalf("login --profile ro: exit %d: %s", r.code, r.stderr)
	}
	for _, r := range []cliResult{
		run("", nil, "service-tokens", "create", "--name", "x", "--profile", "ro"),
		run("", []string{"GATEHOUSE_PROFILE=ro"}, "service-tokens", "create", "--name", "x"),
	} {
		if r.code != 2 || !strings.Contains(r.stderr, "read-only") {
			t.Errorf("write with the read-only profile: exit %d: %s", r.code, r.stderr)
		}
	}
	if r := run("", nil, "apps", "list", "--profile", "nope"); r.code != 1 || !strings.Contains(r.stderr, `no profile "nope"`) {
		t.Errorf("unknown profile: exit %d: %s", r.code, r.stderr)
	}
	// profiles lists both, marks the one in use, and never prints a token.
	r = run("", []string{"GATEHOUSE_PROFILE=ro"}, "profiles")
	if r.code != 0 || strings.Contains(r.stdout, "ghat_") || !strings.Contains(r.stdout, "* ") ||
		!strings.Contains(r.stdout, "default") || !strings.Contains(r.stdout, api.URL) {
		t.Errorf("profiles: exit %d\n%s", r.code, r.stdout)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "*") && !strings.Contains(line, " ro ") {
			t.Errorf("profiles marks %q, want ro", line)
		}
	}

	// Precedence: the environment beats the profile, a flag beats both.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	if r := run("", []string{"GATEHOUSE_URL=" + closed}, "apps", "list"); r.code != 3 || !strings.Contains(r.stderr, "cannot reach") {
		t.Errorf("GATEHOUSE_URL over the profile: exit %d: %s", r.code, r.stderr)
	}
	if r := run("", []string{"GATEHOUSE_URL=" + closed}, "apps", "list", "--url", api.URL); r.code != 0 {
		t.Errorf("--url over GATEHOUSE_URL: exit %d: %s", r.code, r.stderr)
	}
	if r := run("", []string{"GATEHOUSE_TOKEN=ghat_wrong"}, "apps", "list"); r.code != 2 || !strings.Contains(r.stderr, "401") {
		t.Errorf("GATEHOUSE_TOKEN over the profile: exit %d: %s", r.code, r.stderr)
	}

	// keys rotate goes through the API of the profile, not the database
	// (this API runs without a master key, so it answers 503 saying so).
	if r := run("", nil, "keys", "rotate"); r.code != 3 || !strings.Contains(r.stderr, "master key") {
		t.Errorf("keys rotate with a profile: exit %d: %s", r.code, r.stderr)
	}

	// logout forgets the profile; the file stays 0600.
	if r := run("", nil, "logout"); r.code != 0 {
		t.Fatalf("logout: exit %d: %s", r.code, r.stderr)
	}
	if r := run("", nil, "apps", "list"); r.code != 1 || !strings.Contains(r.stderr, "no API URL") {
		t.Errorf("after logout: exit %d: %s", r.code, r.stderr)
	}
	if r := run("", nil, "logout"); r.code != 1 {
		t.Errorf("logout twice: exit %d", r.code)
	}
	data, err := os.ReadFile(file)
	if err != nil || strings.Contains(string(data), api.Token) || !strings.Contains(string(data), api.ReadOnlyToken) {
		t.Errorf("after logout the file holds:\n%s", data)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("config file after logout: %v %v", err, st.Mode())
	}
}

// TestCLIInfersTheAccountFromTheToken: without --account or
// GATEHOUSE_ACCOUNT the CLI uses the token's one account.
func TestCLIInfersTheAccountFromTheToken(t *testing.T) {
	api := gatehousetest.NewAPI(t)
	r := cliWithEnv(t, []string{"GATEHOUSE_URL=" + api.URL, "GATEHOUSE_TOKEN=" + api.Token, "GATEHOUSE_ACCOUNT="}, "", "service-tokens", "create", "--name", "inferred")
	if r.code != 0 {
		t.Fatalf("without an account: exit %d: %s", r.code, r.stderr)
	}
	if out := ok(t, api, "", "service-tokens", "list"); !strings.Contains(out, "inferred") {
		t.Errorf("the token was not created in the token's account:\n%s", out)
	}
}

// TestCLIRefusesToGuessBetweenAccounts: when GET /accounts lists several
// accounts (Gatehouse's own tokens have one; this server stands in for an
// API whose tokens span several), the CLI lists them and asks.
func TestCLIRefusesToGuessBetweenAccounts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/client/v4/accounts" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(`{"success":true,"errors":[],"messages":[],"result":[{"id":"aaaa","name":"one"},{"id":"bbbb","name":"two"}]}`))
	}))
	t.Cleanup(srv.Close)
	r := cliWithEnv(t, []string{"GATEHOUSE_URL=" + srv.URL, "GATEHOUSE_TOKEN=ghat_x", "GATEHOUSE_ACCOUNT="}, "", "apps", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "aaaa  one") || !strings.Contains(r.stderr, "bbbb  two") || !strings.Contains(r.stderr, "--account") {
		t.Errorf("two accounts: exit %d: %s", r.code, r.stderr)
	}
}
