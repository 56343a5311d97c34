// Package authdomain is Gatehouse's sign-in service: the login pages on
// the auth (team) domain, OpenID Connect and one-time PIN logins, the
// /cdn-cgi/access/authorized hop that turns a login into an app's own
// session cookie, logout and get-identity. The edge mounts its Handler for
// the auth host and for /cdn-cgi/access/* on app hosts; everything it
// needs from the edge and the database comes through two narrow
// interfaces, Edge and Store.
package authdomain

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/pages"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
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
	purposePath     = "/cdn-cgi/access/purpose"
	loginStateName  = "CF_Login_State"
	globalSessionTy = "global"
	authorizedTy    = "authorized"
)

// Lifetimes of login artefacts.
const (
	loginStateTTL  = 10 * time.Minute
	authorizedTTL  = time.Minute
	otpTTL         = 10 * time.Minute
	otpPerWindow   = 5
	otpWindow      = 15 * time.Minute
	otpMaxAttempts = 5
)

// Store is what the auth domain keeps in the database.
type Store interface {
	// CreateOTP stores a one-time PIN's hash for email and returns its id.
	CreateOTP(ctx context.Context, accountID, email string, codeHash []byte, ttl time.Duration, maxPerWindow int, window time.Duration) (string, error)
	// VerifyOTP checks (and spends) a one-time PIN.
	VerifyOTP(ctx context.Context, accountID, id, email, code string, maxAttempts int) (bool, error)
	// ConsumeLoginToken marks a single-use login token as used; fresh is
	// false when it was used before.
	ConsumeLoginToken(ctx context.Context, jti string, expires time.Time) (fresh bool, err error)
	// RevokeLoginSession ends a login session on every edge (a logout).
	RevokeLoginSession(ctx context.Context, accountID, sessionID string) error
}

// Edge is what the auth domain asks of the edge that mounts it, so that a
// login matches apps, verifies sessions and sets cookies exactly as the
// edge does on every other request.
type Edge interface {
	// Match returns the app the edge serves for host and an escaped
	// (as sent) path, or nil.
	Match(snap *policy.Snapshot, host, escapedPath string) *policy.App
	// VerifySession checks an app session token for app.
	VerifySession(snap *policy.Snapshot, keys *session.Keyring, app *policy.App, raw string, now time.Time) (session.Claims, policy.Reason)
	// AppCookie is app's CF_Authorization cookie carrying value until exp.
	AppCookie(r *http.Request, app *policy.App, value string, exp time.Time) *http.Cookie
	// Country is the client's ISO country code, "" when unknown.
	Country(r *http.Request) string
	// Deny answers a request app's policies refuse; email is who is
	// signed in and switchURL the login for signing in as someone else.
	Deny(w http.ResponseWriter, r *http.Request, app *policy.App, d policy.Decision, email, switchURL string)
}

// Config configures the auth domain.
type Config struct {
	// Issuer is the auth domain's URL and the "iss" of every token.
	Issuer string
	// Secure marks cookies Secure; set when serving HTTPS.
	Secure bool
	// MasterKey seals login state cookies.
	MasterKey []byte
	// Mailer sends one-time PINs; nil writes them to the log.
	Mailer Mailer
	Log    *slog.Logger
	// Now is the clock; nil for time.Now.
	Now func() time.Time
}

// Handler serves the auth domain and the sign-in endpoints on app hosts.
// Nothing about a login in progress is kept on any one edge: it travels
// in sealed cookies and signed tokens, and single-use state is in the
// database.
type Handler struct {
	cfg       Config
	store     Store
	edge      Edge
	authHost  string
	stateKey  []byte                        // seals loginState cookies
	providers sync.Map                      // idp id + config hash -> *oidcClient
	limiters  *ratelimit.PerKey[netip.Addr] // login attempts per client address
}

// maxLimiters bounds the per-address limiter table.
const maxLimiters = 100_000

// New returns the auth domain's handler.
func New(cfg Config, st Store, e Edge) *Handler {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Mailer == nil {
		cfg.Mailer = LogMailer{Log: cfg.Log}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u, _ := url.Parse(cfg.Issuer)
	host := ""
	if u != nil {
		host = wire.CanonicalHost(u.Host)
	}
	k := sha256.Sum256(append(append([]byte{}, cfg.MasterKey...), "gatehouse login state"...))
	return &Handler{cfg: cfg, store: st, edge: e, authHost: host, stateKey: k[:],
		limiters: ratelimit.New[netip.Addr](3*time.Second, 20, maxLimiters)}
}

// Host is the auth domain's canonical host name.
func (h *Handler) Host() string { return h.authHost }

// LoginURL is the auth domain's login page for r, returning to r's own URL
// afterwards.
func (h *Handler) LoginURL(r *http.Request) string {
	scheme := "http"
	if h.secure(r) {
		scheme = "https"
	}
	return h.loginURL(wire.CanonicalHost(r.Host), scheme+"://"+r.Host+r.URL.RequestURI())
}

// SwitchAccountURL is the auth domain's login page for r, returning to
// r's own URL, that offers the sign-in methods even to a user signed in
// on the auth domain: the block page's "Sign in with another account".
func (h *Handler) SwitchAccountURL(r *http.Request) string { return h.LoginURL(r) + "&switch=1" }

// loginURL is the auth domain's login page for an app host, returning to
// back afterwards.
func (h *Handler) loginURL(host, back string) string {
	return h.cfg.Issuer + loginPrefix + url.PathEscape(host) + "?redirect_url=" + url.QueryEscape(back)
}

// allow rate-limits login attempts per client address: a burst of 20, then
// one every 3 seconds.
func (h *Handler) allow(r *http.Request) bool { return h.limiters.Limiter(wire.ClientIP(r)).Allow() }

func (h *Handler) secure(r *http.Request) bool { return h.cfg.Secure || wire.Scheme(r) == "https" }

// ServeAuthHost handles a request to the auth domain.
func (h *Handler) ServeAuthHost(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot, keys *session.Keyring) {
	switch {
	case strings.HasPrefix(r.URL.Path, loginPrefix):
		h.loginPage(w, r, snap, keys, strings.TrimPrefix(r.URL.Path, loginPrefix))
	case r.URL.Path == startPath:
		h.startOIDC(w, r, snap)
	case r.URL.Path == callbackPath:
		h.oidcCallback(w, r, snap, keys)
	case r.URL.Path == otpPath && r.Method == http.MethodPost:
		h.startOTP(w, r, snap)
	case r.URL.Path == otpVerifyPath && r.Method == http.MethodPost:
		h.verifyOTP(w, r, snap, keys)
	case r.URL.Path == purposePath && r.Method == http.MethodPost:
		h.givePurpose(w, r, snap, keys)
	case r.URL.Path == logoutPath:
		h.logout(w, r, keys)
	default:
		loginError(w, r, http.StatusNotFound, "not_found", "There is nothing here.")
	}
}

// Login is what a completed sign-in hop decided, for the access log.
type Login struct {
	App         *policy.App
	Allowed     bool
	Reason      policy.Reason
	Email       string
	LoginMethod string
	// Purpose is the reason the user gave, when a policy asked for one.
	Purpose string
}

// ServeApp handles /cdn-cgi/access/* on an app host; app is the app
// serving the request's own path, nil if none. It reports whether it
// handled the request and, for a sign-in hop that reached a decision,
// what was decided.
func (h *Handler) ServeApp(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot, keys *session.Keyring, app *policy.App) (handled bool, login *Login) {
	switch {
	case r.URL.Path == authorizedPath:
		return true, h.authorized(w, r, snap, keys)
	case app == nil:
		return false, nil
	case r.URL.Path == logoutPath:
		h.appLogout(w, r, snap, keys, app)
	case r.URL.Path == identityPath:
		h.getIdentity(w, r, snap, keys, app)
	default:
		return false, nil
	}
	return true, nil
}

type pageLink struct{ ID, Name, URL string }

type pageForm struct {
	Action, Label, Field, Autocomplete, Button string
	// Type, InputMode and Hint refine the field; Code styles it for a
	// one-time code.
	Type, InputMode, Hint string
	Code                  bool
	Hidden                map[string]string
	// RedirectsTo is the app's origin when a successful post is
	// redirected there (to its /cdn-cgi/access/authorized): the page's
	// form-action must allow it, or browsers block the redirect.
	RedirectsTo Redirect
}

type page struct {
	// Design is the organization's look; zero for Gatehouse's own.
	Design         pages.Design
	Title, Message string
	// Alert is a problem shown above the message.
	Alert string
	Links []pageLink
	Form  *pageForm
	// Actions are secondary links under the form.
	Actions []pages.Link
	// Detail says more about an error, for whoever looks into it.
	Detail string
	// Code is the error code, shown small.
	Code string
	// Next is where the page sends the browser on its own (and offers a
	// link to).
	Next string
}

func renderPage(w http.ResponseWriter, status int, p page) {
	out := pages.Page{Design: p.Design, Title: p.Title, Lead: p.Message, Alert: p.Alert, Actions: p.Actions, Detail: p.Detail, Code: p.Code, Next: p.Next}
	for _, l := range p.Links {
		out.Buttons = append(out.Buttons, pages.Link{ID: l.ID, Text: "Sign in with " + l.Name, URL: l.URL})
	}
	if f := p.Form; f != nil {
		out.Form = &pages.Form{Action: f.Action, Label: f.Label, Field: f.Field, Type: f.Type, Autocomplete: f.Autocomplete,
			InputMode: f.InputMode, Hint: f.Hint, Button: f.Button, Code: f.Code, Hidden: f.Hidden}
		if f.RedirectsTo.Host != "" {
			out.FormActions = append(out.FormActions, cspOrigin(f.RedirectsTo))
		}
	}
	pages.Render(w, status, out)
}

// cspOrigin is a redirect's origin as a CSP source, or "" when it holds
// anything but the characters of a scheme, host name and port
// (ParseRedirect allows '_' in host names, which CSP sources do not).
func cspOrigin(u Redirect) string {
	hp := u.HostPort()
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return ""
	}
	for _, c := range hp {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':') {
			return ""
		}
	}
	return u.Scheme + "://" + hp
}

// loginError answers a failed login step: HTML for people, JSON for
// scripts.
func loginError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if pages.WantsHTML(r) {
		p := page{Title: errorTitle(code), Message: msg, Code: code}
		if lead := errorLead(code); lead != "" {
			p.Message, p.Detail = lead, msg
		}
		renderPage(w, status, p)
		return
	}
	wire.WriteJSON(w, status, wire.ErrorBody{Error: code, Message: msg})
}

// errorLead says what to do about a failed login step whose message is
// written for developers, or "" when the message says it already.
func errorLead(code string) string {
	switch code {
	case "bad_redirect", "bad_login", "bad_login_token", "bad_state", "bad_login_state", "no_login_state":
		return "The link you followed is not a valid sign-in link for this application. Open the application's address again to sign in."
	}
	return ""
}

// errorTitle is the heading of the page for a failed login step.
func errorTitle(code string) string {
	switch code {
	case "login_token_used", "bad_login_token", "bad_login", "bad_redirect", "bad_state", "bad_login_state", "login_expired", "no_login_state":
		return "This sign-in link does not work"
	case "bad_code":
		return "That code did not work"
	case "rate_limited":
		return "Too many attempts"
	case "not_found":
		return "Page not found"
	}
	return "Sign-in failed"
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomPIN() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic("authdomain: crypto/rand failed: " + err.Error())
	}
	return fmt.Sprintf("%06d", n.Int64())
}
