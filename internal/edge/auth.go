package edge

import (
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authdomain"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

// authEdge is what the auth domain may ask of this edge.
type authEdge struct{ s *Server }

var _ authdomain.Edge = authEdge{}

// Match returns the app a request for host and escaped path would be
// served by, with the path read by the edge's request-path rules (a path
// the edge refuses, or reads as two apps', has none).
func (a authEdge) Match(snap *policy.Snapshot, host, escapedPath string) *policy.App {
	app, _ := snap.RouteURLPath(host, escapedPath)
	return app
}

func (a authEdge) VerifySession(snap *policy.Snapshot, keys *session.Keyring, app *policy.App, raw string, now time.Time) (session.Claims, policy.Reason) {
	return a.s.verifySession(snap, keys, app, raw, now)
}

func (a authEdge) AppCookie(r *http.Request, app *policy.App, value string, exp time.Time) *http.Cookie {
	return a.s.appCookie(r, app, value, exp)
}

func (a authEdge) Country(r *http.Request) string { return a.s.country(r) }

func (a authEdge) Deny(w http.ResponseWriter, r *http.Request, app *policy.App, d policy.Decision, email, switchURL string) {
	a.s.deny(w, r, app, d, email, switchURL)
}

func (s *Server) secure(r *http.Request) bool { return s.cfg.Secure || wire.Scheme(r) == "https" }

// appCookie is the app's CF_Authorization cookie with its attributes.
func (s *Server) appCookie(r *http.Request, app *policy.App, value string, exp time.Time) *http.Cookie {
	c := &http.Cookie{Name: wire.CookieName, Value: value, Path: "/", Expires: exp, HttpOnly: app.CookieHTTPOnly, Secure: s.secure(r)}
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
