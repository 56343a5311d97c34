package client

import (
	"context"
	"net/http"
	"net/url"
)

// AccessLogs returns one page of the access log
// (access/logs/access_requests), newest first unless query has
// direction=asc. query takes the API's filters: app_id, allowed, email,
// email_exact, reason, since, until (RFC 3339), direction and limit.
func (a *Account) AccessLogs(ctx context.Context, query url.Values) (*Response, error) {
	return a.Do(ctx, http.MethodGet, "access/logs/access_requests", query, nil)
}

// AuditLogs is the account's audit log (audit_logs), for List.
func (a *Account) AuditLogs() Collection { return a.Collection("audit_logs") }

// AccessLogSummary counts the access log of a time range (a Gatehouse
// extension): query takes since, until (RFC 3339) and bucket (5m, 1h).
func (a *Account) AccessLogSummary(ctx context.Context, query url.Values) (*Response, error) {
	return a.Do(ctx, http.MethodGet, "access/logs/access_requests/summary", query, nil)
}
