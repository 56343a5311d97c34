package forwarded_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/forwarded"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

// seen is what a handler behind the proxies' Handler saw of a request.
type seen struct {
	Client string   `json:"client"` // wire.ClientIP, "" when unknown
	Scheme string   `json:"scheme"`
	Host   string   `json:"host"`
	Left   []string `json:"left"` // forwarding headers still present
}

// server serves, on a loopback listener at addr, a handler that reports
// what it sees of each request through p.Handler.
func server(t *testing.T, addr string, p *forwarded.Proxies) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(p.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{Scheme: wire.Scheme(r), Host: r.Host, Left: []string{}}
		if ip := wire.ClientIP(r); ip.IsValid() {
			s.Client = ip.String()
		}
		for k := range r.Header {
			norm := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
			if strings.HasPrefix(norm, "x-forwarded") || norm == "forwarded" || norm == "x-real-ip" {
				s.Left = append(s.Left, k)
			}
		}
		_ = json.NewEncoder(w).Encode(s)
	})))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, url, host string, headers map[string][]string) seen {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range headers {
		req.Header[k] = v // as given: mixed case and underscores reach the wire
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s seen
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func mustTrusted(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	p, err := forwarded.ParseTrusted(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type h = map[string][]string

// TestForwardingHeadersOverLoopback sends forwarding headers, honest and
// spoofed, from a trusted and an untrusted peer, and checks the client
// address, scheme and host the handler sees, and that no forwarding
// header is left for it (or an origin) to read.
func TestForwardingHeadersOverLoopback(t *testing.T) {
	trusted := mustTrusted(t, "127.0.0.0/8, 10.0.0.0/8, fd00::/8")
	xff := server(t, "127.0.0.1:0", forwarded.New(trusted, forwarded.XForwarded))
	fwd := server(t, "127.0.0.1:0", forwarded.New(trusted, forwarded.Forwarded))
	untrusted := server(t, "127.0.0.1:0", forwarded.New(mustTrusted(t, "10.0.0.0/8"), forwarded.XForwarded))
	untrustedFwd := server(t, "127.0.0.1:0", forwarded.New(mustTrusted(t, "10.0.0.0/8"), forwarded.Forwarded))
	none := server(t, "127.0.0.1:0", nil)

	const reqHost = "edge.example.test"
	tests := []struct {
		name    string
		url     string
		headers h
		client  string
		scheme  string
		host    string
	}{
		{"ok/trusted peer, no headers: the peer", xff, nil, "127.0.0.1", "http", reqHost},
		{"ok/one hop", xff, h{"X-Forwarded-For": {"203.0.113.7"}}, "203.0.113.7", "http", reqHost},
		{"ok/client-supplied hops left of the proxy's are not believed", xff, h{"X-Forwarded-For": {"198.51.100.1, 203.0.113.7"}}, "203.0.113.7", "http", reqHost},
		{"ok/trusted inner proxies are skipped", xff, h{"X-Forwarded-For": {"198.51.100.1, 203.0.113.7, 10.0.0.2"}}, "203.0.113.7", "http", reqHost},
		{"ok/several header lines are one list", xff, h{"X-Forwarded-For": {"198.51.100.1", "203.0.113.7, 10.0.0.2"}}, "203.0.113.7", "http", reqHost},
		{"ok/spaces, tabs and empty elements", xff, h{"X-Forwarded-For": {" 198.51.100.1 ,, 203.0.113.7 ,\t10.0.0.2\t,"}}, "203.0.113.7", "http", reqHost},
		{"ok/every hop trusted: the left-most", xff, h{"X-Forwarded-For": {"10.0.0.3, 10.0.0.2"}}, "10.0.0.3", "http", reqHost},
		{"ok/IPv4 with a port", xff, h{"X-Forwarded-For": {"203.0.113.7:4711"}}, "203.0.113.7", "http", reqHost},
		{"ok/IPv6", xff, h{"X-Forwarded-For": {"2001:db8::1"}}, "2001:db8::1", "http", reqHost},
		{"ok/IPv6 bracketed with a port", xff, h{"X-Forwarded-For": {"[2001:db8::1]:4711"}}, "2001:db8::1", "http", reqHost},
		{"ok/IPv6 bracketed", xff, h{"X-Forwarded-For": {"[2001:db8::1]"}}, "2001:db8::1", "http", reqHost},
		{"ok/IPv4-mapped IPv6 is IPv4", xff, h{"X-Forwarded-For": {"::ffff:203.0.113.7"}}, "203.0.113.7", "http", reqHost},
		{"ok/a zone is dropped", xff, h{"X-Forwarded-For": {"fe80::1%eth0"}}, "fe80::1", "http", reqHost},
		{"ok/trusted IPv6 proxy hop skipped", xff, h{"X-Forwarded-For": {"203.0.113.7, fd00::5"}}, "203.0.113.7", "http", reqHost},
		{"ok/mixed-case header name", xff, h{"x-FORWARDED-for": {"203.0.113.7"}, "X-FORWARDED-PROTO": {"HTTPS"}}, "203.0.113.7", "https", reqHost},
		{"ok/scheme", xff, h{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"https"}}, "203.0.113.7", "https", reqHost},
		{"ok/scheme per hop: the client's hop's", xff, h{"X-Forwarded-For": {"203.0.113.7, 10.0.0.2"}, "X-Forwarded-Proto": {"https, http"}}, "203.0.113.7", "https", reqHost},
		{"ok/scheme without an address list", xff, h{"X-Forwarded-Proto": {"https"}}, "127.0.0.1", "https", reqHost},
		{"ok/fewer schemes than hops: the right-most", xff, h{"X-Forwarded-For": {"203.0.113.7, 10.0.0.2"}, "X-Forwarded-Proto": {"http, https, https"}}, "203.0.113.7", "https", reqHost},
		{"ok/unknown scheme: the connection's", xff, h{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"javascript"}}, "203.0.113.7", "http", reqHost},
		{"ok/host", xff, h{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Host": {"App.Example.COM"}}, "203.0.113.7", "http", "app.example.com"},
		{"ok/host with port", xff, h{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Host": {"app.example.com:8443"}}, "203.0.113.7", "http", "app.example.com:8443"},
		{"ok/host list: the right-most", xff, h{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Host": {"evil.example, app.example.com"}}, "203.0.113.7", "http", "app.example.com"},
		{"ok/invalid host: the request's", xff, h{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Host": {"evil.example/x?y"}}, "203.0.113.7", "http", reqHost},
		{"ok/host with userinfo: the request's", xff, h{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Host": {"a@evil.example"}}, "203.0.113.7", "http", reqHost},
		{"ok/Forwarded is not read in x-forwarded mode", xff, h{"Forwarded": {"for=203.0.113.9;proto=https"}}, "127.0.0.1", "http", reqHost},
		{"ok/underscore spelling is not read", xff, h{"X_Forwarded_For": {"203.0.113.9"}}, "127.0.0.1", "http", reqHost},
		{"fail/garbage from a trusted hop: unknown", xff, h{"X-Forwarded-For": {"203.0.113.7, garbage"}}, "", "http", reqHost},
		{"fail/unknown from a trusted hop", xff, h{"X-Forwarded-For": {"unknown"}}, "", "http", reqHost},
		{"fail/a hostname is no address", xff, h{"X-Forwarded-For": {"localhost"}}, "", "http", reqHost},
		{"fail/quoted address", xff, h{"X-Forwarded-For": {`"203.0.113.7"`}}, "", "http", reqHost},
		{"fail/CIDR is no address", xff, h{"X-Forwarded-For": {"203.0.113.0/24"}}, "", "http", reqHost},
		{"ok/garbage left of the client is never read", xff, h{"X-Forwarded-For": {"garbage, 203.0.113.7"}}, "203.0.113.7", "http", reqHost},

		{"ok/forwarded: one hop", fwd, h{"Forwarded": {"for=203.0.113.7"}}, "203.0.113.7", "http", reqHost},
		{"ok/forwarded: quoted IPv6 with port, proto and host", fwd, h{"Forwarded": {`for="[2001:db8:cafe::17]:4711";proto=https;host=app.example.com`}}, "2001:db8:cafe::17", "https", "app.example.com"},
		{"ok/forwarded: spoofed element left of the proxy's", fwd, h{"Forwarded": {"for=198.51.100.1;proto=https, for=203.0.113.7;proto=http"}}, "203.0.113.7", "http", reqHost},
		{"ok/forwarded: several lines, trusted inner proxy", fwd, h{"Forwarded": {"for=198.51.100.1", "for=203.0.113.7;proto=https, for=10.0.0.2;proto=http"}}, "203.0.113.7", "https", reqHost},
		{"ok/forwarded: mixed-case names and values", fwd, h{"forwarded": {`For="203.0.113.7";PROTO=HTTPS;Host="App.Example.com"`}}, "203.0.113.7", "https", "app.example.com"},
		{"ok/forwarded: spaces around elements and pairs", fwd, h{"Forwarded": {" for=198.51.100.1 ,  for=203.0.113.7 ; proto=https "}}, "203.0.113.7", "https", reqHost},
		{"ok/forwarded: by and unknown parameters ignored", fwd, h{"Forwarded": {"by=10.0.0.1;for=203.0.113.7;x=y"}}, "203.0.113.7", "http", reqHost},
		{"ok/forwarded: escaped quote in a quoted value", fwd, h{"Forwarded": {`for=203.0.113.7;host="a\"b"`}}, "203.0.113.7", "http", reqHost},
		{"ok/X-Forwarded-For is not read in forwarded mode", fwd, h{"X-Forwarded-For": {"203.0.113.9"}, "X-Forwarded-Proto": {"https"}}, "127.0.0.1", "http", reqHost},
		{"fail/forwarded: unknown", fwd, h{"Forwarded": {"for=unknown"}}, "", "http", reqHost},
		{"fail/forwarded: obfuscated", fwd, h{"Forwarded": {"for=_hidden"}}, "", "http", reqHost},
		{"fail/forwarded: comma inside quotes is one value", fwd, h{"Forwarded": {`for="203.0.113.7, 10.0.0.2"`}}, "", "http", reqHost},
		{"fail/forwarded: two for in one element", fwd, h{"Forwarded": {"for=203.0.113.7;for=198.51.100.1"}}, "", "http", reqHost},
		{"fail/forwarded: unterminated quote", fwd, h{"Forwarded": {`for="203.0.113.7`}}, "", "http", reqHost},
		{"fail/forwarded: no for", fwd, h{"Forwarded": {"proto=https"}}, "", "https", reqHost},
		// RFC 7239 brackets an IPv6 address with a port; unbracketed, the
		// "port" is the address's last group.
		{"ok/forwarded: unbracketed IPv6 and port read as one address", fwd, h{"Forwarded": {`for="2001:db8::1:4711"`}}, "2001:db8::1:4711", "http", reqHost},
		{"fail/forwarded: garbage element", fwd, h{"Forwarded": {"203.0.113.7"}}, "", "http", reqHost},

		{"fail/untrusted peer: X-Forwarded-For ignored", untrusted, h{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"app.example.com"}}, "127.0.0.1", "http", reqHost},
		{"fail/untrusted peer: trusted-looking hops ignored", untrusted, h{"X-Forwarded-For": {"203.0.113.7, 10.0.0.2"}}, "127.0.0.1", "http", reqHost},
		{"fail/untrusted peer: every spelling ignored", untrusted, h{"x-forwarded-for": {"203.0.113.7"}, "X_Forwarded_For": {"203.0.113.8"}, "X-Real-IP": {"203.0.113.9"}, "Forwarded": {"for=203.0.113.10"}}, "127.0.0.1", "http", reqHost},
		{"fail/untrusted peer: Forwarded ignored", untrustedFwd, h{"Forwarded": {"for=203.0.113.7;proto=https;host=app.example.com"}}, "127.0.0.1", "http", reqHost},
		{"fail/no trusted proxy: ignored", none, h{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"https"}, "Forwarded": {"for=203.0.113.7"}}, "127.0.0.1", "http", reqHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := get(t, tt.url, reqHost, tt.headers)
			if got.Client != tt.client || got.Scheme != tt.scheme || got.Host != tt.host {
				t.Errorf("client %q scheme %q host %q, want %q %q %q", got.Client, got.Scheme, got.Host, tt.client, tt.scheme, tt.host)
			}
			if len(got.Left) > 0 {
				t.Errorf("forwarding headers reached the handler: %v", got.Left)
			}
		})
	}
}

// TestForwardingHeadersFromAnIPv6Peer checks the peer test for IPv6
// connections: ::1 is trusted only when a range names it.
func TestForwardingHeadersFromAnIPv6Peer(t *testing.T) {
	trusted := server(t, "[::1]:0", forwarded.New(mustTrusted(t, "::1"), forwarded.XForwarded))
	untrusted := server(t, "[::1]:0", forwarded.New(mustTrusted(t, "127.0.0.0/8"), forwarded.XForwarded))
	spoof := h{"X-Forwarded-For": {"203.0.113.7"}}
	if got := get(t, trusted, "", spoof); got.Client != "203.0.113.7" {
		t.Errorf("from trusted ::1: client %q", got.Client)
	}
	if got := get(t, untrusted, "", spoof); got.Client != "::1" || len(got.Left) > 0 {
		t.Errorf("from untrusted ::1: client %q, headers left %v", got.Client, got.Left)
	}
}

func TestParseTrusted(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"10.0.0.0/8", "10.0.0.0/8", true},
		{"10.1.2.3/8", "10.0.0.0/8", true},
		{" 10.0.0.0/8 ,192.0.2.1, ::1 ,", "10.0.0.0/8 192.0.2.1/32 ::1/128", true},
		{"::ffff:192.0.2.1", "192.0.2.1/32", true},
		{"2001:db8::/32", "2001:db8::/32", true},
		{"", "", true},
		{"10.0.0.0/33", "", false},
		{"example.com", "", false},
		{"fe80::1%eth0", "", false},
		{"10.0.0.0/8 192.0.2.1", "", false},
		{",", "", false},
	} {
		got, err := forwarded.ParseTrusted(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseTrusted(%q): err %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if strings.Join(s, " ") != tt.want {
			t.Errorf("ParseTrusted(%q) = %v, want %s", tt.in, s, tt.want)
		}
	}
}
