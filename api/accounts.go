package api

import (
	"net/http"
	"time"
)

// accountResult is an account in Cloudflare's shape (Accounts API).
// Gatehouse has no account plans, so Type is always "standard".
type accountResult struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	CreatedOn time.Time `json:"created_on"`
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) error {
	a, err := s.store.GetAccount(r.Context(), accountID(r))
	if err != nil {
		return err
	}
	writeResult(w, accountResult{ID: a.ID, Name: a.Name, Type: "standard", CreatedOn: a.CreatedAt})
	return nil
}
