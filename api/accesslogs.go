package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// listAccessLogs answers Cloudflare's access request log: a plain array
// of entries, newest first unless direction=asc.
func (s *Server) listAccessLogs(w http.ResponseWriter, r *http.Request) error {
	query := r.URL.Query()
	p := access.Page{Page: 1, PerPage: DefaultPerPage}
	if v := query.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPerPage {
			return access.Invalid("limit", "must be a whole number from 1 to %d", MaxPerPage)
		}
		p.PerPage = n
	}
	if query.Has("page") || query.Has("per_page") {
		pp, err := pageParams(r)
		if err != nil {
			return err
		}
		p.Page = pp.Page
		if query.Has("per_page") {
			p.PerPage = pp.PerPage
		}
	}
	q := access.AccessLogQuery{Email: query.Get("email"), Reason: query.Get("reason"), Action: query.Get("action")}
	var err error
	if q.Ascending, err = ascending(query); err != nil {
		return err
	}
	if err := timeParams(query, map[string]*time.Time{"since": &q.Since, "until": &q.Until}); err != nil {
		return err
	}
	exact, err := boolParam(query.Get("email_exact"), "email_exact")
	if err != nil {
		return err
	}
	q.EmailExact = exact != nil && *exact
	if q.Allowed, err = boolParam(query.Get("allowed"), "allowed"); err != nil {
		return err
	}
	if v := query.Get("app_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return access.Invalid("app_id", "must be an application id (a UUID)")
		}
		q.AppID = id.String()
	}
	if v := query.Get("service_token_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return access.Invalid("service_token_id", "must be a service token id (a UUID)")
		}
		q.ServiceTokenID = id.String()
	}
	entries, err := s.store.ListAccessLogs(r.Context(), accountID(r), q, p)
	if err != nil {
		return err
	}
	for i := range entries {
		entries[i].ReasonText = policy.Reason(entries[i].Reason).Describe()
	}
	writeResult(w, entries)
	return nil
}

// boolParam reads an optional true/false query parameter; nil when absent.
func boolParam(v, name string) (*bool, error) {
	switch v {
	case "":
		return nil, nil
	case "true", "false":
		b := v == "true"
		return &b, nil
	}
	return nil, access.Invalid(name, "must be true or false")
}
