package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// In Chromium, over HTTPS: a real OIDC login to an app whose policy asks
// for a reason and which binds its sessions to CF_Binding. The browser is
// asked for the reason on the auth domain, gives it, and lands on the app
// with both cookies: the SameSite=Strict binding cookie is sent although
// the login went through the auth domain, and the origin sees the reason
// in the assertion but never the binding cookie.
func TestPurposeJustificationAndBindingCookieInTheBrowser(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	op, idp := w.oidcProvider(t)
	origin := gatehousetest.StartOrigin(t)
	h := host("secure", "mysite.test")
	const prompt = "Which incident are you on?"
	app := w.app(t, h, origin.URL, map[string]any{"allowed_idps": []string{idp.ID}, "auto_redirect_to_identity": true, "enable_binding_cookie": true},
		map[string]any{"name": "provider users", "decision": "allow", "include": []any{map[string]any{"email": map[string]any{"email": op.Email}}},
			"purpose_justification_required": true, "purpose_justification_prompt": prompt})
	target := w.browser.URL(h, "/welcome")

	waitFor := func(what string, ok func(at, text string) bool) (string, string) {
		t.Helper()
		var at, text string
		deadline := time.Now().Add(20 * time.Second)
		for {
			// One evaluation, so that the address and the text are of the
			// same page.
			var page []string
			w.browser.Eval(t, "[location.href, document.body ? document.body.innerText : '']", &page)
			if len(page) == 2 {
				at, text = page[0], page[1]
			}
			if ok(at, text) {
				return at, text
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: the browser is at %s showing %q", what, at, text)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	w.browser.Navigate(t, target)
	waitFor("the provider's login form", func(at, _ string) bool { return strings.HasPrefix(at, op.Issuer+"/login/username") })
	w.browser.Eval(t, fmt.Sprintf(`(() => {
		document.querySelector('[name=username]').value = %q;
		document.querySelector('[name=password]').value = %q;
		document.querySelector('form').submit();
		return true;
	})()`, op.Username, op.Password), nil)
	at, _ := waitFor("the reason form", func(_, text string) bool { return strings.Contains(text, prompt) })
	if !strings.HasPrefix(at, w.edge.Issuer) {
		t.Fatalf("the reason is asked at %s, want the auth domain %s", at, w.edge.Issuer)
	}
	if n := len(origin.Requests()); n != 0 {
		t.Fatalf("the origin was reached %d times before the reason was given", n)
	}
	w.browser.Eval(t, `(() => {
		document.querySelector('[name=purpose]').value = 'incident 4711';
		document.querySelector('form button[type=submit]').click();
		return true;
	})()`, nil)
	waitFor("the app", func(at, text string) bool { return at == target && strings.Contains(text, "origin ok") })

	got := origin.Last()
	claims, err := w.edge.Loader.State().Keys.Verify(got.Header.Get("Cf-Access-Jwt-Assertion"), app.AUD, w.edge.Issuer, time.Now())
	if err != nil || claims.Purpose != "incident 4711" || claims.Binding == "" {
		t.Fatalf("assertion claims %+v err %v", claims, err)
	}
	if c := got.Header.Get("Cookie"); strings.Contains(c, "CF_Binding") || strings.Contains(c, "CF_Authorization") {
		t.Errorf("the origin received the credentials: %q", c)
	}
	// A reload is a same-site navigation: both cookies go, the app answers.
	w.browser.Navigate(t, target)
	waitFor("the app again", func(at, text string) bool { return at == target && strings.Contains(text, "origin ok") })
}
