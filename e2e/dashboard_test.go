package e2e_test

// Browser tests of the web dashboard (internal/dashboard): headless
// Chromium signs in on the API's listener, where gatehouse serve mounts
// the dashboard, and works the pages as an operator would, against the
// real API, PostgreSQL and a real edge. With GATEHOUSE_SCREENSHOTS set,
// they save a screenshot of every page there.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/accesslog"
	"github.com/gatehouse-dev/gatehouse/internal/edge"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

// console is one test's control plane with the dashboard, an edge
// following the same database, and a browser at 1280×800.
type console struct {
	api     *gatehousetest.API
	edge    *gatehousetest.Edge
	browser *gatehousetest.Browser
}

func newConsole(t *testing.T, edgeOpts gatehousetest.EdgeOptions) *console {
	t.Helper()
	a := gatehousetest.NewDashboardAPI(t)
	edgeOpts.Store, edgeOpts.TLS = a.Store, true
	ed := gatehousetest.StartEdge(t, edgeOpts)
	b := gatehousetest.StartBrowser(t, ed.URL)
	b.SetViewport(t, 1280, 800)
	return &console{api: a, edge: ed, browser: b}
}

// signIn opens the dashboard and signs in with token, as a person would.
func (c *console) signIn(t *testing.T, token string) {
	t.Helper()
	c.browser.Navigate(t, c.api.URL+"/")
	c.browser.WaitJS(t, "the sign-in form", `document.querySelector('#signin-token')`)
	c.browser.Screenshot(t, "sign-in")
	c.browser.Run(t, "sign in",
		chromedp.SendKeys(chromedp.CSS("#signin-token"), token),
		chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")))
	c.browser.WaitJS(t, "the console", `document.querySelector('#sign-out')`)
}

// open goes to a page of the single-page app (the page it is on is
// rendered again) and waits for ready, a JavaScript condition, on the new
// page only: a marker put in the main area, which the router clears when
// it renders a page, keeps ready from matching what was there before.
func (c *console) open(t *testing.T, hash, ready string) {
	t.Helper()
	c.browser.Eval(t, fmt.Sprintf(`(() => {
		document.querySelector('main').append(Object.assign(document.createElement('span'), {id: 'previous-page'}));
		if (location.hash === %[1]q) window.dispatchEvent(new HashChangeEvent('hashchange'));
		else location.hash = %[1]q;
	})()`, hash), nil)
	c.browser.WaitJS(t, hash, `!document.querySelector('#previous-page') && (`+ready+`)`)
}

// fill replaces the value of the control sel by typing value.
func (c *console) fill(t *testing.T, sel, value string) {
	t.Helper()
	c.js(t, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = ''; e.dispatchEvent(new Event('input', {bubbles: true})); })()`, sel), nil)
	c.browser.Run(t, "type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), value))
}

func (c *console) click(t *testing.T, sel string) {
	t.Helper()
	c.browser.Run(t, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// choose picks value in the select sel and tells the page, as a person's
// pick does.
func (c *console) choose(t *testing.T, sel, value string) {
	t.Helper()
	c.browser.Run(t, "pick "+value+" in "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
	c.js(t, fmt.Sprintf(`document.querySelector(%q).dispatchEvent(new Event('change', {bubbles: true}))`, sel), nil)
}

// cancelDialog presses Cancel in the open dialog and waits for it to close.
func (c *console) cancelDialog(t *testing.T) {
	t.Helper()
	c.click(t, "dialog.modal[open] button[value=cancel]")
	c.browser.WaitJS(t, "the dialog closed", `!document.querySelector('dialog.modal[open]')`)
}

// createToken creates the service token name on the Service tokens page
// and waits for its one-time secret and its row in the list.
func (c *console) createToken(t *testing.T, name string) {
	t.Helper()
	c.fill(t, "#token-name-input", name)
	c.click(t, "#create-token button[type=submit]")
	c.browser.WaitJS(t, "the secret of "+name, fmt.Sprintf(`(document.querySelector('#secret-title') || {}).textContent === %q &&
		document.querySelector('#client-secret') && document.querySelector('#token-list tr[data-name=%q]')`, name+" created", name))
}

// askTester asks the policy tester on an application's Policies tab about
// a request from email (and ip, unless empty) and returns its decision.
func (c *console) askTester(t *testing.T, email, ip string) string {
	t.Helper()
	c.fill(t, "#tester-email", email)
	if ip != "" {
		c.fill(t, "#tester-ip", ip)
	}
	c.click(t, "#tester-form button[type=submit]")
	c.browser.WaitJS(t, "the decision", `document.querySelector('#tester-decision')`)
	return c.text(t, "#tester-decision")
}

// showAuditDiff opens the audit log and the changes of its newest entry
// of action.
func (c *console) showAuditDiff(t *testing.T, action string) {
	t.Helper()
	row := fmt.Sprintf(`#audit-list tr[data-action=%q]`, action)
	c.open(t, "#/audit", fmt.Sprintf(`document.querySelector(%q)`, row))
	c.click(t, row+" button")
	c.browser.WaitJS(t, "the changes of "+action, fmt.Sprintf(`document.querySelector(%q).nextElementSibling.matches('tr.detail:not([hidden])') &&
		document.querySelector('#audit-list tr.detail:not([hidden]) table.diff')`, row))
}
func (c *console) js(t *testing.T, js string, out any) {
	t.Helper()
	c.browser.Eval(t, js, out)
}

func (c *console) text(t *testing.T, sel string) string {
	t.Helper()
	var s string
	c.js(t, fmt.Sprintf(`(document.querySelector(%q) || {textContent: ''}).textContent`, sel), &s)
	return s
}

// noWriteControls fails the test if the page shows any control that
// changes something.
func (c *console) noWriteControls(t *testing.T, page string) {
	t.Helper()
	var found []string
	c.js(t, `[...document.querySelectorAll('main .write, main button[type=submit]:not(#preview-form *):not(#tester-form *):not(.filters *), main input:not([disabled]):not(#preview-form *):not(#tester-form *):not(.filters *):not([type=search])')]
		.filter((e) => !e.closest('fieldset[disabled]')).map((e) => e.outerHTML.slice(0, 120))`, &found)
	if len(found) > 0 {
		t.Errorf("%s: a read-only console shows edit controls: %q", page, found)
	}
}

var appURL = regexp.MustCompile(`#/apps/([0-9a-f-]{36})/`)

// preflightRow is the preview's answer as the page shows it. Unsaved is
// whether it says the settings it answers for are not saved yet.
type preflightRow struct {
	Status  string            `json:"status"`
	Outcome string            `json:"outcome"`
	Reason  string            `json:"reason"`
	Headers map[string]string `json:"headers"`
	Unsaved bool              `json:"unsaved"`
}

const readPreview = `(() => {
	const s = document.querySelector('#preview-status');
	if (!s) return null;
	const headers = {};
	for (const tr of document.querySelectorAll('#preview-result tr[data-header]')) headers[tr.dataset.header] = tr.dataset.value;
	return {status: s.dataset.status, outcome: s.dataset.outcome, reason: document.querySelector('#preview-reason').textContent, headers,
		unsaved: !document.querySelector('#preview-draft').hidden};
})()`

// waitPreview waits until the preview answers for origin and returns it.
func (c *console) waitPreview(t *testing.T, origin string) preflightRow {
	t.Helper()
	return c.waitPreviewFor(t, origin, "true")
}

// waitPreviewFor waits until the preview shows the answer to the form's
// current request (page origin, method, headers and the CORS settings as
// edited), for origin, where the request it answers (req, the body sent
// to the policy tester) also meets the JavaScript condition cond, and
// returns it. The page marks the answer pending on every change, before
// the debounced request is sent, and drops answers to earlier requests.
func (c *console) waitPreviewFor(t *testing.T, origin, cond string) preflightRow {
	t.Helper()
	c.browser.WaitJS(t, "the preview for "+origin+" where "+cond, fmt.Sprintf(`(() => {
		const out = document.querySelector('#preview-result');
		if (!out || out.dataset.state !== 'current' || !document.querySelector('#preview-status')) return false;
		const req = JSON.parse(out.dataset.request);
		return document.querySelector('#preview-origin').value === %q && req.origin === %q && req.method === document.querySelector('#preview-method').value && (%s);
	})()`, origin, origin, cond))
	var p preflightRow
	c.js(t, readPreview, &p)
	return p
}

// rawPreflight sends the browser's preflight straight to the edge and
// returns its status and Access-Control-* headers.
func (c *console) rawPreflight(t *testing.T, host, origin, method, headers string) (int, map[string]string) {
	t.Helper()
	req := c.edge.Request(t, "OPTIONS", host, "/data", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	req.Header.Set("Access-Control-Request-Headers", headers)
	resp, _ := c.edge.Do(t, req)
	return resp.StatusCode, accessControl(resp.Header)
}

// accessControl picks the Access-Control-* headers, by canonical name.
func accessControl(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "Access-Control-") {
			out[http.CanonicalHeaderKey(k)] = strings.Join(v, ", ")
		}
	}
	return out
}

func previewAccessControl(p preflightRow) map[string]string {
	out := map[string]string{}
	for k, v := range p.Headers {
		out[http.CanonicalHeaderKey(k)] = v
	}
	return accessControl(toHeader(out))
}

func toHeader(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// An operator creates an application with CORS settings through the
// console; the preflight preview shows exactly what the edge then answers
// a raw OPTIONS request, and for a change not yet saved what the edge
// answers once it is. An invalid origin is refused next to its field, and
// turning on the bypass (after a confirmation) clears the settings.
func TestDashboardAppCORSSettingsPreviewMatchesTheEdge(t *testing.T) {
	t.Parallel()
	c := newConsole(t, gatehousetest.EdgeOptions{})
	origin := gatehousetest.StartCORSOrigin(t)
	apiHost := gatehousetest.Host(t, "api")
	page := "https://web.example.test"
	c.signIn(t, c.api.Token)
	c.browser.WaitJS(t, "the empty list", `document.querySelector('#app-list .empty')`)

	c.click(t, "#add-app")
	c.browser.WaitJS(t, "the new app form", `document.querySelector('#app-form')`)
	c.fill(t, "#app-form input[name=name]", "Orders API")
	c.fill(t, "#app-form textarea[name=domains]", apiHost)
	c.fill(t, "#app-form input[name=origin]", origin.URL)
	c.browser.Screenshot(t, "app-new-overview")
	c.click(t, "#tab-settings")
	c.fill(t, "#cors-origins", page)
	c.click(t, "#cors-method-PUT")
	c.click(t, "#cors-method-DELETE")
	c.fill(t, "#cors-headers", "X-Custom\nContent-Type")
	c.click(t, "#cors-credentials")
	c.fill(t, "#cors-max-age", "600")
	c.click(t, "#save-app")
	c.browser.WaitJS(t, "the saved app", `/^#\/apps\/[0-9a-f-]{36}\/settings$/.test(location.hash) && document.querySelector('#preview-status')`)
	var hash string
	c.js(t, `location.hash`, &hash)
	appID := appURL.FindStringSubmatch(hash + "/")[1]

	var app access.App
	c.api.MustCall(t, "GET", "access/apps/"+appID, nil, &app)
	if app.Domain != apiHost || app.Origin != origin.URL || app.CORSHeaders == nil || !app.CORSHeaders.AllowCredentials ||
		fmt.Sprint(app.CORSHeaders.AllowedOrigins) != "["+page+"]" || app.CORSHeaders.MaxAge != 600 {
		t.Fatalf("stored app %+v, cors %+v", app, app.CORSHeaders)
	}
	c.edge.Sync(t, c.api.Store)

	// The preview, for an allowed and a refused page origin, against the
	// edge's answer to the same preflight.
	for _, tc := range []struct{ origin, method, headers string }{
		{page, "PUT", "x-custom"},
		{page, "DELETE", "content-type,x-custom"},
		{"https://evil.example.test", "PUT", "x-custom"},
		{page, "PATCH", "x-custom"},
	} {
		c.fill(t, "#preview-request-headers", tc.headers)
		c.choose(t, "#preview-method", tc.method)
		c.fill(t, "#preview-origin", tc.origin)
		got := c.waitPreview(t, tc.origin)
		status, edgeHeaders := c.rawPreflight(t, apiHost, tc.origin, tc.method, tc.headers)
		if got.Status != fmt.Sprint(status) {
			t.Errorf("%+v: preview says status %s, the edge answered %d", tc, got.Status, status)
		}
		if shown := previewAccessControl(got); fmt.Sprint(shown) != fmt.Sprint(edgeHeaders) {
			t.Errorf("%+v: preview shows %v, the edge sent %v", tc, shown, edgeHeaders)
		}
		if got.Unsaved {
			t.Errorf("%+v: the preview calls the saved settings unsaved", tc)
		}
		t.Logf("%+v: %s %v (%s)", tc, got.Status, keys(previewAccessControl(got)), got.Reason)
	}

	// Edited, not saved: PATCH allowed in the form. The preview answers
	// for the form as edited and says so; the edge still does not allow it.
	const withPatch = `req.cors_headers.allowed_methods.includes('PATCH')`
	// Clicked in the page: a pointer click may land on the save's toast.
	c.js(t, `document.querySelector('#cors-method-PATCH').click()`, nil)
	draft := c.waitPreviewFor(t, page, withPatch)
	status, edgeHeaders := c.rawPreflight(t, apiHost, page, "PATCH", "x-custom")
	if draft.Status != "204" || !draft.Unsaved || !strings.Contains(previewAccessControl(draft)["Access-Control-Allow-Methods"], "PATCH") {
		t.Errorf("preview of the unsaved PATCH: %+v", draft)
	}
	// The saved settings do not allow PATCH: no Access-Control-Allow-*.
	if edgeHeaders["Access-Control-Allow-Origin"] != "" || edgeHeaders["Access-Control-Allow-Methods"] != "" {
		t.Errorf("before saving, the edge answered PATCH with %d %v, want the saved settings' answer without Access-Control-Allow-*", status, edgeHeaders)
	}
	c.browser.Screenshot(t, "app-settings-cors")
	// Saved: the page reloads on the saved settings and the edge agrees
	// with what the preview showed.
	c.click(t, "#save-app")
	c.browser.WaitJS(t, "the saved PATCH", `document.querySelector('#preview-draft') && document.querySelector('#preview-draft').hidden &&
		document.querySelector('#preview-result').dataset.state === 'current' && document.querySelector('#cors-method-PATCH').checked`)
	c.choose(t, "#preview-method", "PATCH")
	saved := c.waitPreviewFor(t, page, withPatch)
	c.edge.Sync(t, c.api.Store)
	status, edgeHeaders = c.rawPreflight(t, apiHost, page, "PATCH", "x-custom")
	if saved.Unsaved || saved.Status != fmt.Sprint(status) || fmt.Sprint(previewAccessControl(saved)) != fmt.Sprint(edgeHeaders) ||
		fmt.Sprint(previewAccessControl(saved)) != fmt.Sprint(previewAccessControl(draft)) {
		t.Errorf("after saving PATCH: preview %+v, edge %d %v; the unsaved preview showed %v", saved, status, edgeHeaders, previewAccessControl(draft))
	}

	// An origin with a path: the API's field error shows next to the field.
	c.fill(t, "#cors-origins", page+"/app")
	c.click(t, "#save-app")
	c.browser.WaitJS(t, "the field error", `document.querySelector('[data-field="cors_headers.allowed_origins"].invalid .field-error:not([hidden])')`)
	msg := c.text(t, `[data-field="cors_headers.allowed_origins"] .field-error`)
	if !strings.Contains(msg, "origin") {
		t.Errorf("field error %q", msg)
	}
	var focused string
	c.js(t, `document.activeElement.id`, &focused)
	if focused != "cors-origins" {
		t.Errorf("focus on %q after the field error, want the field", focused)
	}
	// The preview tests the same draft and says why it has no answer.
	c.browser.WaitJS(t, "the preview's note on the bad draft", `document.querySelector('#preview-result').dataset.state === 'current' &&
		(document.querySelector('#preview-fix') || {}).textContent === 'Fix the settings to see the answer.'`)
	c.browser.Screenshot(t, "app-settings-field-error")
	c.fill(t, "#cors-origins", page)

	// Bypass: a confirmation, then every CORS field is empty; saved, the
	// app has no CORS settings and the edge forwards preflights.
	c.click(t, "#cors-bypass")
	c.browser.WaitJS(t, "the confirmation", `document.querySelector('dialog.modal[open]')`)
	c.browser.Screenshot(t, "app-settings-bypass-confirm")
	c.click(t, "dialog.modal[open] .btn.danger")
	var cleared struct {
		Origins, Headers, MaxAge string
		Methods                  int
		Creds, Disabled          bool
	}
	c.js(t, `({origins: document.querySelector('#cors-origins').value, headers: document.querySelector('#cors-headers').value,
		maxAge: document.querySelector('#cors-max-age').value, methods: document.querySelectorAll('[id^=cors-method-]:checked').length,
		creds: document.querySelector('#cors-credentials').checked, disabled: document.querySelector('#cors-origins').disabled})`, &cleared)
	if cleared.Origins != "" || cleared.Headers != "" || cleared.MaxAge != "" || cleared.Methods != 0 || cleared.Creds || !cleared.Disabled {
		t.Fatalf("after turning on the bypass the CORS fields are %+v", cleared)
	}
	unsavedBypass := c.waitPreviewFor(t, page, `req.options_preflight_bypass === true && !('cors_headers' in req)`)
	if unsavedBypass.Outcome != "forwarded" || !unsavedBypass.Unsaved {
		t.Errorf("preview of the unsaved bypass: %+v", unsavedBypass)
	}
	c.click(t, "#save-app")
	// Saved when the reloaded page shows the bypass and no unsaved note.
	c.browser.WaitJS(t, "the forwarded preview", `document.querySelector('#preview-status') && document.querySelector('#preview-status').dataset.outcome === 'forwarded' &&
		document.querySelector('#preview-result').dataset.state === 'current' && document.querySelector('#preview-draft').hidden && document.querySelector('#cors-bypass').checked`)
	var bypassed access.App
	c.api.MustCall(t, "GET", "access/apps/"+appID, nil, &bypassed)
	if bypassed.CORSHeaders != nil || !bypassed.OptionsPreflightBypass {
		t.Fatalf("after the bypass: cors %+v, bypass %v", bypassed.CORSHeaders, bypassed.OptionsPreflightBypass)
	}
	c.edge.Sync(t, c.api.Store)
	status, _ = c.rawPreflight(t, apiHost, page, "PUT", "x-custom")
	if reqs := origin.Requests(); status != http.StatusNoContent || len(reqs) != 1 || reqs[0].Method != "OPTIONS" {
		t.Errorf("edge answered %d, origin saw %v; want the preflight forwarded", status, methods(reqs))
	}
	var v string
	if c.js(t, `document.querySelector('#cors-origins').value`, &v); v != "" {
		t.Errorf("origins after reload %q", v)
	}

	c.open(t, "#/apps", `document.querySelector('#app-list [data-cors]')`)
	if mode := c.text(t, "#app-list [data-cors]"); mode != "bypass to origin" {
		t.Errorf("list says CORS %q", mode)
	}
	consoleClean(t, c)
}

// serviceAuth is the status the edge answers a request for host that
// presents the service token clientID and secret.
func (c *console) serviceAuth(t *testing.T, host, clientID, secret string) int {
	t.Helper()
	req := c.edge.Request(t, "GET", host, "/data", nil)
	req.Header.Set(wire.HeaderClientID, clientID)
	req.Header.Set(wire.HeaderClientSecret, secret)
	resp, _ := c.edge.Do(t, req)
	return resp.StatusCode
}

// A new service token's secret is shown once, with copy buttons, and is
// gone after a reload; rotating shows the new one; the edge accepts the
// secret shown, and after the rotation only the new one; both changes
// are in the audit log with what changed.
func TestDashboardServiceTokenSecretShownOnceRotateAndAudit(t *testing.T) {
	t.Parallel()
	c := newConsole(t, gatehousetest.EdgeOptions{})
	c.signIn(t, c.api.Token)
	c.open(t, "#/service-tokens", `document.querySelector('#create-token') && document.querySelector('#token-list .empty')`)
	c.createToken(t, "ci-deploy")
	c.browser.Screenshot(t, "service-token-created")
	secret, clientID := c.text(t, "#client-secret"), c.text(t, "#client-id")
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(secret) || !strings.HasSuffix(clientID, ".access") {
		t.Fatalf("secret %q client id %q", secret, clientID)
	}
	var copies int
	c.js(t, `document.querySelectorAll('#secret-box button[aria-label*="copy"]').length`, &copies)
	if copies != 2 {
		t.Errorf("%d copy buttons, want 2 (client id and secret)", copies)
	}
	var tokens []access.ServiceToken
	c.api.MustCall(t, "GET", "access/service_tokens", nil, &tokens)
	if len(tokens) != 1 || tokens[0].ClientID != clientID {
		t.Fatalf("tokens %+v", tokens)
	}
	// The secret works at the edge's door: a Service Auth app accepts it.
	host := gatehousetest.Host(t, "svc")
	origin := gatehousetest.StartOrigin(t)
	c.api.CreateApp(t, host, origin.URL, nil, map[string]any{"name": "ci", "decision": "non_identity",
		"include": []any{map[string]any{"service_token": map[string]any{"token_id": tokens[0].ID}}}})
	c.edge.Sync(t, c.api.Store)
	if status := c.serviceAuth(t, host, clientID, secret); status != http.StatusOK || len(origin.Requests()) != 1 {
		t.Errorf("the edge answered the shown secret with %d, the origin saw %d requests; want it let through", status, len(origin.Requests()))
	}
	if stored := storage(t, c); stored != "" {
		t.Errorf("web storage holds %q", stored)
	}

	c.browser.Run(t, "reload", chromedp.Reload())
	c.browser.WaitJS(t, "the list after reload", `document.querySelector('#token-list tr[data-name="ci-deploy"]')`)
	var html string
	c.js(t, `document.documentElement.outerHTML`, &html)
	if strings.Contains(html, secret) || strings.Contains(html, "client-secret") {
		t.Fatal("the secret is still shown after a reload")
	}
	c.browser.Screenshot(t, "service-tokens")

	c.click(t, `#token-list tr[data-name="ci-deploy"] button.rotate-token`)
	c.browser.WaitJS(t, "the rotate confirmation", `document.querySelector('dialog.modal[open] #rotate-grace')`)
	c.click(t, "dialog.modal[open] .btn.danger")
	c.browser.WaitJS(t, "the new secret", `document.querySelector('#client-secret')`)
	rotated := c.text(t, "#client-secret")
	if rotated == secret || len(rotated) != 64 {
		t.Errorf("rotated secret %q (was %q)", rotated, secret)
	}
	var tok access.ServiceToken
	c.api.MustCall(t, "GET", "access/service_tokens/"+tokens[0].ID, nil, &tok)
	if tok.ClientSecretVersion != 2 {
		t.Errorf("client_secret_version %d after rotate", tok.ClientSecretVersion)
	}
	// Rotated with the previous secret ending at once.
	c.edge.Sync(t, c.api.Store)
	if old, shown := c.serviceAuth(t, host, clientID, secret), c.serviceAuth(t, host, clientID, rotated); old == http.StatusOK || shown != http.StatusOK {
		t.Errorf("after the rotation the edge answers the old secret with %d and the shown one with %d", old, shown)
	}

	// The app made for the edge is in the log too; filtered by the
	// token's id, the log shows the token's entries only.
	c.open(t, "#/audit", `document.querySelector('#audit-list tr[data-action="app.create"]')`)
	c.fill(t, ".filters input", tokens[0].ID)
	c.click(t, ".filters button[type=submit]")
	c.browser.WaitJS(t, "the token's entries", `!document.querySelector('#audit-list tr[data-action="app.create"]') &&
		document.querySelector('#audit-list tr[data-action="service_token.rotate"]')`)
	var actions []string
	c.js(t, `[...document.querySelectorAll('#audit-list tr[data-action]')].map((tr) => tr.dataset.action)`, &actions)
	if fmt.Sprint(actions) != "[service_token.rotate service_token.create]" {
		t.Errorf("audit log shows %v", actions)
	}
	c.click(t, `#audit-list tr[data-action="service_token.rotate"] button`)
	var change struct{ Before, After string }
	c.js(t, `(() => { const tr = document.querySelector('#audit-list tr.detail:not([hidden]) tr[data-path="client_secret_version"]');
		return tr ? {before: tr.querySelector('.before').textContent, after: tr.querySelector('.after').textContent} : {}; })()`, &change)
	if change.Before != "1" || change.After != "2" {
		t.Errorf("rotate diff shows client_secret_version %q -> %q", change.Before, change.After)
	}
	if who := c.text(t, `#audit-list tr[data-action="service_token.rotate"] td:nth-child(2)`); !strings.Contains(who, "token rw") {
		t.Errorf("audit actor %q", who)
	}
	c.browser.Screenshot(t, "audit-log")
	consoleClean(t, c)
}

// storage returns anything the page keeps in web storage.
func storage(t *testing.T, c *console) string {
	var s string
	c.js(t, `JSON.stringify(localStorage) === '{}' && JSON.stringify(sessionStorage) === '{}' ? '' : JSON.stringify([localStorage, sessionStorage])`, &s)
	return s
}

// A read-only token's console shows every page and no edit controls.
func TestDashboardReadOnlyTokenShowsNoEditControls(t *testing.T) {
	t.Parallel()
	c := newConsole(t, gatehousetest.EdgeOptions{})
	origin := gatehousetest.StartOrigin(t)
	app := c.api.CreateApp(t, gatehousetest.Host(t, "ro"), origin.URL,
		map[string]any{"cors_headers": map[string]any{"allowed_origins": []string{"https://web.example.test"}, "allowed_methods": []string{"PUT"}}},
		map[string]any{"name": "staff", "decision": "allow", "include": []any{map[string]any{"email_domain": map[string]any{"domain": "example.test"}}}})
	c.api.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "ci"}, nil)
	c.signIn(t, c.api.ReadOnlyToken)
	if c.text(t, "#read-only-badge") != "read-only" {
		t.Error("no read-only badge")
	}
	pages := []struct{ hash, ready string }{
		{"#/apps", `document.querySelector('#app-list table')`},
		{"#/apps/" + app.ID + "/overview", `document.querySelector('#aud-tag')`},
		{"#/apps/" + app.ID + "/policies", `document.querySelector('#app-policies table')`},
		{"#/apps/" + app.ID + "/settings", `document.querySelector('#preview-status')`},
		{"#/policies", `document.querySelector('h1') && document.querySelector('h1').textContent === 'Policies'`},
		{"#/service-tokens", `document.querySelector('#token-list table')`},
		{"#/idps", `document.querySelector('main .empty, main table')`},
	}
	for _, p := range pages {
		c.open(t, p.hash, p.ready)
		c.noWriteControls(t, p.hash)
	}
	c.open(t, "#/apps/"+app.ID+"/settings", `document.querySelector('#preview-status')`)
	c.browser.Screenshot(t, "read-only-app-settings")
	// The preview works for read-only tokens: the policy tester changes nothing.
	if got := c.waitPreview(t, "https://web.example.test"); got.Status != "204" {
		t.Errorf("read-only preview %+v", got)
	}
	// The API refuses a write anyway.
	if r := c.browser.Fetch(t, c.api.URL+"/client/v4/accounts/"+c.api.AccountID+"/access/service_tokens", csrfFetch(t, c, `{"name":"x"}`)); r.Status != http.StatusForbidden {
		t.Errorf("read-only write through the session: %+v", r)
	}
	consoleClean(t, c)
}

// csrfFetch is a same-origin POST carrying the session's CSRF token,
// read from the session endpoint as the dashboard does on reload.
func csrfFetch(t *testing.T, c *console, body string) gatehousetest.FetchInit {
	t.Helper()
	r := c.browser.Fetch(t, c.api.URL+"/client/v4/gatehouse/dashboard/session", gatehousetest.FetchInit{})
	var env struct {
		Result struct {
			CSRFToken string `json:"csrf_token"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.Body), &env); err != nil || env.Result.CSRFToken == "" {
		t.Fatalf("session: %+v", r)
	}
	return gatehousetest.FetchInit{Method: "POST", Body: body, Headers: map[string]string{"Content-Type": "application/json", "X-Gatehouse-CSRF": env.Result.CSRFToken}}
}

// The session cookie is HttpOnly and nothing is kept in web storage; a
// write from the page with the cookie but without the CSRF header is
// refused, with it accepted; signing out ends the session on the server.
func TestDashboardCookieWritesNeedTheCSRFHeader(t *testing.T) {
	t.Parallel()
	c := newConsole(t, gatehousetest.EdgeOptions{})
	c.signIn(t, c.api.Token)
	var cookie string
	c.js(t, `document.cookie`, &cookie)
	if strings.Contains(cookie, "gatehouse_dashboard") {
		t.Errorf("the page can read the session cookie: %q", cookie)
	}
	if s := storage(t, c); s != "" {
		t.Errorf("web storage holds %q", s)
	}
	url := c.api.URL + "/client/v4/accounts/" + c.api.AccountID + "/access/service_tokens"
	noCSRF := c.browser.Fetch(t, url, gatehousetest.FetchInit{Method: "POST", Body: `{"name":"sneaky"}`, Headers: map[string]string{"Content-Type": "application/json"}})
	if noCSRF.Status != http.StatusForbidden {
		t.Errorf("cookie write without the CSRF header: %+v, want 403", noCSRF)
	}
	withCSRF := c.browser.Fetch(t, url, csrfFetch(t, c, `{"name":"fine"}`))
	if withCSRF.Status != http.StatusOK {
		t.Errorf("cookie write with the CSRF header: %+v, want 200", withCSRF)
	}
	var tokens []access.ServiceToken
	c.api.MustCall(t, "GET", "access/service_tokens", nil, &tokens)
	if len(tokens) != 1 || tokens[0].Name != "fine" {
		t.Errorf("tokens %+v", tokens)
	}

	c.click(t, "#sign-out")
	c.browser.WaitJS(t, "the sign-in form", `document.querySelector('#signin-token')`)
	if r := c.browser.Fetch(t, c.api.URL+"/client/v4/gatehouse/dashboard/session", gatehousetest.FetchInit{}); r.Status != http.StatusUnauthorized {
		t.Errorf("session after sign-out: %+v", r)
	}
	c.browser.Run(t, "reload", chromedp.Reload())
	c.browser.WaitJS(t, "the sign-in form after reload", `document.querySelector('#signin-token')`)
	c.fill(t, "#signin-token", "ghat_not-a-token")
	c.click(t, "#signin-form button[type=submit]")
	c.browser.WaitJS(t, "the sign-in error", `document.querySelector('#signin-error .alert')`)
	if msg := c.text(t, "#signin-error .alert"); msg != "That token is not valid." {
		t.Errorf("sign-in with a bad token says %q", msg)
	}
	consoleClean(t, c)
}

// newOrdersConsole is a console whose edge writes the access log, with
// the data the page tests browse: the service token ci-relay, the app
// Orders API (CORS settings; a Service Auth policy naming the token), the
// relay Orders relay in front of it, and log rows from two preflights (one
// refused) and a GET.
func newOrdersConsole(t *testing.T) (*console, access.App, access.ServiceToken) {
	t.Helper()
	st := gatehousetest.Store(t)
	logger := accesslog.New(st, accesslog.Config{FlushInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); logger.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	c := newConsole(t, gatehousetest.EdgeOptions{Observers: []edge.Observer{logger}, HeartbeatInterval: 100 * time.Millisecond})
	origin := gatehousetest.StartOrigin(t)
	var tok access.ServiceToken
	c.api.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "ci-relay"}, &tok)
	apiHost := gatehousetest.Host(t, "api")
	app := c.api.CreateApp(t, apiHost, origin.URL,
		map[string]any{"name": "Orders API", "cors_headers": map[string]any{"allowed_origins": []string{"https://web.example.test"}, "allowed_methods": []string{"PUT"}}},
		map[string]any{"name": "service auth", "decision": "non_identity", "include": []any{map[string]any{"service_token": map[string]any{"token_id": tok.ID}}}})
	c.api.CreateApp(t, gatehousetest.Host(t, "relay"), "https://"+apiHost, map[string]any{"name": "Orders relay",
		"upstream_service_token": map[string]any{"client_id": tok.ClientID, "client_secret": "0000"}})
	c.edge.Sync(t, c.api.Store)
	for _, o := range []string{"https://web.example.test", "https://evil.example.test"} {
		c.rawPreflight(t, apiHost, o, "PUT", "x-custom")
	}
	c.edge.Do(t, c.edge.Request(t, "GET", apiHost, "/orders", nil))
	return c, app, tok
}

// Every page renders with real data and without script errors: a policy
// built with the rule builder, linked to an application and moved up in
// its order, the policy tester's decision, relays, identity providers,
// access requests with reasons in words, the audit log and the edges.
// This is also the test that saves a screenshot of each page.
func TestDashboardEveryPagePoliciesTesterLogsAndEdges(t *testing.T) {
	t.Parallel()
	c, app, tok := newOrdersConsole(t)
	c.api.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Email PIN", "type": "onetimepin", "config": map[string]any{}}, nil)

	c.signIn(t, c.api.Token)
	c.browser.WaitJS(t, "the list", `document.querySelector('#app-list table')`)
	c.browser.Screenshot(t, "applications")

	// A reusable policy from the rule builder: email domain, and an IP range required.
	c.open(t, "#/policies/new", `document.querySelector('#policy-name')`)
	c.fill(t, "#policy-name", "Staff")
	c.choose(t, "#rules-include .rule-row select", "email_domain")
	c.fill(t, "#rules-include .rule-row .rule-value input", "example.test")
	c.click(t, `[data-field="require"] > button`)
	c.choose(t, "#rules-require .rule-row select", "ip")
	c.fill(t, "#rules-require .rule-row .rule-value input", "10.0.0.0/8")
	c.browser.Screenshot(t, "policy-rule-builder")
	c.click(t, ".policy-form button[type=submit]")
	c.browser.WaitJS(t, "the policy list", `location.hash === '#/policies' && document.querySelector('main table')`)
	c.browser.Screenshot(t, "policies")
	var policies []access.Policy
	c.api.MustCall(t, "GET", "access/policies", nil, &policies)
	if raw, _ := json.Marshal(policies); len(policies) != 1 || !strings.Contains(string(raw),
		`"include":[{"email_domain":{"domain":"example.test"}}],"require":[{"ip":{"ip":"10.0.0.0/8"}}],"exclude":[]`) {
		t.Fatalf("stored policies %s", raw)
	}

	// Link it to the app, move it first, and ask the tester.
	c.open(t, "#/apps/"+app.ID+"/policies", `document.querySelector('#app-policies table') && document.querySelector('#app-policies .inline-form select')`)
	c.click(t, "#app-policies .inline-form button.btn:not(.primary)")
	c.browser.WaitJS(t, "the linked policy", `document.querySelectorAll('#app-policies tr[data-policy]').length === 2`)
	c.click(t, `#app-policies tr[data-policy="`+policies[0].ID+`"] .move-up`)
	c.browser.WaitJS(t, "the new order", `document.querySelector('#app-policies tr[data-policy]').dataset.policy === '`+policies[0].ID+`'`)
	var stored access.App
	c.api.MustCall(t, "GET", "access/apps/"+app.ID, nil, &stored)
	if len(stored.Policies) != 2 || stored.Policies[0].ID != policies[0].ID {
		t.Fatalf("app policies after moving Staff up: %+v", stored.Policies)
	}
	if d, p := c.askTester(t, "ann@example.test", "10.1.2.3"), c.text(t, "#tester-policy"); d != "Allowed" || !strings.Contains(p, "Staff") || !strings.Contains(p, "include rule 1 (email_domain)") {
		t.Errorf("tester says %q, %q", d, p)
	}
	c.browser.Screenshot(t, "app-policies-tester")
	c.open(t, "#/apps/"+app.ID+"/overview", `document.querySelector('#aud-tag')`)
	if aud := c.text(t, "#aud-tag"); aud != app.AUD {
		t.Errorf("AUD tag %q, want %q", aud, app.AUD)
	}
	c.browser.Screenshot(t, "app-overview")
	c.open(t, "#/apps/"+app.ID+"/authentication", `document.querySelector('#panel-authentication:not([hidden]) input[type=checkbox]')`)
	if s := c.text(t, `[data-field="allowed_idps"]`); !strings.Contains(s, "Email PIN (One-time PIN)") {
		t.Errorf("the Authentication tab offers %q, want the account's Email PIN", s)
	}
	c.browser.Screenshot(t, "app-authentication")

	c.open(t, "#/relays", `document.querySelector('main table')`)
	if s := c.text(t, "main table"); !strings.Contains(s, "Orders relay") || !strings.Contains(s, tok.ClientID) {
		t.Errorf("relays page: %q", s)
	}
	c.browser.Screenshot(t, "relays")
	c.open(t, "#/idps", `document.querySelector('main table')`)
	if s := c.text(t, `#idp-list tr[data-name="Email PIN"]`); !strings.Contains(s, "One-time PIN") {
		t.Errorf("identity providers page shows Email PIN as %q", s)
	}
	c.browser.Screenshot(t, "identity-providers")

	// Access requests: the refused preflight, in words, and the filter.
	c.open(t, "#/logs", `document.querySelectorAll('#log-list tbody tr').length >= 3`)
	if s := c.text(t, "#log-list"); !strings.Contains(s, "the Origin is not in allowed_origins") {
		t.Errorf("access requests page: %q", s)
	}
	c.browser.Screenshot(t, "access-requests")
	c.js(t, `(() => { const s = document.querySelectorAll('.filters select')[1]; s.value = 'false'; s.dispatchEvent(new Event('change', {bubbles: true})); })()`, nil)
	c.browser.WaitJS(t, "only blocked rows", `(() => { const rows = [...document.querySelectorAll('#log-list tbody tr')];
		return rows.length > 0 && rows.every((r) => r.textContent.includes('blocked')); })()`)

	c.open(t, "#/audit", `document.querySelector('#audit-list tr[data-action="app.update"]')`)
	c.browser.Screenshot(t, "audit")
	c.open(t, "#/edges", `document.querySelector('#edge-list table')`)
	// The page says what the API says. (Whether this edge is current is
	// a race: tests in other packages write to the same database.)
	type edge struct {
		ID string `json:"id"`
	}
	var edges struct {
		LatestVersion int64  `json:"latest_version"`
		Edges         []edge `json:"edges"`
	}
	c.api.MustCall(t, "GET", "gatehouse/edges", nil, &edges)
	if len(edges.Edges) == 0 {
		t.Fatal("the API lists no edge")
	}
	s := c.text(t, "#edge-list")
	shown := slices.ContainsFunc(edges.Edges, func(e edge) bool { return strings.Contains(s, e.ID) })
	if !shown || !(strings.Contains(s, "current") || strings.Contains(s, "behind by")) {
		t.Errorf("edges page: %q, API: %+v", s, edges)
	}
	var latest string
	c.js(t, `document.querySelector('#latest-version').textContent`, &latest)
	if n, err := strconv.ParseInt(latest, 10, 64); err != nil || n > edges.LatestVersion || n < edges.LatestVersion-100 {
		t.Errorf("edges page: latest version %q, the API's %d", latest, edges.LatestVersion)
	}
	c.browser.Screenshot(t, "edges")

	// Narrow window: the menu button opens the navigation.
	c.browser.SetViewport(t, 420, 800)
	c.click(t, ".menu-toggle")
	c.browser.WaitJS(t, "the open menu", `document.querySelector('#sidenav.open')`)
	c.browser.Screenshot(t, "narrow-menu")

	// Dark when the system is: the page's colours follow the preference.
	c.browser.SetViewport(t, 1280, 800)
	c.browser.PreferColorScheme(t, "dark")
	c.open(t, "#/apps", `document.querySelector('#app-list table')`)
	var bg, fg string
	c.js(t, `getComputedStyle(document.body).backgroundColor`, &bg)
	c.js(t, `getComputedStyle(document.body).color`, &fg)
	if bg != "rgb(20, 23, 28)" || fg != "rgb(230, 232, 236)" {
		t.Errorf("dark mode: background %s, text %s", bg, fg)
	}
	c.browser.Screenshot(t, "applications-dark")
	c.browser.PreferColorScheme(t, "light")
	c.js(t, `getComputedStyle(document.body).backgroundColor`, &bg)
	if bg == "rgb(20, 23, 28)" {
		t.Errorf("light mode: background still %s", bg)
	}
	consoleClean(t, c)
}
