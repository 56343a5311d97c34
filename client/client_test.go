package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// newAccount starts a real API over PostgreSQL and returns a client for
// its account (with a key store, so keys can rotate) whose requests go through the openapi.yaml-checking
// transport, and the number of requests it sent.
func newAccount(t *testing.T) (*gatehousetest.API, *client.Account, *atomic.Int64) {
	t.Helper()
	st := gatehousetest.Store(t)
	srv := gatehousetest.NewAPIOn(t, st, api.WithKeyStore(gatehousetest.KeyStore(st), 0))
	var n atomic.Int64
	hc := &http.Client{Transport: countingTransport{next: srv.HTTPClient().Transport, n: &n}}
	c, err := client.New(srv.URL, srv.Token, client.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	return srv, c.Account(srv.AccountID), &n
}

type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

type token struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func TestListWalksEveryPage(t *testing.T) {
	ctx := context.Background()
	_, acct, requests := newAccount(t)
	var want []string
	for i := range 5 {
		tok, err := client.As[token](acct.ServiceTokens().Create(ctx, map[string]string{"name": fmt.Sprintf("t%d", i)}))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, tok.ID)
	}

	requests.Store(0)
	all, err := client.ListAs[token](ctx, acct.ServiceTokens().Collection, &client.ListOptions{PerPage: 2})
	if err != nil {
		t.Fatal(err)
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("5 items at 2 per page: %d requests, want 3", n)
	}
	var got []string
	for _, tok := range all {
		got = append(got, tok.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("every page: got %v, want %v", got, want)
	}

	page, err := acct.ServiceTokens().List(ctx, &client.ListOptions{Page: 3, PerPage: 2})
	if err != nil || len(page) != 1 {
		t.Errorf("page 3 of 2 per page: %d items, %v; want the 1 last", len(page), err)
	}
	none, err := acct.ServiceTokens().List(ctx, &client.ListOptions{Query: map[string][]string{"name": {"nobody"}}})
	if err != nil || none == nil || len(none) != 0 {
		t.Errorf("filtered to nothing: %v, %v; want an empty, non-nil list", none, err)
	}
}

func appBody(domain string, maxAge int) map[string]any {
	return map[string]any{"type": "self_hosted", "name": domain, "domain": domain, "origin": "http://127.0.0.1:1",
		"cors_headers": map[string]any{"allowed_origins": []string{"https://web.test"}, "allowed_methods": []string{"GET"}, "max_age": maxAge}}
}

func TestUpdateWithStaleIfMatchIs412(t *testing.T) {
	ctx := context.Background()
	_, acct, _ := newAccount(t)
	domain := gatehousetest.Host(t, "app")
	created, err := acct.Apps().Create(ctx, appBody(domain, 60))
	if err != nil {
		t.Fatal(err)
	}
	var app struct{ ID string }
	if err := created.Decode(&app); err != nil {
		t.Fatal(err)
	}
	read, err := acct.Apps().Get(ctx, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	stale := read.ETag()
	if stale == "" {
		t.Fatal("GET of an app: no ETag")
	}
	updated, err := acct.Apps().Update(ctx, app.ID, appBody(domain, 120), client.IfMatch(stale))
	if err != nil {
		t.Fatalf("update with the current ETag: %v", err)
	}
	if updated.ETag() == stale {
		t.Errorf("update: ETag %s unchanged", stale)
	}

	_, err = acct.Apps().Update(ctx, app.ID, appBody(domain, 300), client.IfMatch(stale))
	var ae *client.APIError
	if !errors.Is(err, client.ErrPreconditionFailed) || !errors.As(err, &ae) || ae.StatusCode != http.StatusPreconditionFailed || !ae.Refused() {
		t.Fatalf("update with a stale ETag: %v; want a refused *APIError with 412", err)
	}
	if len(ae.Errors) != 1 || ae.Errors[0].Code != 1007 {
		t.Errorf("412's errors: %+v; want code 1007", ae.Errors)
	}
	if _, err := acct.Apps().Delete(ctx, app.ID, client.IfMatch(stale)); !errors.Is(err, client.ErrPreconditionFailed) {
		t.Errorf("delete with a stale ETag: %v; want ErrPreconditionFailed", err)
	}
	type cors struct {
		CORSHeaders struct {
			MaxAge int `json:"max_age"`
		} `json:"cors_headers"`
	}
	if now, err := client.As[cors](acct.Apps().Get(ctx, app.ID)); err != nil || now.CORSHeaders.MaxAge != 120 {
		t.Errorf("after the refused update: max_age %d, %v; want 120", now.CORSHeaders.MaxAge, err)
	}
	if _, err := acct.Apps().Delete(ctx, app.ID, client.IfMatch(updated.ETag())); err != nil {
		t.Errorf("delete with the current ETag: %v", err)
	}
	if _, err := acct.Apps().Get(ctx, app.ID); !errors.Is(err, client.ErrNotFound) || errors.Is(err, client.ErrPreconditionFailed) {
		t.Errorf("get a deleted app: %v; want ErrNotFound only", err)
	}
}

func TestValidationErrorNamesTheField(t *testing.T) {
	ctx := context.Background()
	_, acct, _ := newAccount(t)
	body := appBody(gatehousetest.Host(t, "bad"), 60)
	body["cors_headers"].(map[string]any)["allowed_origins"] = []string{"https://ok.test", "https://e.test/path"}
	_, err := acct.Apps().Create(ctx, body)
	var ae *client.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("invalid app: %v; want an *APIError", err)
	}
	if ae.StatusCode != http.StatusBadRequest || ae.Status != "400 Bad Request" || !ae.Refused() || ae.Method != "POST" ||
		ae.Path != "accounts/"+acct.ID()+"/access/apps" {
		t.Errorf("invalid app: %+v", ae)
	}
	if len(ae.Errors) != 1 {
		t.Fatalf("invalid app: errors %+v; want one", ae.Errors)
	}
	e := ae.Errors[0]
	if e.Code != 1002 || e.Field != "cors_headers.allowed_origins[1]" || e.Source.Pointer != "/cors_headers/allowed_origins/1" {
		t.Errorf("invalid app: error %+v; want code 1002 naming cors_headers.allowed_origins[1]", e)
	}
	if !slices.Equal(ae.Fields(), []string{"cors_headers.allowed_origins[1]"}) {
		t.Errorf("Fields() = %v", ae.Fields())
	}
	var ne *client.NetworkError
	if errors.As(err, &ne) {
		t.Errorf("a refusal is also a *NetworkError: %v", err)
	}
}

func TestNetworkErrorIsNotAnAPIError(t *testing.T) {
	ctx := context.Background()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	c, err := client.New(closed.URL, "ghat_x")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Account("a").Apps().List(ctx, nil)
	var ne *client.NetworkError
	var ae *client.APIError
	if !errors.As(err, &ne) || errors.As(err, &ae) || ne.Method != "GET" || ne.Path != "accounts/a/access/apps" {
		t.Fatalf("closed port: %v (%T); want a *NetworkError only", err, err)
	}

	// An answer that is not the API's (a proxy's 502 page) is an
	// *APIError that is not a refusal, with the start of the body.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	}))
	defer proxy.Close()
	c, _ = client.New(proxy.URL, "ghat_x")
	_, err = c.VerifyToken(ctx)
	if !errors.As(err, &ae) || ae.Refused() || ae.StatusCode != http.StatusBadGateway || ae.Body != "upstream down" || len(ae.Errors) != 0 {
		t.Errorf("502 from a proxy: %#v", err)
	}
}

func TestNewTakesTheBaseURLWithOrWithoutClientV4(t *testing.T) {
	ctx := context.Background()
	srv := gatehousetest.NewAPI(t)
	for _, base := range []string{srv.URL, srv.URL + "/", srv.URL + "/client/v4", srv.URL + "/client/v4/"} {
		c, err := client.New(base, srv.Token, client.WithHTTPClient(srv.HTTPClient()))
		if err != nil {
			t.Fatalf("New(%q): %v", base, err)
		}
		if _, err := c.VerifyToken(ctx); err != nil {
			t.Errorf("New(%q): verify: %v", base, err)
		}
	}
	for _, base := range []string{"", "127.0.0.1:8080", "ftp://x", "http://"} {
		if _, err := client.New(base, srv.Token); err == nil {
			t.Errorf("New(%q): no error", base)
		}
	}
	if _, err := client.New(srv.URL, ""); err == nil {
		t.Error("New without a token: no error")
	}
	bad, _ := client.New(srv.URL, "ghat_nope", client.WithHTTPClient(srv.HTTPClient()))
	_, err := bad.VerifyToken(ctx)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized || !ae.Refused() {
		t.Errorf("a bad token: %v; want a 401 *APIError", err)
	}
}

// TestResourceMethods calls each resource's own methods once against the
// real API and checks what came back.
func TestResourceMethods(t *testing.T) {
	ctx := context.Background()
	srv, acct, _ := newAccount(t)

	tok, err := client.As[token](acct.ServiceTokens().Create(ctx, map[string]string{"name": "ci"}))
	if err != nil || tok.ClientSecret == "" {
		t.Fatalf("create token: %+v, %v", tok, err)
	}
	rotated, err := client.As[token](acct.ServiceTokens().Rotate(ctx, tok.ID))
	if err != nil || rotated.ClientSecret == "" || rotated.ClientSecret == tok.ClientSecret {
		t.Errorf("rotate: %+v, %v; want a new secret", rotated, err)
	}
	if _, err := acct.ServiceTokens().Refresh(ctx, tok.ID); err != nil {
		t.Errorf("refresh: %v", err)
	}

	if _, err := acct.SetOrganization(ctx, map[string]string{"name": "Example", "auth_domain": gatehousetest.Host(t, "auth")}); err != nil {
		t.Fatalf("set organization: %v", err)
	}
	org, err := client.As[struct{ Name string }](acct.Organization(ctx))
	if err != nil || org.Name != "Example" {
		t.Errorf("organization: %+v, %v", org, err)
	}

	type keys struct {
		Days float64 `json:"key_rotation_interval_days"`
	}
	if k, err := client.As[keys](acct.SetKeyRotationInterval(ctx, 30)); err != nil || k.Days != 30 {
		t.Errorf("set key rotation: %+v, %v", k, err)
	}
	if k, err := client.As[keys](acct.Keys(ctx)); err != nil || k.Days != 30 {
		t.Errorf("keys: %+v, %v", k, err)
	}
	if _, err := acct.RotateKeys(ctx); err != nil {
		t.Errorf("rotate keys: %v", err)
	}

	edges, err := client.As[struct {
		LatestVersion int64             `json:"latest_version"`
		Edges         []json.RawMessage `json:"edges"`
	}](acct.Edges(ctx, "30s"))
	if err != nil || edges.LatestVersion == 0 {
		t.Errorf("edges: %+v, %v", edges, err)
	}
	if _, err := acct.Edges(ctx, "forever"); !errors.As(err, new(*client.APIError)) {
		t.Errorf("edges with a bad stale_after: %v; want an *APIError", err)
	}

	logs, err := acct.AccessLogs(ctx, map[string][]string{"limit": {"5"}})
	if err != nil || string(logs.Result) != "[]" {
		t.Errorf("access logs of a new account: %s, %v", logs.Result, err)
	}
	if users, err := acct.Users().List(ctx, nil); err != nil || len(users) != 0 {
		t.Errorf("users: %v, %v", users, err)
	}
	if audit, err := acct.AuditLogs().List(ctx, nil); err != nil || len(audit) == 0 {
		t.Errorf("audit log after changes: %d entries, %v", len(audit), err)
	}

	domain := gatehousetest.Host(t, "app")
	app, err := client.As[struct{ ID string }](acct.Apps().Create(ctx, appBody(domain, 60)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acct.AppPolicies(app.ID).Create(ctx, map[string]any{"name": "staff", "decision": "allow",
		"include": []any{map[string]any{"email_domain": map[string]any{"domain": "example.test"}}}}); err != nil {
		t.Fatalf("create app policy: %v", err)
	}
	tested, err := client.As[struct{ Decision string }](acct.TestPolicy(ctx, map[string]any{"email": "ann@example.test", "app_id": app.ID}))
	if err != nil || tested.Decision != "allow" {
		t.Errorf("policy test: %+v, %v; want allow", tested, err)
	}

	c, _ := client.New(srv.URL, srv.Token, client.WithHTTPClient(srv.HTTPClient()))
	accounts, err := c.Accounts(ctx)
	if err != nil || len(accounts) != 1 {
		t.Errorf("accounts: %d, %v; want the token's one", len(accounts), err)
	}
	if got, err := client.As[struct{ ID string }](acct.Get(ctx)); err != nil || got.ID != acct.ID() {
		t.Errorf("account: %+v, %v", got, err)
	}
}
