package edge

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
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
	// Path is the request target without its query, as sent (truncated
	// to access.MaxLoggedPathLen).
	Path string
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

// loggedPath is a request target as the access log keeps it: without the
// query (which may hold secrets), printable ASCII (other bytes %-escaped,
// as they were sent on the wire), at most access.MaxLoggedPathLen bytes.
// The common case, a short printable path, costs no allocation.
func loggedPath(target string) string {
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	clean := len(target) <= access.MaxLoggedPathLen
	for i := 0; clean && i < len(target); i++ {
		clean = target[i] > 0x20 && target[i] < 0x7f
	}
	if clean {
		return target
	}
	var b strings.Builder
	for i := 0; i < len(target) && b.Len() < access.MaxLoggedPathLen-3; i++ {
		if c := target[i]; c > 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
