package edge_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
)

// TestUncredentialedBodyIsRefusedUnreadAndClosed sends requests that
// announce a body and never send it. Without credentials the edge must
// answer at once without waiting for the body (the edge's body timeout
// here is far longer than the client's patience), and close the
// connection, whose unread bytes make it unusable.
func TestUncredentialedBodyIsRefusedUnreadAndClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := host(t, "private")
	e.app(t, h, nil, pol("user", "allow", rules(t, `{"email":{"email":"a@b.test"}}`)))
	tok := createToken(t, e.api, "svc", nil)
	hTok := host(t, "svc")
	e.app(t, hTok, nil, pol("service", "non_identity", rules(t, `{"service_token":{"token_id":"`+tok.ID+`"}}`)))
	addr := gatehousetest.RawAddr(t, e.edge.URL)
	cases := []struct {
		name, host, head string
		status           int
	}{
		{"API client", h, "POST /upload HTTP/1.1\r\nContent-Length: 100\r\n", 401},
		{"browser navigation", h, "GET / HTTP/1.1\r\nAccept: text/html\r\nContent-Length: 100\r\n", 302},
		{"chunked", h, "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n", 401},
		{"expired session", h, "POST /upload HTTP/1.1\r\nCookie: CF_Authorization=not.a.jwt\r\nContent-Length: 100\r\n", 401},
		{"wrong service token", hTok, "PUT /x HTTP/1.1\r\nCF-Access-Client-Id: " + tok.ClientID + "\r\nCF-Access-Client-Secret: wrong\r\nContent-Length: 100\r\n", 401},
		{"unknown host", host(t, "nowhere"), "POST / HTTP/1.1\r\nContent-Length: 100\r\n", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			res := gatehousetest.RawExchange(t, addr, strings.Replace(tc.head, "\r\n", "\r\nHost: "+tc.host+"\r\n", 1)+"\r\n", tc.host, 5*time.Second)
			if res.Status != tc.status || !res.Closed {
				t.Fatalf("status %d closed %v, want %d closed (%q)", res.Status, res.Closed, tc.status, res.Body)
			}
			t.Logf("answered and closed in %v", time.Since(start))
		})
	}
	if n := len(e.origin.Requests()); n != 0 {
		t.Errorf("the origin received %d requests", n)
	}
}

// TestStalledConnectionsDoNotStarveOthers opens thousands of connections
// that stall (a request head never finished; a body announced and never
// sent, to a protected app and to a public one that forwards it) and
// shows that a normal client is still served while they are open, and
// that the edge closes every stalled one by its timeouts. It logs the
// normal client's median latency with and without them (no timed
// assertion: the machine is shared).
func TestStalledConnectionsDoNotStarveOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections")
	}
	const headerTimeout, bodyTimeout = 10 * time.Second, 10 * time.Second
	a := gatehousetest.NewAPI(t)
	e := &env{api: a, origin: gatehousetest.StartOrigin(t), edge: gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store,
		Timeouts: httpserver.Timeouts{ReadHeader: headerTimeout, BodyRead: bodyTimeout, Idle: 5 * time.Second}})}
	hOpen, hPrivate := host(t, "open"), host(t, "private")
	e.app(t, hOpen, nil, pol("all", "bypass", rules(t, `{"everyone":{}}`)))
	e.app(t, hPrivate, nil, pol("user", "allow", rules(t, `{"email":{"email":"a@b.test"}}`)))
	addr := gatehousetest.RawAddr(t, e.edge.URL)

	// File descriptors: a stalled head or a refused body holds two (both
	// ends here), a forwarded body four (and the origin's side).
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	total := 5000
	if budget := (int(lim.Cur) - 2000) * 10 / 24; budget < total {
		total = max(budget, 100)
	}
	t.Logf("RLIMIT_NOFILE %d: %d stalled connections", lim.Cur, total)

	measure := func() time.Duration {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
		defer client.CloseIdleConnections()
		var took []time.Duration
		for i := 0; i < 200; i++ {
			start := time.Now()
			resp, body := e.edge.Do(t, e.edge.Request(t, "GET", hOpen, "/normal", nil))
			if resp.StatusCode != 200 || body != "origin ok" {
				t.Fatalf("normal client: %d %q", resp.StatusCode, body)
			}
			took = append(took, time.Since(start))
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		return took[len(took)/2]
	}
	baseline := measure()

	kinds := []struct {
		name, raw string
		share     int // of 10
		answered  int // the status the edge answers before closing, or 0
	}{
		{"head never finished", "GET / HTTP/1.1\r\nHost: " + hOpen + "\r\nX-Slow: 1\r\n", 5, 0},
		{"body to a protected app", "POST / HTTP/1.1\r\nHost: " + hPrivate + "\r\nContent-Length: 100\r\n\r\n", 3, 401},
		{"body to a public app", "POST /stalled HTTP/1.1\r\nHost: " + hOpen + "\r\nContent-Length: 100\r\n\r\n", 2, 408},
	}
	type outcome struct {
		kind   int
		status int
		closed time.Duration // after the request was sent
		err    error
	}
	outcomes := make(chan outcome, total)
	var opened, closed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	start := time.Now()
	for k, kind := range kinds {
		for i := 0; i < total*kind.share/10; i++ {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer closed.Add(1)
				conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					<-sem
					outcomes <- outcome{kind: k, err: err}
					return
				}
				defer conn.Close()
				opened.Add(1)
				sent := time.Now()
				_, err = io.WriteString(conn, kind.raw)
				<-sem
				if err != nil {
					outcomes <- outcome{kind: k, err: err}
					return
				}
				_ = conn.SetReadDeadline(time.Now().Add(headerTimeout + bodyTimeout + 20*time.Second))
				br := bufio.NewReader(conn)
				o := outcome{kind: k}
				if resp, err := http.ReadResponse(br, nil); err == nil {
					o.status = resp.StatusCode
					_, _ = io.Copy(io.Discard, resp.Body)
				}
				_, err = br.ReadByte()
				o.closed = time.Since(sent)
				if err != io.EOF && !strings.Contains(errString(err), "reset") {
					o.err = err
				}
				outcomes <- o
			}()
		}
	}
	for len(sem) > 0 {
		time.Sleep(time.Millisecond)
	}
	openDuring := opened.Load() - closed.Load()
	t.Logf("opened %d connections in %v; %d stalled while the normal client is measured", opened.Load(), time.Since(start), openDuring)
	loaded := measure()
	wg.Wait()
	close(outcomes)
	worst := make([]time.Duration, len(kinds))
	for o := range outcomes {
		if o.err != nil {
			t.Errorf("%s: not closed by the edge: %v", kinds[o.kind].name, o.err)
			continue
		}
		if o.status != kinds[o.kind].answered {
			t.Errorf("%s: answered %d, want %d", kinds[o.kind].name, o.status, kinds[o.kind].answered)
		}
		worst[o.kind] = max(worst[o.kind], o.closed)
	}
	for k, kind := range kinds {
		t.Logf("%s (%d connections): all closed by the edge, the last after %v", kind.name, total*kind.share/10, worst[k].Round(time.Millisecond))
	}
	t.Logf("normal client median latency: %v alone, %v with %d stalled connections open (ratio %.2f)",
		baseline, loaded, openDuring, float64(loaded)/float64(baseline))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
