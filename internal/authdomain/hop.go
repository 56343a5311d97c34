package authdomain

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

// signIn gives the user an account-wide session on the auth domain, with
// a fresh session id and the identity provider's claims the login kept
// (custom), then sends them on to the app.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot, keys *session.Keyring, app *policy.App, back Redirect, email, subject, idp string, custom map[string][]string) {
	now := h.cfg.Now()
	life := snap.LoginSessionDuration(app.AccountID)
	global := session.Claims{Audience: []string{"account:" + app.AccountID}, Email: email, Subject: subject, Issuer: h.cfg.Issuer,
		IssuedAt: now, NotBefore: now, Expiry: now.Add(life), Type: globalSessionTy, LoginMethod: idp, SessionID: randomToken(),
		Custom: custom}
	jwt, err := keys.Sign(global)
	if err != nil {
		loginError(w, r, http.StatusInternalServerError, "internal", "The session could not be created.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: wire.CookieName, Value: jwt, Path: "/", Expires: now.Add(life), HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode})
	h.finishLogin(w, r, snap, keys, app, back, global, "")
}

// finishLogin redirects through the app's /cdn-cgi/access/authorized with
// a short-lived, single-use token for it, descended from the auth-domain
// session global and carrying the user's reason for access (purpose).
// When the policy that would let the user in asks for a reason and none
// was given, it asks for one first.
func (h *Handler) finishLogin(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot, keys *session.Keyring, app *policy.App, back Redirect, global session.Claims, purpose string) {
	if purpose == "" {
		d := snap.Decide(app, policy.Facts{IP: wire.ClientIP(r), Country: h.edge.Country(r), Identity: identityOf(global)})
		if d.Reason == policy.ReasonPurposeJustificationRequired {
			h.askPurpose(w, http.StatusOK, snap, app, back, d.Policy.PurposeJustificationPrompt, "")
			return
		}
	}
	now := h.cfg.Now()
	jwt, err := keys.Sign(session.Claims{Audience: []string{app.AUD}, Email: global.Email, Subject: global.Subject, Issuer: h.cfg.Issuer,
		IssuedAt: now, NotBefore: now, Expiry: now.Add(authorizedTTL), Type: authorizedTy, LoginMethod: global.LoginMethod,
		TokenID: randomToken(), SessionID: global.SessionID, Purpose: purpose, Custom: global.Custom})
	if err != nil {
		loginError(w, r, http.StatusInternalServerError, "internal", "The session could not be created.")
		return
	}
	http.Redirect(w, r, back.With(authorizedPath, url.Values{"token": {jwt}, "redirect_url": {back.String()}}), http.StatusFound)
}

// authorized turns a single-use login token into the app's own
// CF_Authorization cookie, if the app's policies let the user in. The app
// is the one serving redirect_url (which must pass ParseRedirect and be on
// this host), not the one serving this hop's own path: an app on a path
// (host/admin) never covers /cdn-cgi/access/authorized. The token must be
// for that app.
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot, keys *session.Keyring) *Login {
	back, err := ParseRedirect(r.URL.Query().Get("redirect_url"))
	if err != nil || back.Host != wire.CanonicalHost(r.Host) {
		loginError(w, r, http.StatusBadRequest, "bad_redirect", "redirect_url must be an absolute http(s) URL on this application's host.")
		return nil
	}
	app := h.edge.Match(snap, back.Host, back.Path)
	if app == nil {
		loginError(w, r, http.StatusNotFound, string(policy.ReasonAppNotFound), policy.ReasonAppNotFound.Describe())
		return nil
	}
	now := h.cfg.Now()
	claims, err := keys.Verify(r.URL.Query().Get("token"), app.AUD, h.cfg.Issuer, now)
	if err != nil || claims.Type != authorizedTy || claims.TokenID == "" || claims.SessionID == "" {
		loginError(w, r, http.StatusBadRequest, "bad_login_token", "This sign-in link is not valid or has expired. Open the application again.")
		return nil
	}
	if snap.SessionRevoked(app, claims.SessionID, claims.Email, claims.IssuedAt) {
		loginError(w, r, http.StatusUnauthorized, string(policy.ReasonSessionRevoked), "This sign-in was revoked. Open the application again.")
		return nil
	}
	fresh, err := h.store.ConsumeLoginToken(r.Context(), claims.TokenID, claims.Expiry)
	if err != nil || !fresh {
		loginError(w, r, http.StatusBadRequest, "login_token_used", "This sign-in link was already used. Open the application again.")
		return nil
	}
	d := snap.Decide(app, policy.Facts{IP: wire.ClientIP(r), Country: h.edge.Country(r), Identity: identityOf(claims)})
	login := &Login{App: app, Allowed: d.Action == policy.Allow, Reason: d.Reason, Email: claims.Email, LoginMethod: claims.LoginMethod, Purpose: claims.Purpose}
	if d.Action == policy.Login {
		// A reason is wanted that the login did not ask for (the policies
		// changed meanwhile): back to the auth domain, which asks.
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, h.loginURL(back.Host, back.String()), http.StatusFound)
		return login
	}
	if d.Action != policy.Allow {
		h.edge.Deny(w, r, app, d, claims.Email, h.loginURL(back.Host, back.String())+"&switch=1")
		return login
	}
	life := app.SessionDuration
	if d.Policy != nil && d.Policy.SessionDuration > 0 {
		life = d.Policy.SessionDuration
	}
	var binding, bindingHash string
	if app.BindingCookie {
		binding, bindingHash = session.NewBinding()
	}
	jwt, err := keys.Sign(session.Claims{Audience: []string{app.AUD}, Email: claims.Email, Subject: claims.Subject, Issuer: h.cfg.Issuer,
		IssuedAt: now, NotBefore: now, Expiry: now.Add(life), Type: session.TypeApp, LoginMethod: claims.LoginMethod, Country: h.edge.Country(r),
		SessionID: claims.SessionID, Purpose: claims.Purpose, Binding: bindingHash, Custom: claims.Custom})
	if err != nil {
		loginError(w, r, http.StatusInternalServerError, "internal", "The session could not be created.")
		return login
	}
	http.SetCookie(w, h.edge.AppCookie(r, app, jwt, now.Add(life)))
	if binding != "" {
		http.SetCookie(w, h.bindingCookie(r, binding, now.Add(life)))
		h.land(w, back)
		return login
	}
	http.Redirect(w, r, back.String(), http.StatusFound)
	return login
}

// identityOf is the user a session token stands for, as the engine reads
// it.
func identityOf(c session.Claims) *policy.Identity {
	return &policy.Identity{Email: c.Email, LoginMethod: c.LoginMethod, Purpose: c.Purpose, Claims: c.Custom}
}

// appLogout ends the session behind the app's cookie, clears the cookie,
// and continues to the auth domain's logout.
func (h *Handler) appLogout(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot, keys *session.Keyring, app *policy.App) {
	if raw := wire.SessionToken(r); raw != "" {
		if claims, reason := h.edge.VerifySession(snap, keys, app, raw, h.cfg.Now()); reason == "" && claims.SessionID != "" {
			if err := h.store.RevokeLoginSession(r.Context(), app.AccountID, claims.SessionID); err != nil {
				h.cfg.Log.Error("revoke session at logout", "err", err)
				loginError(w, r, http.StatusServiceUnavailable, "logout_failed", "You could not be signed out. Try again.")
				return
			}
		}
	}
	http.SetCookie(w, h.edge.AppCookie(r, app, "", time.Unix(0, 0)))
	if app.BindingCookie {
		http.SetCookie(w, h.bindingCookie(r, "", time.Unix(0, 0)))
	}
	http.Redirect(w, r, h.cfg.Issuer+logoutPath, http.StatusFound)
}

// logout ends the auth-domain session (and with it every app token minted
// from it, on every edge) and clears its cookie.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, keys *session.Keyring) {
	if c, err := r.Cookie(wire.CookieName); err == nil {
		claims, err := keys.VerifyAnyAudience(c.Value, h.cfg.Issuer, h.cfg.Now())
		account, isAccount := "", len(claims.Audience) == 1
		if isAccount {
			account, isAccount = strings.CutPrefix(claims.Audience[0], "account:")
		}
		if err == nil && isAccount && claims.Type == globalSessionTy && claims.SessionID != "" {
			if err := h.store.RevokeLoginSession(r.Context(), account, claims.SessionID); err != nil {
				h.cfg.Log.Error("revoke session at logout", "err", err)
				loginError(w, r, http.StatusServiceUnavailable, "logout_failed", "You could not be signed out. Try again.")
				return
			}
		}
	}
	http.SetCookie(w, &http.Cookie{Name: wire.CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode})
	renderPage(w, http.StatusOK, page{Title: "Signed out", Message: "You are signed out of every application."})
}

// bindingCookie is the CF_Binding cookie carrying value until exp:
// HttpOnly, SameSite=Strict, Secure over HTTPS, on the whole host.
func (h *Handler) bindingCookie(r *http.Request, value string, exp time.Time) *http.Cookie {
	c := &http.Cookie{Name: wire.BindingCookieName, Value: value, Path: "/", Expires: exp, HttpOnly: true,
		Secure: h.secure(r), SameSite: http.SameSiteStrictMode}
	if value == "" {
		c.MaxAge = -1
	}
	return c
}

// land sends the browser on to back (validated, on this host) from a page
// of this host rather than by a redirect: a navigation that came through
// the auth domain is cross-site, and the browser would leave the
// SameSite=Strict CF_Binding cookie off the request it ends in.
func (h *Handler) land(w http.ResponseWriter, back Redirect) {
	renderPage(w, http.StatusOK, page{Title: "Signed in", Message: "Taking you to the application.", Next: back.String()})
}

// getIdentity returns the identity behind the request's app token.
func (h *Handler) getIdentity(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot, keys *session.Keyring, app *policy.App) {
	raw := wire.SessionToken(r)
	if raw == "" {
		wire.WriteJSON(w, http.StatusUnauthorized, wire.ErrorBody{Error: string(policy.ReasonLoginRequired), Message: policy.ReasonLoginRequired.Describe()})
		return
	}
	claims, reason := h.edge.VerifySession(snap, keys, app, raw, h.cfg.Now())
	if reason == "" && !session.Bound(wire.CookieValue(r, wire.BindingCookieName), claims.Binding, app.BindingCookie) {
		reason = policy.ReasonBindingCookieMismatch
	}
	if reason != "" {
		wire.WriteJSON(w, http.StatusUnauthorized, wire.ErrorBody{Error: string(reason), Message: reason.Describe()})
		return
	}
	idp := map[string]string{"id": claims.LoginMethod}
	if p := snap.IdentityProvider(app.AccountID, claims.LoginMethod); p != nil {
		idp["type"] = p.Type
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"email": claims.Email, "user_uuid": claims.Subject, "idp": idp, "country": claims.Country,
		"iat": claims.IssuedAt.Unix(), "exp": claims.Expiry.Unix(), "aud": claims.Audience, "common_name": claims.CommonName,
		"purpose_justification": claims.Purpose,
	})
}
