package authdomain

import (
	"errors"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/pages"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

// MaxPurposeLen bounds a purpose justification, in bytes.
const MaxPurposeLen = 1024

const defaultPurposePrompt = "Why do you need access to this application?"

// askPurpose shows the purpose justification form: the policy's prompt
// and a field for the reason, posted back to the auth domain.
func (h *Handler) askPurpose(w http.ResponseWriter, status int, snap *policy.Snapshot, app *policy.App, back Redirect, prompt, problem string) {
	if prompt == "" {
		prompt = defaultPurposePrompt
	}
	renderPage(w, status, page{Design: pages.DesignOf(snap.Organization(app.AccountID)), Title: "Access to " + app.Name + " needs a reason", Alert: problem,
		Message: "The reason you give is recorded with your sign-in and sent to the application.",
		Form: &pageForm{Action: purposePath, Label: prompt, Field: "purpose", Autocomplete: "off", Button: "Continue",
			Hidden: map[string]string{"app": app.ID, "redirect_url": back.String()}, RedirectsTo: back}})
}

// ParsePurpose checks a reason for access as a user typed it and returns
// it trimmed: 1 to MaxPurposeLen bytes of valid UTF-8 text without control
// characters (it goes into a signed token, a request header and the access
// log).
func ParsePurpose(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", errors.New("Give a reason to continue.")
	case len(s) > MaxPurposeLen:
		return "", errors.New("The reason is too long: keep it under 1,000 characters.")
	case !utf8.ValidString(s):
		return "", errors.New("The reason must be text.")
	}
	for _, c := range s {
		if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
			return "", errors.New("The reason must be one line of text.")
		}
	}
	return s, nil
}

// givePurpose takes the reason posted from askPurpose's form. Only a user
// signed in on the auth domain can give one (the session cookie is
// SameSite=Lax: another site cannot post this form with it), and it is
// signed into the login token with their identity.
func (h *Handler) givePurpose(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot, keys *session.Keyring) {
	if !h.allow(r) {
		loginError(w, r, http.StatusTooManyRequests, "rate_limited", "Too many sign-in attempts. Wait a minute and try again.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	base := snap.App(r.PostFormValue("app"))
	redirect := r.PostFormValue("redirect_url")
	u, err := ParseRedirect(redirect)
	if base == nil || err != nil {
		loginError(w, r, http.StatusBadRequest, "bad_login", "This form is not valid.")
		return
	}
	app, back, err := h.loginTarget(snap, u.Host, redirect)
	if err != nil || app.ID != base.ID {
		loginError(w, r, http.StatusBadRequest, "bad_login", "This form is not valid.")
		return
	}
	c, err := r.Cookie(wire.CookieName)
	if err != nil {
		loginError(w, r, http.StatusUnauthorized, "login_required", "Sign in first: open the application again.")
		return
	}
	claims, err := keys.Verify(c.Value, "account:"+app.AccountID, h.cfg.Issuer, h.cfg.Now())
	if err != nil || claims.Type != globalSessionTy || claims.SessionID == "" ||
		snap.LoginSessionRevoked(app.AccountID, claims.SessionID, claims.Email, claims.IssuedAt) {
		loginError(w, r, http.StatusUnauthorized, "login_required", "Sign in first: open the application again.")
		return
	}
	purpose, err := ParsePurpose(r.PostFormValue("purpose"))
	if err != nil {
		prompt := ""
		d := snap.Decide(app, policy.Facts{IP: wire.ClientIP(r), Country: h.edge.Country(r), Identity: identityOf(claims)})
		if d.Policy != nil {
			prompt = d.Policy.PurposeJustificationPrompt
		}
		h.askPurpose(w, http.StatusBadRequest, snap, app, back, prompt, err.Error())
		return
	}
	h.finishLogin(w, r, snap, keys, app, back, claims, purpose)
}
