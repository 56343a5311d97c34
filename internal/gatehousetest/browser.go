package gatehousetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// ActionTimeout bounds every browser action, starting the browser included.
const ActionTimeout = 30 * time.Second

// Browser is a headless Chromium for one test, with a profile of its own,
// that reaches the edge by the LoopbackHosts names over HTTPS and trusts
// only the edge's LoopbackCert. It has one tab, and records its console.
// Its methods fail the test they are given when the browser does.
type Browser struct {
	// Port is the edge's port; every URL the browser opens names it, and so
	// does every origin it sends (https://app.example.test:<port>).
	Port string

	ctx context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// chromiumPath finds the browser: Debian's /usr/bin/chromium, or a
// chromium on PATH.
func chromiumPath() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	p, _ := exec.LookPath("chromium")
	return p
}

// browserFlags are the Chromium command-line flags, in order, for an edge
// on edgeIP, with a profile in userDataDir, trusting only the certificate
// whose public key hashes to spki.
func browserFlags(edgeIP, userDataDir, spki string) [][2]string {
	var rules []string
	for _, h := range LoopbackHosts {
		if net.ParseIP(h) == nil && h != "localhost" {
			rules = append(rules, "MAP "+h+" "+edgeIP)
		}
	}
	// Nothing else resolves, so the test never leaves the machine; the
	// loopback address stays itself (the test OpenID Provider lives there).
	rules = append(rules, "MAP * ~NOTFOUND", "EXCLUDE 127.0.0.1")
	return [][2]string{
		{"headless", ""},
		{"no-sandbox", ""},
		{"disable-gpu", ""},
		{"disable-background-networking", ""},
		{"disable-component-update", ""},
		{"disable-sync", ""},
		{"disable-extensions", ""},
		{"disable-dev-shm-usage", ""}, // /dev/shm is 64 MB in a default container
		{"no-first-run", ""},
		{"disable-quic", ""},
		{"user-data-dir", userDataDir},
		{"host-resolver-rules", strings.Join(rules, ", ")},
		// Chromium honours this only with --user-data-dir: certificate
		// errors are ignored for a chain holding this key, and no other.
		{"ignore-certificate-errors-spki-list", spki},
	}
}

// StartBrowser starts Chromium for a TLS test edge at edgeAddr (host:port,
// or its URL), stopped when the test ends. Without Chromium installed the
// test is skipped, unless CI is set: then it fails.
func StartBrowser(tb testing.TB, edgeAddr string) *Browser {
	tb.Helper()
	exe := chromiumPath()
	if exe == "" {
		if os.Getenv("CI") == "" {
			tb.Skip("chromium is not installed (apt-get install chromium); browser tests skipped")
		}
		tb.Fatal("chromium is not installed, and CI is set: browser tests cannot run")
	}
	if u, err := url.Parse(edgeAddr); err == nil && u.Host != "" {
		edgeAddr = u.Host
	}
	host, port, err := net.SplitHostPort(edgeAddr)
	if err != nil {
		tb.Fatalf("StartBrowser: edge address %q: %v", edgeAddr, err)
	}
	cert, _ := LoopbackCert(tb)
	dir := tb.TempDir() // removed after the browser has stopped (cleanups run last first)
	// Chromium, unlike Google Chrome, blocks third-party cookies by default
	// (blocked reason "UserPreferences"); allow them, as Chrome does for its
	// users. BlockThirdPartyCookies turns the block back on.
	if err := os.MkdirAll(filepath.Join(dir, "Default"), 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Default", "Preferences"), []byte(`{"profile":{"cookie_controls_mode":0}}`), 0o600); err != nil {
		tb.Fatal(err)
	}

	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe)}
	for _, f := range browserFlags(host, dir, SPKIHash(cert.Leaf)) {
		var value any = f[1]
		if f[1] == "" {
			value = true
		}
		opts = append(opts, chromedp.Flag(f[0], value))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &Browser{Port: port, ctx: ctx}

	// The first action binds the browser's life to its context, so it runs
	// on ctx itself, bounded by a timer rather than a deadline.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err = <-started:
	case <-time.After(ActionTimeout):
		err = fmt.Errorf("no browser after %v", ActionTimeout)
	}
	if err != nil {
		cancel()
		cancelAlloc()
		tb.Fatalf("StartBrowser: %s: %v", exe, err)
	}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		if tb.Failed() {
			for _, m := range b.Console() {
				tb.Logf("browser console: %s", m)
			}
		}
		cancel()
		cancelAlloc()
		<-done
	})
	return b
}

// run runs one action, bounded by ActionTimeout, and fails the test if it
// fails.
func run[T any](tb testing.TB, b *Browser, what string, a chromedp.Action[T]) T {
	tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, ActionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// URL is https://host:<edge port>path.
func (b *Browser) URL(host, path string) string {
	return "https://" + net.JoinHostPort(host, b.Port) + path
}

// Origin is the web origin of a page on host: https://host:<edge port>.
func (b *Browser) Origin(host string) string { return b.URL(host, "") }

// Navigate loads url in the tab and waits for the page to load.
func (b *Browser) Navigate(tb testing.TB, url string) {
	tb.Helper()
	run(tb, b, "navigate to "+url, chromedp.Navigate(url))
}

// Eval evaluates a JavaScript expression in the page, waits for it if it
// is a promise, and decodes its JSON value into out (nil: discarded). A
// thrown exception or a rejected promise fails the test.
func (b *Browser) Eval(tb testing.TB, js string, out any) {
	tb.Helper()
	raw := run(tb, b, "evaluate "+js, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.Fatalf("browser: evaluate %s: decode %s: %v", js, raw, err)
		}
	}
}

// FetchInit is the second argument of the page's fetch call.
type FetchInit struct {
	Method  string            `json:"method,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	// Credentials is "include" to send cookies cross-origin.
	Credentials string `json:"credentials,omitempty"`
}

// FetchResult is what the page's script saw of a fetch.
type FetchResult struct {
	// Error is the rejection (such as "TypeError: Failed to fetch"), empty
	// when the fetch resolved with a response.
	Error  string `json:"error"`
	Status int    `json:"status"`
	Body   string `json:"body"`
	// Header holds the response headers the script may read.
	Header map[string]string `json:"header"`
}

const fetchJS = `(async (url, init) => {
	try {
		const r = await fetch(url, init);
		const header = {};
		r.headers.forEach((v, k) => { header[k] = v; });
		return {status: r.status, body: await r.text(), header};
	} catch (e) {
		return {error: String(e)};
	}
})(%s, %s)`

// Fetch runs fetch(url, init) in the page, as the page's own script would,
// and returns what the script saw: a response or the rejection.
func (b *Browser) Fetch(tb testing.TB, url string, init FetchInit) FetchResult {
	tb.Helper()
	u, _ := json.Marshal(url)
	i, _ := json.Marshal(init)
	var r FetchResult
	b.Eval(tb, fmt.Sprintf(fetchJS, u, i), &r)
	return r
}

// SetCookie stores a cookie as if host had set it: host-only unless
// c.Domain is set, with c's path, Secure, HttpOnly, SameSite and expiry.
func (b *Browser) SetCookie(tb testing.TB, host string, c *http.Cookie) {
	tb.Helper()
	p := network.SetCookieParams{
		Name:     c.Name,
		Value:    c.Value,
		URL:      b.URL(host, "/"),
		Domain:   c.Domain,
		Path:     c.Path,
		Secure:   &c.Secure,
		HTTPOnly: &c.HttpOnly,
	}
	switch c.SameSite {
	case http.SameSiteNoneMode:
		p.SameSite = network.CookieSameSiteNone
	case http.SameSiteLaxMode:
		p.SameSite = network.CookieSameSiteLax
	case http.SameSiteStrictMode:
		p.SameSite = network.CookieSameSiteStrict
	}
	run(tb, b, "set cookie "+c.Name+" for "+host, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetCookie, p)
		return err
	}))
}

// oldSetCookieControlsParams is Network.setCookieControls as Chromium 148
// (Debian bookworm's for a while) takes it: every field required.
type oldSetCookieControlsParams struct {
	EnableThirdPartyCookieRestriction bool `json:"enableThirdPartyCookieRestriction"`
	DisableThirdPartyCookieMetadata   bool `json:"disableThirdPartyCookieMetadata"`
	DisableThirdPartyCookieHeuristics bool `json:"disableThirdPartyCookieHeuristics"`
}

var oldSetCookieControls = cdp.Command[oldSetCookieControlsParams, cdp.Empty]{Method: network.CommandSetCookieControls}

// BlockThirdPartyCookies makes the browser keep cookies off cross-site
// requests, as Safari and Chromium's own default do (and Firefox, in
// effect, by partitioning them), and reloads the page, which the setting
// needs to take effect.
func (b *Browser) BlockThirdPartyCookies(tb testing.TB) {
	tb.Helper()
	run(tb, b, "block third-party cookies", chromedp.Steps(
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			// Chromium before 150 or so requires two more parameters,
			// which later versions dropped; try the old form first.
			_, err := cdp.Call(ctx, t, oldSetCookieControls, oldSetCookieControlsParams{EnableThirdPartyCookieRestriction: true})
			if err != nil {
				_, err = cdp.Call(ctx, t, network.SetCookieControls, network.SetCookieControlsParams{EnableThirdPartyCookieRestriction: true})
			}
			return err
		}),
		chromedp.Reload(),
	))
}

// Console returns the console messages so far: the page's console calls,
// uncaught exceptions and the browser's own log (where CORS errors go).
func (b *Browser) Console() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), b.console...)
}

// WaitConsole waits up to 10s for a console message containing every one
// of parts, and returns it; the browser reports some errors a moment after
// the script sees them.
func (b *Browser) WaitConsole(tb testing.TB, parts ...string) chromedp.ConsoleMessage {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, m := range b.Console() {
			if containsAll(m.Text, parts) {
				return m
			}
		}
		if time.Now().After(deadline) {
			var all []string
			for _, m := range b.Console() {
				all = append(all, m.String())
			}
			tb.Fatalf("browser: no console message with %q; console:\n%s", parts, strings.Join(all, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// StartCORSOrigin starts a recording origin that does CORS itself, as an
// origin behind a preflight bypass must: it answers a preflight with 204,
// allowing the requested method and headers, and every response echoes
// the request's Origin with credentials allowed. It allows any origin, so
// what a browser test sees is the edge's doing. Other requests get 200
// "origin ok".
func StartCORSOrigin(tb testing.TB) *Origin {
	tb.Helper()
	o := &Origin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		o.mu.Lock()
		o.requests = append(o.requests, r.Clone(context.Background()))
		o.mu.Unlock()
		h := w.Header()
		h.Set("X-Origin", "yes")
		h.Set("Vary", "Origin")
		if origin := r.Header.Get("Origin"); origin != "" {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", r.Header.Get("Access-Control-Request-Method"))
			if hdrs := r.Header.Get("Access-Control-Request-Headers"); hdrs != "" {
				h.Set("Access-Control-Allow-Headers", hdrs)
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_, _ = io.WriteString(w, "origin ok")
	}))
	tb.Cleanup(o.Close)
	return o
}

// Listen calls fn with every DevTools protocol event of the tab from now
// on, such as *network.EventRequestWillBeSent; the rules of chromedp.Listen
// hold for fn (return fast, run no command). The network events are what
// a HAR export is made of.
func (b *Browser) Listen(tb testing.TB, fn func(ev any)) {
	tb.Helper()
	if err := chromedp.Listen(b.ctx, fn); err != nil {
		tb.Fatalf("browser: listen: %v", err)
	}
}

// Do runs fn with the tab's target, for a DevTools command the Browser
// has no method for, and fails the test if it fails.
func (b *Browser) Do(tb testing.TB, what string, fn func(ctx context.Context, t *chromedp.Target) error) {
	tb.Helper()
	run(tb, b, what, chromedp.Func(fn))
}
