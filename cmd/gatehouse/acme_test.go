package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// pebbleVersion is the Let's Encrypt test ACME server the ACME test runs.
const pebbleVersion = "v2.10.3"

// skipOrFail skips a test that cannot run here, and fails it in CI.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// goTool runs the go command outside this module (so that the pinned
// Pebble version, not our go.mod, decides its dependencies).
func goTool(t *testing.T, env []string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), append([]string{"GOFLAGS=", "GOWORK=off"}, env...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		skipOrFail(t, "go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// freePort returns a loopback TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startProcess(t *testing.T, env []string, name string, args ...string) *syncBuffer {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return out
}

// waitFor polls until ok or the deadline.
func waitFor(t *testing.T, what string, out *syncBuffer, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("%s did not start: %s", what, out.String())
}

// TestEdgeGetsCertificatesFromACME runs `gatehouse edge --acme` against
// Pebble, Let's Encrypt's test ACME server, offline: pebble-challtestsrv
// answers every DNS name with 127.0.0.1, and Pebble validates on the
// edge's ports. A TLS handshake for an app's host gets a certificate
// issued by Pebble, and so does the public URL's host; an unknown server
// name gets none and makes no order. Pebble's TLS-ALPN-01 port is one
// nothing listens on, so the certificates are issued through HTTP-01,
// answered by the --http-redirect-addr listener.
func TestEdgeGetsCertificatesFromACME(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Pebble")
	}
	bin := t.TempDir()
	goTool(t, []string{"GOBIN=" + bin}, "install",
		"github.com/letsencrypt/pebble/v2/cmd/pebble@"+pebbleVersion,
		"github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@"+pebbleVersion)
	var mod struct{ Dir string }
	if err := json.Unmarshal(goTool(t, nil, "mod", "download", "-json", "github.com/letsencrypt/pebble/v2@"+pebbleVersion), &mod); err != nil || mod.Dir == "" {
		t.Fatalf("pebble module: %v", err)
	}
	minica := filepath.Join(mod.Dir, "test/certs/pebble.minica.pem")

	dnsPort, challMgmt := freePort(t), freePort(t)
	acmePort, acmeMgmt := freePort(t), freePort(t)
	edgePort, redirectPort, noTLSALPN := freePort(t), freePort(t), freePort(t)

	chall := startProcess(t, nil, filepath.Join(bin, "pebble-challtestsrv"),
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort),
		"-management", fmt.Sprintf("127.0.0.1:%d", challMgmt), "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	waitFor(t, "pebble-challtestsrv", chall, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", dnsPort))
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", acmePort),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", acmeMgmt),
		"certificate":                    filepath.Join(mod.Dir, "test/certs/localhost/cert.pem"),
		"privateKey":                     filepath.Join(mod.Dir, "test/certs/localhost/key.pem"),
		"httpPort":                       redirectPort,
		"tlsPort":                        noTLSALPN,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
	}}
	cfgFile := filepath.Join(t.TempDir(), "pebble.json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	pebble := startProcess(t, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}, filepath.Join(bin, "pebble"),
		"-config", cfgFile, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort))
	minicaPEM, err := os.ReadFile(minica)
	if err != nil {
		t.Fatal(err)
	}
	mini := x509.NewCertPool()
	mini.AppendCertsFromPEM(minicaPEM)
	mgmt := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: mini}}, Timeout: 5 * time.Second}
	var rootPEM []byte
	waitFor(t, "pebble", pebble, func() bool {
		resp, err := mgmt.Get(fmt.Sprintf("https://localhost:%d/roots/0", acmeMgmt))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		rootPEM, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == 200
	})
	pebbleRoots := x509.NewCertPool()
	if !pebbleRoots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("pebble's root: %q", rootPEM)
	}

	url := gatehousetest.NewDatabase(t)
	if err := store.MigrateUp(url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), url, store.WithMasterKey(gatehousetest.MasterKey))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := gatehousetest.NewAPIOn(t, st)
	origin := gatehousetest.StartOrigin(t)
	app := gatehousetest.Host(t, "app")
	a.CreateApp(t, app, origin.URL, nil, gatehousetest.Policy("open", "bypass", gatehousetest.Rules(t, `{"everyone":{}}`)))
	auth := gatehousetest.Host(t, "auth")

	edgeURL, stop := startEdgeCommand(t, edgeEnv(url, map[string]string{
		"GATEHOUSE_EDGE_ADDR":          fmt.Sprintf("127.0.0.1:%d", edgePort),
		"GATEHOUSE_HTTP_REDIRECT_ADDR": fmt.Sprintf("127.0.0.1:%d", redirectPort),
		"GATEHOUSE_PUBLIC_URL":         fmt.Sprintf("https://%s:%d", auth, edgePort),
		"GATEHOUSE_ACME":               "true",
		"GATEHOUSE_ACME_DIRECTORY":     fmt.Sprintf("https://localhost:%d/dir", acmePort),
		"GATEHOUSE_ACME_CA_ROOTS":      minica,
		"GATEHOUSE_ACME_CACHE":         t.TempDir(),
		"GATEHOUSE_ACME_EMAIL":         "ops@" + auth,
	}))
	defer stop()
	if !strings.HasPrefix(edgeURL, "https://") {
		t.Fatalf("edge on %s, want https", edgeURL)
	}
	edgeAddr := strings.TrimPrefix(edgeURL, "https://")

	handshake := func(name string) (*x509.Certificate, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		c, err := (&tls.Dialer{NetDialer: d, Config: &tls.Config{ServerName: name, RootCAs: pebbleRoots}}).DialContext(ctx, "tcp", edgeAddr)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
	}
	orders := func() int { return strings.Count(pebble.String(), "Added order") }

	for _, host := range []string{app, auth} {
		leaf, err := handshake(host)
		if err != nil {
			t.Fatalf("handshake for %s: %v\npebble:\n%s", host, err, pebble.String())
		}
		if leaf.VerifyHostname(host) != nil || len(leaf.DNSNames) != 1 {
			t.Errorf("certificate for %s names %v", host, leaf.DNSNames)
		}
	}
	if !strings.Contains(pebble.String(), "set VALID by completed challenge") {
		t.Errorf("pebble validated no challenge:\n%s", pebble.String())
	}

	before := orders()
	if _, err := handshake("unknown." + gatehousetest.RunLabel(t) + ".test"); err == nil {
		t.Error("a handshake for an unknown server name got a certificate")
	}
	if _, err := handshake("127.0.0.1"); err == nil {
		t.Error("a handshake without a server name got a certificate")
	}
	if n := orders(); n != before {
		t.Errorf("unknown server names made %d orders", n-before)
	}

	// The app over HTTPS with the issued certificate, end to end.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pebbleRoots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, edgeAddr)
		}}}
	resp, err := client.Get("https://" + app + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || origin.Last().URL.Path != "/hello" {
		t.Errorf("app over HTTPS: %d", resp.StatusCode)
	}

	// The redirect listener sends a known host to HTTPS on the public
	// URL's port.
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/x?y=1", redirectPort), nil)
	req.Host = app
	resp, err = noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://" + app + ":" + strconv.Itoa(edgePort) + "/x?y=1"; resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Errorf("redirect %d %q, want %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}
