package httpserver_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
)

// start serves h with t on loopback and returns its address.
func start(tb testing.TB, h http.Handler, t httpserver.Timeouts) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- httpserver.Serve(ctx, httpserver.New(h, t), ln, "", "", time.Second) }()
	tb.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// reader answers with how many body bytes it read, or the read error.
var reader = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		w.WriteHeader(http.StatusRequestTimeout)
		fmt.Fprintf(w, "read %d: timeout=%v", n, httpserver.IsTimeout(err))
		return
	}
	fmt.Fprintf(w, "read %d", n)
})

// send writes head, then the body pieces with a pause before each, and
// returns the response status line and body.
func send(t *testing.T, addr, head string, pause time.Duration, pieces ...string) (string, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	for _, p := range pieces {
		time.Sleep(pause)
		if _, err := io.WriteString(conn, p); err != nil {
			break // the server gave up on us
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.Status, string(b)
}

// TestBodyReadTimeoutIsPerReadNotPerUpload: a body that keeps arriving
// is read to its end however long it takes in total; one that stops is
// cut after the timeout.
func TestBodyReadTimeoutIsPerReadNotPerUpload(t *testing.T) {
	t.Parallel()
	addr := start(t, reader, httpserver.Timeouts{BodyRead: 300 * time.Millisecond})
	pieces := make([]string, 12) // 12 × 100ms: four times the timeout in all
	for i := range pieces {
		pieces[i] = "x"
	}
	status, body := send(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n", 100*time.Millisecond, pieces...)
	if status != "200 OK" || body != "read 12" {
		t.Errorf("trickling upload: %s %q", status, body)
	}
	began := time.Now()
	status, body = send(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nhello", 0)
	if status != "408 Request Timeout" || body != "read 5: timeout=true" {
		t.Errorf("stalled upload: %s %q", status, body)
	}
	t.Logf("stalled upload cut after %v", time.Since(began))
}

// TestUnreadBodyClosesTheConnection: a handler that answers without
// reading the body gets its answer out at once, and the connection is
// closed rather than drained (the client never sends the body).
func TestUnreadBodyClosesTheConnection(t *testing.T) {
	t.Parallel()
	refuse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusUnauthorized) })
	addr := start(t, refuse, httpserver.Timeouts{BodyRead: time.Minute})
	for _, head := range []string{
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(conn, head)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", head, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 401 || !resp.Close {
			t.Errorf("%q: %d, Connection: close %v", head, resp.StatusCode, resp.Close)
		}
		if _, err := br.ReadByte(); err != io.EOF && !strings.Contains(fmt.Sprint(err), "reset") {
			t.Errorf("%q: connection not closed: %v", head, err)
		}
		conn.Close()
	}
}

// TestReadBodyKeepsTheConnection: a fully read body leaves the
// connection reusable.
func TestReadBodyKeepsTheConnection(t *testing.T) {
	t.Parallel()
	addr := start(t, reader, httpserver.Timeouts{})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	for i := 0; i < 3; i++ {
		_, _ = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Close || string(b) != "read 5" {
			t.Fatalf("request %d: %d close %v %q", i, resp.StatusCode, resp.Close, b)
		}
	}
}

// TestHeaderAndIdleTimeoutsCloseConnections: a request head that never
// ends, and a kept-alive connection that sends nothing more, are closed.
func TestHeaderAndIdleTimeoutsCloseConnections(t *testing.T) {
	t.Parallel()
	addr := start(t, reader, httpserver.Timeouts{ReadHeader: 300 * time.Millisecond, Idle: 300 * time.Millisecond})
	var wg sync.WaitGroup
	for _, raw := range []string{"GET / HTTP/1.1\r\nHost: a\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(conn, raw)
			began := time.Now()
			_, err = io.Copy(io.Discard, conn) // until the server closes
			if err != nil {
				t.Errorf("%q: not closed by the server: %v", raw, err)
			}
			t.Logf("%q closed after %v", raw, time.Since(began))
		}()
	}
	wg.Wait()
}

// TestShutdownWaitsForInFlightRequests: Serve returns only once a request
// in flight when shutdown began has been answered.
func TestShutdownWaitsForInFlightRequests(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	var answered atomic.Bool
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
		answered.Store(true)
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- httpserver.Serve(ctx, httpserver.New(slow, httpserver.Timeouts{}), ln, "", "", 5*time.Second)
	}()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if !answered.Load() {
		t.Fatal("Serve returned before the in-flight request was answered")
	}
	if b := <-got; b != "done" {
		t.Fatalf("in-flight request got %q", b)
	}
}
