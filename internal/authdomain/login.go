package authdomain

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/pages"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

// loginTarget resolves and checks the app and return address of a login
// for appHost: the redirect must pass ParseRedirect and be on appHost, and
// an app must serve its path.
func (h *Handler) loginTarget(snap *policy.Snapshot, appHost, redirect string) (*policy.App, Redirect, error) {
	back, err := ParseRedirect(redirect)
	if err != nil {
		return nil, Redirect{}, err
	}
	if back.Host != wire.CanonicalHost(appHost) {
		return nil, Redirect{}, errors.New("redirect_url must be on the application's own host")
	}
	app := h.edge.Match(snap, back.Host, back.Path)
	if app == nil {
		return nil, Redirect{}, errors.New("no application protects redirect_url")
	}
	return app, back, nil
}

// loginPage starts a login for an app: straight back to it when the user
// already has a session on the auth domain, else the provider chooser (or
// the only provider, when the app asks to skip the chooser).
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot, keys *session.Keyring, appHost string) {
	app, back, err := h.loginTarget(snap, appHost, r.URL.Query().Get("redirect_url"))
	if err != nil {
		loginError(w, r, http.StatusBadRequest, "bad_redirect", err.Error())
		return
	}
	// switch=1 comes from the block page's "Sign in with another
	// account": show the sign-in methods even to a signed-in user.
	if c, err := r.Cookie(wire.CookieName); err == nil && r.URL.Query().Get("switch") == "" {
		if claims, err := keys.Verify(c.Value, "account:"+app.AccountID, h.cfg.Issuer, h.cfg.Now()); err == nil && claims.Type == globalSessionTy &&
			claims.SessionID != "" && !snap.LoginSessionRevoked(app.AccountID, claims.SessionID, claims.Email, claims.IssuedAt) {
			h.finishLogin(w, r, snap, keys, app, back, claims, "")
			return
		}
	}
	methods := snap.LoginMethods(app)
	if len(methods) == 0 {
		loginError(w, r, http.StatusServiceUnavailable, "no_login_methods", "This application has no login method configured.")
		return
	}
	q := url.Values{"app": {app.ID}, "redirect_url": {back.String()}}
	if r.URL.Query().Get("switch") != "" {
		// Switching account: the provider is asked to let the user
		// choose, rather than sign the same one in again.
		q.Set("switch", "1")
	}
	if app.AutoRedirect && len(methods) == 1 && methods[0].Type == "oidc" {
		q.Set("idp", methods[0].ID)
		http.Redirect(w, r, h.cfg.Issuer+startPath+"?"+q.Encode(), http.StatusFound)
		return
	}
	p := page{Design: pages.DesignOf(snap.Organization(app.AccountID)), Title: "Sign in to " + app.Name}
	var names []string
	for _, m := range methods {
		switch m.Type {
		case "oidc":
			q.Set("idp", m.ID)
			p.Links = append(p.Links, pageLink{ID: m.ID, Name: m.Name, URL: startPath + "?" + q.Encode()})
			names = append(names, m.Name)
		case "onetimepin":
			p.Form = &pageForm{Action: otpPath, Label: "Email address", Field: "email", Type: "email", Autocomplete: "email", Button: "Email me a code",
				Hint:   "We will email you a 6-digit sign-in code. It works for 10 minutes.",
				Hidden: map[string]string{"idp": m.ID, "app": app.ID, "redirect_url": back.String()}}
		}
	}
	switch {
	case len(names) > 0 && p.Form != nil:
		p.Message = "Sign in with " + listNames(names) + ", or get a one-time code by email."
	case len(names) > 0:
		p.Message = "Sign in with " + listNames(names) + "."
	default:
		p.Message = "Enter your email address to get a one-time sign-in code."
	}
	renderPage(w, http.StatusOK, p)
}

// listNames joins names as in a sentence: "A", "A or B", "A, B or C".
func listNames(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// formTarget reads and checks the app, provider and redirect of a login
// step.
func (h *Handler) formTarget(snap *policy.Snapshot, appID, idpID, redirect string) (*policy.App, *policy.IdentityProvider, Redirect, error) {
	base := snap.App(appID)
	if base == nil {
		return nil, nil, Redirect{}, errors.New("unknown application")
	}
	back, err := ParseRedirect(redirect)
	if err != nil {
		return nil, nil, Redirect{}, err
	}
	app, back, err := h.loginTarget(snap, back.Host, redirect)
	if err != nil {
		return nil, nil, Redirect{}, err
	}
	if app.ID != base.ID {
		return nil, nil, Redirect{}, errors.New("redirect_url is not on the application")
	}
	for _, m := range snap.LoginMethods(app) {
		if m.ID == idpID {
			return app, m, back, nil
		}
	}
	return nil, nil, Redirect{}, errors.New("this login method is not offered for the application")
}
