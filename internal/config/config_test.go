package config

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

type flags struct {
	addr, dbURL string
	timeout     time.Duration
	noEdge      bool
	maxRows     int64
	proxies     []string
	fs          *pflag.FlagSet
}

func newFlags() *flags {
	f := &flags{fs: pflag.NewFlagSet("serve", pflag.ContinueOnError)}
	f.fs.StringVar(&f.addr, "api-addr", "127.0.0.1:8080", "")
	f.fs.StringVar(&f.dbURL, "database-url", "", "")
	f.fs.DurationVar(&f.timeout, "db-timeout", 5*time.Second, "")
	f.fs.BoolVar(&f.noEdge, "no-edge", false, "")
	f.fs.Int64Var(&f.maxRows, "log-max-rows", 10, "")
	f.fs.StringSliceVar(&f.proxies, "trusted-proxy", nil, "")
	f.fs.String("config", "", "")
	return f
}

func noEnv(string) string { return "" }

func TestEveryFlagIsAKeyOfItsType(t *testing.T) {
	f := newFlags()
	err := Apply(f.fs, "g.yaml", []byte(`
api-addr: 0.0.0.0:9090
database-url: postgres://db/gatehouse
db-timeout: 1m30s
no-edge: true
log-max-rows: 42
trusted-proxy: [10.0.0.0/8, 192.168.0.0/16]
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if f.addr != "0.0.0.0:9090" || f.dbURL != "postgres://db/gatehouse" || f.timeout != 90*time.Second || !f.noEdge || f.maxRows != 42 ||
		strings.Join(f.proxies, " ") != "10.0.0.0/8 192.168.0.0/16" {
		t.Fatalf("not applied: %+v", f)
	}
	if !f.fs.Changed("api-addr") {
		t.Error("a flag set from the file is not marked changed")
	}
}

func TestListsAsCommaStrings(t *testing.T) {
	f := newFlags()
	if err := Apply(f.fs, "g.yaml", []byte("trusted-proxy: 10.0.0.0/8,192.168.0.0/16\n"), noEnv); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.proxies, " ") != "10.0.0.0/8 192.168.0.0/16" {
		t.Fatalf("proxies %q", f.proxies)
	}
}

func TestFlagAndEnvWinOverTheFile(t *testing.T) {
	f := newFlags()
	if err := f.fs.Parse([]string{"--api-addr", "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GATEHOUSE_DB_TIMEOUT": "7s", "DATABASE_URL": "postgres://env/db"}
	// The flag's default already holds the environment's value (cmd/gatehouse reads it).
	f.timeout = 7 * time.Second
	f.dbURL = "postgres://env/db"
	err := Apply(f.fs, "g.yaml", []byte("api-addr: 0.0.0.0:2\ndb-timeout: 9s\ndatabase-url: postgres://file/db\nlog-max-rows: 3\n"),
		func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if f.addr != "127.0.0.1:1" || f.timeout != 7*time.Second || f.dbURL != "postgres://env/db" || f.maxRows != 3 {
		t.Fatalf("precedence flag > env > file > default broken: %+v", f)
	}
}

func TestNullKeepsTheDefaultAndEmptyFilesAreFine(t *testing.T) {
	for _, doc := range []string{"", "# only a comment\n", "api-addr:\n", "api-addr: ~\n"} {
		f := newFlags()
		if err := Apply(f.fs, "g.yaml", []byte(doc), noEnv); err != nil {
			t.Errorf("%q: %v", doc, err)
		}
		if f.addr != "127.0.0.1:8080" {
			t.Errorf("%q: api-addr %q", doc, f.addr)
		}
	}
}

func TestBadFilesNameTheKey(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"api-adr: x\n", `line 1: key "api-adr": unknown key (did you mean "api-addr"?)`},
		{"api_addr: x\n", `key "api_addr": unknown key (did you mean "api-addr"?)`},
		{"colour: blue\n", `key "colour": unknown key (it is not a flag of this command)`},
		{"config: other.yaml\n", `key "config": unknown key`},
		{"help: true\n", `key "help": unknown key`},
		{"api-addr: x\ndb-timeout: five\n", `line 2: key "db-timeout": not a valid duration (such as 5s, 1m30s or 720h)`},
		{"db-timeout: 5\n", `key "db-timeout": not a valid duration`},
		{"no-edge: maybe\n", `key "no-edge": not a valid boolean (true or false)`},
		{"log-max-rows: many\n", `key "log-max-rows": not a valid whole number`},
		{"api-addr: [a, b]\n", `key "api-addr": a list, but the flag takes one string`},
		{"api-addr: {host: a}\n", `key "api-addr": a mapping, but the flag takes string`},
		{"trusted-proxy: [[a]]\n", `key "trusted-proxy": every item of the list must be a single value`},
		{"api-addr: a\napi-addr: b\n", `line 2: key "api-addr": given twice (first on line 1)`},
		{"- api-addr: a\n", `must be a mapping of flag names to values`},
		{"api-addr: [\n", `config file g.yaml: `},
	} {
		f := newFlags()
		err := Apply(f.fs, "g.yaml", []byte(tc.doc), noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.doc, err, tc.want)
		}
	}
}

func TestEnvNames(t *testing.T) {
	for flag, want := range map[string]string{
		"database-url": "DATABASE_URL", "api-addr": "GATEHOUSE_API_ADDR", "config": "GATEHOUSE_CONFIG",
		"metrics-allow-remote": "GATEHOUSE_METRICS_ALLOW_REMOTE",
	} {
		if got := EnvName(flag); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flag, got, want)
		}
	}
}
