package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// TestFirstRunPrintsTheLinesToPaste starts `gatehouse serve --bootstrap`
// on an empty database and pastes the export line it prints: the CLI then
// reaches the new account with no other setting.
func TestFirstRunPrintsTheLinesToPaste(t *testing.T) {
	db := gatehousetest.NewDatabase(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// Listening on every interface, the URL to paste is loopback's.
	port := addr[strings.LastIndex(addr, ":")+1:]
	cmd := exec.Command(buildCLI(t), "serve", "--bootstrap", "--no-edge", "--database-url", db, "--api-addr", "0.0.0.0:"+port)
	cmd.Env = append(os.Environ(), "GATEHOUSE_URL=", "GATEHOUSE_TOKEN=", "GATEHOUSE_ACCOUNT=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var printed []string
	var export, login string
	timeout := time.After(60 * time.Second)
	for export == "" || login == "" || !strings.Contains(strings.Join(printed, "\n"), "Gatehouse API on") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited; printed:\n%s", strings.Join(printed, "\n"))
			}
			printed = append(printed, l)
			if s := strings.TrimSpace(l); strings.HasPrefix(s, "export ") {
				export = s
			} else if strings.HasPrefix(s, "gatehouse login ") {
				login = s
			}
		case <-timeout:
			t.Fatalf("no export line; printed:\n%s", strings.Join(printed, "\n"))
		}
	}
	m := regexp.MustCompile(`^export GATEHOUSE_URL=(\S+) GATEHOUSE_TOKEN=(ghat_[0-9a-f]{64}) GATEHOUSE_ACCOUNT=([0-9a-f]{32})$`).FindStringSubmatch(export)
	if m == nil || m[1] != "http://127.0.0.1:"+port {
		t.Fatalf("export line %q", export)
	}
	if login != "gatehouse login --url "+m[1]+" --token "+m[2] {
		t.Errorf("login line %q", login)
	}
	r := cliWithEnv(t, []string{"GATEHOUSE_URL=" + m[1], "GATEHOUSE_TOKEN=" + m[2], "GATEHOUSE_ACCOUNT=" + m[3]}, "", "apps", "list")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ID") {
		t.Fatalf("apps list with the pasted environment: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
