package api

import (
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Edge staleness: an edge heartbeats every 5s and counts as gone after
// three missed heartbeats; stale_after may ask for another window, up to
// the hour after which edges' rows are deleted.
const (
	DefaultEdgeStaleAfter = 15 * time.Second
	MaxEdgeStaleAfter     = time.Hour
)

// listEdges shows every live edge of the installation and whether it
// enforces the latest config version (Gatehouse extension). Edges enforce
// every account, so any account's token sees all of them.
func (s *Server) listEdges(w http.ResponseWriter, r *http.Request) error {
	staleAfter := DefaultEdgeStaleAfter
	if v := r.URL.Query().Get("stale_after"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > MaxEdgeStaleAfter {
			return access.Invalid("stale_after", "must be a duration such as 15s or 1m, at most 1h")
		}
		staleAfter = d
	}
	list, err := s.store.ListEdges(r.Context(), staleAfter)
	if err != nil {
		return err
	}
	writeResult(w, list)
	return nil
}
