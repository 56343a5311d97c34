// Package access is Gatehouse's domain model: accounts and API tokens,
// Access applications with their CORS settings, policies and their rules,
// service tokens, identity providers, and the error kinds every layer
// shares. It has no I/O.
package access

import "time"

// Account is a tenant. Every other resource belongs to exactly one account.
type Account struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// APIToken authenticates a caller of the control-plane API for one account.
// Only a hash of the token's value is ever stored.
type APIToken struct {
	ID        string    `json:"id"`
	AccountID string    `json:"account_id"`
	Name      string    `json:"name"`
	ReadOnly  bool      `json:"read_only"`
	CreatedAt time.Time `json:"created_at"`
}

// Actor is who makes a change; it is written to the audit log.
type Actor struct {
	// TokenID is the API token used, or empty for operator commands.
	TokenID string
	// Name describes the actor for humans ("token ci-deploy", "cli").
	Name string
	// RequestID ties the audit entry to the API request's logs.
	RequestID string
}

// Page selects one page of a list; Page is 1-based.
type Page struct {
	Page    int
	PerPage int
}

// Offset is the number of rows before the page.
func (p Page) Offset() int { return (p.Page - 1) * p.PerPage }

// ListInfo describes one page of a list, as Cloudflare's result_info does.
type ListInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

// NewListInfo fills in the derived fields for a page of count items out of total.
func NewListInfo(p Page, count, total int) ListInfo {
	pages := 0
	if p.PerPage > 0 {
		pages = (total + p.PerPage - 1) / p.PerPage
	}
	return ListInfo{Page: p.Page, PerPage: p.PerPage, Count: count, TotalCount: total, TotalPages: pages}
}
