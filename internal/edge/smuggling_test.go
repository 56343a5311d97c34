package edge_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
)

// TestRequestFramingFormsThroughTheEdge sends each request-smuggling form
// on a raw connection through the edge to a recording origin: what the
// client gets, whether the edge keeps the connection, and what the
// origin received. A chunked request always closes the connection
// (RFC 9112 §6.1 for Content-Length with Transfer-Encoding; Go's server
// drops the Content-Length before the edge can tell); framing the edge's
// server refuses never reaches the origin; a body that fails mid-way is
// 400 (or 408 when it stalls), never 502.
func TestRequestFramingFormsThroughTheEdge(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	e := &env{api: a, origin: gatehousetest.StartOrigin(t), edge: gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store,
		Timeouts: httpserver.Timeouts{BodyRead: 500 * time.Millisecond, ReadHeader: 2 * time.Second}})}
	h := host(t, "open")
	e.app(t, h, nil, pol("all", "bypass", rules(t, `{"everyone":{}}`)))
	addr := gatehousetest.RawAddr(t, e.edge.URL)

	// What the origin may receive: nothing, exactly a body, or only a
	// body cut short (the edge's upload to it failed part-way).
	const (
		none    = "none"
		cutOrNo = "cut or none"
	)
	cases := []struct {
		name    string
		headers string // after the Host line, each ending in \r\n
		body    string
		status  int
		closed  bool
		origin  string // none, cutOrNo, or the exact body
	}{
		{"content-length", "Content-Length: 5\r\n", "hello", 200, false, "hello"},
		{"chunked", "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n", 200, true, "hello"},
		{"content-length and chunked", "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n", 200, true, "hello"},
		{"chunked and content-length", "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n", "5\r\nhello\r\n0\r\n\r\n", 200, true, "hello"},
		{"chunked in odd case", "Transfer-Encoding: ChUnKeD\r\n", "5\r\nhello\r\n0\r\n\r\n", 200, true, "hello"},
		{"chunked, identity", "Transfer-Encoding: chunked, identity\r\n", "5\r\nhello\r\n0\r\n\r\n", 501, true, none},
		{"identity", "Transfer-Encoding: identity\r\nContent-Length: 5\r\n", "hello", 501, true, none},
		{"gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n", "5\r\nhello\r\n0\r\n\r\n", 501, true, none},
		{"two transfer-encoding lines", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n", 501, true, none},
		// RFC 9112 §5.2 lets a server replace obs-fold with a space, as
		// Go's does: the folded value is then judged as written.
		{"transfer-encoding obs-fold", "Transfer-Encoding:\r\n chunked\r\n", "5\r\nhello\r\n0\r\n\r\n", 200, true, "hello"},
		{"obs-fold after transfer-encoding", "Transfer-Encoding: chunked\r\n identity\r\n", "5\r\nhello\r\n0\r\n\r\n", 501, true, none},
		{"space before colon", "Transfer-Encoding : chunked\r\n", "5\r\nhello\r\n0\r\n\r\n", 400, true, none},
		{"duplicate content-length, same", "Content-Length: 5\r\nContent-Length: 5\r\n", "hello", 200, false, "hello"},
		{"duplicate content-length, differing", "Content-Length: 5\r\nContent-Length: 6\r\n", "hello!", 400, true, none},
		{"content-length list", "Content-Length: 5, 5\r\n", "hello", 400, true, none},
		{"content-length with plus", "Content-Length: +5\r\n", "hello", 400, true, none},
		{"content-length with minus", "Content-Length: -5\r\n", "hello", 400, true, none},
		{"content-length inner space", "Content-Length: 5 5\r\n", "hello", 400, true, none},
		{"content-length hex", "Content-Length: 0x5\r\n", "hello", 400, true, none},
		{"content-length padded", "Content-Length:   5  \r\n", "hello", 200, false, "hello"},
		{"chunk size not hex", "Transfer-Encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n", 400, true, cutOrNo},
		{"chunk size negative", "Transfer-Encoding: chunked\r\n", "-5\r\nhello\r\n0\r\n\r\n", 400, true, cutOrNo},
		{"chunk size 0x prefix", "Transfer-Encoding: chunked\r\n", "0x5\r\nhello\r\n0\r\n\r\n", 400, true, cutOrNo},
		{"chunk size overflows", "Transfer-Encoding: chunked\r\n", "fffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400, true, cutOrNo},
		{"chunk longer than its size", "Transfer-Encoding: chunked\r\n", "3\r\nhello\r\n0\r\n\r\n", 400, true, cutOrNo},
		{"chunk shorter than its size", "Transfer-Encoding: chunked\r\n", "9\r\nhello\r\n0\r\n\r\n", 400, true, cutOrNo},
		{"chunk extension", "Transfer-Encoding: chunked\r\n", "5;name=value\r\nhello\r\n0\r\n\r\n", 200, true, "hello"},
		{"chunk extension quoted", "Transfer-Encoding: chunked\r\n", "5;name=\"a;b\"\r\nhello\r\n0\r\n\r\n", 200, true, "hello"},
		{"trailer after last chunk", "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n", 200, true, "hello"},
		{"missing final chunk", "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n", 408, true, cutOrNo},
		{"body shorter than content-length", "Content-Length: 100\r\n", "hello", 408, true, cutOrNo},
		{"smuggled request after chunked body", "Transfer-Encoding: chunked\r\nContent-Length: 30\r\n",
			"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: " + h + "\r\n\r\n", 200, true, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := "POST /case/" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: " + h + "\r\n" + tc.headers + "\r\n" + tc.body
			res := gatehousetest.RawExchange(t, addr, raw, h, 5*time.Second)
			if res.Status != tc.status || res.Closed != tc.closed {
				t.Errorf("status %d closed %v, want %d closed %v (body %q)", res.Status, res.Closed, tc.status, tc.closed, res.Body)
			}
		})
	}
	// The origin records a request once it has read the body, which may
	// be after the edge answered: wait for it to settle.
	for n, stable := -1, 0; stable < 3; time.Sleep(100 * time.Millisecond) {
		if m := len(e.origin.Requests()); m == n {
			stable++
		} else {
			n, stable = m, 0
		}
	}
	reqs, bodies := e.origin.Requests(), e.origin.Bodies()
	got := map[string][]string{}
	for i, r := range reqs {
		if r.URL.Path == "/smuggled" {
			t.Errorf("a smuggled request reached the origin")
		}
		got[r.URL.Path] = append(got[r.URL.Path], bodies[i])
	}
	for i, tc := range cases {
		posts := got["/case/"+strconv.Itoa(i)]
		ok := false
		switch tc.origin {
		case none:
			ok = len(posts) == 0
		case cutOrNo:
			ok = len(posts) == 0 || (len(posts) == 1 && strings.Contains(posts[0], "<read error"))
		default:
			ok = len(posts) == 1 && posts[0] == tc.origin
		}
		if !ok {
			t.Errorf("%s: the origin received %q, want %s", tc.name, posts, tc.origin)
		}
	}
}
