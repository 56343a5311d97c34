package e2e_test

// The pages end users meet (issue 16): sign-in, code entry, block and
// error pages, in a real Chromium against the real TLS edge. Each passes
// axe-core's WCAG 2.0/2.1 A and AA audit in light and dark mode, the
// organization's login_design shows in the computed styles, and the
// one-time PIN sign-in works with JavaScript turned off. With
// GATEHOUSE_SCREENSHOTS=$PWD/docs/screenshots the test also writes the
// README's screenshots of these pages (pages-*.png).

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// pagesWorld is an edge whose one-time PINs the test reads, a browser, and
// an app that only ann may use, behind an organization with a design.
type pagesWorld struct {
	api     *gatehousetest.API
	edge    *gatehousetest.Edge
	browser *gatehousetest.Browser
	mail    *gatehousetest.PINCatcher
	app     string // the app's host
	origin  *gatehousetest.Origin
}

func newPagesWorld(t *testing.T) *pagesWorld {
	t.Helper()
	a := gatehousetest.NewAPI(t)
	mail := gatehousetest.NewPINCatcher()
	ed := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, TLS: true, Mailer: mail})
	w := &pagesWorld{api: a, edge: ed, browser: gatehousetest.StartBrowser(t, ed.URL), mail: mail, origin: gatehousetest.StartOrigin(t)}
	w.browser.SetViewport(t, 960, 760)
	a.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Okta", "type": "oidc", "config": map[string]any{
		"issuer_url": "https://login.okta.example.test", "client_id": "gatehouse", "client_secret": "s"}}, nil)
	a.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Email", "type": "onetimepin", "config": map[string]any{}}, nil)
	a.MustCall(t, "PUT", "access/organizations", map[string]any{"name": "Example Corp", "login_design": map[string]any{
		"background_color": "#0b2540", "text_color": "#ffffff", "header_text": "Example Corp staff sign-in",
		"footer_text": "Trouble signing in? Write to it@example.test."}}, nil)
	w.app = host("wiki", "example.test")
	a.CreateApp(t, w.app, w.origin.URL, map[string]any{"name": "Team wiki"},
		map[string]any{"name": "ann", "decision": "allow", "include": []any{map[string]any{"email": map[string]any{"email": user}}}})
	ed.Sync(t, a.Store)
	return w
}

// auditBoth audits the page in light and dark mode, with a screenshot of
// each (the dark one only when dark is set).
func (w *pagesWorld) auditBoth(t *testing.T, name string, darkShot bool) []gatehousetest.Violation {
	t.Helper()
	var vs []gatehousetest.Violation
	// axe-core needs scripts; the pages have none of their own.
	w.browser.SetJavaScript(t, true)
	defer w.browser.SetJavaScript(t, false)
	w.browser.PreferColorScheme(t, "light")
	vs = append(vs, w.browser.Axe(t, name+" (light)")...)
	w.browser.Screenshot(t, "pages-"+name)
	w.browser.PreferColorScheme(t, "dark")
	vs = append(vs, w.browser.Axe(t, name+" (dark)")...)
	if darkShot {
		w.browser.Screenshot(t, "pages-"+name+"-dark")
	}
	w.browser.PreferColorScheme(t, "")
	return vs
}

// waitFor waits until the page (perhaps the next one, after a click)
// has an element matching selector.
func (w *pagesWorld) waitFor(t *testing.T, what, selector string) {
	t.Helper()
	w.browser.Run(t, "wait for "+what, chromedp.Sleep(100*time.Millisecond), chromedp.WaitReady(chromedp.CSS(selector)))
}

func (w *pagesWorld) text(t *testing.T, selector string) string {
	t.Helper()
	var s string
	w.browser.Eval(t, `(document.querySelector(`+jsString(selector)+`) || {innerText: ''}).innerText`, &s)
	return s
}

// signInWithPIN fills the sign-in page's email form and the code page
// with keyboard and mouse events only (no script of ours in the page).
func (w *pagesWorld) signInWithPIN(t *testing.T, email string) {
	t.Helper()
	w.browser.Run(t, "ask for a code", chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.Click(chromedp.CSS("#submit")))
	w.waitFor(t, "the code page", "#code")
	pin := w.mail.PIN(email)
	if pin == "" {
		t.Fatalf("no code was sent to %s", email)
	}
	w.browser.Run(t, "enter the code", chromedp.SendKeys(chromedp.CSS("#code"), pin), chromedp.Click(chromedp.CSS("#submit")))
}

func TestEndUserPagesAreDesignedAccessibleAndWorkWithoutJavaScript(t *testing.T) {
	t.Parallel()
	w := newPagesWorld(t)
	var violations []gatehousetest.Violation
	w.browser.SetJavaScript(t, false)

	// Sign-in: reached by opening the app; names the providers, says a
	// code will be emailed, and wears the organization's design.
	w.browser.Navigate(t, w.browser.URL(w.app, "/docs?page=1"))
	w.waitFor(t, "the sign-in page", "#email")
	if h := w.text(t, "h1"); h != "Sign in to Team wiki" {
		t.Errorf("sign-in heading %q", h)
	}
	if b := w.text(t, "a.btn"); b != "Sign in with Okta" {
		t.Errorf("provider button %q", b)
	}
	for sel, want := range map[string]string{".lead": "Sign in with Okta, or get a one-time code by email.",
		"#email-hint": "We will email you a 6-digit sign-in code", "#header-text": "Example Corp staff sign-in",
		"#footer-text": "Trouble signing in? Write to it@example.test.", "#submit": "Email me a code"} {
		if got := w.text(t, sel); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	var colours struct{ Body, Header, Footer string }
	w.browser.Eval(t, `({body: getComputedStyle(document.body).backgroundColor,
		header: getComputedStyle(document.querySelector('#header-text')).color,
		footer: getComputedStyle(document.querySelector('#footer-text')).color})`, &colours)
	if colours.Body != "rgb(11, 37, 64)" || colours.Header != "rgb(255, 255, 255)" || colours.Footer != "rgb(255, 255, 255)" {
		t.Errorf("computed colours %+v, want the login_design's", colours)
	}
	violations = append(violations, w.auditBoth(t, "sign-in", true)...)

	// The code page, after asking for a code without JavaScript.
	w.browser.Run(t, "ask for a code", chromedp.SendKeys(chromedp.CSS("#email"), "bob@example.test"), chromedp.Click(chromedp.CSS("#submit")))
	w.waitFor(t, "the code page", "#code")
	if l := w.text(t, ".lead"); !strings.Contains(l, "We sent a 6-digit sign-in code to bob@example.test") {
		t.Errorf("code page says %q", l)
	}
	violations = append(violations, w.auditBoth(t, "code-entry", false)...)

	// Bob signs in (no JavaScript) and is refused: the block page says
	// why, who, and offers another account.
	pin := w.mail.PIN("bob@example.test")
	w.browser.Run(t, "enter the code", chromedp.SendKeys(chromedp.CSS("#code"), pin), chromedp.Click(chromedp.CSS("#submit")))
	w.waitFor(t, "the block page", "#signed-in-as")
	if h := w.text(t, "h1"); h != "You cannot open Team wiki" {
		t.Errorf("block heading %q", h)
	}
	if who := w.text(t, "#signed-in-as"); who != "Signed in as bob@example.test" {
		t.Errorf("block page: %q", who)
	}
	if l := w.text(t, ".lead"); !strings.Contains(l, "Your account is not among those allowed") {
		t.Errorf("block reason %q", l)
	}
	violations = append(violations, w.auditBoth(t, "block", false)...)

	// "Sign in with another account" shows the sign-in page again, though
	// bob is signed in, and ann gets in to the address first asked for.
	w.browser.Run(t, "switch account", chromedp.Click(chromedp.CSS("#switch-account")))
	w.waitFor(t, "the sign-in page", "#email")
	w.signInWithPIN(t, user)
	w.waitFor(t, "the app", "pre")
	var at string
	w.browser.Eval(t, "location.href", &at)
	if at != w.browser.URL(w.app, "/docs?page=1") {
		t.Errorf("after signing in as ann the browser is at %s", at)
	}
	if last := w.origin.Last(); last == nil || last.Header.Get("Cf-Access-Authenticated-User-Email") != user {
		t.Errorf("the origin did not see ann")
	}

	// A sign-in link that would return elsewhere: the error page.
	u, _ := url.Parse(w.edge.Issuer)
	w.browser.Navigate(t, "https://"+u.Host+"/cdn-cgi/access/login/"+w.app+"?redirect_url="+url.QueryEscape("https://evil.example.test/"))
	w.waitFor(t, "the error page", "#reason-code")
	if h := w.text(t, "h1"); h != "This sign-in link does not work" || !strings.Contains(w.text(t, ".lead"), "Open the application's address again") {
		t.Errorf("error page: %q %q", h, w.text(t, ".lead"))
	}
	violations = append(violations, w.auditBoth(t, "error", false)...)

	// A host nothing is published on: HTML for the browser.
	nobody := host("nobody", "example.test")
	w.browser.Navigate(t, w.browser.URL(nobody, "/"))
	w.waitFor(t, "the unknown-host page", "h1")
	if h := w.text(t, "h1"); h != "Nothing is published here" || !strings.Contains(w.text(t, ".lead"), nobody) {
		t.Errorf("unknown host: %q %q", h, w.text(t, ".lead"))
	}
	violations = append(violations, w.auditBoth(t, "unknown-host", true)...)

	for _, v := range violations {
		t.Error(v)
	}
}

// The dashboard's Organization page previews the sign-in page as the
// design is typed, applying a color only when the edge would; once saved,
// the edge's real sign-in page has the colors and header the preview
// showed. The page with the preview passes axe in light and dark.
func TestOrganizationPagePreviewsTheSignInPageAsTheEdgeRendersIt(t *testing.T) {
	t.Parallel()
	c := newConsole(t, gatehousetest.EdgeOptions{})
	c.api.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Email", "type": "onetimepin", "config": map[string]any{}}, nil)
	origin := gatehousetest.StartOrigin(t)
	app := host("wiki", "example.test")
	c.api.CreateApp(t, app, origin.URL, map[string]any{"name": "Team wiki"},
		map[string]any{"name": "ann", "decision": "allow", "include": []any{map[string]any{"email": map[string]any{"email": user}}}})
	c.signIn(t, c.api.Token)
	c.open(t, "#/organization", `document.querySelector('#org-form') && document.querySelector('#login-preview-page')`)

	type look struct{ Bg, Header, HeaderText, Footer string }
	preview := func() look {
		var l look
		c.js(t, `(() => { const p = document.querySelector('#login-preview-page'), hd = document.querySelector('#preview-header-text');
			return {bg: getComputedStyle(p).backgroundColor, header: getComputedStyle(hd).color, headerText: hd.textContent,
				footer: document.querySelector('#preview-footer-text').textContent}; })()`, &l)
		return l
	}
	c.fill(t, "#org-name", "Example Corp")
	if l := preview(); l.HeaderText != "Example Corp" {
		t.Errorf("preview header %q, want the organization's name", l.HeaderText)
	}
	// A value the edge would refuse is not applied in the preview either.
	c.fill(t, "#org-background-color", "red;}body{")
	if l := preview(); l.Bg != "rgb(246, 247, 249)" {
		t.Errorf("preview applied a refused color: %+v", l)
	}
	c.fill(t, "#org-background-color", "#0b2540")
	c.fill(t, "#org-text-color", "white")
	c.fill(t, "#org-header-text", "Staff sign-in")
	c.fill(t, "#org-footer-text", "Questions? it@example.test")
	want := look{Bg: "rgb(11, 37, 64)", Header: "rgb(255, 255, 255)", HeaderText: "Staff sign-in", Footer: "Questions? it@example.test"}
	if l := preview(); l != want {
		t.Errorf("preview %+v, want %+v", l, want)
	}
	if s := c.text(t, "#preview-contrast"); !strings.Contains(s, "contrast 15.5:1.") {
		t.Errorf("contrast note %q", s)
	}
	var violations []gatehousetest.Violation
	c.browser.PreferColorScheme(t, "light")
	violations = append(violations, c.browser.Axe(t, "organization with preview (light)")...)
	c.js(t, `document.querySelector('#login-preview-page').scrollIntoView({block: 'center'})`, nil)
	c.browser.Screenshot(t, "organization-login-preview")
	c.browser.PreferColorScheme(t, "dark")
	violations = append(violations, c.browser.Axe(t, "organization with preview (dark)")...)
	c.browser.PreferColorScheme(t, "")
	for _, v := range violations {
		t.Error(v)
	}

	c.click(t, "#save-org")
	c.browser.WaitJS(t, "the saved organization", `document.querySelector('#org-status').textContent.startsWith('Updated')`)
	c.edge.Sync(t, c.api.Store)

	// The edge's sign-in page looks as previewed.
	c.browser.Navigate(t, c.browser.URL(app, "/"))
	c.browser.WaitJS(t, "the sign-in page", `document.querySelector('#email')`)
	var real look
	c.js(t, `({bg: getComputedStyle(document.body).backgroundColor, header: getComputedStyle(document.querySelector('#header-text')).color,
		headerText: document.querySelector('#header-text').textContent, footer: document.querySelector('#footer-text').textContent})`, &real)
	if real != want {
		t.Errorf("the edge's sign-in page %+v, the preview showed %+v", real, want)
	}
}
