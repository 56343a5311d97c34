package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/accounts"
	"github.com/cloudflare/cloudflare-go/v6/option"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// GET /user/tokens/verify and GET /accounts answer for the token in
// Authorization, read-only ones too, outside any account route; a bad
// or missing token gets 401.
func TestTokenVerifyAndAccountList(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx := context.Background()
	acct, err := a.Store.CreateAccount(ctx, "Acme Corp")
	if err != nil {
		t.Fatal(err)
	}
	tok, value, err := a.Store.CreateAPIToken(ctx, acct.ID, "ro", true)
	if err != nil {
		t.Fatal(err)
	}
	var verified struct{ ID, Status string }
	resp := a.Do(t, gatehousetest.Request{Method: "GET", Path: "/client/v4/user/tokens/verify", Token: value})
	resp.Decode(t, &verified)
	if resp.Status != 200 || verified.ID != tok.ID || verified.Status != "active" {
		t.Errorf("verify: %d %s", resp.Status, resp.Body)
	}
	var list []struct {
		ID, Name, Type string
		Settings       map[string]any `json:"settings"`
	}
	resp = a.Do(t, gatehousetest.Request{Method: "GET", Path: "/client/v4/accounts", Token: value})
	resp.Decode(t, &list)
	if resp.Status != 200 || len(list) != 1 || list[0].ID != acct.ID || list[0].Name != "Acme Corp" || list[0].Type != "standard" ||
		list[0].Settings["enforce_twofactor"] != false || resp.Env.ResultInfo == nil || resp.Env.ResultInfo.TotalCount != 1 {
		t.Errorf("accounts: %d %s", resp.Status, resp.Body)
	}
	for _, path := range []string{"/client/v4/user/tokens/verify", "/client/v4/accounts"} {
		for _, token := range []string{"-", "ghat_not-a-token"} {
			if resp := a.Do(t, gatehousetest.Request{Method: "GET", Path: path, Token: token}); resp.Status != http.StatusUnauthorized {
				t.Errorf("%s with token %q: %d", path, token, resp.Status)
			}
		}
	}
	if resp := a.Do(t, gatehousetest.Request{Method: "GET", Path: "/client/v4/accounts?page=%zz"}); resp.Status != 400 {
		t.Errorf("bad query: %d", resp.Status)
	}

	// Cloudflare's SDK, as Terraform's provider uses it.
	cf := cloudflare.NewClient(option.WithBaseURL(a.URL+"/client/v4/"), option.WithAPIToken(a.Token), option.WithMaxRetries(0), option.WithHTTPClient(a.HTTPClient()))
	v, err := cf.User.Tokens.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != "active" || v.ID == "" {
		t.Errorf("SDK verify: %+v", v)
	}
	page, err := cf.Accounts.List(ctx, accounts.AccountListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Result) != 1 || page.Result[0].ID != a.AccountID || page.Result[0].Type != accounts.AccountTypeStandard {
		t.Errorf("SDK accounts: %+v", page.Result)
	}
}
