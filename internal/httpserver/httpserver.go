// Package httpserver builds Gatehouse's HTTP servers (edge, API, metrics)
// so that a slow or hung client cannot hold them: every wait for a peer is
// bounded (request head, keep-alive idle, each read of a request body), a
// request body left unread closes the connection instead of being
// drained, and shutdown waits for in-flight requests for a bounded time.
package httpserver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of Timeouts.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultBodyReadTimeout   = 30 * time.Second
	DefaultShutdownTimeout   = 15 * time.Second
)

// Timeouts bound how long a server waits for a peer.
type Timeouts struct {
	// ReadHeader bounds reading a request's line and headers.
	ReadHeader time.Duration
	// Idle bounds the wait for the next request on a kept-alive connection.
	Idle time.Duration
	// BodyRead bounds each read of a request body: the time the client may
	// take to send the next bytes, not the whole upload, so that a large
	// body that keeps arriving is never cut (nginx's client_body_timeout).
	BodyRead time.Duration
	// Shutdown bounds the wait for in-flight requests at shutdown.
	Shutdown time.Duration
}

// Defaults returns the default timeouts.
func Defaults() Timeouts {
	return Timeouts{ReadHeader: DefaultReadHeaderTimeout, Idle: DefaultIdleTimeout, BodyRead: DefaultBodyReadTimeout, Shutdown: DefaultShutdownTimeout}
}

// WithDefaults returns t with each zero field set to its default.
func (t Timeouts) WithDefaults() Timeouts {
	d := Defaults()
	if t.ReadHeader <= 0 {
		t.ReadHeader = d.ReadHeader
	}
	if t.Idle <= 0 {
		t.Idle = d.Idle
	}
	if t.BodyRead <= 0 {
		t.BodyRead = d.BodyRead
	}
	if t.Shutdown <= 0 {
		t.Shutdown = d.Shutdown
	}
	return t
}

// New returns a server for h with t applied: the header and idle timeouts
// on the server, the body read timeout through Guard. There is no
// ReadTimeout or WriteTimeout: they would cut long uploads and streamed
// responses that are making progress.
func New(h http.Handler, t Timeouts) *http.Server {
	t = t.WithDefaults()
	return &http.Server{Handler: Guard(h, t.BodyRead), ReadHeaderTimeout: t.ReadHeader, IdleTimeout: t.Idle}
}

// Serve serves srv on ln until ctx ends, then shuts down: it stops
// accepting, waits for in-flight requests for at most shutdown, and closes
// what is left. It serves HTTPS with certFile and keyFile, or with
// srv.TLSConfig when that is set (its certificates or GetCertificate).
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, certFile, keyFile string, shutdown time.Duration) error {
	errc := make(chan error, 1)
	go func() {
		if certFile != "" || srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if shutdown <= 0 {
		shutdown = DefaultShutdownTimeout
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdown)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// Guard bounds each read of a request body by bodyRead and, when a
// handler answers without reading the whole body (a refusal, a login
// redirect, a body over its limit), closes the connection after the
// response instead of draining the rest: the unread bytes make the
// connection unusable, and draining them waits on the client. It also
// closes the connection after every HTTP/1 request with a
// Transfer-Encoding.
func Guard(h http.Handler, bodyRead time.Duration) http.Handler {
	if bodyRead <= 0 {
		bodyRead = DefaultBodyReadTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
			// RFC 9112 §6.1: after a request with both Content-Length and
			// Transfer-Encoding the server must close the connection. Go's
			// server drops the Content-Length before a handler sees the
			// request, so every chunked request is treated as such.
			w.Header().Set("Connection", "close")
		}
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		b := &guardedBody{src: r.Body, rc: http.NewResponseController(w), timeout: bodyRead}
		gw := &guardedWriter{ResponseWriter: w, body: b, http1: r.ProtoMajor == 1}
		r.Body = b
		defer b.finish()
		h.ServeHTTP(gw, r)
	})
}

// BodyError returns the error the reads of a request body guarded by
// Guard (an inbound r.Body) failed with (a timeout, a malformed chunk),
// or nil: it tells a client that failed to send its body apart from an
// origin that failed to answer.
func BodyError(body io.Reader) error {
	if b, ok := body.(*guardedBody); ok {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.err
	}
	return nil
}

// IsTimeout reports whether err is a body read that timed out.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// guardedBody extends the connection's read deadline before each read,
// and remembers whether the body was read to its end.
type guardedBody struct {
	src     io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration

	mu     sync.Mutex
	eof    bool
	done   bool // the handler returned: the connection is no longer ours
	err    error
	armed  bool
	closed bool
}

func (b *guardedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.done || b.eof {
		eof := b.eof
		b.mu.Unlock()
		if eof {
			return 0, io.EOF
		}
		return 0, http.ErrBodyReadAfterClose
	}
	// HTTP/2 and some writers cannot set deadlines; the server's own
	// timeouts still apply to them.
	if b.rc.SetReadDeadline(time.Now().Add(b.timeout)) == nil {
		b.armed = true
	}
	b.mu.Unlock()
	n, err := b.src.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case err == io.EOF:
		b.eof = true
		b.disarm()
	case err != nil && b.err == nil && !b.closed:
		b.err = err
	}
	return n, err
}

func (b *guardedBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return b.src.Close()
}

// disarm clears the read deadline once the body is read: the server then
// watches the idle connection for a client that goes away, and that read
// must not time out while the handler is still working.
func (b *guardedBody) disarm() {
	if b.armed && !b.done {
		_ = b.rc.SetReadDeadline(time.Time{})
		b.armed = false
	}
}

// unread reports whether bytes of the body may still be on the wire.
func (b *guardedBody) unread() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.eof
}

// finish runs as the handler returns. A body not read to its end would be
// drained by the server before it reads the next request, with no
// deadline; an expired deadline makes that drain fail at once, and the
// connection (already marked to close) is closed.
func (b *guardedBody) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.eof {
		_ = b.rc.SetReadDeadline(time.Now())
	}
	b.done = true
}

// guardedWriter adds "Connection: close" to a response written while the
// request body is not read to its end (HTTP/1 only: an HTTP/2 stream is
// reset on its own, and its connection is shared).
type guardedWriter struct {
	http.ResponseWriter
	body        *guardedBody
	http1       bool
	wroteHeader bool
}

func (g *guardedWriter) before() {
	if g.wroteHeader {
		return
	}
	g.wroteHeader = true
	if g.http1 && g.body.unread() {
		g.ResponseWriter.Header().Set("Connection", "close")
	}
}

func (g *guardedWriter) WriteHeader(code int) {
	if code < 200 { // informational: the final response is still to come
		g.ResponseWriter.WriteHeader(code)
		return
	}
	g.before()
	g.ResponseWriter.WriteHeader(code)
}

func (g *guardedWriter) Write(p []byte) (int, error) {
	g.before()
	return g.ResponseWriter.Write(p)
}

// Flush writes the header (deciding on Connection: close first) and
// flushes.
func (g *guardedWriter) Flush() {
	g.before()
	_ = http.NewResponseController(g.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection (deadlines,
// hijacking for upgrades).
func (g *guardedWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }
