package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// healthz reports that the process is up.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz reports whether the database answers and its schema is the one
// this binary expects.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	want := store.LatestMigration()
	version, dirty, err := s.store.SchemaVersion(ctx)
	switch {
	case err != nil:
		s.log.WarnContext(ctx, "readiness check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": "database unreachable"})
	case dirty || version != want:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": "migrations not current",
			"schema_version": version, "schema_dirty": dirty, "expected_version": want})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "schema_version": version})
	}
}
