package access

import (
	"encoding/json"
	"time"
)

// AuditEntry is one recorded change, in the shape of Cloudflare's account
// audit log, with Gatehouse's config version and request id added.
type AuditEntry struct {
	ID            string          `json:"id"`
	Action        AuditAction     `json:"action"`
	Actor         AuditActor      `json:"actor"`
	Resource      AuditResource   `json:"resource"`
	When          time.Time       `json:"when"`
	OldValueJSON  json.RawMessage `json:"oldValueJson,omitempty"`
	NewValueJSON  json.RawMessage `json:"newValueJson,omitempty"`
	ConfigVersion int64           `json:"config_version"`
	RequestID     string          `json:"request_id"`
}

// AuditAction is what was done, e.g. "app.update".
type AuditAction struct {
	Type   string `json:"type"`
	Result bool   `json:"result"`
}

// AuditActor is who did it.
type AuditActor struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Name string `json:"name"`
}

// AuditResource is what it was done to.
type AuditResource struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// AuditQuery selects audit entries.
type AuditQuery struct {
	Since, Before time.Time // zero: unbounded
	Ascending     bool      // oldest first instead of newest first
	ResourceID    string
}
