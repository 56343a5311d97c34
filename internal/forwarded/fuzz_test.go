package forwarded_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/forwarded"
)

// FuzzResolve reads arbitrary forwarding headers in both modes: it must
// not panic, the scheme is http or https, a host is valid, and the client
// is unknown, the peer, or an address written in the headers.
func FuzzResolve(f *testing.F) {
	f.Add("198.51.100.1, 203.0.113.7, 10.0.0.2", "https, http", "app.example.com", `for="[2001:db8::17]:4711";proto=https, for=10.0.0.2`)
	f.Add("[::1]:80,,garbage", "HTTPS", "A@b", `for="a\"b;c";host="x,y"`)
	f.Add("unknown", "", "", `For=_x;PROTO=http;;, ,for=`)
	f.Add("::ffff:10.0.0.1", "ftp", "[::1]:8443", `for="`)
	trusted, _ := forwarded.ParseTrusted("10.0.0.0/8, 127.0.0.1, fd00::/8")
	peer := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, xff, xfp, xfh, fwd string) {
		h := http.Header{"X-Forwarded-For": {xff}, "X-Forwarded-Proto": {xfp}, "X-Forwarded-Host": {xfh}, "Forwarded": {fwd}}
		for _, mode := range []forwarded.Header{forwarded.XForwarded, forwarded.Forwarded} {
			for _, tls := range []bool{false, true} {
				res := forwarded.New(trusted, mode).Resolve(peer, h, tls)
				if res.Proto != "http" && res.Proto != "https" {
					t.Fatalf("%s: proto %q", mode, res.Proto)
				}
				if res.Host != "" && !access.ValidHostHeader(res.Host) {
					t.Fatalf("%s: host %q is not a valid Host", mode, res.Host)
				}
				if res.Client.IsValid() && res.Client != peer && res.Client.Zone() != "" {
					t.Fatalf("%s: client %v keeps a zone", mode, res.Client)
				}
				if c := res.Client; c.IsValid() && c != peer {
					src := xff
					if mode == forwarded.Forwarded {
						src = fwd
					}
					// An IPv4 client is written as such, or as an
					// IPv4-mapped IPv6 address (::ffff:a.b.c.d, or in hex:
					// ::ffff:0:0), which is read as the IPv4 address.
					lower := strings.ToLower(src)
					if c.Is4() && !strings.Contains(lower, c.String()) && !strings.Contains(lower, ":ffff:") {
						t.Fatalf("%s: client %v appears nowhere in %q", mode, c, src)
					}
				}
			}
		}
		forwarded.Strip(h)
		if len(h) != 0 {
			t.Fatalf("Strip left %v", h)
		}
	})
}
