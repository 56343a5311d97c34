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

	checkNoDatabasesLeft(t, url)
}

func checkNoDatabasesLeft(t *testing.T, url string) {
	t.Helper()
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

// TestScaleRunsTinyAndPrintsEveryFigure runs the scale harness on a tiny
// large configuration, with gatehouse edge built and run as a process.
func TestScaleRunsTinyAndPrintsEveryFigure(t *testing.T) {
	url := gatehousetest.DatabaseURL(t)
	out, logs, err := edgebench(t, map[string]string{"DATABASE_URL": url},
		"-scale", "-scale-apps", "40", "-scale-tokens", "200", "-scale-base-apps", "4", "-scale-changes", "4", "-scale-burst", "4",
		"-scale-load", "200ms", "-warmup", "0", "-concurrency", "2", "-scale-list-samples", "1", "-scale-settle", "50ms")
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out, logs)
	}
	for _, want := range []string{"small: 4 apps, 20 service tokens, 1 apps on one reusable policy", "large: 40 apps, 200 service tokens, 4 apps",
		"propagation, 4/4 single changes: p50", "shared policy update: p50", "revocation: max", "burst of 4 writes: edge CPU",
		"edge RSS steady", "edge start, from the database", "edge start, from its state directory", "API list service tokens, page 1",
		"last page (1 / 5)", "edge throughput, service token"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAILED") {
		t.Errorf("a measurement failed:\n%s", out)
	}
	checkNoDatabasesLeft(t, url)
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
		{"fail/scale shared apps", map[string]string{"DATABASE_URL": "postgres://x"}, []string{"-scale", "-scale-apps", "100", "-scale-shared", "100"}, "-scale-shared 100"},
		{"fail/scale smaller than its base", map[string]string{"DATABASE_URL": "postgres://x"}, []string{"-scale", "-scale-apps", "5"}, "-scale-apps 5"},
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
