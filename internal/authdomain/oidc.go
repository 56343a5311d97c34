package authdomain

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/sealed"
	"github.com/gatehouse-dev/gatehouse/internal/session"
)

// loginState travels through the identity provider in a sealed cookie:
// nothing about a login in progress is kept on any one edge.
type loginState struct {
	State    string    `json:"state"`
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"`
	IdP      string    `json:"idp"`
	App      string    `json:"app"`
	Redirect string    `json:"redirect"`
	Expires  time.Time `json:"exp"`
}

type oidcClient struct {
	provider *oidc.Provider
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
	pkce     bool
	email    string
}

func (h *Handler) oidcClient(ctx context.Context, p *policy.IdentityProvider, redirectURL string) (*oidcClient, error) {
	cfgJSON, _ := json.Marshal(p.Config)
	sum := sha256.Sum256(append(cfgJSON, redirectURL...))
	key := p.ID + hex.EncodeToString(sum[:8])
	if v, ok := h.providers.Load(key); ok {
		return v.(*oidcClient), nil
	}
	c := p.Config
	var provider *oidc.Provider
	var err error
	if c.IssuerURL != "" {
		provider, err = oidc.NewProvider(ctx, c.IssuerURL)
	} else {
		provider = (&oidc.ProviderConfig{AuthURL: c.AuthURL, TokenURL: c.TokenURL, JWKSURL: c.CertsURL}).NewProvider(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", c.IssuerURL, err)
	}
	scopes := c.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	oc := &oidcClient{
		provider: provider,
		config:   oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: provider.Endpoint(), RedirectURL: redirectURL, Scopes: scopes},
		verifier: provider.Verifier(&oidc.Config{ClientID: c.ClientID, SkipIssuerCheck: c.IssuerURL == ""}),
		pkce:     c.PKCEEnabled == nil || *c.PKCEEnabled,
		email:    c.EmailClaimName,
	}
	if oc.email == "" {
		oc.email = "email"
	}
	h.providers.Store(key, oc)
	return oc, nil
}

// startOIDC sends the user to the provider with state, nonce and a PKCE
// challenge; what must come back is sealed in a cookie.
func (h *Handler) startOIDC(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot) {
	if !h.allow(r) {
		loginError(w, r, http.StatusTooManyRequests, "rate_limited", "Too many sign-in attempts. Wait a minute and try again.")
		return
	}
	q := r.URL.Query()
	app, idp, back, err := h.formTarget(snap, q.Get("app"), q.Get("idp"), q.Get("redirect_url"))
	if err != nil || idp.Type != "oidc" {
		loginError(w, r, http.StatusBadRequest, "bad_login", "This sign-in link is not valid.")
		return
	}
	oc, err := h.oidcClient(r.Context(), idp, h.cfg.Issuer+callbackPath)
	if err != nil {
		h.cfg.Log.Error("oidc provider", "idp", idp.ID, "err", err)
		loginError(w, r, http.StatusBadGateway, "idp_unavailable", "The identity provider cannot be reached.")
		return
	}
	ls := loginState{State: randomToken(), Nonce: randomToken(), IdP: idp.ID, App: app.ID, Redirect: back.String(), Expires: h.cfg.Now().Add(loginStateTTL)}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(ls.Nonce)}
	if q.Get("switch") != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "select_account"))
	}
	if oc.pkce {
		ls.Verifier = oauth2.GenerateVerifier()
		opts = append(opts, oauth2.S256ChallengeOption(ls.Verifier))
	}
	raw, _ := json.Marshal(ls)
	box, err := sealed.Seal(h.stateKey, loginStateName, raw)
	if err != nil {
		loginError(w, r, http.StatusInternalServerError, "internal", "Sign-in could not start.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginStateName, Value: base64.RawURLEncoding.EncodeToString(box), Path: "/cdn-cgi/access/",
		MaxAge: int(loginStateTTL.Seconds()), HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, oc.config.AuthCodeURL(ls.State, opts...), http.StatusFound)
}

// oidcCallback completes the code flow: the state must match the sealed
// cookie, the code is exchanged with the PKCE verifier, and the ID token's
// signature, audience and nonce are checked.
func (h *Handler) oidcCallback(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot, keys *session.Keyring) {
	c, err := r.Cookie(loginStateName)
	http.SetCookie(w, &http.Cookie{Name: loginStateName, Value: "", Path: "/cdn-cgi/access/", MaxAge: -1, HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode})
	if err != nil {
		loginError(w, r, http.StatusBadRequest, "no_login_state", "This sign-in was not started here or took too long. Start again.")
		return
	}
	var ls loginState
	box, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err == nil {
		var raw []byte
		if raw, err = sealed.Open(h.stateKey, loginStateName, box); err == nil {
			err = json.Unmarshal(raw, &ls)
		}
	}
	q := r.URL.Query()
	switch {
	case err != nil:
		loginError(w, r, http.StatusBadRequest, "bad_login_state", "This sign-in cannot be completed. Start again.")
		return
	case !h.cfg.Now().Before(ls.Expires):
		loginError(w, r, http.StatusBadRequest, "login_expired", "This sign-in took too long. Start again.")
		return
	case q.Get("state") == "" || q.Get("state") != ls.State:
		loginError(w, r, http.StatusBadRequest, "bad_state", "This sign-in does not match the one started here.")
		return
	case q.Get("error") != "":
		loginError(w, r, http.StatusUnauthorized, "idp_error", "The identity provider refused the sign-in: "+q.Get("error"))
		return
	}
	app, idp, back, err := h.formTarget(snap, ls.App, ls.IdP, ls.Redirect)
	if err != nil {
		loginError(w, r, http.StatusBadRequest, "bad_login", err.Error())
		return
	}
	oc, err := h.oidcClient(r.Context(), idp, h.cfg.Issuer+callbackPath)
	if err != nil {
		loginError(w, r, http.StatusBadGateway, "idp_unavailable", "The identity provider cannot be reached.")
		return
	}
	var opts []oauth2.AuthCodeOption
	if ls.Verifier != "" {
		opts = append(opts, oauth2.VerifierOption(ls.Verifier))
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	tok, err := oc.config.Exchange(ctx, q.Get("code"), opts...)
	if err != nil {
		h.cfg.Log.Warn("oidc code exchange", "idp", idp.ID, "err", err)
		loginError(w, r, http.StatusUnauthorized, "code_exchange_failed", "The identity provider did not confirm the sign-in.")
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := oc.verifier.Verify(ctx, rawID)
	if err != nil || idt.Nonce != ls.Nonce {
		h.cfg.Log.Warn("oidc id token", "idp", idp.ID, "err", err, "nonce_ok", err == nil && idt.Nonce == ls.Nonce)
		loginError(w, r, http.StatusUnauthorized, "bad_id_token", "The identity provider's answer did not verify.")
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		loginError(w, r, http.StatusUnauthorized, "bad_id_token", "The identity provider's answer did not verify.")
		return
	}
	if _, ok := claims[oc.email]; !ok || missingClaim(claims, idp.Config.Claims) {
		// Many providers put profile claims only in the userinfo response.
		ui, err := oc.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err == nil && ui.Subject == idt.Subject {
			_ = ui.Claims(&claims)
		}
	}
	email, _ := claims[oc.email].(string)
	if verified, ok := claims["email_verified"].(bool); ok && !verified {
		email = ""
	}
	if email == "" {
		loginError(w, r, http.StatusUnauthorized, "no_email", "The identity provider did not share a verified email address.")
		return
	}
	custom, err := access.KeepClaims(claims, idp.Config.Claims)
	if err != nil {
		h.cfg.Log.Warn("oidc claims", "idp", idp.ID, "err", err)
		loginError(w, r, http.StatusUnauthorized, "claims_too_large", "The identity provider sent claims too large for a session. Ask your administrator to keep fewer claims.")
		return
	}
	h.signIn(w, r, snap, keys, app, back, strings.ToLower(email), idt.Subject, idp.ID, custom)
}

// missingClaim reports whether a claim the provider's config.claims
// lists is not among claims.
func missingClaim(claims map[string]any, names []string) bool {
	for _, n := range names {
		if _, ok := claims[n]; !ok {
			return true
		}
	}
	return false
}
