package client

import (
	"context"
	"net/http"
	"net/url"
)

// Edges returns the live edges and the latest config version
// (gatehouse/edges). staleAfter, such as "30s", counts an edge as gone
// after that long without a heartbeat; "" is the API's default (15s).
func (a *Account) Edges(ctx context.Context, staleAfter string) (*Response, error) {
	q := url.Values{}
	if staleAfter != "" {
		q.Set("stale_after", staleAfter)
	}
	return a.Do(ctx, http.MethodGet, "gatehouse/edges", q, nil)
}
