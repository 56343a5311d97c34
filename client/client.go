// Package client is a Go client for Gatehouse's control-plane REST API,
// /client/v4: the calls the gatehouse CLI makes, for programs that script
// an installation.
//
//	c, err := client.New("http://127.0.0.1:8080", os.Getenv("GATEHOUSE_TOKEN"))
//	acct := c.Account(os.Getenv("GATEHOUSE_ACCOUNT"))
//	apps, err := acct.Apps().List(ctx, nil) // every page
//
// Results come as JSON (json.RawMessage), decoded with As or ListAs into
// the package's typed results (App, Policy, ServiceToken, …: aliases of
// the server's own types, so they cannot drift from what it sends) or
// into a struct of the program's own:
//
//	app, err := client.As[client.App](acct.Apps().Get(ctx, id))
//	type tok struct{ ID, Name string }
//	toks, err := client.ListAs[tok](ctx, acct.ServiceTokens().Collection, nil)
//
// Every failure is a value: *APIError when the API answered with an error
// (its HTTP status and the envelope's errors, each naming its input field
// for a validation error; errors.Is(err, ErrPreconditionFailed) for a
// stale IfMatch), *NetworkError when no complete answer came, and
// *DecodeError when a successful answer did not have the expected shape.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxBody bounds a response body read into memory.
const maxBody = 64 << 20

// Client calls one Gatehouse API with one API token. It is safe for
// concurrent use.
type Client struct {
	base  string // ends with /client/v4/
	token string
	http  *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests through hc instead of a client with a
// 60-second timeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// New returns a client for the API at baseURL, such as
// http://127.0.0.1:8080 or https://gatehouse.example.com/client/v4
// (/client/v4 is optional), authenticating with token.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	base := strings.TrimSuffix(strings.TrimRight(baseURL, "/"), "/client/v4")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: must be an http:// or https:// URL such as http://127.0.0.1:8080", baseURL)
	}
	if token == "" {
		return nil, errors.New("client: no API token")
	}
	c := &Client{base: base + "/client/v4/", token: token, http: &http.Client{Timeout: 60 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Response is a successful answer.
type Response struct {
	Method     string
	Path       string // below /client/v4
	StatusCode int
	Header     http.Header
	Result     json.RawMessage // the envelope's result
	ResultInfo *ResultInfo     // set for a page of a list
	Messages   []ErrorObject
}

// ETag is the response's ETag header: the resource's revision, for IfMatch.
func (r *Response) ETag() string { return r.Header.Get("ETag") }

// Decode decodes the result into v.
func (r *Response) Decode(v any) error {
	if err := json.Unmarshal(r.Result, v); err != nil {
		return &DecodeError{Method: r.Method, Path: r.Path, Err: err}
	}
	return nil
}

// DecodeError is a successful answer whose result did not have the shape
// the caller asked for.
type DecodeError struct {
	Method, Path string
	Err          error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s %s: unexpected result: %v", e.Method, e.Path, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// RequestOption changes one request.
type RequestOption func(*http.Request)

// IfMatch makes an update or delete conditional: the API refuses it with
// 412 (errors.Is(err, ErrPreconditionFailed)) unless the resource's
// current ETag is etag, as a Response's ETag returned it.
func IfMatch(etag string) RequestOption {
	return func(r *http.Request) { r.Header.Set("If-Match", etag) }
}

// Do sends one request to path below /client/v4 (such as
// "accounts/ID/access/apps") with query, and body encoded as JSON unless
// it is nil (a json.RawMessage is sent as it is). It returns the answer if
// it was a successful envelope, else an *APIError or a *NetworkError.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body any, opts ...RequestOption) (*Response, error) {
	path = strings.TrimPrefix(path, "/")
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("client: %s %s: encode body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &NetworkError{Method: method, Path: path, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, &NetworkError{Method: method, Path: path, Err: fmt.Errorf("reading the response: %w", err)}
	}
	var env Envelope[json.RawMessage]
	jsonErr := json.Unmarshal(raw, &env)
	if resp.StatusCode < 300 && jsonErr == nil && env.Success {
		return &Response{Method: method, Path: path, StatusCode: resp.StatusCode, Header: resp.Header,
			Result: env.Result, ResultInfo: env.ResultInfo, Messages: env.Messages}, nil
	}
	ae := &APIError{Method: method, Path: path, StatusCode: resp.StatusCode, Status: resp.Status}
	if jsonErr == nil && len(env.Errors) > 0 {
		ae.Errors = env.Errors
		if len(env.Result) > 0 && string(env.Result) != "null" {
			ae.Result = env.Result
		}
		return nil, ae
	}
	ae.Body = strings.TrimSpace(string(raw))
	if len(ae.Body) > 200 {
		ae.Body = ae.Body[:200] + "…"
	}
	return nil, ae
}

// Account is the part of the API scoped to one account.
type Account struct {
	c    *Client
	id   string
	base string // accounts/{id}/
}

// Account returns the calls scoped to the account with this id.
func (c *Client) Account(id string) *Account {
	return &Account{c: c, id: id, base: "accounts/" + url.PathEscape(id) + "/"}
}

// ID is the account's id.
func (a *Account) ID() string { return a.id }

// Do is Client.Do with path below the account, such as "access/apps".
func (a *Account) Do(ctx context.Context, method, path string, query url.Values, body any, opts ...RequestOption) (*Response, error) {
	return a.c.Do(ctx, method, a.base+strings.TrimPrefix(path, "/"), query, body, opts...)
}

// Get returns the account.
func (a *Account) Get(ctx context.Context) (*Response, error) {
	return a.c.Do(ctx, http.MethodGet, strings.TrimSuffix(a.base, "/"), nil, nil)
}

// As decodes a response's result into a T. It is written around a call:
//
//	app, err := client.As[myApp](acct.Apps().Get(ctx, id))
func As[T any](r *Response, err error) (T, error) {
	var v T
	if err != nil {
		return v, err
	}
	err = r.Decode(&v)
	return v, err
}
