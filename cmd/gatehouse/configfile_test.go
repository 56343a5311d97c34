package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v4"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/version"
)

const exampleConfig = "../../deploy/gatehouse.example.yaml"

// commandFlags returns the flags a config file for `gatehouse NAME` may
// set, as the command sees them when it runs.
func commandFlags(t *testing.T, name string) *pflag.FlagSet {
	t.Helper()
	root := newRootCommand(context.Background(), func(string) string { return "" }, io.Discard, io.Discard)
	cmd, _, err := root.Find([]string{name})
	if err != nil || cmd.Name() != name {
		t.Fatalf("no command %s: %v", name, err)
	}
	return configFlags(cmd)
}

func TestEveryServeAndEdgeFlagNamesItsDerivedEnvironmentVariable(t *testing.T) {
	envRe := regexp.MustCompile(`\(env ([A-Z0-9_]+)`)
	for _, name := range []string{"serve", "edge"} {
		fs := commandFlags(t, name)
		n := 0
		fs.VisitAll(func(f *pflag.Flag) {
			n++
			m := envRe.FindStringSubmatch(f.Usage)
			if want := config.EnvName(f.Name); m == nil || m[1] != want {
				t.Errorf("%s --%s: help %q should name its environment variable %s as \"(env %s\"", name, f.Name, f.Usage, want, want)
			}
		})
		if n < 20 {
			t.Fatalf("%s: only %d flags seen", name, n)
		}
	}
}

// uncommented returns the example file with every commented-out key
// ("# key: value") turned into a setting.
func uncommented(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	return regexp.MustCompile(`(?m)^# ([a-z][a-z0-9-]*:.*)$`).ReplaceAll(data, []byte("$1"))
}

func TestExampleConfigNamesEveryFlagAndLoads(t *testing.T) {
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	for _, name := range []string{"serve", "edge"} {
		commandFlags(t, name).VisitAll(func(f *pflag.Flag) {
			if !regexp.MustCompile(`(?m)^(# )?` + regexp.QuoteMeta(f.Name) + `:`).Match(data) {
				t.Errorf("%s: %s has no key %s (commented out or not): add it", exampleConfig, name, f.Name)
			}
		})
	}
	if err := config.Apply(commandFlags(t, "serve"), exampleConfig, data, noEnv); err != nil {
		t.Fatalf("the example as it is: %v", err)
	}
	all := uncommented(t)
	fs := commandFlags(t, "serve")
	if err := config.Apply(fs, exampleConfig, all, noEnv); err != nil {
		t.Fatalf("the example with every key set: %v", err)
	}
	if got := fs.Lookup("db-timeout").Value.String(); got != "5s" {
		t.Errorf("db-timeout from the example: %s", got)
	}
	// An edge's file holds the edge's keys alone: those of serve alone
	// are refused, by name.
	err = config.Apply(commandFlags(t, "edge"), exampleConfig, all, noEnv)
	if err == nil || !strings.Contains(err.Error(), `key "local-postgres": unknown key`) {
		t.Errorf("edge with serve's keys: %v", err)
	}
}

// TestKubernetesConfigMapsLoad loads every config file in the Kubernetes
// ConfigMaps with the real loader, for the command its name says
// (serve.yaml, edge.yaml).
func TestKubernetesConfigMapsLoad(t *testing.T) {
	files, err := filepath.Glob("../../deploy/kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	seen := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		for {
			var obj struct {
				Kind     string `yaml:"kind"`
				Metadata struct{ Name string }
				Data     map[string]string `yaml:"data"`
			}
			if err := dec.Decode(&obj); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if obj.Kind != "ConfigMap" {
				continue
			}
			for key, content := range obj.Data {
				cmd := strings.TrimSuffix(key, ".yaml")
				if cmd != "serve" && cmd != "edge" {
					t.Errorf("%s: ConfigMap %s: key %s is neither serve.yaml nor edge.yaml", file, obj.Metadata.Name, key)
					continue
				}
				if err := config.Apply(commandFlags(t, cmd), file+":"+key, []byte(content), func(string) string { return "" }); err != nil {
					t.Errorf("%v", err)
				}
				seen++
			}
		}
	}
	if seen < 2 {
		t.Errorf("found %d config files in ConfigMaps, want serve.yaml and edge.yaml", seen)
	}
}

// TestServeRunsFromAConfigFile runs serve configured by a file, with a
// flag and an environment variable overriding keys of it, and finds its
// edge reporting this build in its heartbeat.
func TestServeRunsFromAConfigFile(t *testing.T) {
	url := gatehousetest.NewDatabase(t)
	file := filepath.Join(t.TempDir(), "gatehouse.yaml")
	content := "database-url: " + url + "\napi-addr: 127.0.0.1:0\nedge-addr: 127.0.0.1:0\n" +
		"master-key: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\nlog-format: text\nbootstrap: false\nmigrate: true\nreload-interval: 250ms\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GATEHOUSE_CONFIG": file, "GATEHOUSE_LOG_FORMAT": "json"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--bootstrap"}, func(k string) string { return env[k] }, &out, &logs)
	}()
	addrRe := regexp.MustCompile(`Gatehouse API on (http://[0-9.:]+)/client/v4`)
	var base string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && base == ""; time.Sleep(20 * time.Millisecond) {
		if m := addrRe.FindStringSubmatch(out.String()); m != nil && strings.Contains(out.String(), "Gatehouse edge on") {
			base = m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s\n%s", err, out.String(), logs.String())
		default:
		}
	}
	if base == "" {
		t.Fatalf("serve did not start: %s\n%s", out.String(), logs.String())
	}
	// --bootstrap on the command line wins over bootstrap: false.
	m := regexp.MustCompile(`account id: ([0-9a-f]{32})\n  admin token: (ghat_[0-9a-f]{64})`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the flag did not override the file's bootstrap: false: %s", out.String())
	}
	// GATEHOUSE_LOG_FORMAT=json wins over log-format: text.
	if !strings.Contains(logs.String(), `"msg":"api listening"`) {
		t.Errorf("the environment did not override the file's log-format: %s", logs.String())
	}
	want := version.Get().Short()
	var edges []access.EdgeStatus
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest("GET", base+"/client/v4/accounts/"+m[1]+"/gatehouse/edges", nil)
		req.Header.Set("Authorization", "Bearer "+m[2])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Result access.EdgeList }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if edges = body.Result.Edges; len(edges) > 0 {
			break
		}
	}
	if len(edges) != 1 || edges[0].Version != want || want == "" {
		t.Errorf("edges %+v, want one reporting version %q", edges, want)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not shut down")
	}
}

func TestBadConfigFilesStopTheBinaryNamingTheKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"serve", "--config", write("typo.yaml", "api-adr: 127.0.0.1:8080\n")}, nil,
			`typo.yaml, line 1: key "api-adr": unknown key (did you mean "api-addr"?)`},
		{[]string{"serve"}, []string{"GATEHOUSE_CONFIG=" + write("type.yaml", "\ndb-timeout: 5\n")},
			`type.yaml, line 2: key "db-timeout": not a valid duration`},
		{[]string{"edge", "--config", write("serve-only.yaml", "no-edge: true\n")}, nil,
			`key "no-edge": unknown key`},
		{[]string{"edge", "--config", filepath.Join(dir, "missing.yaml")}, nil, "config file: open"},
	} {
		r := cliWithEnv(t, append([]string{"DATABASE_URL="}, tc.env...), "", tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("gatehouse %v: exit %d, stderr %q; want it to contain %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// TestNoFlagHelpHasBackQuotes: pflag shows a back-quoted word of a help
// text as the flag's value (--master-key gatehouse keys generate-master).
func TestNoFlagHelpHasBackQuotes(t *testing.T) {
	root := newRootCommand(context.Background(), func(string) string { return "" }, io.Discard, io.Discard)
	var walk func(*cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				n++
				if strings.Contains(f.Usage, "`") {
					t.Errorf("gatehouse %s --%s: help has a back quote, shown as the flag's value: %q", c.CommandPath(), f.Name, f.Usage)
				}
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 50 {
		t.Fatalf("saw only %d flags", n)
	}
	r := cliWithEnv(t, nil, "", "serve", "--help")
	if !regexp.MustCompile(`--master-key string +base64`).MatchString(r.stdout) {
		t.Errorf("serve --help: %s", r.stdout)
	}
}

func TestHelpDoesNotPrintSecretsFromTheEnvironment(t *testing.T) {
	secrets := map[string]string{
		"GATEHOUSE_MASTER_KEY":    "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"GATEHOUSE_SMTP_PASSWORD": "smtp-secret-value",
		"DATABASE_URL":            "postgres://u:db-secret-value@h/db",
	}
	for _, args := range [][]string{{"serve", "--help"}, {"edge", "--help"}, {"token", "create", "--help"}} {
		out, err := gatehouse(t, secrets, args...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "--database-url") {
			t.Fatalf("%v: no help: %s", args, out)
		}
		for _, v := range secrets {
			if strings.Contains(out, v) {
				t.Errorf("%v prints %q", args, v)
			}
		}
	}
}
