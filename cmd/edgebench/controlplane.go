package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
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

// controlPlane calls the control-plane REST API as a client would.
type controlPlane struct {
	base   string // .../client/v4/accounts/{id}/
	token  string
	client *http.Client
}

func newControlPlane(apiURL, accountID, token string) *controlPlane {
	return &controlPlane{
		base:   apiURL + "/client/v4/accounts/" + accountID + "/",
		token:  token,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second},
	}
}

// envelope is the API's response wrapper.
type envelope struct {
	Success bool `json:"success"`
	Errors  []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"errors"`
	Result     json.RawMessage  `json:"result"`
	ResultInfo *access.ListInfo `json:"result_info"`
}

// list gets one page of a list and returns its result_info.
func (c *controlPlane) list(ctx context.Context, path string, page, perPage int) (access.ListInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s%s?page=%d&per_page=%d", c.base, path, page, perPage), nil)
	if err != nil {
		return access.ListInfo{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.client.Do(req)
	if err != nil {
		return access.ListInfo{}, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return access.ListInfo{}, fmt.Errorf("GET %s: %w", path, err)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || resp.StatusCode != http.StatusOK || !env.Success || env.ResultInfo == nil {
		return access.ListInfo{}, fmt.Errorf("GET %s page %d: status %d: %.300s", path, page, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	return *env.ResultInfo, nil
}

// call sends body as JSON to path (relative to the account) and decodes a
// successful envelope's result into result, if not nil.
func (c *controlPlane) call(ctx context.Context, method, path string, body, result any) error {
	enc, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(enc))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || resp.StatusCode != http.StatusOK || !env.Success {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(env.Result, result); err != nil {
		return fmt.Errorf("%s %s: decode result: %w", method, path, err)
	}
	return nil
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
