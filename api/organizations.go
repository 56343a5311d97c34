package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// organizationResult is an organization in Cloudflare's shape: the
// fields that were set, plus the booleans Cloudflare always returns
// (deny_unmatched_requests only when true: it is not a computed attribute
// in Terraform's provider, so a false one would drift after an import).
// An optional field that was never set is absent, as Terraform expects.
type organizationResult struct {
	Name                           string                    `json:"name,omitempty"`
	AuthDomain                     string                    `json:"auth_domain,omitempty"`
	SessionDuration                string                    `json:"session_duration,omitempty"`
	UserSeatExpirationInactiveTime string                    `json:"user_seat_expiration_inactive_time,omitempty"`
	WARPAuthSessionDuration        string                    `json:"warp_auth_session_duration,omitempty"`
	LoginDesign                    *access.LoginDesign       `json:"login_design,omitempty"`
	CustomPages                    *access.OrganizationPages `json:"custom_pages,omitempty"`
	IsUIReadOnly                   bool                      `json:"is_ui_read_only"`
	UIReadOnlyToggleReason         string                    `json:"ui_read_only_toggle_reason,omitempty"`
	AutoRedirectToIdentity         bool                      `json:"auto_redirect_to_identity"`
	AllowAuthenticateViaWARP       bool                      `json:"allow_authenticate_via_warp"`
	DenyUnmatchedRequests          bool                      `json:"deny_unmatched_requests,omitempty"`
	DenyUnmatchedExemptZones       []string                  `json:"deny_unmatched_requests_exempted_zone_names,omitempty"`
	MFARequiredForAllApps          bool                      `json:"mfa_required_for_all_apps"`
	CreatedAt                      time.Time                 `json:"created_at"`
	UpdatedAt                      time.Time                 `json:"updated_at"`
}

func newOrganizationResult(o access.StoredOrganization) organizationResult {
	s := o.Spec
	return organizationResult{Name: s.Name, AuthDomain: s.AuthDomain, SessionDuration: s.SessionDuration,
		UserSeatExpirationInactiveTime: s.UserSeatExpirationInactiveTime, WARPAuthSessionDuration: s.WARPAuthSessionDuration,
		LoginDesign: s.LoginDesign, CustomPages: s.CustomPages, IsUIReadOnly: s.IsUIReadOnly, UIReadOnlyToggleReason: s.UIReadOnlyToggleReason,
		AutoRedirectToIdentity: s.AutoRedirectToIdentity, AllowAuthenticateViaWARP: s.AllowAuthenticateViaWARP,
		DenyUnmatchedRequests: s.DenyUnmatchedRequests, DenyUnmatchedExemptZones: s.DenyUnmatchedExemptZones,
		MFARequiredForAllApps: s.MFARequiredForAllApps, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}

// getOrganization answers the account's organization; 404 before one is
// created (POST, or PUT, which creates too).
func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request) error {
	o, err := s.store.GetOrganization(r.Context(), accountID(r))
	if err != nil {
		return err
	}
	writeWithETag(w, o.Revision, newOrganizationResult(o))
	return nil
}

// createOrganization is POST: the account's organization, refused (409)
// when it has one. Cloudflare requires name and auth_domain here.
func (s *Server) createOrganization(w http.ResponseWriter, r *http.Request) error {
	return s.putOrganization(w, r, store.CreateOrganization)
}

// updateOrganization is PUT: it changes the fields the body carries (a
// field sent as null is removed; one left out keeps its value) and
// creates the organization when the account has none, as Terraform's
// create does.
func (s *Server) updateOrganization(w http.ResponseWriter, r *http.Request) error {
	return s.putOrganization(w, r, store.UpsertOrganization)
}

func (s *Server) putOrganization(w http.ResponseWriter, r *http.Request, mode store.OrganizationWrite) error {
	var raw json.RawMessage
	if err := decodeInput(w, r, &raw, false, orgOutputOnly); err != nil {
		return err
	}
	// Strictly, for the field names and types; the fields sent, for the
	// merge.
	var body access.OrganizationSpec
	if err := strictUnmarshal(raw, &body); err != nil {
		return err
	}
	var sent map[string]json.RawMessage
	if err := json.Unmarshal(raw, &sent); err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	o, err := s.store.PutOrganization(r.Context(), actor(r), accountID(r), mode, rev, func(current access.OrganizationSpec, exists bool) (access.OrganizationSpec, error) {
		merged, err := mergeOrganization(current, sent)
		if err != nil {
			return merged, err
		}
		if err := s.validateStruct(&merged); err != nil {
			return merged, err
		}
		if mode == store.CreateOrganization {
			var fields []access.FieldError
			if merged.Name == "" {
				fields = append(fields, access.FieldError{Field: "name", Message: "is required"})
			}
			if merged.AuthDomain == "" {
				fields = append(fields, access.FieldError{Field: "auth_domain", Message: "is required"})
			}
			if err := access.InvalidFields(fields); err != nil {
				return merged, err
			}
		}
		return merged, nil
	})
	if err != nil {
		return err
	}
	writeWithETag(w, o.Revision, newOrganizationResult(o))
	return nil
}

// mergeOrganization applies the fields of a body to the stored settings:
// a field sent replaces the stored one (a nested object whole), one sent
// as null removes it, one left out is kept.
func mergeOrganization(current access.OrganizationSpec, sent map[string]json.RawMessage) (access.OrganizationSpec, error) {
	b, err := json.Marshal(current)
	if err != nil {
		return current, err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		return current, err
	}
	for k, v := range sent {
		if string(bytes.TrimSpace(v)) == "null" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	if b, err = json.Marshal(m); err != nil {
		return current, err
	}
	var out access.OrganizationSpec
	if err := strictUnmarshal(b, &out); err != nil {
		return current, err
	}
	return out, nil
}

// strictUnmarshal decodes one JSON value as decode does: unknown fields
// are refused, with errors naming the field.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	return nil
}

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
