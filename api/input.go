package api

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/input"
)

// refuseBadQuery answers 400 to a request whose query string holds a
// parameter that is malformed, not valid UTF-8, or holds a NUL. It wraps
// every route that reads query parameters (the lists).
func (s *Server) refuseBadQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := input.CheckQuery(r.URL.RawQuery); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
