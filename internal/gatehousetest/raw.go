package gatehousetest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// RawResult is what a server answered to bytes sent on a raw connection.
type RawResult struct {
	// Status is the first response's status; 0 if there was none (the
	// server closed the connection without answering).
	Status int
	Header http.Header
	Body   string
	// Closed reports whether the server closed the connection after the
	// first response: a follow-up request on it got no answer.
	Closed bool
}

// RawAddr returns the host:port of a server URL.
func RawAddr(tb testing.TB, serverURL string) string {
	tb.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		tb.Fatal(err)
	}
	return u.Host
}

// RawExchange sends raw (a request exactly as written, with any
// malformation) to addr and reads one response. Then it sends a simple
// follow-up request for host on the same connection to learn whether the
// server kept the connection: Closed is true when that gets no answer.
// Every wait is bounded by timeout.
func RawExchange(tb testing.TB, addr, raw, host string, timeout time.Duration) RawResult {
	tb.Helper()
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(conn, raw); err != nil {
		tb.Fatalf("write: %v", err)
	}
	br := bufio.NewReader(conn)
	var res RawResult
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		if isClosed(err) {
			res.Closed = true
			return res
		}
		tb.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil && !isClosed(err) {
		tb.Fatalf("read body: %v", err)
	}
	res.Status, res.Header, res.Body = resp.StatusCode, resp.Header, string(body)
	if resp.Close {
		res.Closed = true
	}
	_, _ = io.WriteString(conn, "GET /follow-up HTTP/1.1\r\nHost: "+host+"\r\n\r\n")
	if _, err := http.ReadResponse(br, nil); err != nil {
		if !isClosed(err) {
			tb.Fatalf("read follow-up response: %v", err)
		}
		res.Closed = true
	} else if resp.Close {
		tb.Errorf("the server said Connection: close and then answered a follow-up request")
	}
	return res
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset")
}
