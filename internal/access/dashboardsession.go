package access

import (
	"encoding/base64"
	"time"
)

// DashboardSession is a signed-in dashboard: an API token exchanged for a
// cookie. The cookie's secret is not part of it (only its hash is stored);
// the CSRF token is, because the dashboard must be able to read it again
// after a page reload.
type DashboardSession struct {
	ID         string
	Token      APIToken // the API token the session acts as
	CSRFToken  string
	CreatedAt  time.Time
	ExpiresAt  time.Time // absolute end of the session
	LastSeenAt time.Time // last use, to the minute
}

// NewDashboardSessionSecret returns a fresh session secret: 32 random
// bytes, base64url without padding.
func NewDashboardSessionSecret() string { return randomBase64URL(32) }

// NewCSRFToken returns a fresh CSRF token: 32 random bytes, base64url
// without padding.
func NewCSRFToken() string { return randomBase64URL(32) }

func randomBase64URL(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n)) }
