package gatehousetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// API is a control-plane API server on loopback with an account and
// tokens to call it with.
type API struct {
	URL           string // the server's root URL
	AccountID     string
	Token         string // read-write
	ReadOnlyToken string
	Store         *store.Store

	client *http.Client
}

// Envelope is the API's response wrapper, as a client decodes it.
type Envelope = client.Envelope[json.RawMessage]

// ErrorObject is one entry of Envelope.Errors.
type ErrorObject = client.ErrorObject

// Response is one API response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	Env    Envelope
}

// Decode decodes the envelope's result into v.
func (r Response) Decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Env.Result, v); err != nil {
		tb.Fatalf("decode result: %v\nbody: %s", err, r.Body)
	}
}

// Fields returns the field names of the response's errors.
func (r Response) Fields() []string {
	var out []string
	for _, e := range r.Env.Errors {
		out = append(out, e.Field)
	}
	return out
}

// NewAPI starts the API on a fresh loopback port, over this package's
// database, with a new account, a read-write and a read-only token. Every
// response it receives is validated against openapi.yaml. opts configure
// the API server.
func NewAPI(tb testing.TB, opts ...api.Option) *API {
	tb.Helper()
	return NewAPIOn(tb, Store(tb), opts...)
}

// NewAPIOn is NewAPI over st, for a store with its own options (such as a
// clock the test moves).
func NewAPIOn(tb testing.TB, st *store.Store, opts ...api.Option) *API {
	tb.Helper()
	return serveAPI(tb, st, func(h http.Handler) http.Handler { return h }, opts...)
}

// serveAPI serves the API over st through wrap (which may mount more in
// front of it), with an account and its tokens.
func serveAPI(tb testing.TB, st *store.Store, wrap func(http.Handler) http.Handler, opts ...api.Option) *API {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = httpserver.New(wrap(api.New(st, log, opts...).Handler()), httpserver.Defaults())
	srv.Start()
	tb.Cleanup(srv.Close)
	a := &API{URL: srv.URL, Store: st}
	a.client = &http.Client{Transport: &validatingTransport{tb: tb, router: specRouter(tb, srv.URL), next: http.DefaultTransport}}
	a.AccountID, a.Token, a.ReadOnlyToken = NewAccount(tb, st)
	return a
}

// HTTPClient is the spec-checking client, for other API clients (such as
// Cloudflare's SDK) to send their requests through.
func (a *API) HTTPClient() *http.Client { return a.client }

// SkipSpecCheck stops validating responses against openapi.yaml, for
// benchmarks that measure the server rather than the validator.
func (a *API) SkipSpecCheck() {
	a.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
}

// NewAccount creates an account with a read-write and a read-only token.
func NewAccount(tb testing.TB, st *store.Store) (id, token, readOnlyToken string) {
	tb.Helper()
	ctx := context.Background()
	acct, err := st.CreateAccount(ctx, "test "+tb.Name())
	if err != nil {
		tb.Fatal(err)
	}
	_, token, err = st.CreateAPIToken(ctx, acct.ID, "rw", false)
	if err != nil {
		tb.Fatal(err)
	}
	_, readOnlyToken, err = st.CreateAPIToken(ctx, acct.ID, "ro", true)
	if err != nil {
		tb.Fatal(err)
	}
	return acct.ID, token, readOnlyToken
}

// Request is one API call. Path is relative to the account
// (/client/v4/accounts/{id}) unless it starts with "/".
type Request struct {
	Method string
	Path   string
	Body   any    // encoded as JSON unless it is a string ([]byte: raw)
	Token  string // defaults to the read-write token; "-" sends none
	Header map[string]string
}

// Call sends a request with the read-write token.
func (a *API) Call(tb testing.TB, method, path string, body any) Response {
	tb.Helper()
	return a.Do(tb, Request{Method: method, Path: path, Body: body})
}

// Do sends a request and reads the whole response.
func (a *API) Do(tb testing.TB, r Request) Response {
	tb.Helper()
	u := a.URL + "/client/v4/accounts/" + a.AccountID + "/" + strings.TrimPrefix(r.Path, "/")
	if strings.HasPrefix(r.Path, "/") {
		u = a.URL + r.Path
	}
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		body = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(r.Method, u, body)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch r.Token {
	case "":
		req.Header.Set("Authorization", "Bearer "+a.Token)
	case "-":
	default:
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := a.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	out := Response{Status: resp.StatusCode, Header: resp.Header}
	if out.Body, err = io.ReadAll(resp.Body); err != nil {
		tb.Fatal(err)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(out.Body, &out.Env); err != nil {
			tb.Fatalf("%s %s: response is not JSON: %v\n%s", r.Method, r.Path, err, out.Body)
		}
	}
	return out
}

// MustCall sends a request that must succeed with 200, and decodes its
// result into v (if not nil).
func (a *API) MustCall(tb testing.TB, method, path string, body, v any) Response {
	tb.Helper()
	resp := a.Call(tb, method, path, body)
	if resp.Status != http.StatusOK || !resp.Env.Success {
		tb.Fatalf("%s %s: status %d: %s", method, path, resp.Status, resp.Body)
	}
	if v != nil {
		resp.Decode(tb, v)
	}
	return resp
}

var spec struct {
	once sync.Once
	doc  *openapi3.T
	err  error
}

// SpecPath is the path of openapi.yaml in the source tree.
func SpecPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "openapi.yaml")
}

// specRouter loads openapi.yaml once and returns a router for a server at
// serverURL.
func specRouter(tb testing.TB, serverURL string) routers.Router {
	tb.Helper()
	spec.once.Do(func() {
		loader := openapi3.NewLoader()
		spec.doc, spec.err = loader.LoadFromFile(SpecPath())
		if spec.err == nil {
			spec.err = spec.doc.Validate(context.Background())
		}
	})
	if spec.err != nil {
		tb.Fatalf("openapi.yaml: %v", spec.err)
	}
	doc := *spec.doc
	doc.Servers = openapi3.Servers{{URL: serverURL}}
	router, err := gorillamux.NewRouter(&doc)
	if err != nil {
		tb.Fatalf("openapi.yaml router: %v", err)
	}
	return router
}

// validatingTransport checks every response against the OpenAPI document
// and fails the test on any mismatch, so the spec cannot drift.
type validatingTransport struct {
	tb     testing.TB
	router routers.Router
	next   http.RoundTripper
}

func (t *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := t.validate(req, resp, body); err != nil {
		t.tb.Errorf("response to %s %s (status %d) does not match openapi.yaml: %v\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return resp, nil
}

func (t *validatingTransport) validate(req *http.Request, resp *http.Response, body []byte) error {
	route, params, err := t.router.FindRoute(req)
	if err != nil {
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			return nil // a route the API does not have either
		}
		return fmt.Errorf("no such operation in the spec: %w", err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	return openapi3filter.ValidateResponse(req.Context(), in)
}
