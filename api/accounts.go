package api

import (
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// accountResult is an account in Cloudflare's shape (Accounts API).
// Gatehouse has no account plans, so Type is always "standard".
type accountResult struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Type      string          `json:"type"`
	Settings  accountSettings `json:"settings"`
	CreatedOn time.Time       `json:"created_on"`
}

// accountSettings are Cloudflare's account settings; Gatehouse has no
// two-factor enforcement of its own (sign-in is by API token).
type accountSettings struct {
	EnforceTwofactor bool `json:"enforce_twofactor"`
}

func newAccountResult(a access.Account) accountResult {
	return accountResult{ID: a.ID, Name: a.Name, Type: "standard", CreatedOn: a.CreatedAt}
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) error {
	a, err := s.store.GetAccount(r.Context(), accountID(r))
	if err != nil {
		return err
	}
	writeResult(w, newAccountResult(a))
	return nil
}

// listAccounts is Cloudflare's GET /accounts: the accounts the token can
// use, which is its own account.
func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) error {
	a, err := s.store.GetAccount(r.Context(), caller(r.Context()).AccountID)
	if err != nil {
		return err
	}
	writeList(w, []accountResult{newAccountResult(a)}, access.NewListInfo(access.Page{Page: 1, PerPage: DefaultPerPage}, 1, 1))
	return nil
}

// tokenVerifyResult is Cloudflare's GET /user/tokens/verify result.
// Gatehouse's API tokens neither expire nor start later, so expires_on
// and not_before are absent.
type tokenVerifyResult struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// verifyToken answers the API token in Authorization: its id and
// "active" (an unknown or missing token never gets here: 401).
func (s *Server) verifyToken(w http.ResponseWriter, r *http.Request) error {
	writeResult(w, tokenVerifyResult{ID: caller(r.Context()).ID, Status: "active"})
	return nil
}
