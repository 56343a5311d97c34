package autotls_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/autotls"
)

// TestRedirectOnlyForKnownHosts sends requests, with Host headers an
// attacker might choose, to the plain-HTTP listener's handler over
// loopback: known hosts go to HTTPS on the same host with path and query
// kept; anything else is a 404 without a Location.
func TestRedirectOnlyForKnownHosts(t *testing.T) {
	known := func(h string) bool { return h == "app.example.com" || h == "auth.example.com" }
	srv := httptest.NewServer(autotls.Redirect(nil, known, "8443"))
	defer srv.Close()
	std := httptest.NewServer(autotls.Redirect(nil, known, "443"))
	defer std.Close()

	tests := []struct {
		name     string
		addr     string
		request  string // the request line and headers, raw
		status   int
		location string
	}{
		{"ok/path and query kept", srv.URL, "GET /a/b%2Fc?x=1&y=%20 HTTP/1.1\r\nHost: app.example.com\r\n", 301, "https://app.example.com:8443/a/b%2Fc?x=1&y=%20"},
		{"ok/default port left out", std.URL, "GET /a HTTP/1.1\r\nHost: app.example.com\r\n", 301, "https://app.example.com/a"},
		{"ok/auth host", srv.URL, "GET / HTTP/1.1\r\nHost: auth.example.com\r\n", 301, "https://auth.example.com:8443/"},
		{"ok/POST keeps its method", srv.URL, "POST /form HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 0\r\n", 308, "https://app.example.com:8443/form"},
		{"ok/upper case host", srv.URL, "GET /x HTTP/1.1\r\nHost: APP.Example.COM\r\n", 301, "https://app.example.com:8443/x"},
		{"ok/host with the HTTP port", srv.URL, "GET /x HTTP/1.1\r\nHost: app.example.com:80\r\n", 301, "https://app.example.com:8443/x"},
		{"ok/trailing dot", srv.URL, "GET /x HTTP/1.1\r\nHost: app.example.com.\r\n", 301, "https://app.example.com:8443/x"},
		{"ok/double slash path stays on the host", srv.URL, "GET //evil.example/x HTTP/1.1\r\nHost: app.example.com\r\n", 301, "https://app.example.com:8443//evil.example/x"},
		{"fail/unknown host", srv.URL, "GET / HTTP/1.1\r\nHost: evil.example\r\n", 404, ""},
		{"fail/known host as a prefix", srv.URL, "GET / HTTP/1.1\r\nHost: app.example.com.evil.example\r\n", 404, ""},
		{"fail/known host as a suffix", srv.URL, "GET / HTTP/1.1\r\nHost: evilapp.example.com\r\n", 404, ""},
		{"fail/userinfo in host (refused by the server)", srv.URL, "GET / HTTP/1.1\r\nHost: app.example.com@evil.example\r\n", 400, ""},
		{"fail/absolute-form names another host", srv.URL, "GET http://evil.example/x HTTP/1.1\r\nHost: app.example.com\r\n", 404, ""},
		{"fail/no host (HTTP/1.0)", srv.URL, "GET / HTTP/1.0\r\n", 404, ""},
		{"fail/IP literal", srv.URL, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", 404, ""},
		{"fail/bad port", srv.URL, "GET / HTTP/1.1\r\nHost: app.example.com:99999\r\n", 404, ""},
		{"fail/challenge for an unknown host", srv.URL, "GET /.well-known/acme-challenge/x HTTP/1.1\r\nHost: evil.example\r\n", 404, ""},
		{"fail/challenge without ACME", srv.URL, "GET /.well-known/acme-challenge/x HTTP/1.1\r\nHost: app.example.com\r\n", 301, "https://app.example.com:8443/.well-known/acme-challenge/x"},
		{"fail/two Host headers", srv.URL, "GET / HTTP/1.1\r\nHost: app.example.com\r\nHost: evil.example\r\n", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(tt.addr, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "%sConnection: close\r\n\r\n", tt.request)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("Location") != tt.location {
				t.Errorf("%d Location %q, want %d %q", resp.StatusCode, resp.Header.Get("Location"), tt.status, tt.location)
			}
		})
	}
}
