package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

func TestDoctorHARCommand(t *testing.T) {
	t.Parallel()
	bin := buildGatehouse(t)
	tests := []struct {
		file  string
		exit  int
		lines []string
	}{
		{"healthy.har", 0, []string{"3 entries, 2 cross-origin, 0 failed"}},
		{"preflight_403.har", 1, []string{
			"entry 1: OPTIONS https://api.example.com/v1/items (from https://app.example.com) -> 403",
			"  cause: preflight got 403: the app has neither CORS settings nor preflight bypass",
			"  fix:   set cors_headers (allowed_origins …) or options_preflight_bypass"}},
		{"login_redirect.har", 1, []string{
			"  cause: 302 Found redirect to the Access login page answered to a cross-origin request; browsers do not follow it for a fetch"}},
		{"wildcard_credentials.har", 1, []string{
			"  cause: the response has Access-Control-Allow-Origin: * but the request carries credentials"}},
		{"missing_allow_origin.har", 1, []string{"  cause: the response has no Access-Control-Allow-Origin"}},
		{"missing_allow_credentials.har", 1, []string{
			"  cause: the response lacks Access-Control-Allow-Credentials: true, and the request carries credentials",
			"  fix:   set cors_headers.allow_credentials: true (and have the origin send it on its own responses)"}},
		{"missing_allow_methods_headers.har", 1, []string{
			"  cause: the preflight answer does not allow method PUT",
			"  fix:   add PUT to cors_headers.allowed_methods (or set allow_all_methods)",
			"  cause: the preflight answer does not allow request header x-custom"}},
		{"credentials_not_sent.har", 1, []string{
			"  cause: credentials not sent: the request has no Cookie although entry 1 set CF_Authorization for api.example.com"}},
		{"samesite.har", 1, []string{
			"  cause: cookie CF_Authorization for api.example.com (set by entry 0 with SameSite=Lax) was not sent on this cross-site request",
			"  fix:   set the app's same_site_cookie_attribute: none (cookies are then Secure: serve the app over HTTPS), log in again, and send credentials: 'include'"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			out, code := runBinary(t, bin, "doctor", "har", filepath.Join("testdata", "har", tc.file))
			if code != tc.exit {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.exit, out)
			}
			wantLines(t, out, tc.lines...)
		})
	}
	t.Run("json", func(t *testing.T) {
		out, code := runBinary(t, bin, "doctor", "har", "-o", "json", filepath.Join("testdata", "har", "preflight_403.har"))
		var d struct {
			Entries, CrossOrigin int `json:"-"`
			Findings             []struct {
				Entry    int
				Status   int
				Problems []struct{ Message, Fix string }
			}
		}
		if err := json.Unmarshal([]byte(out), &d); err != nil || code != 1 || len(d.Findings) != 1 || d.Findings[0].Status != 403 {
			t.Fatalf("exit %d, %v: %s", code, err, out)
		}
	})
	t.Run("not a HAR file", func(t *testing.T) {
		if _, code := runBinary(t, bin, "doctor", "har", filepath.Join("testdata", "har", "missing.har")); code != 1 {
			t.Fatalf("missing file: exit %d", code)
		}
	})
}
