package api

import (
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// revokeUserRequest is Cloudflare's revoke_user body. Only email is
// supported; the device and WARP options are refused when set.
type revokeUserRequest struct {
	Email             string `json:"email"`
	UserUID           string `json:"user_uid"`
	Devices           *bool  `json:"devices"`
	WARPSessionReauth *bool  `json:"warp_session_reauth"`
}

// revokeUser ends every session of a user in the account: every edge
// refuses their app tokens issued until now. The result is true, as in
// Cloudflare.
func (s *Server) revokeUser(w http.ResponseWriter, r *http.Request) error {
	var req revokeUserRequest
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	var fields []access.FieldError
	email := strings.TrimSpace(req.Email)
	switch {
	case email == "":
		fields = append(fields, access.FieldError{Field: "email", Message: "is required"})
	case len(email) > 320 || strings.Count(email, "@") != 1 || strings.HasPrefix(email, "@") || strings.HasSuffix(email, "@") ||
		strings.ContainsFunc(email, func(c rune) bool { return c <= ' ' || c == 0x7f }):
		fields = append(fields, access.FieldError{Field: "email", Message: "must be an email address (at most 320 characters, no spaces or control characters)"})
	}
	if req.UserUID != "" {
		fields = append(fields, access.FieldError{Field: "user_uid", Message: "is not supported: revoke by email"})
	}
	if req.Devices != nil && *req.Devices || r.URL.Query().Get("devices") == "true" {
		fields = append(fields, access.FieldError{Field: "devices", Message: "is not supported: Gatehouse has no device sessions"})
	}
	if req.WARPSessionReauth != nil && *req.WARPSessionReauth {
		fields = append(fields, access.FieldError{Field: "warp_session_reauth", Message: "is not supported: Gatehouse has no WARP sessions"})
	}
	if err := access.InvalidFields(fields); err != nil {
		return err
	}
	if err := s.store.RevokeUserSessions(r.Context(), actor(r), accountID(r), email); err != nil {
		return err
	}
	writeResult(w, true)
	return nil
}
