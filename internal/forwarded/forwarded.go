// Package forwarded decides which client address, scheme and host a
// request has when it reaches Gatehouse through proxies. The forwarding
// headers (X-Forwarded-For/-Proto/-Host, or Forwarded) count only from a
// peer in the trusted ranges, and are read right to left up to the first
// hop that is not trusted; from any peer they are removed before a
// handler (or an origin) sees the request.
package forwarded

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

// Header is the header family trusted proxies write.
type Header string

// The header families. Only one is read: a proxy that writes one family
// usually passes the other through from the client untouched, so reading
// both would let a client choose its address.
const (
	XForwarded Header = "x-forwarded" // X-Forwarded-For, -Proto, -Host
	Forwarded  Header = "forwarded"   // RFC 7239 Forwarded
)

// ParseHeader reads a --forwarded-header value.
func ParseHeader(s string) (Header, error) {
	switch h := Header(strings.ToLower(strings.TrimSpace(s))); h {
	case XForwarded, Forwarded:
		return h, nil
	}
	return "", fmt.Errorf("%q: must be %s or %s", s, XForwarded, Forwarded)
}

// ParseTrusted reads a comma-separated list of CIDR ranges and single
// addresses (a single address is its own /32 or /128).
func ParseTrusted(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("%q: not a CIDR range", part)
			}
			if p.Addr().Zone() != "" {
				return nil, fmt.Errorf("%q: a range has no zone", part)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q: not an address or CIDR range", part)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(out) == 0 && strings.TrimSpace(s) != "" {
		return nil, errors.New("no range given")
	}
	return out, nil
}

// Proxies are the trusted proxies in front of Gatehouse. The zero value
// (and nil) trusts none: the headers are only removed.
type Proxies struct {
	trusted []netip.Prefix
	header  Header
}

// New returns the proxies in the trusted ranges, which write header.
func New(trusted []netip.Prefix, header Header) *Proxies {
	if header == "" {
		header = XForwarded
	}
	return &Proxies{trusted: trusted, header: header}
}

// Any reports whether some proxy is trusted.
func (p *Proxies) Any() bool { return p != nil && len(p.trusted) > 0 }

// Trusts reports whether a peer at a is a trusted proxy.
func (p *Proxies) Trusts(a netip.Addr) bool { return p.Any() && p.trusts(a) }

func (p *Proxies) trusts(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, t := range p.trusted {
		if t.Contains(a) {
			return true
		}
	}
	return false
}

// Result is what the forwarding headers of a request from a trusted peer
// say about its client.
type Result struct {
	// Client is the first untrusted hop, right to left; the left-most hop
	// when all are trusted; invalid when a trusted hop named it in a form
	// that is not an address (garbage, "unknown", an obfuscated name):
	// an unknown address matches no ip include rule.
	Client netip.Addr
	// Proto is "http" or "https": what the trusted proxy that received the
	// client's connection reported, else the scheme of the connection.
	Proto string
	// Host is the host the client asked for, when a trusted proxy reported
	// a valid one (lower case); "" keeps the request's Host.
	Host string
}

// Resolve reads the forwarding headers of a request that came from peer
// over a TLS connection or not. Call it only for a trusted peer.
func (p *Proxies) Resolve(peer netip.Addr, h http.Header, tls bool) Result {
	res := Result{Client: peer.Unmap().WithZone(""), Proto: "http"}
	if tls {
		res.Proto = "https"
	}
	var hops []hop
	var proto, host string
	if p.header == Forwarded {
		hops = parseForwarded(h["Forwarded"])
	} else {
		hops, proto, host = parseXForwarded(h)
	}
	// hops[i] was written by the proxy that received the connection from
	// hops[i]'s address; the last was written by peer.
	for i := len(hops) - 1; i >= 0 && p.trusts(res.Client); i-- {
		// An invalid address (garbage) is an unknown client, and ends the
		// walk.
		res.Client, proto, host = hops[i].addr, hops[i].proto, hops[i].host
	}
	switch strings.ToLower(proto) {
	case "http":
		res.Proto = "http"
	case "https":
		res.Proto = "https"
	}
	if host = strings.ToLower(host); host != "" && access.ValidHostHeader(host) {
		res.Host = host
	}
	return res
}

// hop is one proxy's record: the address it received the request from,
// and the scheme and host the request had there.
type hop struct {
	addr        netip.Addr
	proto, host string
}

// parseXForwarded reads X-Forwarded-For as the list of hops. Proto and
// host are per hop when X-Forwarded-Proto (or -Host) has one entry per
// hop; otherwise its right-most entry, set by the nearest proxy, goes
// with every hop. With no X-Forwarded-For, proto and host are the nearest
// proxy's word about the peer's own request.
func parseXForwarded(h http.Header) (hops []hop, proto, host string) {
	fors := listValues(h["X-Forwarded-For"])
	protos := listValues(h["X-Forwarded-Proto"])
	hosts := listValues(h["X-Forwarded-Host"])
	if len(fors) == 0 {
		return nil, pick(protos, 0, -1), pick(hosts, 0, -1)
	}
	hops = make([]hop, len(fors))
	for i, f := range fors {
		hops[i] = hop{addr: parseNode(f), proto: pick(protos, i, len(fors)), host: pick(hosts, i, len(fors))}
	}
	return hops, "", ""
}

// pick is the entry of list for hop i of n: list[i] when the list has n
// entries, else its right-most.
func pick(list []string, i, n int) string {
	switch {
	case len(list) == 0:
		return ""
	case len(list) == n:
		return list[i]
	}
	return list[len(list)-1]
}

// listValues splits header lines into a comma-separated list's elements,
// trimmed, empty ones dropped (RFC 9110 §5.6.1).
func listValues(lines []string) []string {
	var out []string
	for _, line := range lines {
		for _, v := range strings.Split(line, ",") {
			if v = strings.Trim(v, " \t"); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// parseNode reads a hop's address: an IPv4 or IPv6 address, bracketed or
// not, with or without a port. Anything else is invalid.
func parseNode(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return a.Unmap().WithZone("")
		}
	}
	return netip.Addr{}
}

// parseForwarded reads RFC 7239 Forwarded lines as the list of hops. An
// element that does not parse, or names no address, is a hop with an
// invalid address.
func parseForwarded(lines []string) []hop {
	var hops []hop
	for _, line := range lines {
		for _, el := range splitQuoted(line, ',') {
			if strings.Trim(el, " \t") == "" {
				continue
			}
			hops = append(hops, parseElement(el))
		}
	}
	return hops
}

// parseElement reads one forwarded-element: pairs separated by ";", each
// token=value with the value a token or a quoted string.
func parseElement(el string) hop {
	var h hop
	var sawFor bool
	for _, pair := range splitQuoted(el, ';') {
		pair = strings.Trim(pair, " \t")
		if pair == "" {
			continue
		}
		name, value, ok := strings.Cut(pair, "=")
		if !ok || !isToken(name) {
			return hop{}
		}
		v, ok := unquote(value)
		if !ok {
			return hop{}
		}
		switch strings.ToLower(name) {
		case "for":
			if sawFor {
				return hop{} // two addresses for one hop: which one?
			}
			sawFor = true
			h.addr = parseNode(v)
		case "proto":
			h.proto = v
		case "host":
			h.host = v
		}
	}
	return h
}

// splitQuoted splits s at sep outside quoted strings.
func splitQuoted(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquote reads a token or an RFC 9110 quoted string.
func unquote(v string) (string, bool) {
	if isToken(v) {
		return v, true
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		c := v[i]
		switch {
		case c == '\\' && i+1 < len(v)-1:
			i++
			b.WriteByte(v[i])
		case c == '"' || c == '\\' || c < 0x20 && c != '\t' || c == 0x7f:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// stripped are the headers removed from every request: the forwarding
// headers and the common variants an origin might believe.
var stripped = map[string]bool{
	"Forwarded": true, "X-Forwarded-For": true, "X-Forwarded-Proto": true, "X-Forwarded-Host": true,
	"X-Forwarded-Port": true, "X-Forwarded-Ssl": true, "X-Forwarded-Scheme": true, "X-Real-Ip": true,
}

// Strip removes the forwarding headers from h, also in spellings with
// underscores (X_Forwarded_For), which CGI-style origins read as the same
// variable. It runs on every request: only names starting as one of them
// (h's keys are canonical: "F" or "X") are looked up.
func Strip(h http.Header) {
	for k := range h {
		if k == "" || k[0] != 'X' && k[0] != 'F' {
			continue
		}
		if stripped[k] || strings.IndexByte(k, '_') >= 0 && stripped[http.CanonicalHeaderKey(strings.ReplaceAll(k, "_", "-"))] {
			delete(h, k)
		}
	}
}

// Handler serves next with each request's forwarding headers applied
// and removed (Apply).
func (p *Proxies) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, p.Apply(r))
	})
}

// Apply returns r with its forwarding headers applied and removed. From a
// trusted peer, its RemoteAddr becomes the client's address (port 0;
// empty when unknown), its Host the forwarded host, and its scheme
// (wire.Scheme) the forwarded scheme, in a shallow copy. From any other
// peer the headers are only removed, from r itself.
func (p *Proxies) Apply(r *http.Request) *http.Request {
	if !p.Any() {
		Strip(r.Header)
		return r
	}
	peer := wire.ClientIP(r)
	if !p.trusts(peer) {
		Strip(r.Header)
		return r
	}
	res := p.Resolve(peer, r.Header, r.TLS != nil)
	Strip(r.Header)
	r = r.WithContext(wire.WithScheme(r.Context(), res.Proto))
	r.RemoteAddr = ""
	if res.Client.IsValid() {
		r.RemoteAddr = netip.AddrPortFrom(res.Client, 0).String()
	}
	if res.Host != "" {
		r.Host = res.Host
	}
	return r
}
