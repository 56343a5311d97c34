package access

import "time"

// AccessLogSummary is the access log of one time range counted: requests
// over time split into allowed and blocked, the top block reasons, apps
// and identities, and the CORS preflights by outcome.
type AccessLogSummary struct {
	Since         time.Time `json:"since"`
	Until         time.Time `json:"until"`
	BucketSeconds int64     `json:"bucket_seconds"`
	// Requests, Allowed and Blocked count every entry in [Since, Until).
	Requests int64 `json:"requests"`
	Allowed  int64 `json:"allowed"`
	Blocked  int64 `json:"blocked"`
	// Buckets cover [Since, Until) in order, the first starting at Since;
	// the last may be shorter. Empty buckets are included.
	Buckets      []AccessLogBucket   `json:"buckets"`
	BlockReasons []AccessLogReason   `json:"top_block_reasons"`
	Apps         []AccessLogApp      `json:"top_apps"`
	Identities   []AccessLogIdentity `json:"top_identities"`
	Preflights   AccessLogPreflights `json:"preflights"`
	// ChunksRead is how many stored chunks the summary read: the chunks
	// whose time span overlaps the range.
	ChunksRead int64 `json:"chunks_read"`
}

// AccessLogBucket counts one time bucket's entries.
type AccessLogBucket struct {
	Start   time.Time `json:"start"`
	Allowed int64     `json:"allowed"`
	Blocked int64     `json:"blocked"`
}

// AccessLogReason counts the blocked entries with one reason.
type AccessLogReason struct {
	Reason     string `json:"reason"`
	ReasonText string `json:"reason_text"` // filled in for display
	Blocked    int64  `json:"blocked"`
}

// AccessLogApp counts one application's entries.
type AccessLogApp struct {
	AppID     string `json:"app_id"`
	AppDomain string `json:"app_domain"`
	Requests  int64  `json:"requests"`
	Blocked   int64  `json:"blocked"`
}

// AccessLogIdentity counts the entries of one user (by email) or one
// service token.
type AccessLogIdentity struct {
	UserEmail        string `json:"user_email"`
	ServiceTokenID   string `json:"service_token_id"`
	ServiceTokenName string `json:"service_token_name"`
	Requests         int64  `json:"requests"`
	Blocked          int64  `json:"blocked"`
}

// AccessLogPreflights counts CORS preflights by what the edge did:
// answered from the app's CORS settings, bypassed to the origin, refused.
type AccessLogPreflights struct {
	Answered int64 `json:"answered"`
	Bypassed int64 `json:"bypassed"`
	Refused  int64 `json:"refused"`
}

// Limits of an access log summary.
const (
	MaxSummaryRange   = 31 * 24 * time.Hour
	MaxSummaryBuckets = 1000
	SummaryTop        = 10 // entries in each top list
)
