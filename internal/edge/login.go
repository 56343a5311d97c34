package edge

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/sealed"
	"github.com/gatehouse-dev/gatehouse/internal/session"
)

// Paths of the login flow.
const (
	loginPrefix     = "/cdn-cgi/access/login/"
	startPath       = "/cdn-cgi/access/start"
	callbackPath    = "/cdn-cgi/access/callback"
	otpPath         = "/cdn-cgi/access/otp"
	otpVerifyPath   = "/cdn-cgi/access/otp/verify"
	authorizedPath  = "/cdn-cgi/access/authorized"
	logoutPath      = "/cdn-cgi/access/logout"
	identityPath    = "/cdn-cgi/access/get-identity"
	loginStateName  = "CF_Login_State"
	globalSessionTy = "global"
	authorizedTy    = "authorized"
)

// Lifetimes of login artefacts.
const (
	loginStateTTL    = 10 * time.Minute
	authorizedTTL    = time.Minute
	globalSessionTTL = 24 * time.Hour
	otpTTL           = 10 * time.Minute
	otpPerWindow     = 5
	otpWindow        = 15 * time.Minute
	otpMaxAttempts   = 5
)

// Mailer sends one-time PINs.
type Mailer interface {
	SendPIN(ctx context.Context, to, pin string) error
}

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

// logins holds what the login flow needs besides the snapshot.
type logins struct {
	authHost  string
	stateKey  []byte // seals loginState cookies
	mailer    Mailer
	providers sync.Map                      // idp id + config hash -> *oidcClient
	limiters  *ratelimit.PerKey[netip.Addr] // login attempts per client address
}

// maxLimiters bounds the per-address limiter table.
const maxLimiters = 100_000

type oidcClient struct {
	provider *oidc.Provider
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
	pkce     bool
	email    string
}

func newLogins(issuer string, masterKey []byte, mailer Mailer) *logins {
	u, _ := url.Parse(issuer)
	host := ""
	if u != nil {
		host = canonicalHost(u.Host)
	}
	k := sha256.Sum256(append(append([]byte{}, masterKey...), "gatehouse login state"...))
	return &logins{authHost: host, stateKey: k[:], mailer: mailer,
		limiters: ratelimit.New[netip.Addr](3*time.Second, 20, maxLimiters)}
}

// allow rate-limits login attempts per client address: a burst of 20, then
// one every 3 seconds.
func (l *logins) allow(r *http.Request) bool { return l.limiters.Limiter(clientIP(r)).Allow() }

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}a.button,button{display:block;margin:.5rem 0;padding:.6rem;border:1px solid #888;border-radius:6px;text-align:center;text-decoration:none;color:inherit;background:#f4f4f4;width:100%;font-size:1rem}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}</style>
</head><body><h1>{{.Title}}</h1>
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{range .Links}}<a class="button" id="idp-{{.ID}}" href="{{.URL}}">Sign in with {{.Name}}</a>{{end}}
{{if .Form}}<form method="post" action="{{.Form.Action}}">
{{range $k, $v := .Form.Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<label>{{.Form.Label}} <input name="{{.Form.Field}}" id="{{.Form.Field}}" autocomplete="{{.Form.Autocomplete}}" required></label>
<button type="submit" id="submit">{{.Form.Button}}</button></form>{{end}}
</body></html>
`))

type pageLink struct{ ID, Name, URL string }

type pageForm struct {
	Action, Label, Field, Autocomplete, Button string
	Hidden                                     map[string]string
}

type page struct {
	Title, Message string
	Links          []pageLink
	Form           *pageForm
}

func renderPage(w http.ResponseWriter, status int, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, p)
}

// loginError answers a failed login step: HTML for people, JSON for
// scripts.
func loginError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if strings.Contains(r.Header.Get("Accept"), "text/html") || r.Header.Get("Sec-Fetch-Mode") == "navigate" {
		renderPage(w, status, page{Title: "Sign-in failed", Message: msg})
		return
	}
	writeJSON(w, status, errorBody{Error: code, Message: msg})
}

// target resolves and checks the app and redirect URL of a login: the
// redirect must be an absolute URL on the app's own host, so the login
// can never send anyone elsewhere.
func (s *Server) loginTarget(st *State, appHost, redirect string) (*policy.App, *url.URL, error) {
	u, err := url.Parse(redirect)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, nil, errors.New("redirect_url must be an absolute http(s) URL")
	}
	if canonicalHost(u.Host) != canonicalHost(appHost) {
		return nil, nil, errors.New("redirect_url must be on the application's own host")
	}
	app, _ := st.Snap.RouteURLPath(canonicalHost(appHost), u.EscapedPath())
	if app == nil {
		return nil, nil, errors.New("no application protects redirect_url")
	}
	return app, u, nil
}

// serveAuthDomain handles the login (team) domain.
func (s *Server) serveAuthDomain(w http.ResponseWriter, r *http.Request, st *State) {
	switch {
	case r.URL.Path == CertsPath:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(st.Keys.CertsJSON())
	case strings.HasPrefix(r.URL.Path, loginPrefix):
		s.loginPage(w, r, st, strings.TrimPrefix(r.URL.Path, loginPrefix))
	case r.URL.Path == startPath:
		s.startOIDC(w, r, st)
	case r.URL.Path == callbackPath:
		s.oidcCallback(w, r, st)
	case r.URL.Path == otpPath && r.Method == http.MethodPost:
		s.startOTP(w, r, st)
	case r.URL.Path == otpVerifyPath && r.Method == http.MethodPost:
		s.verifyOTP(w, r, st)
	case r.URL.Path == logoutPath:
		http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
		renderPage(w, http.StatusOK, page{Title: "Signed out", Message: "You are signed out of every application."})
	default:
		loginError(w, r, http.StatusNotFound, "not_found", "There is nothing here.")
	}
}

func (s *Server) secure(r *http.Request) bool { return s.cfg.Secure || r.TLS != nil }

// loginPage starts a login for an app: straight back to it when the user
// already has a session on the auth domain, else the provider chooser (or
// the only provider, when the app asks to skip the chooser).
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, st *State, appHost string) {
	app, back, err := s.loginTarget(st, appHost, r.URL.Query().Get("redirect_url"))
	if err != nil {
		loginError(w, r, http.StatusBadRequest, "bad_redirect", err.Error())
		return
	}
	if c, err := r.Cookie(CookieName); err == nil {
		if claims, err := st.Keys.Verify(c.Value, "account:"+app.AccountID, s.cfg.Issuer, s.now()); err == nil && claims.Type == globalSessionTy {
			s.finishLogin(w, r, st, app, back, claims.Email, claims.Subject, claims.LoginMethod)
			return
		}
	}
	methods := st.Snap.LoginMethods(app)
	if len(methods) == 0 {
		loginError(w, r, http.StatusServiceUnavailable, "no_login_methods", "This application has no login method configured.")
		return
	}
	q := url.Values{"app": {app.ID}, "redirect_url": {back.String()}}
	if app.AutoRedirect && len(methods) == 1 && methods[0].Type == "oidc" {
		q.Set("idp", methods[0].ID)
		http.Redirect(w, r, startPath+"?"+q.Encode(), http.StatusFound)
		return
	}
	p := page{Title: "Sign in to " + app.Name}
	for _, m := range methods {
		switch m.Type {
		case "oidc":
			q.Set("idp", m.ID)
			p.Links = append(p.Links, pageLink{ID: m.ID, Name: m.Name, URL: startPath + "?" + q.Encode()})
		case "onetimepin":
			p.Form = &pageForm{Action: otpPath, Label: "Email", Field: "email", Autocomplete: "email", Button: "Send me a code",
				Hidden: map[string]string{"idp": m.ID, "app": app.ID, "redirect_url": back.String()}}
		}
	}
	renderPage(w, http.StatusOK, p)
}

// formTarget reads and checks the app, provider and redirect of a login
// step.
func (s *Server) formTarget(st *State, appID, idpID, redirect string) (*policy.App, *policy.IdentityProvider, *url.URL, error) {
	base := st.Snap.App(appID)
	if base == nil {
		return nil, nil, nil, errors.New("unknown application")
	}
	u, err := url.Parse(redirect)
	if err != nil || u.Host == "" {
		return nil, nil, nil, errors.New("redirect_url must be an absolute URL")
	}
	app, back, err := s.loginTarget(st, u.Host, redirect)
	if err != nil {
		return nil, nil, nil, err
	}
	if app.ID != base.ID {
		return nil, nil, nil, errors.New("redirect_url is not on the application")
	}
	for _, m := range st.Snap.LoginMethods(app) {
		if m.ID == idpID {
			return app, m, back, nil
		}
	}
	return nil, nil, nil, errors.New("this login method is not offered for the application")
}

func (s *Server) oidcClient(ctx context.Context, p *policy.IdentityProvider, redirectURL string) (*oidcClient, error) {
	cfgJSON, _ := json.Marshal(p.Config)
	sum := sha256.Sum256(append(cfgJSON, redirectURL...))
	key := p.ID + hex.EncodeToString(sum[:8])
	if v, ok := s.logins.providers.Load(key); ok {
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
	s.logins.providers.Store(key, oc)
	return oc, nil
}

// startOIDC sends the user to the provider with state, nonce and a PKCE
// challenge; what must come back is sealed in a cookie.
func (s *Server) startOIDC(w http.ResponseWriter, r *http.Request, st *State) {
	if !s.logins.allow(r) {
		loginError(w, r, http.StatusTooManyRequests, "rate_limited", "Too many sign-in attempts. Wait a minute and try again.")
		return
	}
	q := r.URL.Query()
	app, idp, back, err := s.formTarget(st, q.Get("app"), q.Get("idp"), q.Get("redirect_url"))
	if err != nil || idp.Type != "oidc" {
		loginError(w, r, http.StatusBadRequest, "bad_login", "This sign-in link is not valid.")
		return
	}
	oc, err := s.oidcClient(r.Context(), idp, s.cfg.Issuer+callbackPath)
	if err != nil {
		s.cfg.Log.Error("oidc provider", "idp", idp.ID, "err", err)
		loginError(w, r, http.StatusBadGateway, "idp_unavailable", "The identity provider cannot be reached.")
		return
	}
	ls := loginState{State: randomToken(), Nonce: randomToken(), IdP: idp.ID, App: app.ID, Redirect: back.String(), Expires: s.now().Add(loginStateTTL)}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(ls.Nonce)}
	if oc.pkce {
		ls.Verifier = oauth2.GenerateVerifier()
		opts = append(opts, oauth2.S256ChallengeOption(ls.Verifier))
	}
	raw, _ := json.Marshal(ls)
	box, err := sealed.Seal(s.logins.stateKey, loginStateName, raw)
	if err != nil {
		loginError(w, r, http.StatusInternalServerError, "internal", "Sign-in could not start.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginStateName, Value: base64.RawURLEncoding.EncodeToString(box), Path: "/cdn-cgi/access/",
		MaxAge: int(loginStateTTL.Seconds()), HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, oc.config.AuthCodeURL(ls.State, opts...), http.StatusFound)
}

// oidcCallback completes the code flow: the state must match the sealed
// cookie, the code is exchanged with the PKCE verifier, and the ID token's
// signature, audience and nonce are checked.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request, st *State) {
	c, err := r.Cookie(loginStateName)
	http.SetCookie(w, &http.Cookie{Name: loginStateName, Value: "", Path: "/cdn-cgi/access/", MaxAge: -1, HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	if err != nil {
		loginError(w, r, http.StatusBadRequest, "no_login_state", "This sign-in was not started here or took too long. Start again.")
		return
	}
	var ls loginState
	box, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err == nil {
		var raw []byte
		if raw, err = sealed.Open(s.logins.stateKey, loginStateName, box); err == nil {
			err = json.Unmarshal(raw, &ls)
		}
	}
	q := r.URL.Query()
	switch {
	case err != nil:
		loginError(w, r, http.StatusBadRequest, "bad_login_state", "This sign-in cannot be completed. Start again.")
		return
	case !s.now().Before(ls.Expires):
		loginError(w, r, http.StatusBadRequest, "login_expired", "This sign-in took too long. Start again.")
		return
	case q.Get("state") == "" || q.Get("state") != ls.State:
		loginError(w, r, http.StatusBadRequest, "bad_state", "This sign-in does not match the one started here.")
		return
	case q.Get("error") != "":
		loginError(w, r, http.StatusUnauthorized, "idp_error", "The identity provider refused the sign-in: "+q.Get("error"))
		return
	}
	app, idp, back, err := s.formTarget(st, ls.App, ls.IdP, ls.Redirect)
	if err != nil {
		loginError(w, r, http.StatusBadRequest, "bad_login", err.Error())
		return
	}
	oc, err := s.oidcClient(r.Context(), idp, s.cfg.Issuer+callbackPath)
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
		s.cfg.Log.Warn("oidc code exchange", "idp", idp.ID, "err", err)
		loginError(w, r, http.StatusUnauthorized, "code_exchange_failed", "The identity provider did not confirm the sign-in.")
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := oc.verifier.Verify(ctx, rawID)
	if err != nil || idt.Nonce != ls.Nonce {
		s.cfg.Log.Warn("oidc id token", "idp", idp.ID, "err", err, "nonce_ok", err == nil && idt.Nonce == ls.Nonce)
		loginError(w, r, http.StatusUnauthorized, "bad_id_token", "The identity provider's answer did not verify.")
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		loginError(w, r, http.StatusUnauthorized, "bad_id_token", "The identity provider's answer did not verify.")
		return
	}
	if _, ok := claims[oc.email]; !ok {
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
	s.signIn(w, r, st, app, back, strings.ToLower(email), idt.Subject, idp.ID)
}

// startOTP sends a one-time PIN to an email address.
func (s *Server) startOTP(w http.ResponseWriter, r *http.Request, st *State) {
	if !s.logins.allow(r) {
		loginError(w, r, http.StatusTooManyRequests, "rate_limited", "Too many sign-in attempts. Wait a minute and try again.")
		return
	}
	app, idp, back, err := s.formTarget(st, r.PostFormValue("app"), r.PostFormValue("idp"), r.PostFormValue("redirect_url"))
	if err != nil || idp.Type != "onetimepin" {
		loginError(w, r, http.StatusBadRequest, "bad_login", "This sign-in form is not valid.")
		return
	}
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	if len(email) > 254 || !strings.Contains(email, "@") || strings.ContainsAny(email, " \r\n<>") {
		loginError(w, r, http.StatusBadRequest, "bad_email", "Enter a valid email address.")
		return
	}
	pin := randomPIN()
	id, err := s.loader.store.CreateOTP(r.Context(), app.AccountID, email, access.HashSecret(pin), otpTTL, otpPerWindow, otpWindow)
	if err != nil {
		if access.KindOf(err) == access.ERateLimited {
			loginError(w, r, http.StatusTooManyRequests, "rate_limited", "Too many codes were sent to this address. Wait a few minutes.")
			return
		}
		s.cfg.Log.Error("create one-time pin", "err", err)
		loginError(w, r, http.StatusInternalServerError, "internal", "The code could not be sent.")
		return
	}
	if err := s.logins.mailer.SendPIN(r.Context(), email, pin); err != nil {
		s.cfg.Log.Error("send one-time pin", "err", err)
		loginError(w, r, http.StatusBadGateway, "mail_failed", "The code could not be sent.")
		return
	}
	renderPage(w, http.StatusOK, page{Title: "Check your email", Message: "We sent a sign-in code to " + email + ". It works for 10 minutes.",
		Form: &pageForm{Action: otpVerifyPath, Label: "Code", Field: "code", Autocomplete: "one-time-code", Button: "Sign in",
			Hidden: map[string]string{"otp": id, "email": email, "idp": idp.ID, "app": app.ID, "redirect_url": back.String()}}})
}

func (s *Server) verifyOTP(w http.ResponseWriter, r *http.Request, st *State) {
	if !s.logins.allow(r) {
		loginError(w, r, http.StatusTooManyRequests, "rate_limited", "Too many sign-in attempts. Wait a minute and try again.")
		return
	}
	app, idp, back, err := s.formTarget(st, r.PostFormValue("app"), r.PostFormValue("idp"), r.PostFormValue("redirect_url"))
	if err != nil || idp.Type != "onetimepin" {
		loginError(w, r, http.StatusBadRequest, "bad_login", "This sign-in form is not valid.")
		return
	}
	email := r.PostFormValue("email")
	ok, err := s.loader.store.VerifyOTP(r.Context(), app.AccountID, r.PostFormValue("otp"), email, strings.TrimSpace(r.PostFormValue("code")), otpMaxAttempts)
	if err != nil {
		s.cfg.Log.Error("verify one-time pin", "err", err)
	}
	if !ok {
		loginError(w, r, http.StatusUnauthorized, "bad_code", "That code is wrong, used or expired.")
		return
	}
	s.signIn(w, r, st, app, back, email, "otp:"+email, idp.ID)
}

// signIn gives the user an account-wide session on the auth domain, then
// sends them on to the app.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, st *State, app *policy.App, back *url.URL, email, subject, idp string) {
	now := s.now()
	jwt, err := st.Keys.Sign(session.Claims{Audience: []string{"account:" + app.AccountID}, Email: email, Subject: subject, Issuer: s.cfg.Issuer,
		IssuedAt: now, NotBefore: now, Expiry: now.Add(globalSessionTTL), Type: globalSessionTy, LoginMethod: idp})
	if err != nil {
		loginError(w, r, http.StatusInternalServerError, "internal", "The session could not be created.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: jwt, Path: "/", Expires: now.Add(globalSessionTTL), HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	s.finishLogin(w, r, st, app, back, email, subject, idp)
}

// finishLogin redirects through the app's /cdn-cgi/access/authorized with
// a short-lived, single-use token for it.
func (s *Server) finishLogin(w http.ResponseWriter, r *http.Request, st *State, app *policy.App, back *url.URL, email, subject, idp string) {
	now := s.now()
	jwt, err := st.Keys.Sign(session.Claims{Audience: []string{app.AUD}, Email: email, Subject: subject, Issuer: s.cfg.Issuer,
		IssuedAt: now, NotBefore: now, Expiry: now.Add(authorizedTTL), Type: authorizedTy, LoginMethod: idp, TokenID: randomToken()})
	if err != nil {
		loginError(w, r, http.StatusInternalServerError, "internal", "The session could not be created.")
		return
	}
	dest := url.URL{Scheme: back.Scheme, Host: back.Host, Path: authorizedPath,
		RawQuery: url.Values{"token": {jwt}, "redirect_url": {back.String()}}.Encode()}
	http.Redirect(w, r, dest.String(), http.StatusFound)
}

// serveAppEndpoints handles /cdn-cgi/access/* on an app's host. It
// reports whether it handled the request.
func (s *Server) serveAppEndpoints(w http.ResponseWriter, r *http.Request, st *State, app *policy.App, rec *Record) bool {
	switch r.URL.Path {
	case authorizedPath:
		s.authorized(w, r, st, app, rec)
	case logoutPath:
		http.SetCookie(w, s.appCookie(r, app, "", time.Unix(0, 0)))
		http.Redirect(w, r, s.cfg.Issuer+logoutPath, http.StatusFound)
	case identityPath:
		s.getIdentity(w, r, st, app)
	default:
		return false
	}
	return true
}

// authorized turns a single-use login token into the app's own
// CF_Authorization cookie, if the app's policies let the user in.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request, st *State, app *policy.App, rec *Record) {
	now := s.now()
	claims, err := st.Keys.Verify(r.URL.Query().Get("token"), app.AUD, s.cfg.Issuer, now)
	if err != nil || claims.Type != authorizedTy || claims.TokenID == "" {
		loginError(w, r, http.StatusBadRequest, "bad_login_token", "This sign-in link is not valid or has expired. Open the application again.")
		return
	}
	back, err := url.Parse(r.URL.Query().Get("redirect_url"))
	if err != nil || (back.Host != "" && canonicalHost(back.Host) != canonicalHost(r.Host)) || back.User != nil {
		loginError(w, r, http.StatusBadRequest, "bad_redirect", "redirect_url must be on this application's host.")
		return
	}
	fresh, err := s.loader.store.ConsumeLoginToken(r.Context(), claims.TokenID, claims.Expiry)
	if err != nil || !fresh {
		loginError(w, r, http.StatusBadRequest, "login_token_used", "This sign-in link was already used. Open the application again.")
		return
	}
	d := app.Decide(policy.Facts{IP: clientIP(r), Country: s.country(r), Identity: &policy.Identity{Email: claims.Email, LoginMethod: claims.LoginMethod}})
	if rec != nil {
		rec.Action, rec.Allowed, rec.Reason = ActionLogin, d.Action == policy.Allow, d.Reason
		rec.Email, rec.Connection = claims.Email, claims.LoginMethod
	}
	if d.Action != policy.Allow {
		s.deny(w, r, app, d)
		return
	}
	life := app.SessionDuration
	if d.Policy != nil && d.Policy.SessionDuration > 0 {
		life = d.Policy.SessionDuration
	}
	jwt, err := st.Keys.Sign(session.Claims{Audience: []string{app.AUD}, Email: claims.Email, Subject: claims.Subject, Issuer: s.cfg.Issuer,
		IssuedAt: now, NotBefore: now, Expiry: now.Add(life), Type: session.TypeApp, LoginMethod: claims.LoginMethod, Country: s.country(r)})
	if err != nil {
		loginError(w, r, http.StatusInternalServerError, "internal", "The session could not be created.")
		return
	}
	http.SetCookie(w, s.appCookie(r, app, jwt, now.Add(life)))
	target := back.RequestURI()
	if back.Path == "" {
		target = "/"
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// appCookie is the app's CF_Authorization cookie with its attributes.
func (s *Server) appCookie(r *http.Request, app *policy.App, value string, exp time.Time) *http.Cookie {
	c := &http.Cookie{Name: CookieName, Value: value, Path: "/", Expires: exp, HttpOnly: app.CookieHTTPOnly, Secure: s.secure(r)}
	if value == "" {
		c.MaxAge = -1
	}
	if app.CookiePathScoped && app.Path != "" {
		c.Path = app.Path
	}
	switch app.CookieSameSite {
	case "strict":
		c.SameSite = http.SameSiteStrictMode
	case "lax":
		c.SameSite = http.SameSiteLaxMode
	case "none":
		c.SameSite = http.SameSiteNoneMode
		c.Secure = true
	}
	return c
}

// getIdentity returns the identity behind the request's app token.
func (s *Server) getIdentity(w http.ResponseWriter, r *http.Request, st *State, app *policy.App) {
	raw := sessionToken(r)
	if raw == "" {
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: string(policy.ReasonLoginRequired), Message: policy.ReasonLoginRequired.Describe()})
		return
	}
	claims, reason := s.verifySession(st, app, raw, s.now())
	if reason != "" {
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: string(reason), Message: reason.Describe()})
		return
	}
	idp := map[string]string{"id": claims.LoginMethod}
	if p := st.Snap.IdentityProvider(app.AccountID, claims.LoginMethod); p != nil {
		idp["type"] = p.Type
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"email": claims.Email, "user_uuid": claims.Subject, "idp": idp, "country": claims.Country,
		"iat": claims.IssuedAt.Unix(), "exp": claims.Expiry.Unix(), "aud": claims.Audience, "common_name": claims.CommonName,
	})
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomPIN() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic("edge: crypto/rand failed: " + err.Error())
	}
	return fmt.Sprintf("%06d", n.Int64())
}
