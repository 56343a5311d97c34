package gatehousetest

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Env is one test's control plane, edge and recording origin.
type Env struct {
	API    *API
	Edge   *Edge
	Origin *Origin
}

// NewEnv starts an API, an edge following its database (with opts; Store
// is set) and an origin.
func NewEnv(tb testing.TB, opts EdgeOptions) *Env {
	tb.Helper()
	a := NewAPI(tb)
	opts.Store = a.Store
	return &Env{API: a, Edge: StartEdge(tb, opts), Origin: StartOrigin(tb)}
}

// App creates an app for domain in front of the Env's origin and waits
// until the edge enforces it.
func (e *Env) App(tb testing.TB, domain string, fields map[string]any, policies ...map[string]any) access.App {
	tb.Helper()
	app := e.API.CreateApp(tb, domain, e.Origin.URL, fields, policies...)
	e.Edge.Sync(tb, e.API.Store)
	return app
}

// Port is the edge's ":port", to append to *.test hosts.
func (e *Env) Port() string { return e.Edge.URL[strings.LastIndex(e.Edge.URL, ":"):] }

// Rules parses rule objects written as JSON.
func Rules(tb testing.TB, js ...string) []any {
	tb.Helper()
	out := make([]any, len(js))
	for i, s := range js {
		var v map[string]any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			tb.Fatal(err)
		}
		out[i] = v
	}
	return out
}

// Policy is a policy body with include rules.
func Policy(name, decision string, include []any) map[string]any {
	return map[string]any{"name": name, "decision": decision, "include": include}
}

// LoginClient is an HTTP client that behaves like a browser for the login
// flow: it keeps cookies, follows redirects, sends navigation headers, and
// resolves every *.test host to the edge at edgeURL.
func LoginClient(tb testing.TB, edgeURL string) *http.Client {
	tb.Helper()
	edgeAddr := strings.TrimPrefix(edgeURL, "http://")
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Jar:     jar,
		Timeout: 20 * time.Second,
		Transport: &navTransport{next: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			if strings.HasSuffix(host, ".test") {
				addr = edgeAddr
			}
			return dialer.DialContext(ctx, network, addr)
		}}},
	}
}

type navTransport struct{ next http.RoundTripper }

func (n *navTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if r.Header.Get("Sec-Fetch-Mode") == "" {
		r.Header.Set("Sec-Fetch-Mode", "navigate")
		r.Header.Set("Accept", "text/html")
	}
	return n.next.RoundTrip(r)
}

// Get fetches u with c and returns the response with its body read.
func Get(tb testing.TB, c *http.Client, u string) (*http.Response, string) {
	tb.Helper()
	resp, err := c.Get(u)
	if err != nil {
		tb.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// PostForm posts form to u with c and returns the response with its body
// read.
func PostForm(tb testing.TB, c *http.Client, u string, form url.Values) (*http.Response, string) {
	tb.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		tb.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// HiddenFields reads a form's action and hidden inputs from an HTML page.
func HiddenFields(tb testing.TB, body string) (string, url.Values) {
	tb.Helper()
	action := regexp.MustCompile(`<form method="post" action="([^"]+)"`).FindStringSubmatch(body)
	if action == nil {
		tb.Fatalf("no form in page:\n%s", body)
	}
	v := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(body, -1) {
		v.Set(m[1], htmlUnescape(m[2]))
	}
	return htmlUnescape(action[1]), v
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// PINCatcher is a Mailer that keeps the one-time PINs it is asked to send.
type PINCatcher struct {
	mu   sync.Mutex
	pins map[string]string
}

// NewPINCatcher returns an empty PINCatcher.
func NewPINCatcher() *PINCatcher { return &PINCatcher{pins: map[string]string{}} }

// SendPIN keeps pin as the latest for to.
func (p *PINCatcher) SendPIN(_ context.Context, to, pin string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pins[to] = pin
	return nil
}

// PIN is the latest PIN sent to to, or "".
func (p *PINCatcher) PIN(to string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pins[to]
}

// LoginWithPIN signs in to the app at appURL with a one-time PIN sent to
// email (the account needs a onetimepin provider and the edge mail), as a
// browser does: it opens the app, asks for a code, and posts it. It
// returns the response the login ends in, with its body.
func LoginWithPIN(tb testing.TB, c *http.Client, mail *PINCatcher, appURL, email string) (*http.Response, string) {
	tb.Helper()
	resp, body := Get(tb, c, appURL)
	if resp.StatusCode != 200 || !strings.Contains(body, `name="email"`) {
		tb.Fatalf("login page for %s: %d %s", appURL, resp.StatusCode, body)
	}
	action, form := HiddenFields(tb, body)
	form.Set("email", email)
	resp, body = PostForm(tb, c, resp.Request.URL.ResolveReference(&url.URL{Path: action}).String(), form)
	pin := mail.PIN(strings.ToLower(email))
	if resp.StatusCode != 200 || pin == "" {
		tb.Fatalf("send code to %s: %d %s", email, resp.StatusCode, body)
	}
	action, form = HiddenFields(tb, body)
	form.Set("code", pin)
	return PostForm(tb, c, resp.Request.URL.ResolveReference(&url.URL{Path: action}).String(), form)
}
