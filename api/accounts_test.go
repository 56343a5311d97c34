package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/accounts"
	"github.com/cloudflare/cloudflare-go/v6/option"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestGetAccountReturnsTheTokensOwnAccountOnly(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx := context.Background()
	acct, err := a.Store.CreateAccount(ctx, "Acme Corp")
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := a.Store.CreateAPIToken(ctx, acct.ID, "rw", false)
	if err != nil {
		t.Fatal(err)
	}
	_, readOnly, err := a.Store.CreateAPIToken(ctx, acct.ID, "ro", true)
	if err != nil {
		t.Fatal(err)
	}
	path := "/client/v4/accounts/" + acct.ID

	for _, tc := range []struct {
		name  string
		token string
	}{{"ok/read-write token", token}, {"ok/read-only token", readOnly}} {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.Do(t, gatehousetest.Request{Method: "GET", Path: path, Token: tc.token})
			if resp.Status != 200 {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
			var got struct {
				ID        string    `json:"id"`
				Name      string    `json:"name"`
				Type      string    `json:"type"`
				CreatedOn time.Time `json:"created_on"`
			}
			resp.Decode(t, &got)
			if got.ID != acct.ID || got.Name != "Acme Corp" || got.Type != "standard" || !got.CreatedOn.Equal(acct.CreatedAt) {
				t.Errorf("account %+v, want id %s, name Acme Corp, created %v", got, acct.ID, acct.CreatedAt)
			}
		})
	}

	for _, tc := range []struct {
		name   string
		req    gatehousetest.Request
		status int
		code   int
	}{
		{"fail/no token", gatehousetest.Request{Method: "GET", Path: path, Token: "-"}, 401, 10000},
		{"fail/another account's token gets 404", gatehousetest.Request{Method: "GET", Path: path, Token: a.Token}, 404, 1005},
		{"fail/a made-up account gets 404", gatehousetest.Request{Method: "GET", Path: "/client/v4/accounts/0123456789abcdef0123456789abcdef", Token: token}, 404, 1005},
		{"fail/the account cannot be changed through the API", gatehousetest.Request{Method: "PUT", Path: path, Token: token, Body: map[string]any{"name": "x"}}, 405, 1008},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.Do(t, tc.req)
			if resp.Status != tc.status || len(resp.Env.Errors) != 1 || resp.Env.Errors[0].Code != tc.code {
				t.Fatalf("status %d, errors %+v; want %d with code %d: %s", resp.Status, resp.Env.Errors, tc.status, tc.code, resp.Body)
			}
		})
	}
}

// Cloudflare's Go SDK reads the account as it reads Cloudflare's.
func TestGetAccountWithTheCloudflareSDK(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cf := cloudflare.NewClient(option.WithBaseURL(a.URL+"/client/v4/"), option.WithAPIToken(a.ReadOnlyToken), option.WithMaxRetries(0), option.WithHTTPClient(a.HTTPClient()))
	got, err := cf.Accounts.Get(ctx, accounts.AccountGetParams{AccountID: cloudflare.F(a.AccountID)})
	if err != nil {
		t.Fatalf("accounts.Get: %v", err)
	}
	if got.ID != a.AccountID || got.Name != "test "+t.Name() || got.Type != accounts.AccountTypeStandard || got.CreatedOn.IsZero() {
		t.Errorf("account decoded as %+v", got)
	}
}
