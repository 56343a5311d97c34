package e2e_test

// The dashboard's accessibility (issue 8): axe-core audits every page and
// state against WCAG 2.0 and 2.1 A and AA, in light and dark mode and in
// a narrow window, and the keyboard reaches the controls with a visible
// focus indicator. axe-core is a test-only npm dependency in e2e/a11y,
// installed by make test.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// auditor collects the violations of every state audited.
type auditor struct {
	c          *console
	violations []gatehousetest.Violation
	audited    []string
}

// audit runs axe on the page as it is now; what names the state.
func (a *auditor) audit(t *testing.T, what string) {
	t.Helper()
	a.violations = append(a.violations, a.c.browser.Axe(t, what)...)
	a.audited = append(a.audited, what)
	a.c.browser.Screenshot(t, "a11y-"+what)
}

// Every page and important state of the console passes axe-core's WCAG
// 2.0/2.1 A and AA rules: sign-in, each page with data, an application's
// four tabs with the preflight preview and the policy tester, field
// errors, the rule builder, the one-time secret, the dialogs, mutual TLS
// certificates, the organization, users and a user's page, an open
// audit diff, the narrow window's menu, and dark mode.
func TestDashboardPagesPassAnAccessibilityAudit(t *testing.T) {
	t.Parallel()
	c, app, tok := newOrdersConsole(t)
	a := &auditor{c: c}
	var oidc access.IdentityProvider
	c.api.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Okta", "type": "oidc", "config": map[string]any{
		"issuer_url": "https://login.example.test", "client_id": "gatehouse", "client_secret": "s"}}, &oidc)
	c.api.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Email PIN", "type": "onetimepin", "config": map[string]any{}}, nil)
	c.api.MustCall(t, "POST", "access/policies", map[string]any{"name": "Staff", "decision": "allow",
		"include": []any{map[string]any{"email_domain": map[string]any{"domain": "example.test"}}},
		"require": []any{map[string]any{"ip": map[string]any{"ip": "10.0.0.0/8"}}}}, nil)
	var oncall access.Group
	c.api.MustCall(t, "POST", "access/groups", map[string]any{"name": "On call",
		"include": []any{map[string]any{"email": map[string]any{"email": "ann@example.test"}}}}, &oncall)
	var engineers access.Policy
	c.api.MustCall(t, "POST", "access/policies", map[string]any{"name": "Engineers", "decision": "allow",
		"include": []any{map[string]any{"oidc": map[string]any{"claim_name": "groups", "claim_value": "eng", "identity_provider_id": oidc.ID}}}}, &engineers)
	var oncallIn access.Policy
	c.api.MustCall(t, "POST", "access/policies", map[string]any{"name": "On call in", "decision": "allow",
		"include": []any{map[string]any{"group": map[string]any{"id": oncall.ID}}}}, &oncallIn)

	// Sign-in, empty and refused.
	c.browser.Navigate(t, c.api.URL+"/")
	c.browser.WaitJS(t, "the sign-in form", `document.querySelector('#signin-token')`)
	a.audit(t, "sign-in")
	c.fill(t, "#signin-token", "ghat_not-a-token")
	c.click(t, "#signin-form button[type=submit]")
	c.browser.WaitJS(t, "the sign-in error", `document.querySelector('#signin-error .alert.error')`)
	a.audit(t, "sign-in refused")

	c.signIn(t, c.api.Token)
	c.browser.WaitJS(t, "the list", `document.querySelector('#app-list table') && document.querySelector('#account-name[data-loaded]')`)
	a.audit(t, "applications")

	// An application's tabs.
	base := "#/apps/" + app.ID
	c.open(t, base+"/overview", `document.querySelector('#aud-tag')`)
	a.audit(t, "app overview")
	c.open(t, base+"/policies", `document.querySelector('#app-policies table') && document.querySelector('#tester-form')`)
	c.askTester(t, "ann@example.test", "10.1.2.3")
	a.audit(t, "app policies with a tester decision")
	c.open(t, base+"/authentication", `document.querySelector('#panel-authentication:not([hidden]) input[type=checkbox]')`)
	a.audit(t, "app authentication")
	c.open(t, base+"/settings", `document.querySelector('#preview-status')`)
	c.waitPreview(t, "https://web.example.test")
	a.audit(t, "app settings with the preflight preview")
	// A field error from the API, and the preview's note on the bad draft.
	c.fill(t, "#cors-origins", "https://web.example.test/app")
	c.click(t, "#save-app")
	c.fieldError(t, "cors_headers.allowed_origins")
	c.browser.WaitJS(t, "the preview's note", `document.querySelector('#preview-fix')`)
	a.audit(t, "app settings with a field error")
	// A confirm dialog: turning on the bypass.
	c.click(t, "#cors-bypass")
	c.browser.WaitJS(t, "the confirmation", `document.querySelector('dialog.modal[open]')`)
	a.audit(t, "confirm dialog")
	c.cancelDialog(t)
	var bypassOn bool
	if c.js(t, `document.querySelector('#cors-bypass').checked`, &bypassOn); bypassOn {
		t.Error("the bypass is on after cancelling its confirmation")
	}

	c.open(t, "#/apps/new", `document.querySelector('#app-form input[name=name]')`)
	a.audit(t, "new application")

	// Policies and the rule builder.
	c.open(t, "#/policies", `document.querySelector('main table')`)
	a.audit(t, "policies")
	c.open(t, "#/policies/new", `document.querySelector('#policy-name')`)
	c.click(t, `[data-field="require"] > button`)
	c.choose(t, "#rules-require .rule-row select", "ip")
	c.click(t, `[data-field="exclude"] > button`)
	a.audit(t, "rule builder")

	// Service tokens: the one-time secret, the edit dialog and the rotate confirmation.
	c.open(t, "#/service-tokens", `document.querySelector('#token-list table')`)
	a.audit(t, "service tokens")
	c.createToken(t, "ci-deploy")
	a.audit(t, "service token secret")
	c.click(t, `#token-list tr[data-name="ci-relay"] .edit-token`)
	c.browser.WaitJS(t, "the edit dialog", `document.querySelector('dialog.modal[open] #edit-token-name')`)
	a.audit(t, "service token edit dialog")
	c.fill(t, "#edit-token-name", "ci-deploy")
	c.click(t, "dialog.modal[open] button[type=submit]")
	c.fieldError(t, "name")
	a.audit(t, "service token edit dialog with a field error")
	c.cancelDialog(t)
	c.click(t, `#token-list tr[data-name="ci-relay"] .rotate-token`)
	c.browser.WaitJS(t, "the rotate confirmation", `document.querySelector('dialog.modal[open] #rotate-grace')`)
	a.audit(t, "rotate confirm dialog")
	c.cancelDialog(t)

	c.open(t, "#/relays", `document.querySelector('main table')`)
	a.audit(t, "relays")
	c.open(t, "#/idps", `document.querySelector('#idp-list table')`)
	a.audit(t, "identity providers")
	c.open(t, "#/idps/"+oidc.ID, `document.querySelector('#idp-form #idp-scopes')`)
	a.audit(t, "identity provider edit")
	c.open(t, "#/groups", `document.querySelector('#group-list table')`)
	a.audit(t, "access groups")
	var groupRow string
	c.js(t, `document.querySelector('#group-list tbody tr').innerText`, &groupRow)
	if !strings.Contains(groupRow, "On call") || !strings.Contains(groupRow, "On call in") || !strings.Contains(groupRow, "ann@example.test") {
		t.Errorf("the group's row: %q", groupRow)
	}
	// The rule builder shows a group rule as one, naming the group.
	c.open(t, "#/policies/"+oncallIn.ID, `document.querySelector('#rules-include .rule-row select')`)
	var chosen []string
	c.js(t, `[...document.querySelectorAll('#rules-include .rule-row select')].map((s) => s.options[s.selectedIndex].text)`, &chosen)
	if len(chosen) != 2 || chosen[0] != "Access groups" || chosen[1] != "On call" {
		t.Errorf("the group rule in the rule builder: %q", chosen)
	}
	// An OIDC claim rule shows its provider, claim and value.
	c.open(t, "#/policies/"+engineers.ID, `document.querySelector('#rules-include .rule-row select')`)
	var shown []string
	c.js(t, `[...document.querySelectorAll('#rules-include .rule-row select, #rules-include .rule-row input')].map((e) => e.tagName === 'SELECT' ? e.options[e.selectedIndex].text : e.value)`, &shown)
	if strings.Join(shown, "|") != "OIDC claim|Okta|groups|eng" {
		t.Errorf("the oidc rule in the rule builder: %q", shown)
	}
	a.audit(t, "rule builder with an OIDC claim")

	// Mutual TLS certificates: the list, a field error on upload, the edit dialog.
	var cert access.Certificate
	c.api.MustCall(t, "POST", "access/certificates", map[string]any{"name": "clients", "certificate": gatehousetest.NewTestCA(t).PEM(),
		"associated_hostnames": []string{"mtls.example.test"}}, &cert)
	c.open(t, "#/certificates", `document.querySelector('#cert-list table')`)
	a.audit(t, "mutual TLS certificates")
	c.fill(t, "#cert-name", "bad")
	c.fill(t, "#cert-pem", "not a certificate")
	c.click(t, "#upload-cert button[type=submit]")
	c.fieldError(t, "certificate")
	a.audit(t, "mutual TLS certificate upload with a field error")
	c.click(t, `#cert-list tr[data-name="clients"] .edit-cert`)
	c.browser.WaitJS(t, "the edit dialog", `document.querySelector('dialog.modal[open] #edit-cert-hostnames')`)
	a.audit(t, "mutual TLS certificate edit dialog")
	c.cancelDialog(t)

	// The organization: empty, with field errors, and the rotate confirmation.
	c.open(t, "#/organization", `document.querySelector('#org-form') && document.querySelector('#keys-form')`)
	a.audit(t, "organization")
	c.fill(t, "#org-auth-domain", "https://team.example.test/")
	c.fill(t, "#org-background-color", "red;}body{")
	c.click(t, "#save-org")
	c.fieldError(t, "login_design.background_color")
	a.audit(t, "organization with field errors")
	c.click(t, "#rotate-keys")
	c.browser.WaitJS(t, "the rotate confirmation", `document.querySelector('dialog.modal[open]')`)
	a.audit(t, "signing key rotate confirm dialog")
	c.cancelDialog(t)

	// Users, from sign-ins in the access log, and one user's page.
	if err := c.api.Store.InsertAccessLogs(context.Background(), []access.AccessLogEntry{
		{CreatedAt: time.Now().Add(-time.Hour), RayID: "a11y-in", AccountID: c.api.AccountID, AppUID: app.ID, AppDomain: app.Domain,
			Action: "login", Allowed: true, Reason: "allow_policy", UserEmail: "ann@example.test", IPAddress: "192.0.2.7", Country: "NL"},
		{CreatedAt: time.Now().Add(-30 * time.Minute), RayID: "a11y-refused", AccountID: c.api.AccountID, AppUID: app.ID, AppDomain: app.Domain,
			Action: "login", Allowed: false, Reason: "no_policy_matched", UserEmail: "ann@example.test", IPAddress: "192.0.2.7", Country: "NL"},
	}); err != nil {
		t.Fatal(err)
	}
	c.open(t, "#/users", `document.querySelector('#user-list table')`)
	a.audit(t, "users")
	c.click(t, `#user-list tr[data-email="ann@example.test"] a`)
	c.browser.WaitJS(t, "the user's page", `document.querySelector('#user-sessions table') && document.querySelector('#user-failed table') && document.querySelector('#user-identity dl')`)
	a.audit(t, "user with sessions and failed logins")

	c.open(t, "#/logs", `document.querySelectorAll('#log-list tbody tr').length >= 3`)
	a.audit(t, "access requests")
	c.showAuditDiff(t, "app.create")
	a.audit(t, "audit log with a diff")
	c.open(t, "#/edges", `document.querySelector('#edge-list table')`)
	a.audit(t, "edges")

	// Narrow window, menu open.
	c.browser.SetViewport(t, 420, 800)
	c.open(t, "#/apps", `document.querySelector('#app-list table')`)
	c.click(t, ".menu-toggle")
	c.browser.WaitJS(t, "the open menu", `document.querySelector('#sidenav.open')`)
	a.audit(t, "narrow window with the menu open")
	c.browser.SetViewport(t, 1280, 800)

	// Dark mode, on the pages with the most colours.
	c.browser.PreferColorScheme(t, "dark")
	for _, p := range []struct{ name, hash, ready string }{
		{"applications", "#/apps", `document.querySelector('#app-list table')`},
		{"app settings with the preflight preview", base + "/settings", `document.querySelector('#preview-status')`},
		{"policies", "#/policies", `document.querySelector('main table')`},
		{"access requests", "#/logs", `document.querySelectorAll('#log-list tbody tr').length >= 3`},
		{"edges", "#/edges", `document.querySelector('#edge-list table')`},
		{"mutual TLS certificates", "#/certificates", `document.querySelector('#cert-list table')`},
		{"organization", "#/organization", `document.querySelector('#org-form') && document.querySelector('#keys-form')`},
		{"user", "#/users/" + userID(t, c, "ann@example.test"), `document.querySelector('#user-sessions table') && document.querySelector('#user-failed table')`},
	} {
		c.open(t, p.hash, p.ready)
		a.audit(t, "dark "+p.name)
	}
	c.open(t, base+"/policies", `document.querySelector('#tester-form')`)
	c.askTester(t, "ann@example.test", "")
	a.audit(t, "dark app policies with a tester decision")
	c.open(t, "#/service-tokens", `document.querySelector('#token-list table')`)
	c.createToken(t, "ci-dark")
	a.audit(t, "dark service token secret")
	c.showAuditDiff(t, "app.create")
	a.audit(t, "dark audit log with a diff")
	c.click(t, "#sign-out")
	c.browser.WaitJS(t, "the sign-in form", `document.querySelector('#signin-token')`)
	a.audit(t, "dark sign-in")

	// Cancelled, neither dialog changed the token (checked this late so
	// that a change the cancel set off has long reached the API).
	var relay access.ServiceToken
	if c.api.MustCall(t, "GET", "access/service_tokens/"+tok.ID, nil, &relay); relay.Name != "ci-relay" || relay.ClientSecretVersion != tok.ClientSecretVersion {
		t.Errorf("after cancelling the edit and the rotation the token is %+v, was %+v", relay, tok)
	}

	t.Logf("audited %d states: %s", len(a.audited), strings.Join(a.audited, "; "))
	if len(a.violations) > 0 {
		var b strings.Builder
		for _, v := range a.violations {
			fmt.Fprintf(&b, "\n%s\n", v)
		}
		t.Errorf("%d accessibility violations (WCAG 2.0/2.1 A and AA, axe-core):%s", len(a.violations), b.String())
	}
	consoleClean(t, c)
}

// userID is the id the API gives the user with email.
func userID(t *testing.T, c *console, email string) string {
	t.Helper()
	var users []struct{ ID, Email string }
	c.api.MustCall(t, "GET", "access/users", nil, &users)
	for _, u := range users {
		if u.Email == email {
			return u.ID
		}
	}
	t.Fatalf("no user %s in %+v", email, users)
	return ""
}

// focusState is the focused element and how it shows its focus.
type focusState struct {
	ID, Tag, Text, Href string
	// FocusVisible is whether the element matches :focus-visible, and
	// Indicator whether its computed style then draws an outline or a
	// box shadow.
	FocusVisible, Indicator bool
}

const readFocus = `(() => {
	const e = document.activeElement;
	if (!e || e === document.body) return {};
	const s = getComputedStyle(e);
	const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
	return {id: e.id, tag: e.tagName.toLowerCase(), text: e.textContent.trim().slice(0, 40), href: e.getAttribute('href') || '',
		focusVisible: e.matches(':focus-visible'), indicator: outline || s.boxShadow !== 'none'};
})()`

// tabThrough presses Tab from the top of the page up to n times and
// returns where the focus went each time.
func tabThrough(t *testing.T, c *console, n int) []focusState {
	t.Helper()
	c.js(t, `document.activeElement && document.activeElement.blur()`, nil)
	var seen []focusState
	for range n {
		c.browser.Run(t, "press Tab", chromedp.KeyEvent(kb.Tab))
		var f focusState
		c.js(t, readFocus, &f)
		seen = append(seen, f)
	}
	return seen
}

// reaches returns the first focus in seen that match accepts, failing the
// test when there is none or when it shows no focus indicator.
func reaches(t *testing.T, seen []focusState, what string, match func(focusState) bool) {
	t.Helper()
	for _, f := range seen {
		if match(f) {
			if !f.FocusVisible || !f.Indicator {
				t.Errorf("%s has the keyboard focus without a visible indicator: %+v", what, f)
			}
			return
		}
	}
	t.Errorf("Tab never reaches %s; it went through %+v", what, seen)
}

// With the keyboard alone: Tab reaches the sign-in form's token field and
// button, and in the console every navigation link and the application
// search, each showing a visible focus indicator.
func TestDashboardKeyboardReachesEveryControlWithAVisibleFocus(t *testing.T) {
	t.Parallel()
	c := newConsole(t, gatehousetest.EdgeOptions{})
	c.api.CreateApp(t, gatehousetest.Host(t, "kb"), gatehousetest.StartOrigin(t).URL, map[string]any{"name": "Keyboard"})

	c.browser.Navigate(t, c.api.URL+"/")
	c.browser.WaitJS(t, "the sign-in form", `document.querySelector('#signin-token')`)
	seen := tabThrough(t, c, 4)
	reaches(t, seen, "the token field", func(f focusState) bool { return f.ID == "signin-token" })
	reaches(t, seen, "the Sign in button", func(f focusState) bool { return f.Tag == "button" && f.Text == "Sign in" })

	c.signIn(t, c.api.Token)
	c.browser.WaitJS(t, "the list", `document.querySelector('#app-list table')`)
	var links []string
	c.js(t, `[...document.querySelectorAll('#sidenav a')].map((a) => a.getAttribute('href'))`, &links)
	if len(links) < 8 {
		t.Fatalf("navigation links %v", links)
	}
	seen = tabThrough(t, c, len(links)+8)
	for _, href := range links {
		reaches(t, seen, "the navigation link "+href, func(f focusState) bool { return f.Tag == "a" && f.Href == href && f.ID == "" && f.Text != "Gatehouse" })
	}
	reaches(t, seen, "the application search", func(f focusState) bool { return f.ID == "app-search" })
	consoleClean(t, c)
}
