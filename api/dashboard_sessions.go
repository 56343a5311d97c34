package api

import (
	"crypto/subtle"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

// Dashboard sign-in: the dashboard exchanges an API token for a session
// cookie, and then calls the account routes with that cookie and the
// session's CSRF token in a header instead of a bearer token.
const (
	// DashboardSessionCookie names the session cookie.
	DashboardSessionCookie = "gatehouse_dashboard"
	// CSRFHeader must carry the session's csrf_token on every
	// cookie-authenticated account request, whatever its method.
	CSRFHeader = "X-Gatehouse-CSRF"
	// DefaultDashboardSessionTTL is a session's absolute lifetime unless
	// WithDashboardSessionTTL says otherwise.
	DefaultDashboardSessionTTL = 8 * time.Hour
	// DashboardSessionIdleTimeout ends a session that has not been used for
	// this long.
	DashboardSessionIdleTimeout = time.Hour
)

// Failed sign-ins allowed per client address: a burst of signInBurst, then
// one every signInEvery (10 a minute).
const (
	signInBurst    = 10
	signInEvery    = 6 * time.Second
	maxSignInAddrs = 10_000
)

// WithDashboardSessionTTL sets how long a dashboard session lasts from
// sign-in, however busy it is (default 8h). Values under a second keep the
// default.
func WithDashboardSessionTTL(d time.Duration) Option {
	return func(s *Server) {
		if d >= time.Second {
			s.sessionTTL = d
		}
	}
}

// dashboardSessionResult is what the session routes answer. It carries the
// CSRF token but never the session secret, which only the cookie holds.
type dashboardSessionResult struct {
	AccountID string    `json:"account_id"`
	TokenID   string    `json:"token_id"`
	TokenName string    `json:"token_name"`
	ReadOnly  bool      `json:"read_only"`
	ExpiresAt time.Time `json:"expires_at"`
	CSRFToken string    `json:"csrf_token"`
}

func sessionResult(d access.DashboardSession) dashboardSessionResult {
	return dashboardSessionResult{
		AccountID: d.Token.AccountID,
		TokenID:   d.Token.ID,
		TokenName: d.Token.Name,
		ReadOnly:  d.Token.ReadOnly,
		ExpiresAt: d.ExpiresAt.UTC(),
		CSRFToken: d.CSRFToken,
	}
}

type dashboardSignIn struct {
	Token string `json:"token" validate:"required,max=512"`
}

func (s *Server) createDashboardSession(w http.ResponseWriter, r *http.Request) error {
	addr := clientAddr(r)
	if wait, limited := s.signInLimited(addr); limited {
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		return access.Errorf(access.ERateLimited, "too many failed sign-ins from this address: try again in %d seconds", wait)
	}
	var in dashboardSignIn
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	if err := s.validateStruct(&in); err != nil {
		return err
	}
	tok, err := s.store.AuthenticateAPIToken(r.Context(), in.Token)
	if err != nil {
		if access.KindOf(err) == access.EUnauthorized {
			s.signIns.Limiter(addr).Allow() // spend one of the address's failures
		}
		return err
	}
	d, secret, err := s.store.CreateDashboardSession(r.Context(), tok.AccountID, tok.ID, s.sessionTTL)
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "dashboard sign-in",
		"request_id", requestID(r.Context()), "account_id", tok.AccountID, "token_id", tok.ID)
	http.SetCookie(w, sessionCookie(r, secret, int(s.sessionTTL/time.Second)))
	w.Header().Set("Cache-Control", "no-store")
	writeResult(w, sessionResult(d))
	return nil
}

func (s *Server) getDashboardSession(w http.ResponseWriter, r *http.Request) error {
	d, err := s.dashboardSession(w, r)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeResult(w, sessionResult(d))
	return nil
}

func (s *Server) deleteDashboardSession(w http.ResponseWriter, r *http.Request) error {
	d, err := s.dashboardSession(w, r)
	if err != nil {
		return err
	}
	if err := checkCSRF(r, d); err != nil {
		return err
	}
	if err := s.store.DeleteDashboardSession(r.Context(), d.Token.AccountID, d.ID); err != nil {
		return err
	}
	http.SetCookie(w, sessionCookie(r, "", -1))
	writeResult(w, nil)
	return nil
}

// dashboardSession returns the live session the request's cookie names. A
// dead session's cookie is cleared along with the 401.
func (s *Server) dashboardSession(w http.ResponseWriter, r *http.Request) (access.DashboardSession, error) {
	c, err := r.Cookie(DashboardSessionCookie)
	if err != nil || c.Value == "" {
		return access.DashboardSession{}, access.Errorf(access.EUnauthorized, "not signed in: sign in with POST /client/v4/gatehouse/dashboard/session")
	}
	d, err := s.store.AuthenticateDashboardSession(r.Context(), c.Value, DashboardSessionIdleTimeout)
	if err != nil {
		if access.KindOf(err) == access.EUnauthorized {
			http.SetCookie(w, sessionCookie(r, "", -1))
		}
		return access.DashboardSession{}, err
	}
	return d, nil
}

// checkCSRF requires the session's CSRF token in the CSRFHeader. A
// cross-site page can make the browser send the cookie (where SameSite does
// not stop it) but cannot read the token to put in the header.
func checkCSRF(r *http.Request, d access.DashboardSession) error {
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		return access.Errorf(access.EForbidden, "cookie-authenticated requests need the %s header (the session's csrf_token)", CSRFHeader)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(d.CSRFToken)) != 1 {
		return access.Errorf(access.EForbidden, "the %s header does not match this dashboard session's csrf_token", CSRFHeader)
	}
	return nil
}

// sessionCookie is the session cookie with value, or with maxAge < 0 the
// instruction to delete it. Secure is set when the request came over TLS
// (to the API's listener, or to a trusted proxy in front of it).
func sessionCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     DashboardSessionCookie,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   wire.Scheme(r) == "https",
		SameSite: http.SameSiteStrictMode,
	}
}

// signInLimited reports whether addr has no failed sign-ins left, and if
// so how many seconds until it has one. Only failures spend the
// allowance; while it is spent, every sign-in from the address is refused
// unchecked, so a guess that happens to be right is not confirmed either,
// and the sign-in route cannot be used to guess API tokens.
func (s *Server) signInLimited(addr netip.Addr) (wait int, limited bool) {
	lim, ok := s.signIns.Peek(addr)
	if !ok {
		return 0, false
	}
	tokens := lim.Tokens()
	if tokens >= 1 {
		return 0, false
	}
	return int(math.Ceil((1 - tokens) * s.signIns.Every().Seconds())), true
}

// clientAddr is the address the request came from: the TCP peer, or the
// client a trusted proxy named (package forwarded, applied before the API).
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}
