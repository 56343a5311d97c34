package access

import "time"

// AccessLogEntry is one decision of the edge, in the shape of Cloudflare's
// Access request log (action, allowed, app_domain, app_uid, connection,
// created_at, ip_address, ray_id, user_email) with Gatehouse's extensions:
// the engine's reason code, the service token, the CORS facts of a
// preflight and the upstream's answer.
type AccessLogEntry struct {
	CreatedAt  time.Time `json:"created_at"`
	RayID      string    `json:"ray_id"`
	AccountID  string    `json:"-"` // empty when no app matched
	AppUID     string    `json:"app_uid"`
	AppDomain  string    `json:"app_domain"`
	Action     string    `json:"action"`
	Allowed    bool      `json:"allowed"`
	Reason     string    `json:"reason"`
	ReasonText string    `json:"reason_text"` // the reason in words; filled in for display, not stored
	UserEmail  string    `json:"user_email"`
	Connection string    `json:"connection"`
	// ServiceTokenID and ServiceTokenName name the presented service
	// token; its secret is never logged.
	ServiceTokenID   string `json:"service_token_id"`
	ServiceTokenName string `json:"service_token_name"`
	NonIdentity      bool   `json:"non_identity"`
	IPAddress        string `json:"ip_address"`
	Country          string `json:"country"`
	Method           string `json:"method"`
	// Path is the request target without its query (which may hold
	// secrets), as the client sent it, at most MaxLoggedPathLen bytes.
	Path string `json:"path"`
	// Origin, RequestMethod and RequestHeaders are a CORS preflight's
	// Origin, Access-Control-Request-Method and -Headers.
	Origin         string `json:"origin"`
	RequestMethod  string `json:"request_method"`
	RequestHeaders string `json:"request_headers"`
	// UpstreamStatus is the origin's status, 0 when nothing was forwarded.
	UpstreamStatus    int     `json:"upstream_status"`
	UpstreamLatencyMS float64 `json:"upstream_latency_ms"`
	// DecisionUS is how long the edge took to decide, in microseconds.
	DecisionUS int64 `json:"decision_us"`
	// PurposeJustification is the reason the user gave for access when a
	// policy asked for one (Cloudflare's purpose justification response).
	PurposeJustification string `json:"purpose_justification"`
}

// MaxLoggedPathLen bounds an access log entry's Path.
const MaxLoggedPathLen = 1024

// AccessLogQuery selects access log entries.
type AccessLogQuery struct {
	Since, Until time.Time // zero: unbounded; Since inclusive, Until exclusive
	Ascending    bool      // oldest first instead of newest first
	// Email matches user_email as a case-insensitive substring, or exactly
	// with EmailExact.
	Email      string
	EmailExact bool
	AppID      string
	Allowed    *bool // nil: both
	Reason     string
	// Action selects one action ("login": completed sign-ins); "" any.
	Action string
	// ServiceTokenID selects the entries of one service token; "" any.
	ServiceTokenID string
}
