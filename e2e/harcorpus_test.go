package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/cdp/jsonv2"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// corpusDir is where the generated HAR corpus lives; the doctor's corpus
// test reads it.
var corpusDir = filepath.Join("..", "internal", "corscheck", "testdata", "har")

// corpusScenario is one failure (or success) of the CORS guide, set up
// against the real edge: fields are the API app's settings, origin its
// origin server, signedIn whether the browser holds a session for it.
type corpusScenario struct {
	name     string
	cause    string // what went wrong, as corscheck names it ("" none)
	fields   func(w *world) map[string]any
	origin   func(t *testing.T, w *world, apiHost string) string
	signedIn bool
	init     gatehousetest.FetchInit
}

// corsOriginURL starts a CORS-speaking origin (it allows everything).
func corsOriginURL(t *testing.T, _ *world, _ string) string {
	return gatehousetest.StartCORSOrigin(t).URL
}

// partialCORSOrigin is an origin behind a preflight bypass that does CORS
// itself, allowing the page's origin but only GET, POST, PUT and the
// header X-Custom, as a typical framework configuration does.
func partialCORSOrigin(t *testing.T, _ *world, _ string) string {
	s := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h := rw.Header()
		if o := r.Header.Get("Origin"); o != "" {
			h.Set("Access-Control-Allow-Origin", o)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT")
			h.Set("Access-Control-Allow-Headers", "X-Custom")
			rw.WriteHeader(http.StatusNoContent)
			return
		}
		fmt.Fprint(rw, "origin ok")
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// loginRedirectOrigin stands for an upstream that sends every request
// without a session, the preflight included, to the Access login page
// of the auth domain, as Cloudflare Access does for an app without CORS
// settings; behind a preflight bypass, the edge passes its 302 on.
func loginRedirectOrigin(t *testing.T, w *world, apiHost string) string {
	s := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, w.edge.Issuer+"/cdn-cgi/access/login/"+apiHost+"?redirect_url="+url.QueryEscape("https://"+apiHost+r.URL.RequestURI()), http.StatusFound)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

func corpusScenarios() []corpusScenario {
	cors := func(extra map[string]any) func(w *world) map[string]any {
		return func(w *world) map[string]any {
			c := map[string]any{"allowed_origins": []string{w.pageOrigin}, "allowed_methods": []string{"PUT"},
				"allowed_headers": []string{"X-Custom"}, "allow_credentials": true}
			for k, v := range extra {
				c[k] = v
			}
			return map[string]any{"cors_headers": c}
		}
	}
	none := func(*world) map[string]any { return nil }
	bypass := func(*world) map[string]any { return map[string]any{"options_preflight_bypass": true} }
	return []corpusScenario{
		{name: "preflight_refused", cause: "preflight_refused", fields: none, origin: corsOriginURL, signedIn: true, init: put("X-Custom")},
		{name: "missing_allow_origin", cause: "missing_allow_origin", fields: none,
			origin: func(t *testing.T, _ *world, _ string) string { return gatehousetest.StartOrigin(t).URL }, signedIn: true,
			init: gatehousetest.FetchInit{Credentials: "include"}},
		{name: "origin_not_allowed", cause: "preflight_disallowed", fields: func(w *world) map[string]any {
			return cors(map[string]any{"allowed_origins": []string{"https://other.example.test:" + w.browser.Port}})(w)
		}, origin: corsOriginURL, signedIn: true, init: put("X-Custom")},
		{name: "edge_method_not_allowed", cause: "preflight_disallowed", fields: cors(nil), origin: corsOriginURL, signedIn: true,
			init: gatehousetest.FetchInit{Method: "DELETE", Headers: map[string]string{"X-Custom": "1"}, Credentials: "include"}},
		{name: "edge_header_not_allowed", cause: "preflight_disallowed", fields: cors(nil), origin: corsOriginURL, signedIn: true, init: put("X-Other")},
		{name: "method_not_allowed", cause: "method_not_allowed", fields: bypass, origin: partialCORSOrigin, signedIn: true,
			init: gatehousetest.FetchInit{Method: "DELETE", Headers: map[string]string{"X-Custom": "1"}, Credentials: "include"}},
		{name: "header_not_allowed", cause: "header_not_allowed", fields: bypass, origin: partialCORSOrigin, signedIn: true, init: put("X-Other")},
		{name: "credentials_wildcard", cause: "credentials_wildcard", fields: func(*world) map[string]any {
			return map[string]any{"cors_headers": map[string]any{"allow_all_origins": true, "allow_all_methods": true, "allow_all_headers": true}}
		}, origin: corsOriginURL, signedIn: true, init: put("X-Custom")},
		{name: "login_redirect", cause: "login_redirect", fields: bypass, origin: loginRedirectOrigin, signedIn: false, init: put("X-Custom")},
		{name: "success", cause: "", fields: cors(nil), origin: corsOriginURL, signedIn: true, init: put("X-Custom")},
	}
}

// corpusEntry is one line of the corpus manifest.
type corpusEntry struct {
	File     string `json:"file"`
	Producer string `json:"producer"`
	Scenario string `json:"scenario"`
	// Cause is what actually went wrong ("" nothing).
	Cause string `json:"cause"`
	// Page is what the page's script saw.
	Page string `json:"page"`
}

// TestGenerateHARCorpus regenerates internal/corscheck/testdata/har from a
// real browser against the real edge (make har-corpus): for every
// scenario, the DevTools network events of Chromium (driven by chromedp)
// become a HAR as DevTools exports it, plain and sanitized, and a HAR made
// by the chrome-har library; Playwright's recordHar records the same
// scenario in its own Chromium; Firefox ESR's network monitor exports its
// own (when firefox-esr and certutil are installed); the browser's
// console is saved as a pasted console log. It needs node and
// GATEHOUSE_HAR_NODE_MODULES (or scripts/harcorpus/node_modules) with
// playwright-core and chrome-har.
func TestGenerateHARCorpus(t *testing.T) {
	if os.Getenv("GATEHOUSE_HAR_CORPUS") == "" {
		t.Skip("set GATEHOUSE_HAR_CORPUS=1 to regenerate the HAR corpus (make har-corpus)")
	}
	nodeModules := os.Getenv("GATEHOUSE_HAR_NODE_MODULES")
	if nodeModules == "" {
		nodeModules, _ = filepath.Abs(filepath.Join("..", "scripts", "harcorpus", "node_modules"))
	}
	scripts, _ := filepath.Abs(filepath.Join("..", "scripts", "harcorpus"))
	if err := os.MkdirAll(corpusDir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := newCorpusWorld(t)
	firefox, _ := exec.LookPath("firefox-esr")
	if firefox == "" {
		t.Log("firefox-esr is not installed (apt-get install firefox-esr libnss3-tools): no Firefox exports")
	}
	rec := &eventRecorder{}
	w.browser.Listen(t, rec.add)
	var manifest []corpusEntry
	for _, sc := range corpusScenarios() {
		apiHost := host("api", "mysite.test")
		origin := sc.origin(t, w, apiHost)
		allow := map[string]any{"name": "ann", "decision": "allow", "include": []any{map[string]any{"email": map[string]any{"email": user}}}}
		app := w.app(t, apiHost, origin, sc.fields(w), allow)
		var cookie *http.Cookie
		if sc.signedIn {
			cookie = &http.Cookie{Name: "CF_Authorization", Value: w.edge.MintSession(t, app.AUD, user, time.Hour), Path: "/",
				Secure: true, HttpOnly: true, SameSite: http.SameSiteNoneMode}
			w.browser.SetCookie(t, apiHost, cookie)
		}
		target := w.browser.URL(apiHost, "/data")

		// Chromium through DevTools: record from the page's load on.
		consoleFrom := len(w.browser.Console())
		rec.reset()
		w.browser.Navigate(t, w.browser.URL(w.page, "/"))
		got := w.browser.Fetch(t, target, sc.init)
		time.Sleep(500 * time.Millisecond) // the failure events follow the rejection
		events := rec.take()
		w.browser.Do(t, "response bodies", func(ctx context.Context, tg *chromedp.Target) error {
			for _, id := range events.finished() {
				res, err := cdp.Call(ctx, tg, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id})
				if err == nil {
					events.bodies[id] = &res
				}
			}
			return nil
		})
		seen := got.Error
		if got.Error == "" {
			seen = fmt.Sprintf("status %d", got.Status)
		}
		if (sc.cause == "") != (got.Error == "" && got.Status < 400) {
			t.Fatalf("%s: the page saw %s, want cause %q", sc.name, seen, sc.cause)
		}
		add := func(file, producer string) {
			manifest = append(manifest, corpusEntry{File: file, Producer: producer, Scenario: sc.name, Cause: sc.cause, Page: seen})
		}
		harWriteJSON(t, filepath.Join(corpusDir, sc.name+".chrome.har"), events.devtoolsHAR(false))
		add(sc.name+".chrome.har", "chrome")
		harWriteJSON(t, filepath.Join(corpusDir, sc.name+".chrome-sanitized.har"), events.devtoolsHAR(true))
		add(sc.name+".chrome-sanitized.har", "chrome-sanitized")

		var lines []string
		for _, m := range w.browser.Console()[consoleFrom:] {
			lines = append(lines, harConsoleLine(m))
		}
		if err := os.WriteFile(filepath.Join(corpusDir, sc.name+".chrome.console.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		add(sc.name+".chrome.console.txt", "chrome-console")

		// chrome-har, from the same events.
		evFile := filepath.Join(t.TempDir(), "events.json")
		harWriteJSON(t, evFile, events.messages())
		harNode(t, nodeModules, filepath.Join(scripts, "chromehar.js"), evFile, filepath.Join(corpusDir, sc.name+".chrome-har.har"))
		add(sc.name+".chrome-har.har", "chrome-har")

		// Playwright's recordHar, in a browser of its own.
		cfg := map[string]any{
			"chromium": "/usr/bin/chromium", "userDataDir": harProfileDir(t), "args": playwrightArgs(w),
			"har": filepath.Join(corpusDir, sc.name+".playwright.har"), "page": w.browser.URL(w.page, "/"), "url": target, "init": sc.init,
		}
		if cookie != nil {
			cfg["cookie"] = map[string]any{"name": cookie.Name, "value": cookie.Value, "domain": apiHost, "path": "/",
				"secure": true, "httpOnly": true, "sameSite": "None"}
		}
		cfgFile := filepath.Join(t.TempDir(), "playwright.json")
		harWriteJSON(t, cfgFile, cfg)
		pw := harNode(t, nodeModules, filepath.Join(scripts, "playwright.js"), cfgFile)
		t.Logf("%s: chromedp page saw %s; playwright page saw %s", sc.name, seen, strings.TrimSpace(pw))
		add(sc.name+".playwright.har", "playwright")

		// Firefox's own HAR export (its network monitor's automation),
		// without the session: a script cannot give Firefox a cookie
		// here. A preflight never carries one, so only the success
		// scenario changes: the edge's readable 401.
		if firefox != "" {
			firefoxHAR(t, w, firefox, sc.name, target, sc.init, filepath.Join(corpusDir, sc.name+".firefox.har"))
			cause := sc.cause
			if sc.signedIn && cause == "" {
				cause = "no_session"
			}
			manifest = append(manifest, corpusEntry{File: sc.name + ".firefox.har", Producer: "firefox", Scenario: sc.name, Cause: cause, Page: "not observed"})
		}
	}
	sort.Slice(manifest, func(i, j int) bool { return manifest[i].File < manifest[j].File })
	harWriteJSON(t, filepath.Join(corpusDir, "manifest.json"), manifest)
}

// newCorpusWorld is newWorld with a page that can also make the fetch
// itself, for a browser no script drives: /ff?u=URL&i=INIT waits for the
// developer tools to open, then goes to /ff-run, whose inline script
// calls fetch(URL, INIT) (Firefox exports a HAR when a page loads).
func newCorpusWorld(t *testing.T) *world {
	t.Helper()
	a := gatehousetest.NewAPI(t)
	ed := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, TLS: true, TestHostsToEdge: true})
	w := &world{api: a, edge: ed, browser: gatehousetest.StartBrowser(t, ed.URL)}
	w.page = host("app", "example.test")
	w.pageOrigin = w.browser.Origin(w.page)
	pageServer := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/ff":
			fmt.Fprint(rw, `<!doctype html><html><head><title>app</title><script>setTimeout(() => { location = "/ff-run" + location.search; }, 5000);</script></head><body>app</body></html>`)
		case "/ff-run":
			fmt.Fprint(rw, `<!doctype html><html><head><title>app</title><script>
const q = new URLSearchParams(location.search);
fetch(q.get("u"), JSON.parse(q.get("i"))).then(r => { document.title = "status " + r.status; }, e => { document.title = String(e); });
</script></head><body>app</body></html>`)
		default:
			fmt.Fprint(rw, "<!doctype html><html><head><title>app</title></head><body>app</body></html>")
		}
	}))
	t.Cleanup(pageServer.Close)
	w.app(t, w.page, pageServer.URL, nil, map[string]any{"name": "anyone", "decision": "bypass", "include": []any{map[string]any{"everyone": map[string]any{}}}})
	w.browser.Navigate(t, w.browser.URL(w.page, "/"))
	return w
}

// firefoxHAR records target's fetch with Firefox's network monitor, whose
// HAR automation (devtools.netmonitor.har.enableAutoExportToFile) writes
// the export when the page that makes the fetch has loaded and its
// requests are done, and copies the export to out. Firefox trusts the
// edge's test CA (certutil) and resolves every name to the edge.
func firefoxHAR(t *testing.T, w *world, firefox, name, target string, init gatehousetest.FetchInit, out string) {
	t.Helper()
	dir := t.TempDir()
	prof, harDir := filepath.Join(dir, "profile"), filepath.Join(dir, "har")
	for _, d := range []string{prof, harDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := url.Parse(w.edge.URL)
	ip, _, _ := net.SplitHostPort(u.Host)
	prefs := map[string]any{
		"devtools.netmonitor.har.enableAutoExportToFile": true, "devtools.netmonitor.har.defaultLogDir": harDir,
		"devtools.netmonitor.har.defaultFileName": name, "devtools.netmonitor.har.forceExport": true,
		"devtools.netmonitor.har.includeResponseBodies": true, "devtools.toolbox.selectedTool": "netmonitor",
		"network.dns.forceResolve": ip, "network.proxy.type": 0, "browser.shell.checkDefaultBrowser": false,
		"datareporting.policy.dataSubmissionEnabled": false, "toolkit.telemetry.reportingpolicy.firstRun": false,
		"browser.aboutwelcome.enabled": false, "app.update.disabledForTesting": true,
	}
	var userJS strings.Builder
	for k, v := range prefs {
		b, _ := json.Marshal(v)
		fmt.Fprintf(&userJS, "user_pref(%q, %s);\n", k, b)
	}
	if err := os.WriteFile(filepath.Join(prof, "user.js"), []byte(userJS.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := gatehousetest.LoopbackCert(t)
	caFile := filepath.Join(dir, "ca.der")
	if err := os.WriteFile(caFile, cert.Certificate[len(cert.Certificate)-1], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-N", "-d", "sql:" + prof, "--empty-password"}, {"-A", "-d", "sql:" + prof, "-n", "gatehouse-test-ca", "-t", "C,,", "-i", caFile}} {
		if b, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, b)
		}
	}
	i, _ := json.Marshal(init)
	start := w.browser.URL(w.page, "/ff?"+url.Values{"u": {target}, "i": {string(i)}}.Encode())
	cmd := exec.Command(firefox, "-headless", "-no-remote", "-profile", prof, "-devtools", start)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(harDir, "*.har"))
		if len(files) > 0 {
			time.Sleep(time.Second) // let the writer finish
			b, err := os.ReadFile(files[0])
			if err != nil || !json.Valid(b) {
				t.Fatalf("firefox %s: HAR export %s: %v", name, files[0], err)
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("firefox %s: no HAR export after 60s", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// harConsoleLine is a console message as DevTools' "Save as…" writes it:
// the source location, then the text.
func harConsoleLine(m chromedp.ConsoleMessage) string {
	loc := m.URL
	if u, err := url.Parse(m.URL); err == nil && u.Host != "" {
		loc = u.Host + u.Path
	}
	if loc == "" {
		return m.Text
	}
	return fmt.Sprintf("%s:%d %s", loc, m.Line+1, m.Text)
}

// harProfileDir is a Chromium profile that allows third-party cookies, as
// Google Chrome does (Debian's Chromium blocks them by default).
func harProfileDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "Default"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Default", "Preferences"), []byte(`{"profile":{"cookie_controls_mode":0}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// playwrightArgs send the test hosts to the edge, as StartBrowser does.
func playwrightArgs(w *world) []string {
	u, _ := url.Parse(w.edge.URL)
	ip, _, _ := net.SplitHostPort(u.Host)
	var rules []string
	for _, h := range gatehousetest.LoopbackHosts {
		if net.ParseIP(h) == nil && h != "localhost" {
			rules = append(rules, "MAP "+h+" "+ip)
		}
	}
	rules = append(rules, "MAP * ~NOTFOUND", "EXCLUDE 127.0.0.1")
	return []string{"--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--host-resolver-rules=" + strings.Join(rules, ", ")}
}

func harNode(t *testing.T, nodeModules string, args ...string) string {
	t.Helper()
	cmd := exec.Command("node", args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node %v: %v\n%s", args, err, stderr)
	}
	return string(out)
}

func harWriteJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// eventRecorder keeps the DevTools events of the tab, in order.
type eventRecorder struct {
	mu     sync.Mutex
	events []any
}

func (r *eventRecorder) add(ev any) {
	switch ev.(type) {
	case *network.EventRequestWillBeSent, *network.EventRequestWillBeSentExtraInfo, *network.EventResponseReceived,
		*network.EventResponseReceivedExtraInfo, *network.EventLoadingFinished, *network.EventLoadingFailed,
		*network.EventDataReceived, *page.EventFrameStartedLoading, *page.EventLoadEventFired, *page.EventDomContentEventFired:
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
	}
}

func (r *eventRecorder) reset() {
	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
}

func (r *eventRecorder) take() *recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &recording{events: append([]any(nil), r.events...), bodies: map[network.RequestID]*network.GetResponseBodyResult{}}
}

// recording is the events of one scenario.
type recording struct {
	events []any
	bodies map[network.RequestID]*network.GetResponseBodyResult
}

func (r *recording) finished() []network.RequestID {
	var ids []network.RequestID
	for _, ev := range r.events {
		if f, ok := ev.(*network.EventLoadingFinished); ok {
			ids = append(ids, f.RequestID)
		}
	}
	return ids
}

var eventMethods = map[string]string{
	"*network.EventRequestWillBeSent":          "Network.requestWillBeSent",
	"*network.EventRequestWillBeSentExtraInfo": "Network.requestWillBeSentExtraInfo",
	"*network.EventResponseReceived":           "Network.responseReceived",
	"*network.EventResponseReceivedExtraInfo":  "Network.responseReceivedExtraInfo",
	"*network.EventLoadingFinished":            "Network.loadingFinished",
	"*network.EventLoadingFailed":              "Network.loadingFailed",
	"*network.EventDataReceived":               "Network.dataReceived",
	"*page.EventFrameStartedLoading":           "Page.frameStartedLoading",
	"*page.EventLoadEventFired":                "Page.loadEventFired",
	"*page.EventDomContentEventFired":          "Page.domContentEventFired",
}

// messages are the events as the protocol sends them ({method, params}),
// which chrome-har reads (without response bodies, which it takes from
// no event).
func (r *recording) messages() []map[string]any {
	var out []map[string]any
	for _, ev := range r.events {
		b, err := jsonv2.Marshal(ev)
		if err != nil {
			continue
		}
		var params map[string]any
		_ = json.Unmarshal(b, &params)
		out = append(out, map[string]any{"method": eventMethods[fmt.Sprintf("%T", ev)], "params": params})
	}
	return out
}

// devtoolsHAR builds the HAR that DevTools' Network panel exports from
// these events ("Export HAR (with sensitive data)"; sanitized: the
// default "Export HAR (sanitized)", without Cookie, Set-Cookie and
// Authorization). It follows DevTools' HARWriter: the raw headers of the
// ExtraInfo events when there are any, the ExtraInfo status of a response
// the browser blocked, status 0 and _error for a request that got no
// response, a preflight as an entry of its own.
func (r *recording) devtoolsHAR(sanitized bool) map[string]any {
	type req struct {
		id         network.RequestID
		sent       *network.EventRequestWillBeSent
		extraReq   network.Headers
		resp       *network.Response
		extraResp  *network.EventResponseReceivedExtraInfo
		failed     *network.EventLoadingFailed
		redirected *network.Response
	}
	var order []*req
	byID := map[network.RequestID]*req{}
	var pageStart float64
	for _, ev := range r.events {
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			if old := byID[e.RequestID]; old != nil && e.RedirectResponse != nil {
				old.redirected = e.RedirectResponse
				old.id = old.id + ":redirected"
			}
			q := &req{id: e.RequestID, sent: e}
			byID[e.RequestID] = q
			order = append(order, q)
			if pageStart == 0 {
				pageStart = float64(e.WallTime)
			}
		case *network.EventRequestWillBeSentExtraInfo:
			if q := byID[e.RequestID]; q != nil {
				q.extraReq = e.Headers
			}
		case *network.EventResponseReceived:
			if q := byID[e.RequestID]; q != nil {
				q.resp = e.Response
			}
		case *network.EventResponseReceivedExtraInfo:
			if q := byID[e.RequestID]; q != nil {
				q.extraResp = e
			}
		case *network.EventLoadingFailed:
			if q := byID[e.RequestID]; q != nil {
				q.failed = e
			}
		}
	}
	headers := func(h network.Headers, drop bool) []map[string]any {
		var out []map[string]any
		keys := make([]string, 0, len(h))
		for k := range h {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if sanitized && drop {
				switch strings.ToLower(k) {
				case "cookie", "set-cookie", "authorization":
					continue
				}
			}
			for _, v := range strings.Split(fmt.Sprint(h[k]), "\n") {
				out = append(out, map[string]any{"name": k, "value": v})
			}
		}
		if out == nil {
			out = []map[string]any{}
		}
		return out
	}
	cookies := func(h network.Headers, name string) []map[string]any {
		out := []map[string]any{}
		if sanitized {
			return out
		}
		for k, v := range h {
			if !strings.EqualFold(k, name) {
				continue
			}
			for _, line := range strings.Split(fmt.Sprint(v), "\n") {
				if name == "cookie" {
					for _, c := range strings.Split(line, ";") {
						n, val, _ := strings.Cut(strings.TrimSpace(c), "=")
						out = append(out, map[string]any{"name": n, "value": val})
					}
				} else if c, err := http.ParseSetCookie(line); err == nil {
					out = append(out, map[string]any{"name": c.Name, "value": c.Value, "path": c.Path, "domain": c.Domain,
						"httpOnly": c.HttpOnly, "secure": c.Secure, "sameSite": harSameSite(c.SameSite)})
				}
			}
		}
		return out
	}
	var entries []map[string]any
	for _, q := range order {
		e := q.sent
		reqH := e.Request.Headers
		if q.extraReq != nil {
			reqH = q.extraReq
		}
		status, statusText, proto, mime := 0, "", "", "x-unknown"
		var respH network.Headers
		resp := q.resp
		if q.redirected != nil {
			resp = q.redirected
		}
		if resp != nil {
			status, statusText, proto, mime, respH = int(resp.Status), resp.StatusText, resp.Protocol, resp.MimeType, resp.Headers
		}
		if q.extraResp != nil {
			respH = q.extraResp.Headers
			if status == 0 {
				status = int(q.extraResp.StatusCode)
			}
		}
		response := map[string]any{
			"status": status, "statusText": statusText, "httpVersion": proto, "headers": headers(respH, true),
			"cookies": cookies(respH, "set-cookie"), "content": map[string]any{"size": 0, "mimeType": mime},
			"redirectURL": "", "headersSize": -1, "bodySize": -1, "_transferSize": 0, "_error": nil,
		}
		if loc := harHeaderValue(respH, "Location"); loc != "" && status >= 300 && status < 400 {
			response["redirectURL"] = loc
		}
		if q.failed != nil && q.redirected == nil {
			response["_error"] = q.failed.ErrorText
		}
		if b := r.bodies[q.id]; b != nil {
			c := response["content"].(map[string]any)
			c["text"] = string(b.Body)
			c["size"] = len(b.Body)
		}
		request := map[string]any{
			"method": e.Request.Method, "url": e.Request.URL, "httpVersion": proto, "headers": headers(reqH, true),
			"queryString": []any{}, "cookies": cookies(reqH, "cookie"), "headersSize": -1, "bodySize": 0,
		}
		if e.Request.HasPostData {
			request["bodySize"] = 1
		}
		initiator := map[string]any{"type": "other"}
		if e.Initiator != nil {
			initiator = map[string]any{"type": string(e.Initiator.Type)}
			if e.Initiator.URL != "" {
				initiator["url"] = e.Initiator.URL
			}
		}
		entries = append(entries, map[string]any{
			"_initiator": initiator, "_priority": string(e.Request.InitialPriority), "_resourceType": strings.ToLower(string(e.Type)),
			"cache": map[string]any{}, "pageref": "page_1", "request": request, "response": response,
			"serverIPAddress": "127.0.0.1", "startedDateTime": time.UnixMicro(int64(float64(e.WallTime) * 1e6)).UTC().Format("2006-01-02T15:04:05.000Z"),
			"time": 1, "timings": map[string]any{"blocked": -1, "dns": -1, "ssl": -1, "connect": -1, "send": 0, "wait": 1, "receive": 0},
		})
	}
	return map[string]any{"log": map[string]any{
		"version": "1.2", "creator": map[string]any{"name": "WebInspector", "version": "537.36"},
		"pages": []any{map[string]any{"startedDateTime": time.UnixMicro(int64(pageStart * 1e6)).UTC().Format("2006-01-02T15:04:05.000Z"),
			"id": "page_1", "title": "app", "pageTimings": map[string]any{"onContentLoad": -1, "onLoad": -1}}},
		"entries": entries,
	}}
}

func harHeaderValue(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

func harSameSite(s http.SameSite) string {
	switch s {
	case http.SameSiteNoneMode:
		return "None"
	case http.SameSiteLaxMode:
		return "Lax"
	case http.SameSiteStrictMode:
		return "Strict"
	}
	return ""
}
