package e2e_test

// Browser tests of the dashboard's pages for issue 14's resources: mutual
// TLS certificates, the organization with its signing keys, and users
// with their sessions and failed logins, each driven against the real API.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// newKeysConsole is a console whose API holds the signing-key store, so
// that rotation works, without an edge.
func newKeysConsole(t *testing.T) *console {
	t.Helper()
	a := gatehousetest.NewDashboardAPI(t, api.WithKeyStore(gatehousetest.KeyStore(gatehousetest.Store(t)), 0))
	b := gatehousetest.StartBrowser(t, a.URL)
	b.SetViewport(t, 1280, 800)
	return &console{api: a, browser: b}
}

// An operator uploads a CA from a PEM file (a bad PEM is refused next to
// its field first), sees it listed with its fingerprint, expiry and
// hostnames, changes its name and hostnames in a dialog (a bad hostname
// refused there), and deletes it after a confirmation that Cancel backs
// out of.
func TestDashboardUploadsEditsAndDeletesAMutualTLSCertificate(t *testing.T) {
	t.Parallel()
	c := newConsole(t, gatehousetest.EdgeOptions{})
	ca := gatehousetest.NewTestCA(t)
	c.signIn(t, c.api.Token)
	c.open(t, "#/certificates", `document.querySelector('#upload-cert') && document.querySelector('#cert-list .empty')`)

	c.fill(t, "#cert-name", "clients")
	c.fill(t, "#cert-pem", "not a certificate")
	c.fill(t, "#cert-hostnames", "mtls.example.test")
	c.click(t, "#upload-cert button[type=submit]")
	c.fieldError(t, "certificate")
	var focused string
	if c.js(t, `document.activeElement.id`, &focused); focused != "cert-pem" {
		t.Errorf("focus on %q after the field error, want the PEM field", focused)
	}

	// The file input reads the PEM into the field.
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, []byte(ca.PEM()), 0o600); err != nil {
		t.Fatal(err)
	}
	c.browser.Run(t, "choose the PEM file", chromedp.SetUploadFiles(chromedp.CSS("#cert-file"), []string{file}))
	c.browser.WaitJS(t, "the PEM read from the file", `document.querySelector('#cert-pem').value.includes('BEGIN CERTIFICATE')`)
	c.fill(t, "#cert-hostnames", "mtls.example.test\n*.svc.example.test")
	c.click(t, "#upload-cert button[type=submit]")
	c.browser.WaitJS(t, "the listed certificate", `document.querySelector('#cert-list tr[data-name="clients"]')`)
	c.browser.Screenshot(t, "mtls-certificates")

	var certs []access.Certificate
	c.api.MustCall(t, "GET", "access/certificates", nil, &certs)
	if len(certs) != 1 || certs[0].Name != "clients" || !slices.Equal(certs[0].AssociatedHostnames, []string{"mtls.example.test", "*.svc.example.test"}) {
		t.Fatalf("after the upload the API has %+v", certs)
	}
	cert := certs[0]
	row := fmt.Sprintf(`#cert-list tr[data-cert=%q]`, cert.ID)
	var shown struct{ Text, Fingerprint string }
	c.js(t, fmt.Sprintf(`({text: document.querySelector(%[1]q).innerText, fingerprint: document.querySelector(%[1]q + ' code').title})`, row), &shown)
	if shown.Fingerprint != cert.Fingerprint || !strings.Contains(shown.Text, cert.Fingerprint[:2]+":"+cert.Fingerprint[2:4]) ||
		!strings.Contains(shown.Text, "mtls.example.test, *.svc.example.test") || !strings.Contains(shown.Text, fmt.Sprint(cert.ExpiresOn.Local().Year())) {
		t.Errorf("the row shows %+v for %+v", shown, cert)
	}
	var left string
	if c.js(t, `document.querySelector('#cert-pem').value + document.querySelector('#cert-name').value`, &left); left != "" {
		t.Error("the upload form is not reset after the upload")
	}

	// Edit: a hostname with a port is refused in the dialog, then a rename.
	c.click(t, row+" .edit-cert")
	c.browser.WaitJS(t, "the edit dialog", `document.querySelector('dialog.modal[open] #edit-cert-hostnames')`)
	var hosts string
	if c.js(t, `document.querySelector('#edit-cert-hostnames').value`, &hosts); hosts != "mtls.example.test\n*.svc.example.test" {
		t.Errorf("the dialog shows hostnames %q", hosts)
	}
	c.fill(t, "#edit-cert-hostnames", "mtls.example.test:443")
	c.click(t, "dialog.modal[open] button[type=submit]")
	if msg := c.fieldError(t, "associated_hostnames"); msg == "" {
		t.Error("no field error for a hostname with a port")
	}
	c.browser.Screenshot(t, "mtls-certificate-edit-field-error")
	c.fill(t, "#edit-cert-name", "partners")
	c.fill(t, "#edit-cert-hostnames", "partners.example.test")
	c.click(t, "dialog.modal[open] button[type=submit]")
	c.browser.WaitJS(t, "the renamed certificate", `!document.querySelector('dialog.modal[open]') && document.querySelector('#cert-list tr[data-name="partners"]')`)
	var got access.Certificate
	if c.api.MustCall(t, "GET", "access/certificates/"+cert.ID, nil, &got); got.Name != "partners" ||
		!slices.Equal(got.AssociatedHostnames, []string{"partners.example.test"}) || got.Fingerprint != cert.Fingerprint {
		t.Errorf("after the edit the API has %+v", got)
	}

	// Delete: Cancel keeps it, Delete removes it.
	c.click(t, row+" .delete-cert")
	c.browser.WaitJS(t, "the delete confirmation", `document.querySelector('dialog.modal[open]')`)
	c.cancelDialog(t)
	c.api.MustCall(t, "GET", "access/certificates/"+cert.ID, nil, nil)
	c.click(t, row+" .delete-cert")
	c.browser.WaitJS(t, "the delete confirmation", `document.querySelector('dialog.modal[open] .btn.danger')`)
	c.click(t, "dialog.modal[open] .btn.danger")
	c.browser.WaitJS(t, "the empty list", `document.querySelector('#cert-list .empty')`)
	if resp := c.api.Call(t, "GET", "access/certificates/"+cert.ID, nil); resp.Status != 404 {
		t.Errorf("the deleted certificate: %d %s", resp.Status, resp.Body)
	}
	consoleClean(t, c)
}

// An operator creates the organization from the empty page (a bad auth
// domain and login design color are refused at their fields, nothing
// stored), reads it back after a reload, removes a field by emptying it,
// sets the key rotation period (out of bounds refused at its field) and
// rotates the signing key after a confirmation that Cancel backs out of.
func TestDashboardEditsTheOrganizationAndRotatesTheSigningKey(t *testing.T) {
	t.Parallel()
	c := newKeysConsole(t)
	c.signIn(t, c.api.Token)
	c.open(t, "#/organization", `document.querySelector('#org-form') && document.querySelector('#keys-form')`)
	if s := c.text(t, "#org-status"); !strings.Contains(s, "No organization yet") {
		t.Errorf("a new account's organization page says %q", s)
	}

	c.fill(t, "#org-name", "Example Corp")
	c.fill(t, "#org-auth-domain", "https://team.example.test/")
	c.fill(t, "#org-session-duration", "12h")
	c.fill(t, "#org-background-color", "red;}body{")
	c.fill(t, "#org-header-text", "Welcome")
	c.click(t, "#save-org")
	c.fieldError(t, "auth_domain")
	c.fieldError(t, "login_design.background_color")
	c.browser.Screenshot(t, "organization-field-errors")
	if resp := c.api.Call(t, "GET", "access/organizations", nil); resp.Status != 404 {
		t.Errorf("a refused save stored an organization: %d %s", resp.Status, resp.Body)
	}

	c.fill(t, "#org-auth-domain", "team.example.test")
	c.fill(t, "#org-background-color", "#0055ff")
	c.click(t, "#save-org")
	c.browser.WaitJS(t, "the saved organization", `document.querySelector('#org-status').textContent.startsWith('Updated') && !document.querySelector('#org-form .invalid')`)
	var org map[string]any
	c.api.MustCall(t, "GET", "access/organizations", nil, &org)
	design, _ := org["login_design"].(map[string]any)
	if org["name"] != "Example Corp" || org["auth_domain"] != "team.example.test" || org["session_duration"] != "12h" ||
		len(design) != 2 || design["background_color"] != "#0055ff" || design["header_text"] != "Welcome" {
		t.Fatalf("after the save the API has %v", org)
	}

	// Reloaded, the form shows what is stored; an emptied field is removed.
	c.open(t, "#/organization", `document.querySelector('#org-form') && document.querySelector('#org-name').value === 'Example Corp'`)
	var shown []string
	c.js(t, `['#org-auth-domain', '#org-session-duration', '#org-background-color', '#org-header-text', '#org-footer-text'].map((s) => document.querySelector(s).value)`, &shown)
	if !slices.Equal(shown, []string{"team.example.test", "12h", "#0055ff", "Welcome", ""}) {
		t.Errorf("the reloaded form shows %q", shown)
	}
	c.fill(t, "#org-session-duration", "")
	c.fill(t, "#org-header-text", "")
	c.click(t, "#save-org")
	c.browser.WaitJS(t, "the save", `document.querySelector('#org-status time').getAttribute('datetime') !== `+jsString(org["updated_at"]))
	org = nil
	c.api.MustCall(t, "GET", "access/organizations", nil, &org)
	if _, ok := org["session_duration"]; ok || org["name"] != "Example Corp" {
		t.Errorf("after emptying the session duration the API has %v", org)
	}
	if d, _ := org["login_design"].(map[string]any); len(d) != 1 || d["background_color"] != "#0055ff" {
		t.Errorf("after emptying the header text the login design is %v", org["login_design"])
	}
	// A second save works with the ETag the first answered.
	c.fill(t, "#org-name", "Example Inc")
	c.click(t, "#save-org")
	c.browser.WaitJS(t, "the second save", `document.querySelector('#org-status time').getAttribute('datetime') !== `+jsString(org["updated_at"]))
	if c.api.MustCall(t, "GET", "access/organizations", nil, &org); org["name"] != "Example Inc" {
		t.Errorf("after the second save the name is %v", org["name"])
	}

	// Signing keys.
	var keys access.KeyStatus
	c.api.MustCall(t, "GET", "access/keys", nil, &keys)
	if s := c.text(t, "#key-last-rotation"); !strings.Contains(s, "Last rotated") || !strings.Contains(s, "due in") {
		t.Errorf("the keys section says %q", s)
	}
	c.fill(t, "#key-rotation-days", "20")
	c.click(t, "#save-keys")
	c.fieldError(t, "key_rotation_interval_days")
	c.fill(t, "#key-rotation-days", "90")
	c.click(t, "#save-keys")
	c.browser.WaitJS(t, "the saved period", `[...document.querySelectorAll('#toasts .toast')].some((t) => t.textContent === 'Saved the rotation period')`)
	var after access.KeyStatus
	if c.api.MustCall(t, "GET", "access/keys", nil, &after); after.KeyRotationIntervalDays != 90 {
		t.Errorf("rotation period %v, want 90", after.KeyRotationIntervalDays)
	}

	c.click(t, "#rotate-keys")
	c.browser.WaitJS(t, "the rotate confirmation", `document.querySelector('dialog.modal[open]')`)
	c.browser.Screenshot(t, "organization-rotate-confirm")
	c.cancelDialog(t)
	if c.api.MustCall(t, "GET", "access/keys", nil, &after); !after.LastKeyRotationAt.Equal(keys.LastKeyRotationAt) {
		t.Errorf("Cancel rotated the key: %v, was %v", after.LastKeyRotationAt, keys.LastKeyRotationAt)
	}
	// Other tests in the package may have rotated within the minute;
	// the API refuses a second rotation until then.
	waitRotatable(t, c)
	c.click(t, "#rotate-keys")
	c.browser.WaitJS(t, "the rotate confirmation", `document.querySelector('dialog.modal[open] .btn.danger')`)
	c.click(t, "dialog.modal[open] .btn.danger")
	c.browser.WaitJS(t, "the rotation", `[...document.querySelectorAll('#toasts .toast')].some((t) => t.textContent === 'Rotated the signing key')`)
	if c.api.MustCall(t, "GET", "access/keys", nil, &after); time.Since(after.LastKeyRotationAt) > time.Minute {
		t.Errorf("after Rotate now the last rotation is %v", after.LastKeyRotationAt)
	}
	var datetime string
	c.js(t, `document.querySelector('#key-last-rotation time').getAttribute('datetime')`, &datetime)
	if shownAt, err := time.Parse(time.RFC3339Nano, datetime); err != nil || !shownAt.Equal(after.LastKeyRotationAt) {
		t.Errorf("the page shows the last rotation %q, the API %v", datetime, after.LastKeyRotationAt)
	}
	c.browser.Screenshot(t, "organization")
	consoleClean(t, c)
}

// jsString is v as a JavaScript string literal.
func jsString(v any) string { return fmt.Sprintf("%q", fmt.Sprint(v)) }

// waitRotatable waits until a minute has passed since the keyring's last
// rotation, after which the API rotates again.
func waitRotatable(t *testing.T, c *console) {
	t.Helper()
	var k access.KeyStatus
	c.api.MustCall(t, "GET", "access/keys", nil, &k)
	if d := time.Minute - time.Since(k.LastKeyRotationAt); d > 0 {
		time.Sleep(d + time.Second)
	}
}

// The Users page lists who signed in, from the access log, and one user's
// page shows the active sessions, the failed logins with their reasons
// in words and the last seen identity with the identity provider's name.
func TestDashboardShowsUsersTheirSessionsAndFailedLogins(t *testing.T) {
	t.Parallel()
	c := newConsole(t, gatehousetest.EdgeOptions{})
	var pin access.IdentityProvider
	c.api.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Email PIN", "type": "onetimepin", "config": map[string]any{}}, &pin)
	now := time.Now().UTC().Truncate(time.Second)
	login := func(at time.Duration, ray, email string, allowed bool) access.AccessLogEntry {
		reason := "allow_policy"
		if !allowed {
			reason = "no_policy_matched"
		}
		return access.AccessLogEntry{CreatedAt: now.Add(at), RayID: ray, AccountID: c.api.AccountID, AppUID: "3f1c2a5e-8a4b-4a61-9a2e-2f6d6c1b7e10",
			AppDomain: "app.example.test", Action: "login", Allowed: allowed, Reason: reason, UserEmail: email, Connection: pin.ID,
			IPAddress: "192.0.2.7", Country: "NL"}
	}
	if err := c.api.Store.InsertAccessLogs(context.Background(), []access.AccessLogEntry{
		login(-30*time.Hour, "ann-old", "ann@example.test", true),
		login(-2*time.Hour, "ann-1", "ann@example.test", true),
		login(-time.Hour, "bob-denied", "bob@example.test", false),
		login(-50*time.Minute, "ann-2", "ann@example.test", true),
		login(-40*time.Minute, "ann-denied", "ann@example.test", false),
	}); err != nil {
		t.Fatal(err)
	}
	c.signIn(t, c.api.Token)
	c.open(t, "#/users", `document.querySelectorAll('#user-list tbody tr').length === 2`)
	var rows []string
	c.js(t, `[...document.querySelectorAll('#user-list tbody tr')].map((r) => r.innerText)`, &rows)
	if !strings.Contains(rows[0], "ann@example.test") || !strings.Contains(rows[0], "signed in") ||
		!strings.Contains(rows[1], "bob@example.test") || !strings.Contains(rows[1], "never allowed") || !strings.Contains(rows[1], "—") {
		t.Errorf("the users list: %q", rows)
	}
	c.browser.Screenshot(t, "users")

	c.click(t, `#user-list tr[data-email="ann@example.test"] a`)
	c.browser.WaitJS(t, "ann's page", `document.querySelector('#user-sessions table') && document.querySelector('#user-failed table') && document.querySelector('#user-identity dl')`)
	var sessions []string
	c.js(t, `[...document.querySelectorAll('#user-sessions tbody tr')].map((r) => r.innerText)`, &sessions)
	if len(sessions) != 2 || !strings.Contains(sessions[0], "ann-2") || !strings.Contains(sessions[1], "ann-1") || !strings.Contains(sessions[0], "app.example.test") {
		t.Errorf("ann's active sessions: %q", sessions)
	}
	if s := c.text(t, "#user-failed tbody"); !strings.Contains(s, "ann-denied") || !strings.Contains(s, "192.0.2.7 (NL)") || strings.Contains(s, "no_policy_matched") {
		t.Errorf("ann's failed logins (the reason in words): %q", s)
	}
	if s := c.text(t, "#user-identity"); !strings.Contains(s, "192.0.2.7") || !strings.Contains(s, "NL") || !strings.Contains(s, "Email PIN (One-time PIN)") {
		t.Errorf("ann's last seen identity: %q", s)
	}
	c.browser.Screenshot(t, "user")

	c.click(t, ".crumbs a")
	c.browser.WaitJS(t, "the users list", `document.querySelector('#user-list tr[data-email="bob@example.test"]')`)
	c.click(t, `#user-list tr[data-email="bob@example.test"] a`)
	c.browser.WaitJS(t, "bob's page", `document.querySelector('#user-sessions .empty') && document.querySelector('#user-failed table')`)
	if s := c.text(t, "#user-failed tbody"); !strings.Contains(s, "bob-denied") {
		t.Errorf("bob's failed logins: %q", s)
	}
	consoleClean(t, c)
}

// A read-only session sees the three pages with no control that writes:
// no upload form or certificate buttons, the organization and key
// settings disabled, no Rotate now.
func TestDashboardReadOnlySeesCertificatesOrganizationAndUsersWithoutEditing(t *testing.T) {
	t.Parallel()
	c := newConsole(t, gatehousetest.EdgeOptions{})
	c.api.MustCall(t, "POST", "access/certificates", map[string]any{"name": "clients", "certificate": gatehousetest.NewTestCA(t).PEM()}, nil)
	c.api.MustCall(t, "PUT", "access/organizations", map[string]any{"name": "Example Corp", "auth_domain": "team.example.test"}, nil)
	c.signIn(t, c.api.ReadOnlyToken)
	for _, p := range []struct{ hash, ready string }{
		{"#/certificates", `document.querySelector('#cert-list tr[data-name="clients"]')`},
		{"#/organization", `document.querySelector('#org-name') && document.querySelector('#org-name').value === 'Example Corp' && document.querySelector('#keys-form')`},
		{"#/users", `document.querySelector('#user-list .empty')`},
	} {
		c.open(t, p.hash, p.ready)
		c.noWriteControls(t, p.hash)
	}
	var n int
	if c.js(t, `document.querySelectorAll('#rotate-keys, #save-org, #save-keys, .edit-cert, .delete-cert').length`, &n); n != 0 {
		t.Errorf("%d write buttons for a read-only session", n)
	}
	consoleClean(t, c)
}
