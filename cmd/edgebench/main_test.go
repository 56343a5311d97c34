package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestMain(m *testing.M) { gatehousetest.Main(m) }

func edgebench(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestRunMeasuresEveryTargetAndDropsItsDatabase(t *testing.T) {
	url := gatehousetest.DatabaseURL(t)
	out, logs, err := edgebench(t, map[string]string{"DATABASE_URL": url},
		"-duration", "100ms", "-rounds", "1", "-warmup", "0", "-concurrency", "2", "-writes", "3",
		"-targets", strings.Join(targetNames, ","))
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out, logs)
	}
	for _, want := range []string{"bare reverse proxy ", "bare reverse proxy + cookie", "edge (session cookie)", "edge (service token)",
		"edge (CORS preflight)", "ratio", "edge (session cookie, access log on)", "of the edge without the log", "rows/s written", "propagation (API write -> edge enforces), 3 writes: p50"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FLAGGED") {
		t.Errorf("requests failed:\n%s", out)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var left int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname LIKE 'edgebench\_%'`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d benchmark databases left behind", left)
	}
}

func TestBadConfigurationIsRefusedBeforeAnythingStarts(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"fail/no database", nil, nil, "DATABASE_URL"},
		{"fail/zero concurrency", map[string]string{"DATABASE_URL": "postgres://x"}, []string{"-concurrency", "0"}, "-concurrency 0"},
		{"fail/unknown target", map[string]string{"DATABASE_URL": "postgres://x"}, []string{"-targets", "bare,nginx"}, `unknown target "nginx"`},
		{"fail/slices too short", map[string]string{"DATABASE_URL": "postgres://x"}, []string{"-duration", "1s", "-rounds", "20"}, "-rounds 20"},
		{"fail/stray argument", map[string]string{"DATABASE_URL": "postgres://x"}, []string{"go"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := edgebench(t, tt.env, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("printed %q before refusing", out)
			}
		})
	}
}
