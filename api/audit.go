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
	if q.Ascending, err = ascending(query); err != nil {
		return err
	}
	if err := timeParams(query, map[string]*time.Time{"since": &q.Since, "before": &q.Before}); err != nil {
		return err
	}
	entries, info, err := s.store.ListAudit(r.Context(), accountID(r), q, p)
	if err != nil {
		return err
	}
	writeList(w, entries, info)
	return nil
}
