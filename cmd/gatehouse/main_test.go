package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestMain(m *testing.M) { gatehousetest.Main(m) }

func gatehouse(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), err
}

func TestBootstrapCommandsPrintOnlyTheValue(t *testing.T) {
	env := map[string]string{"DATABASE_URL": gatehousetest.DatabaseURL(t)}
	out, err := gatehouse(t, env, "account", "create", "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}\n$`).MatchString(out) {
		t.Fatalf("account create printed %q, want the id alone", out)
	}
	id := strings.TrimSpace(out)
	out, err = gatehouse(t, env, "token", "create", "--account", id, "--read-only")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^ghat_[0-9a-f]{64}\n$`).MatchString(out) {
		t.Fatalf("token create printed %q, want the token alone", out)
	}
	st := gatehousetest.Store(t)
	tok, err := st.AuthenticateAPIToken(context.Background(), strings.TrimSpace(out))
	if err != nil || tok.AccountID != id || !tok.ReadOnly {
		t.Fatalf("printed token does not authenticate as a read-only token of %s: %+v %v", id, tok, err)
	}
	if _, err := gatehouse(t, env, "token", "create", "--account", "0123456789abcdef0123456789abcdef"); err == nil {
		t.Error("token for a missing account succeeded")
	}
	if _, err := gatehouse(t, map[string]string{}, "account", "create", "x"); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("without a database: %v", err)
	}
}

func TestMigrateCommands(t *testing.T) {
	url := gatehousetest.NewDatabase(t)
	env := map[string]string{"DATABASE_URL": url}
	if out, err := gatehouse(t, env, "migrate", "version"); err != nil || out != "0\n" {
		t.Fatalf("version on empty database: %q %v", out, err)
	}
	if _, err := gatehouse(t, env, "migrate", "up"); err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatUint(uint64(store.LatestMigration()), 10) + "\n"
	if out, err := gatehouse(t, env, "migrate", "version"); err != nil || out != want {
		t.Fatalf("version after up: %q %v, want %q", out, err, want)
	}
	if _, err := gatehouse(t, env, "migrate", "down", "all"); err != nil {
		t.Fatal(err)
	}
	if out, _ := gatehouse(t, env, "migrate", "version"); out != "0\n" {
		t.Fatalf("version after down: %q", out)
	}
	if _, err := gatehouse(t, env, "migrate", "down", "zero"); err == nil {
		t.Error("bad step count accepted")
	}
}

// syncBuffer is a bytes.Buffer safe to read while serve writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServeBootstrapsMigratesAndShutsDownGracefully(t *testing.T) {
	url := gatehousetest.NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, logs syncBuffer
	env := map[string]string{"DATABASE_URL": url, "GATEHOUSE_API_ADDR": "127.0.0.1:0", "GATEHOUSE_BOOTSTRAP": "true",
		"GATEHOUSE_EDGE_ADDR": "127.0.0.1:0", "GATEHOUSE_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, &out, &logs) }()

	addrRe := regexp.MustCompile(`Gatehouse API on (http://[0-9.:]+)/client/v4`)
	var base string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := addrRe.FindStringSubmatch(out.String()); m != nil && strings.Contains(out.String(), "Gatehouse edge on") {
			base = m[1]
			break
		}
	}
	if base == "" {
		t.Fatalf("serve did not start: %s\n%s", out.String(), logs.String())
	}
	m := regexp.MustCompile(`account id: ([0-9a-f]{32})\n  admin token: (ghat_[0-9a-f]{64})`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("bootstrap did not print an account and token: %s", out.String())
	}
	edgeBase := regexp.MustCompile(`Gatehouse edge on (http://[0-9.:]+)`).FindStringSubmatch(out.String())
	if edgeBase == nil {
		t.Fatalf("serve did not start the edge: %s", out.String())
	}
	resp, err := http.Get(edgeBase[1] + "/cdn-cgi/access/certs")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("edge certs: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(base + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", base+"/client/v4/accounts/"+m[1]+"/access/apps", nil)
	req.Header.Set("Authorization", "Bearer "+m[2])
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin token does not work: %v %v", resp, err)
	}
	resp.Body.Close()
	// The dashboard shares the API's listener, and serve says where.
	if !strings.Contains(out.String(), "Gatehouse dashboard on "+base+"/dashboard/\n") {
		t.Errorf("serve did not print the dashboard URL: %s", out.String())
	}
	resp, err = http.Get(base + "/")
	if err != nil || resp.StatusCode != 200 || resp.Request.URL.Path != "/dashboard/" || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("dashboard: %v %v", resp, err)
	}
	resp.Body.Close()
	if !strings.Contains(logs.String(), `"msg":"api request"`) {
		t.Errorf("no JSON request log line: %s", logs.String())
	}
	if strings.Contains(logs.String(), m[2]) {
		t.Error("the admin token appears in the logs")
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
	// A second start on the same database bootstraps nothing.
	ctx2, cancel2 := context.WithCancel(context.Background())
	var out2 syncBuffer
	go func() {
		done <- run(ctx2, []string{"serve"}, func(k string) string { return env[k] }, &out2, io.Discard)
	}()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !addrRe.MatchString(out2.String()); time.Sleep(20 * time.Millisecond) {
	}
	cancel2()
	<-done
	if strings.Contains(out2.String(), "admin token") {
		t.Errorf("second start bootstrapped again: %s", out2.String())
	}
}
