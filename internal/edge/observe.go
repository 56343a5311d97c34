package edge

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Actions a Record can report.
const (
	ActionAllow             = "allow"
	ActionDeny              = "deny"
	ActionLogin             = "login" // a completed login set the app's cookie
	ActionRelay             = "relay" // allowed, and relayed with the app's service token
	ActionPreflightAnswered = "preflight_answered"
	ActionPreflightBypassed = "preflight_bypassed"
	ActionPreflightRefused  = "preflight_refused"
	ActionNotFound          = "not_found"
)

// Record is what the edge decided about one request and why: the facts
// an access log row or a metric is made from. Observers must not keep the
// pointer: the edge reuses records once every observer has returned.
type Record struct {
	Time       time.Time
	RayID      string
	AccountID  string
	AppID      string
	AppDomain  string // the matched destination, host[/path]
	Action     string
	Allowed    bool
	Reason     policy.Reason
	Email      string
	Connection string // identity provider id, or "service_token"
	// Purpose is the reason the user gave for access, from the session
	// (purpose justification).
	Purpose     string
	TokenID     string
	TokenName   string
	NonIdentity bool
	IP          netip.Addr // formatted by observers off the request path
	Country     string
	Method      string
	// CORS facts of a preflight.
	Origin         string
	RequestMethod  string
	RequestHeaders string
	// Upstream is set when the request was forwarded.
	UpstreamStatus  int
	UpstreamLatency time.Duration
	// Decision is how long the edge took to decide, before forwarding.
	Decision time.Duration
}

// Observer receives a Record for every request the edge handles. Observe
// runs on the request path, after the response: it must be quick and must
// never block (queue, don't write).
type Observer interface {
	Observe(*Record)
}

var records = sync.Pool{New: func() any { return new(Record) }}

// rayIDs are unique per process and cheap: a random prefix and a counter.
var (
	rayPrefix = func() string {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}()
	rayCounter atomic.Uint64
)

func newRayID() string {
	return rayPrefix + strconv.FormatUint(rayCounter.Add(1), 16)
}

// upstreamWriter notes the status the origin answered with. Unwrap lets
// the reverse proxy reach the connection for flushes and upgrades.
type upstreamWriter struct {
	http.ResponseWriter
	status int
}

func (u *upstreamWriter) WriteHeader(code int) {
	if u.status == 0 {
		u.status = code
	}
	u.ResponseWriter.WriteHeader(code)
}

func (u *upstreamWriter) Write(b []byte) (int, error) {
	if u.status == 0 {
		u.status = http.StatusOK
	}
	return u.ResponseWriter.Write(b)
}

func (u *upstreamWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }
