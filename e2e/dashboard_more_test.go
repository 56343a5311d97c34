package e2e_test

// Browser tests of editing in the dashboard: identity providers (OIDC and
// one-time PIN), service tokens' name and duration, and the account name
// in the header. They reuse the console helpers of dashboard_test.go.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// storedIdP returns an identity provider as the edge loads it, with its
// client secret opened.
func storedIdP(t *testing.T, c *console, id string) access.IdentityProvider {
	t.Helper()
	cfg, err := c.api.Store.LoadConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.IdentityProviders {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("identity provider %s not in the edge's config", id)
	return access.IdentityProvider{}
}

// fieldError waits for the API's error on field to show next to it and
// returns its text.
func (c *console) fieldError(t *testing.T, field string) string {
	t.Helper()
	sel := fmt.Sprintf(`[data-field=%q].invalid .field-error:not([hidden])`, field)
	c.browser.WaitJS(t, "the field error on "+field, fmt.Sprintf(`document.querySelector(%q)`, sel))
	return c.text(t, sel)
}

// headerAccount checks that the header names the account, with its full
// id in the tooltip.
func (c *console) headerAccount(t *testing.T) {
	t.Helper()
	c.browser.WaitJS(t, "the account name", `document.querySelector('#account-name[data-loaded]')`)
	want := "test " + t.Name()
	if got := c.text(t, "#account-name"); got != want {
		t.Errorf("header shows account %q, want %q", got, want)
	}
	var title string
	c.js(t, `document.querySelector('#account-name').title`, &title)
	if !strings.Contains(title, c.api.AccountID) {
		t.Errorf("account tooltip %q lacks the id %s", title, c.api.AccountID)
	}
}

// An operator edits an OIDC provider: a bad URL is refused next to its
// field; the saved name and scopes come back from the API, and a
// blank secret field keeps the stored secret (the edge still has it)
// while a typed one replaces it. A one-time PIN provider's name is edited
// too. The header names the account.
func TestDashboardEditsIdentityProvidersKeepingTheSecret(t *testing.T) {
	t.Parallel()
	c := newConsole(t, gatehousetest.EdgeOptions{})
	var oidc, pin access.IdentityProvider
	c.api.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Okta", "type": "oidc", "config": map[string]any{
		"issuer_url": "https://login.example.test", "client_id": "gatehouse", "client_secret": "original-secret"}}, &oidc)
	c.api.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Email PIN", "type": "onetimepin", "config": map[string]any{}}, &pin)
	c.signIn(t, c.api.Token)
	c.headerAccount(t)

	c.open(t, "#/idps", `document.querySelector('#idp-list table')`)
	c.click(t, fmt.Sprintf(`#idp-list tr[data-idp=%q] .edit-idp`, oidc.ID))
	c.browser.WaitJS(t, "the edit form", `document.querySelector('#idp-form #idp-scopes')`)
	var shown struct{ Name, Issuer, ClientID, Secret, Placeholder, Scopes string }
	c.js(t, `({name: document.querySelector('#idp-name').value, issuer: document.querySelector('#idp-issuer-url').value,
		clientID: document.querySelector('#idp-client-id').value, secret: document.querySelector('#idp-client-secret').value,
		placeholder: document.querySelector('#idp-client-secret').placeholder, scopes: document.querySelector('#idp-scopes').value})`, &shown)
	if shown.Name != "Okta" || shown.Issuer != "https://login.example.test" || shown.ClientID != "gatehouse" ||
		shown.Secret != "" || !strings.Contains(shown.Placeholder, "stored") || shown.Scopes != "" {
		t.Fatalf("the edit form shows %+v", shown)
	}

	c.fill(t, "#idp-name", "Corporate SSO")
	c.fill(t, "#idp-scopes", "openid email groups")
	c.js(t, `window.scrollTo(0, 0)`, nil)
	c.browser.Screenshot(t, "idp-edit")
	c.fill(t, "#idp-issuer-url", "login.example.test")
	c.click(t, "#save-idp")
	if msg := c.fieldError(t, "config.issuer_url"); !strings.Contains(msg, "URL") {
		t.Errorf("issuer field error %q", msg)
	}
	var focused string
	if c.js(t, `document.activeElement.id`, &focused); focused != "idp-issuer-url" {
		t.Errorf("focus on %q after the field error, want the issuer field", focused)
	}
	c.browser.Screenshot(t, "idp-edit-field-error")
	var unchanged access.IdentityProvider
	if c.api.MustCall(t, "GET", "access/identity_providers/"+oidc.ID, nil, &unchanged); unchanged.Name != "Okta" {
		t.Errorf("a refused edit changed the provider: %+v", unchanged)
	}

	c.fill(t, "#idp-issuer-url", "https://sso.example.test")
	c.click(t, "#save-idp")
	c.browser.WaitJS(t, "the list with the new name", `location.hash === '#/idps' && document.querySelector('#idp-list tr[data-name="Corporate SSO"]')`)
	var got access.IdentityProvider
	c.api.MustCall(t, "GET", "access/identity_providers/"+oidc.ID, nil, &got)
	if got.Name != "Corporate SSO" || !slices.Equal(got.Config.Scopes, []string{"openid", "email", "groups"}) ||
		len(got.Config.Claims) != 0 || got.Config.IssuerURL != "https://sso.example.test" ||
		got.Config.ClientID != "gatehouse" || !got.Config.ClientSecretSet || got.Config.EmailClaimName != "" ||
		got.Config.PKCEEnabled == nil || !*got.Config.PKCEEnabled {
		t.Fatalf("after the edit the API has %+v", got)
	}
	if s := storedIdP(t, c, oidc.ID).Config.ClientSecret; s != "original-secret" {
		t.Errorf("a blank secret field changed the stored secret to %q", s)
	}

	// A typed secret replaces the stored one.
	c.click(t, fmt.Sprintf(`#idp-list tr[data-idp=%q] .edit-idp`, oidc.ID))
	c.browser.WaitJS(t, "the edit form again", `document.querySelector('#idp-form #idp-client-secret') && document.querySelector('#idp-name').value === 'Corporate SSO'`)
	c.fill(t, "#idp-client-secret", "rotated-secret")
	c.click(t, "#save-idp")
	c.browser.WaitJS(t, "the list", `location.hash === '#/idps' && document.querySelector('#idp-list table')`)
	if s := storedIdP(t, c, oidc.ID).Config.ClientSecret; s != "rotated-secret" {
		t.Errorf("after typing a new secret the edge has %q", s)
	}

	// A one-time PIN provider has only a name.
	c.click(t, fmt.Sprintf(`#idp-list tr[data-idp=%q] .edit-idp`, pin.ID))
	c.browser.WaitJS(t, "the PIN edit form", `document.querySelector('#idp-form #idp-name') && document.querySelector('#idp-name').value === 'Email PIN'`)
	var inputs int
	if c.js(t, `document.querySelectorAll('#idp-form input').length`, &inputs); inputs != 1 {
		t.Errorf("the one-time PIN form has %d inputs, want only the name", inputs)
	}
	c.fill(t, "#idp-name", "PIN by email")
	c.click(t, "#save-idp")
	c.browser.WaitJS(t, "the renamed PIN provider", `document.querySelector('#idp-list tr[data-name="PIN by email"]')`)
	var renamed access.IdentityProvider
	if c.api.MustCall(t, "GET", "access/identity_providers/"+pin.ID, nil, &renamed); renamed.Name != "PIN by email" || renamed.Type != "onetimepin" {
		t.Errorf("PIN provider after the edit: %+v", renamed)
	}
	consoleClean(t, c)
}

// An operator renames a service token and changes its duration in a
// dialog; a duplicate name is refused next to the field and the dialog
// stays open. The duration changes, the expiry does not (refresh moves
// it), as the API documents.
func TestDashboardRenamesAServiceTokenAndChangesItsDuration(t *testing.T) {
	t.Parallel()
	c := newConsole(t, gatehousetest.EdgeOptions{})
	var tok access.ServiceToken
	c.api.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "ci"}, &tok)
	c.api.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "other"}, nil)
	c.signIn(t, c.api.Token)
	c.open(t, "#/service-tokens", `document.querySelector('#token-list tr[data-name="ci"]')`)

	c.click(t, `#token-list tr[data-name="ci"] .edit-token`)
	c.browser.WaitJS(t, "the edit dialog", `document.querySelector('dialog.modal[open] #edit-token-name')`)
	var name, duration string
	c.js(t, `document.querySelector('#edit-token-name').value`, &name)
	c.js(t, `document.querySelector('#edit-token-duration').value`, &duration)
	if name != "ci" || duration != "8760h" {
		t.Fatalf("the dialog shows %q, %q", name, duration)
	}
	c.fill(t, "#edit-token-name", "other")
	c.click(t, "dialog.modal[open] button[type=submit]")
	if msg := c.fieldError(t, "name"); !strings.Contains(msg, "already exists") {
		t.Errorf("duplicate name error %q", msg)
	}
	c.browser.Screenshot(t, "service-token-edit-field-error")

	c.fill(t, "#edit-token-name", "ci-deploy")
	c.choose(t, "#edit-token-duration", "720h")
	c.click(t, "dialog.modal[open] button[type=submit]")
	c.browser.WaitJS(t, "the renamed token", `!document.querySelector('dialog.modal[open]') && document.querySelector('#token-list tr[data-name="ci-deploy"]')`)
	if d := c.text(t, `#token-list tr[data-name="ci-deploy"] td:nth-child(3)`); d != "30 days" {
		t.Errorf("list shows duration %q", d)
	}
	var got access.ServiceToken
	c.api.MustCall(t, "GET", "access/service_tokens/"+tok.ID, nil, &got)
	if got.Name != "ci-deploy" || got.Duration != "720h" || !got.ExpiresAt.Equal(tok.ExpiresAt) || got.ClientID != tok.ClientID {
		t.Errorf("after the edit the API has %+v (created %+v)", got, tok)
	}
	consoleClean(t, c)
}

// A read-only session sees the account name and no edit control for
// identity providers or service tokens; a provider's page shows its
// settings disabled, without a Save button.
func TestDashboardReadOnlyCannotEditIdentityProvidersOrTokens(t *testing.T) {
	t.Parallel()
	c := newConsole(t, gatehousetest.EdgeOptions{})
	var oidc access.IdentityProvider
	c.api.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "Okta", "type": "oidc", "config": map[string]any{
		"issuer_url": "https://login.example.test", "client_id": "gatehouse", "client_secret": "s"}}, &oidc)
	c.api.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "ci"}, nil)
	c.signIn(t, c.api.ReadOnlyToken)
	c.headerAccount(t)

	c.open(t, "#/idps", `document.querySelector('#idp-list table')`)
	c.noWriteControls(t, "#/idps")
	c.open(t, "#/idps/"+oidc.ID, `document.querySelector('#idp-form #idp-scopes')`)
	c.noWriteControls(t, "#/idps/"+oidc.ID)
	var state struct {
		Disabled bool
		Save     int
	}
	c.js(t, `({disabled: document.querySelector('#idp-name').matches(':disabled'), save: document.querySelectorAll('#save-idp').length})`, &state)
	if !state.Disabled || state.Save != 0 {
		t.Errorf("read-only provider page: %+v", state)
	}
	c.open(t, "#/service-tokens", `document.querySelector('#token-list table')`)
	c.noWriteControls(t, "#/service-tokens")
	var edits int
	if c.js(t, `document.querySelectorAll('.edit-token, .edit-idp').length`, &edits); edits != 0 {
		t.Errorf("%d edit buttons for a read-only session", edits)
	}
	consoleClean(t, c)
}

// consoleClean fails the test on script errors in the page.
func consoleClean(t *testing.T, c *console) {
	t.Helper()
	for _, m := range c.browser.Console() {
		if m.Type == chromedp.ConsoleException || (m.Type == "error" && !strings.Contains(m.Text, "Failed to load resource")) {
			t.Errorf("browser console: %s", m)
		}
	}
}
