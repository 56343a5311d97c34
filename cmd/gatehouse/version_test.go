package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/version"
)

func TestVersionIsStampedAtBuildTime(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "gatehouse-stamped")
	const pkg = "github.com/gatehouse-dev/gatehouse/internal/version"
	ldflags := "-X " + pkg + ".version=v1.2.3 -X " + pkg + ".commit=0123456789abcdef0123456789abcdef01234567 -X " + pkg + ".date=2026-12-03T11:00:00Z"
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want := "gatehouse v1.2.3\ncommit: 0123456789abcdef0123456789abcdef01234567\nbuilt: 2026-12-03T11:00:00Z\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil || string(out) != want {
			t.Errorf("gatehouse %v: %q %v, want %q", args, out, err, want)
		}
	}
	out, err := exec.Command(bin, "version", "-o", "json").Output()
	var info version.Info
	if err != nil || json.Unmarshal(out, &info) != nil ||
		info != (version.Info{Version: "v1.2.3", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-12-03T11:00:00Z"}) {
		t.Errorf("version -o json: %s %v", out, err)
	}
	// Unstamped, the binary still says what it is.
	r := cliWithEnv(t, nil, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "gatehouse ") || !strings.Contains(r.stdout, "\ncommit: ") {
		t.Errorf("unstamped version: exit %d %q", r.code, r.stdout)
	}
}

func TestHealthcheckExitsZeroOnlyOn200(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":"x"}`))
	}))
	defer srv.Close()
	if r := cliWithEnv(t, nil, "", "healthcheck", srv.URL+"/readyz"); r.code != 0 {
		t.Errorf("200: exit %d %s", r.code, r.stderr)
	}
	status = http.StatusServiceUnavailable
	if r := cliWithEnv(t, nil, "", "healthcheck", srv.URL+"/readyz"); r.code != 1 || !strings.Contains(r.stderr, "503") {
		t.Errorf("503: exit %d %s", r.code, r.stderr)
	}
	srv.Close()
	if r := cliWithEnv(t, nil, "", "healthcheck", "--timeout", "2s", srv.URL+"/readyz"); r.code != 1 {
		t.Errorf("nothing listening: exit %d %s", r.code, r.stderr)
	}
	if r := cliWithEnv(t, nil, "", "healthcheck", "localhost:8080"); r.code != 1 || !strings.Contains(r.stderr, "not an http(s) URL") {
		t.Errorf("bad URL: exit %d %s", r.code, r.stderr)
	}
}
