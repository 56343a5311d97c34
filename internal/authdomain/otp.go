package authdomain

import (
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/pages"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/session"
)

// startOTP sends a one-time PIN to an email address.
func (h *Handler) startOTP(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot) {
	if !h.allow(r) {
		loginError(w, r, http.StatusTooManyRequests, "rate_limited", "Too many sign-in attempts. Wait a minute and try again.")
		return
	}
	app, idp, back, err := h.formTarget(snap, r.PostFormValue("app"), r.PostFormValue("idp"), r.PostFormValue("redirect_url"))
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
	id, err := h.store.CreateOTP(r.Context(), app.AccountID, email, access.HashSecret(pin), otpTTL, otpPerWindow, otpWindow)
	if err != nil {
		if access.KindOf(err) == access.ERateLimited {
			loginError(w, r, http.StatusTooManyRequests, "rate_limited", "Too many codes were sent to this address. Wait a few minutes.")
			return
		}
		h.cfg.Log.Error("create one-time pin", "err", err)
		loginError(w, r, http.StatusInternalServerError, "internal", "The code could not be sent.")
		return
	}
	if err := h.cfg.Mailer.SendPIN(r.Context(), email, pin); err != nil {
		h.cfg.Log.Error("send one-time pin", "err", err)
		loginError(w, r, http.StatusBadGateway, "mail_failed", "The code could not be sent.")
		return
	}
	renderPage(w, http.StatusOK, page{Design: pages.DesignOf(snap.Organization(app.AccountID)), Title: "Check your email",
		Message: "We sent a 6-digit sign-in code to " + email + ". Enter it here; it works for 10 minutes.",
		Form: &pageForm{Action: otpVerifyPath, Label: "Sign-in code", Field: "code", Autocomplete: "one-time-code", InputMode: "numeric", Code: true, Button: "Sign in",
			Hint:   "No email? Check your spam folder, or go back and check the address.",
			Hidden: map[string]string{"otp": id, "email": email, "idp": idp.ID, "app": app.ID, "redirect_url": back.String()}, RedirectsTo: back},
		Actions: []pages.Link{{ID: "use-another-email", Text: "Use another email address", URL: h.loginURL(back.Host, back.String())}}})
}

func (h *Handler) verifyOTP(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot, keys *session.Keyring) {
	if !h.allow(r) {
		loginError(w, r, http.StatusTooManyRequests, "rate_limited", "Too many sign-in attempts. Wait a minute and try again.")
		return
	}
	app, idp, back, err := h.formTarget(snap, r.PostFormValue("app"), r.PostFormValue("idp"), r.PostFormValue("redirect_url"))
	if err != nil || idp.Type != "onetimepin" {
		loginError(w, r, http.StatusBadRequest, "bad_login", "This sign-in form is not valid.")
		return
	}
	email := r.PostFormValue("email")
	ok, err := h.store.VerifyOTP(r.Context(), app.AccountID, r.PostFormValue("otp"), email, strings.TrimSpace(r.PostFormValue("code")), otpMaxAttempts)
	if err != nil {
		h.cfg.Log.Error("verify one-time pin", "err", err)
	}
	if !ok {
		loginError(w, r, http.StatusUnauthorized, "bad_code", "That code is wrong, used or expired.")
		return
	}
	h.signIn(w, r, snap, keys, app, back, email, "otp:"+email, idp.ID, nil)
}
