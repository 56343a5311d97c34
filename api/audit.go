package api

import (
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	query := r.URL.Query()
	q := access.AuditQuery{ResourceID: query.Get("resource_id")}
	switch query.Get("direction") {
	case "", "desc":
	case "asc":
		q.Ascending = true
	default:
		return access.Invalid("direction", "must be asc or desc")
	}
	for name, dst := range map[string]*time.Time{"since": &q.Since, "before": &q.Before} {
		if v := query.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return access.Invalid(name, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
			}
			*dst = t
		}
	}
	entries, info, err := s.store.ListAudit(r.Context(), accountID(r), q, p)
	if err != nil {
		return err
	}
	writeList(w, entries, info)
	return nil
}
