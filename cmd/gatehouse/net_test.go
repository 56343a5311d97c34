package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const testMasterKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// edgeEnv is the environment of a test `gatehouse edge` on loopback,
// with extra settings.
func edgeEnv(url string, extra map[string]string) map[string]string {
	env := map[string]string{"DATABASE_URL": url, "GATEHOUSE_EDGE_ADDR": "127.0.0.1:0", "GATEHOUSE_STATE_DIR": "off",
		"GATEHOUSE_MASTER_KEY": testMasterKey}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// writeLoopbackCert writes gatehousetest.LoopbackCert to PEM files and
// returns their paths and the roots that trust it.
func writeLoopbackCert(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	cert, roots := gatehousetest.LoopbackCert(t)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, roots
}

// TestEdgeRefusesPublicURLsThatCannotWork starts `gatehouse edge` with
// combinations of the public URL, TLS and proxy settings that cannot
// work, and checks that it refuses to start, saying what to set.
func TestEdgeRefusesPublicURLsThatCannotWork(t *testing.T) {
	url := gatehousetest.DatabaseURL(t)
	certFile, keyFile, _ := writeLoopbackCert(t)
	tlsFiles := map[string]string{"GATEHOUSE_TLS_CERT": certFile, "GATEHOUSE_TLS_KEY": keyFile}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string // in the error
	}{
		{"every IPv4 address, no public URL", map[string]string{"GATEHOUSE_EDGE_ADDR": "0.0.0.0:0"}, []string{"--edge-addr 0.0.0.0:0", "set --public-url"}},
		{"every address, no host", map[string]string{"GATEHOUSE_EDGE_ADDR": ":0"}, []string{"set --public-url"}},
		{"every IPv6 address", map[string]string{"GATEHOUSE_EDGE_ADDR": "[::]:0"}, []string{"set --public-url"}},
		{"https public URL on a plain edge", map[string]string{"GATEHOUSE_PUBLIC_URL": "https://auth.example.test"}, []string{"--tls-cert", "--acme", "--trusted-proxy"}},
		{"deprecated --auth-domain on a plain edge", map[string]string{"GATEHOUSE_AUTH_DOMAIN": "auth.example.test"}, []string{"https://auth.example.test is https", "--trusted-proxy"}},
		{"--auth-domain and --public-url disagree", map[string]string{"GATEHOUSE_AUTH_DOMAIN": "a.example.test", "GATEHOUSE_PUBLIC_URL": "https://b.example.test"}, []string{"set only --public-url"}},
		{"http public URL on an HTTPS edge", with(tlsFiles, "GATEHOUSE_PUBLIC_URL", "http://auth.example.test"), []string{"make --public-url https://"}},
		{"public URL with a path", map[string]string{"GATEHOUSE_PUBLIC_URL": "http://localhost:8000/auth"}, []string{"no path"}},
		{"public URL with a query", map[string]string{"GATEHOUSE_PUBLIC_URL": "http://localhost:8000?x=1"}, []string{"no path, query"}},
		{"public URL without a scheme", map[string]string{"GATEHOUSE_PUBLIC_URL": "auth.example.test"}, []string{"scheme must be http or https"}},
		{"public URL with a user", map[string]string{"GATEHOUSE_PUBLIC_URL": "https://u:p@auth.example.test"}, []string{"user"}},
		{"public URL with a bad host", map[string]string{"GATEHOUSE_PUBLIC_URL": "https://auth_example!"}, []string{"not a valid host"}},
		{"bad trusted proxy", map[string]string{"GATEHOUSE_TRUSTED_PROXY": "10.0.0.0/33"}, []string{"--trusted-proxy"}},
		{"bad forwarded header", map[string]string{"GATEHOUSE_FORWARDED_HEADER": "x-real-ip"}, []string{"--forwarded-header"}},
		{"--acme with --tls-cert", with(tlsFiles, "GATEHOUSE_ACME", "true", "GATEHOUSE_PUBLIC_URL", "https://auth.example.test"), []string{"set one"}},
		{"--acme without a name", map[string]string{"GATEHOUSE_ACME": "true", "GATEHOUSE_PUBLIC_URL": "https://127.0.0.1", "GATEHOUSE_ACME_CACHE": t.TempDir()}, []string{"DNS name"}},
		{"--acme without a public URL", map[string]string{"GATEHOUSE_ACME": "true", "GATEHOUSE_ACME_CACHE": t.TempDir()}, []string{"DNS name"}},
		{"--acme without a cache", map[string]string{"GATEHOUSE_ACME": "true", "GATEHOUSE_PUBLIC_URL": "https://auth.example.test"}, []string{"--acme-cache"}},
		{"--acme with an http directory", map[string]string{"GATEHOUSE_ACME": "true", "GATEHOUSE_PUBLIC_URL": "https://auth.example.test", "GATEHOUSE_ACME_CACHE": t.TempDir(), "GATEHOUSE_ACME_DIRECTORY": "http://acme.example.test/dir"}, []string{"--acme-directory"}},
		{"redirect listener on a plain edge", map[string]string{"GATEHOUSE_HTTP_REDIRECT_ADDR": "127.0.0.1:0"}, []string{"--http-redirect-addr", "plain HTTP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			err := run(context.Background(), []string{"edge"}, func(k string) string { return edgeEnv(url, tt.env)[k] }, &out, io.Discard)
			if err == nil {
				t.Fatalf("edge started: %s", out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// noRedirects is a client that reports redirects instead of following.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// edgeRequest sends a request for host to the edge at base with headers.
func edgeRequest(t *testing.T, base, host string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/page?q=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range headers {
		req.Header[k] = []string{v}
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestEdgeBehindATrustedProxy runs `gatehouse edge` with --public-url
// https and --trusted-proxy on a plain-HTTP listener, as behind a load
// balancer that terminates TLS: the ip rule sees the forwarded client
// address, the login URL is the public URL, the cookie is Secure, and the
// origin is told the client's address and scheme. Without the proxy
// declared, the same headers are spoofing: ignored, and never forwarded.
func TestEdgeBehindATrustedProxy(t *testing.T) {
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
	office := gatehousetest.Host(t, "office")
	a.CreateApp(t, office, origin.URL, nil, gatehousetest.Policy("office", "non_identity", gatehousetest.Rules(t, `{"ip":{"ip":"203.0.113.0/24"}}`)))
	open := gatehousetest.Host(t, "open")
	a.CreateApp(t, open, origin.URL, nil, gatehousetest.Policy("open", "bypass", gatehousetest.Rules(t, `{"everyone":{}}`)))
	staff := gatehousetest.Host(t, "staff")
	a.CreateApp(t, staff, origin.URL, nil, gatehousetest.Policy("staff", "allow", gatehousetest.Rules(t, `{"email_domain":{"domain":"example.com"}}`)))
	geo := gatehousetest.Host(t, "geo")
	a.CreateApp(t, geo, origin.URL, nil, gatehousetest.Policy("de", "non_identity", gatehousetest.Rules(t, `{"geo":{"country_code":"DE"}}`)))
	public := "https://" + gatehousetest.Host(t, "auth")

	behind, stop := startEdgeCommand(t, edgeEnv(url, map[string]string{"GATEHOUSE_PUBLIC_URL": public, "GATEHOUSE_TRUSTED_PROXY": "127.0.0.1/32",
		"GATEHOUSE_COUNTRY_HEADER": "CF-IPCountry"}))
	defer stop()
	exposed, stopExposed := startEdgeCommand(t, edgeEnv(url, map[string]string{"GATEHOUSE_TRUSTED_PROXY": "10.0.0.0/8", "GATEHOUSE_COUNTRY_HEADER": "CF-IPCountry"}))
	defer stopExposed()

	spoof := map[string]string{"X-Forwarded-For": "198.51.100.9, 203.0.113.7", "X-Forwarded-Proto": "https",
		"X-Real-Ip": "203.0.113.8", "Forwarded": "for=203.0.113.9"}

	// Behind the proxy: the right-most hop is the client, in the range.
	n := len(origin.Requests())
	if resp := edgeRequest(t, behind, office, spoof); resp.StatusCode != 200 {
		t.Fatalf("forwarded client in the ip rule's range: %d", resp.StatusCode)
	}
	got := origin.Last()
	if len(origin.Requests()) != n+1 || got.Header.Get("X-Forwarded-For") != "203.0.113.7" || got.Header.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("origin told X-Forwarded-For %q X-Forwarded-Proto %q, want the client 203.0.113.7 over https",
			got.Header.Get("X-Forwarded-For"), got.Header.Get("X-Forwarded-Proto"))
	}
	if got.Header.Get("X-Real-Ip") != "" || got.Header.Get("Forwarded") != "" {
		t.Errorf("origin got the client's X-Real-Ip %q / Forwarded %q", got.Header.Get("X-Real-Ip"), got.Header.Get("Forwarded"))
	}
	if resp := edgeRequest(t, behind, office, map[string]string{"X-Forwarded-For": "203.0.113.7, 198.51.100.9"}); resp.StatusCode == 200 {
		t.Error("a client-written address left of the proxy's was believed")
	}

	// With proxies declared, the country header counts only from them.
	if resp := edgeRequest(t, behind, geo, map[string]string{"Cf-Ipcountry": "DE"}); resp.StatusCode != 200 {
		t.Errorf("country from the trusted proxy: %d", resp.StatusCode)
	}
	if resp := edgeRequest(t, exposed, geo, map[string]string{"Cf-Ipcountry": "DE"}); resp.StatusCode == 200 {
		t.Error("a country header from an untrusted peer was believed")
	}

	// The login URL is the public URL's, and the way back is https.
	resp := edgeRequest(t, behind, staff, map[string]string{"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https", "Accept": "text/html"})
	loc := resp.Header.Get("Location")
	wantLogin := public + "/cdn-cgi/access/login/" + staff + "?redirect_url=" + url2q("https://"+staff+"/page?q=1")
	if resp.StatusCode != 302 || loc != wantLogin {
		t.Errorf("login redirect %d %q, want %q", resp.StatusCode, loc, wantLogin)
	}

	// The deprecated --auth-domain HOST is --public-url https://HOST.
	legacy, stopLegacy := startEdgeCommand(t, edgeEnv(url, map[string]string{"GATEHOUSE_AUTH_DOMAIN": strings.TrimPrefix(public, "https://"),
		"GATEHOUSE_TRUSTED_PROXY": "127.0.0.1"}))
	defer stopLegacy()
	resp = edgeRequest(t, legacy, staff, map[string]string{"X-Forwarded-Proto": "https", "Accept": "text/html"})
	if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || loc != wantLogin {
		t.Errorf("--auth-domain login redirect %d %q, want %q", resp.StatusCode, loc, wantLogin)
	}

	// Not behind a declared proxy: the same headers are spoofing.
	n = len(origin.Requests())
	if resp := edgeRequest(t, exposed, office, spoof); resp.StatusCode == 200 || len(origin.Requests()) != n {
		t.Errorf("spoofed X-Forwarded-For from an untrusted peer let in: %d", resp.StatusCode)
	}
	if resp := edgeRequest(t, exposed, open, spoof); resp.StatusCode != 200 {
		t.Fatalf("bypass app: %d", resp.StatusCode)
	}
	got = origin.Last()
	if got.Header.Get("X-Forwarded-For") != "127.0.0.1" || got.Header.Get("X-Forwarded-Proto") != "http" ||
		got.Header.Get("X-Real-Ip") != "" || got.Header.Get("Forwarded") != "" {
		t.Errorf("origin behind an exposed edge got X-Forwarded-For %q Proto %q X-Real-Ip %q Forwarded %q, want only the peer over http",
			got.Header.Get("X-Forwarded-For"), got.Header.Get("X-Forwarded-Proto"), got.Header.Get("X-Real-Ip"), got.Header.Get("Forwarded"))
	}
	// Its login URL derives from its own address, port included.
	resp = edgeRequest(t, exposed, staff, map[string]string{"Accept": "text/html", "X-Forwarded-Proto": "https"})
	if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || !strings.HasPrefix(loc, exposed+"/cdn-cgi/access/login/") ||
		!strings.Contains(loc, url2q("http://"+staff+"/page")) {
		t.Errorf("derived login redirect %d %q, want under %s with an http way back", resp.StatusCode, loc, exposed)
	}
}

func url2q(s string) string { return url.QueryEscape(s) }

// startServe runs `gatehouse serve` with env (bootstrapping) until the
// test ends, and returns the API's base URL and the admin token.
func startServe(t *testing.T, env map[string]string) (base, token string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, &out, &logs) }()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not shut down")
		}
	}
	apiRe := regexp.MustCompile(`Gatehouse API on (https?://[0-9.:]+)/client/v4`)
	tokenRe := regexp.MustCompile(`admin token: (ghat_[0-9a-f]{64})`)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := apiRe.FindStringSubmatch(out.String()); m != nil {
			if tm := tokenRe.FindStringSubmatch(out.String()); tm != nil {
				return m[1], tm[1], stop
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v: %s\n%s", err, out.String(), logs.String())
		default:
		}
	}
	stop()
	t.Fatalf("serve did not start: %s\n%s", out.String(), logs.String())
	return "", "", nil
}

// TestListenErrorsNameTheFlag starts serve on addresses already taken and
// checks the error names the flag to change.
func TestListenErrorsNameTheFlag(t *testing.T) {
	url := gatehousetest.DatabaseURL(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	for _, tt := range []struct{ env, flag string }{
		{"GATEHOUSE_EDGE_ADDR", "--edge-addr"},
		{"GATEHOUSE_API_ADDR", "--api-addr"},
	} {
		env := map[string]string{"DATABASE_URL": url, "GATEHOUSE_API_ADDR": "127.0.0.1:0", "GATEHOUSE_EDGE_ADDR": "127.0.0.1:0",
			"GATEHOUSE_STATE_DIR": "off", "GATEHOUSE_MASTER_KEY": testMasterKey, tt.env: addr}
		ctx, cancel := context.WithCancel(context.Background())
		var out syncBuffer
		err := run(ctx, []string{"serve"}, func(k string) string { return env[k] }, &out, io.Discard)
		cancel()
		want := "listen " + addr + " (" + tt.flag + "): address already in use"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s taken: %v, want %q", tt.env, err, want)
		}
	}
}

// TestServeAPIOverTLS runs serve with --api-tls-cert and --api-tls-key:
// the API and dashboard answer over HTTPS, and the dashboard's session
// cookie is Secure.
func TestServeAPIOverTLS(t *testing.T) {
	url := gatehousetest.NewDatabase(t)
	certFile, keyFile, roots := writeLoopbackCert(t)
	env := map[string]string{"DATABASE_URL": url, "GATEHOUSE_API_ADDR": "127.0.0.1:0", "GATEHOUSE_NO_EDGE": "true",
		"GATEHOUSE_BOOTSTRAP": "true", "GATEHOUSE_API_TLS_CERT": certFile, "GATEHOUSE_API_TLS_KEY": keyFile}
	base, token, stop := startServe(t, env)
	defer stop()
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("API on %s, want https", base)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Get(base + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz over TLS: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = client.Post(base+"/client/v4/gatehouse/dashboard/session", "application/json", strings.NewReader(`{"token":"`+token+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var secure bool
	for _, c := range resp.Cookies() {
		secure = secure || c.Secure
	}
	if resp.StatusCode/100 != 2 || !secure {
		t.Errorf("dashboard sign-in over TLS: %d, Secure cookie %v", resp.StatusCode, secure)
	}
	plain, err := http.Get(strings.Replace(base, "https://", "http://", 1) + "/readyz")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == 200 {
			t.Error("the TLS listener answered plain HTTP")
		}
	}
	if _, err := gatehouse(t, map[string]string{"DATABASE_URL": url, "GATEHOUSE_API_ADDR": "127.0.0.1:0", "GATEHOUSE_NO_EDGE": "true",
		"GATEHOUSE_API_TLS_CERT": certFile}, "serve"); err == nil || !strings.Contains(err.Error(), "--api-tls-key") {
		t.Errorf("a certificate without a key: %v", err)
	}
}

// TestServeAPIBehindATrustedProxy signs in to the dashboard through a
// declared TLS-terminating proxy (X-Forwarded-Proto: https): the session
// cookie is Secure. The same header from an undeclared peer changes
// nothing.
func TestServeAPIBehindATrustedProxy(t *testing.T) {
	for _, tt := range []struct {
		trusted string
		secure  bool
	}{{"127.0.0.1", true}, {"10.0.0.0/8", false}} {
		url := gatehousetest.NewDatabase(t)
		env := map[string]string{"DATABASE_URL": url, "GATEHOUSE_API_ADDR": "127.0.0.1:0", "GATEHOUSE_NO_EDGE": "true",
			"GATEHOUSE_BOOTSTRAP": "true", "GATEHOUSE_TRUSTED_PROXY": tt.trusted}
		base, token, stop := startServe(t, env)
		req, _ := http.NewRequest("POST", base+"/client/v4/gatehouse/dashboard/session", strings.NewReader(`{"token":"`+token+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var secure bool
		for _, c := range resp.Cookies() {
			secure = secure || c.Secure
		}
		if resp.StatusCode/100 != 2 || secure != tt.secure {
			t.Errorf("trusted %s: sign-in %d, Secure cookie %v, want %v", tt.trusted, resp.StatusCode, secure, tt.secure)
		}
		stop()
	}
}

// TestEdgeWarnsOfAPlainHTTPPublicURLOnTheNetwork: an http public URL on a
// host other machines reach starts, with a warning in the log; on
// localhost it starts without one.
func TestEdgeWarnsOfAPlainHTTPPublicURLOnTheNetwork(t *testing.T) {
	url := gatehousetest.DatabaseURL(t)
	for _, tt := range []struct {
		public string
		warn   bool
	}{{"http://gatehouse.example.test", true}, {"http://10.1.2.3:8000", true}, {"http://localhost:8000", false}, {"http://app.localhost", false}} {
		env := edgeEnv(url, map[string]string{"GATEHOUSE_PUBLIC_URL": tt.public})
		ctx, cancel := context.WithCancel(context.Background())
		var out, logs syncBuffer
		done := make(chan error, 1)
		go func() { done <- run(ctx, []string{"edge"}, func(k string) string { return env[k] }, &out, &logs) }()
		started := false
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !started; time.Sleep(20 * time.Millisecond) {
			started = strings.Contains(out.String(), "Gatehouse edge on")
		}
		cancel()
		if err := <-done; err != nil || !started {
			t.Fatalf("%s: edge did not start: %v\n%s", tt.public, err, logs.String())
		}
		if warned := strings.Contains(logs.String(), "cross the network unencrypted"); warned != tt.warn {
			t.Errorf("%s: warned %v, want %v\n%s", tt.public, warned, tt.warn, logs.String())
		}
	}
}
