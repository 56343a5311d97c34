package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
)

// The benchmark app: its hostname, the page origin its CORS settings
// allow, and the preflight the edge answers.
const (
	appHost         = "bench.test"
	webOrigin       = "https://web.test"
	preflightMethod = "PUT"
	preflightHeader = "Content-Type"
	initialMaxAge   = 600
)

// controlPlane calls the control-plane REST API as a client would,
// through the client package.
type controlPlane struct {
	acct *client.Account
}

func newControlPlane(apiURL, accountID, token string) (*controlPlane, error) {
	c, err := client.New(apiURL, token, client.WithHTTPClient(
		&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second}))
	if err != nil {
		return nil, err
	}
	return &controlPlane{acct: c.Account(accountID)}, nil
}

// list gets one page of a list and returns its result_info.
func (c *controlPlane) list(ctx context.Context, path string, page, perPage int) (client.ResultInfo, error) {
	q := url.Values{"page": {strconv.Itoa(page)}, "per_page": {strconv.Itoa(perPage)}}
	res, err := c.acct.Do(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return client.ResultInfo{}, err
	}
	if res.ResultInfo == nil {
		return client.ResultInfo{}, fmt.Errorf("GET %s page %d: no result_info", path, page)
	}
	return *res.ResultInfo, nil
}

// call sends body as JSON to path (relative to the account) and decodes a
// successful envelope's result into result, if not nil.
func (c *controlPlane) call(ctx context.Context, method, path string, body, result any) error {
	res, err := c.acct.Do(ctx, method, path, nil, body)
	if err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	return res.Decode(result)
}

// appBody is the benchmark app as the API takes it, with CORS settings
// whose preflight answer carries maxAge.
func appBody(origin string, maxAge int) map[string]any {
	return map[string]any{
		"type": "self_hosted", "name": "edgebench", "domain": appHost, "origin": origin,
		"cors_headers": map[string]any{
			"allowed_origins": []string{webOrigin},
			"allowed_methods": []string{"GET", "POST", preflightMethod},
			"allowed_headers": []string{preflightHeader},
			"max_age":         maxAge,
		},
	}
}

// configure creates, through the API, a service token and the app with an
// allow policy for example.test users and a Service Auth policy for the
// token.
func (s *stack) configure(ctx context.Context) error {
	if err := s.cp.call(ctx, "POST", "access/service_tokens", map[string]any{"name": "edgebench"}, &s.token); err != nil {
		return err
	}
	if err := s.cp.call(ctx, "POST", "access/apps", appBody(s.origin.String(), initialMaxAge), &s.app); err != nil {
		return err
	}
	policies := []map[string]any{
		{"name": "staff", "decision": "allow", "include": []any{
			map[string]any{"email_domain": map[string]any{"domain": "example.test"}},
		}},
		{"name": "service auth", "decision": "non_identity", "include": []any{
			map[string]any{"service_token": map[string]any{"token_id": s.token.ID}},
		}},
	}
	for _, p := range policies {
		if err := s.cp.call(ctx, "POST", "access/apps/"+s.app.ID+"/policies", p, nil); err != nil {
			return err
		}
	}
	return nil
}
