package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
		{"healthy.har", 0, []string{"3 entries, 2 cross-origin, 0 failed, 0 diagnosed"}},
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

// The doctor on the real exports of internal/corscheck/testdata/har (see
// its manifest.json): what the binary prints for each producer.
func TestDoctorOnRealExports(t *testing.T) {
	t.Parallel()
	bin := buildGatehouse(t)
	corpus := filepath.Join("..", "..", "internal", "corscheck", "testdata", "har")
	tests := []struct {
		name  string
		args  []string
		stdin string // a corpus file fed on stdin
		exit  int
		lines []string
	}{
		{"sanitized chrome export infers the credentials-mode failure", []string{"doctor", "har", "credentials_wildcard.chrome-sanitized.har"}, "", 1, []string{
			"producer: Chrome's DevTools export (WebInspector 537.36)",
			"4 entries, 2 cross-origin, 2 failed, 1 diagnosed",
			"  diagnosis: credentials_wildcard",
			`  - this export removes cookies: no Cookie, Set-Cookie or Authorization header is in it (Chrome's default "Export HAR (sanitized)"), so whether credentials were sent is not visible`}},
		{"playwright records no preflight", []string{"doctor", "har", "preflight_refused.playwright.har"}, "", 1, []string{
			"producer: Playwright's recordHar (Playwright 1.65.2)",
			"2 entries, 1 cross-origin, 1 failed, 1 diagnosed",
			"  diagnosis: undetermined",
			"  - Playwright's recordHar does not record preflight (OPTIONS) requests: a request that needed one and failed shows no reason"}},
		{"playwright with the console log", []string{"doctor", "har", "method_not_allowed.playwright.har", "--console", "method_not_allowed.chrome.console.txt"}, "", 1, []string{
			"  diagnosis: method_not_allowed",
			"  cause: console line 1: the preflight answer does not allow method DELETE"}},
		{"chrome-har leaves out the failed request", []string{"doctor", "har", "missing_allow_origin.chrome-har.har"}, "", 0, []string{
			"2 entries, 0 cross-origin, 0 failed, 0 diagnosed",
			"  - chrome-har leaves out requests that failed: a request the browser blocked is not in the file, so an empty diagnosis does not mean nothing failed"}},
		{"console log on stdin", []string{"doctor", "console", "-"}, "header_not_allowed.chrome.console.txt", 1, []string{
			"Chrome console: 1 CORS error(s)",
			"  diagnosis: header_not_allowed",
			"  fix:   add x-other to cors_headers.allowed_headers (or set allow_all_headers)"}},
		{"firefox records the refused response as if it were fine", []string{"doctor", "har", "missing_allow_origin.firefox.har"}, "", 1, []string{
			"producer: Firefox's export (Firefox 153.8.0)",
			"3 entries, 1 cross-origin, 1 failed, 1 diagnosed",
			"  diagnosis: missing_allow_origin"}},
		{"success", []string{"doctor", "har", "success.chrome.har"}, "", 0, []string{"4 entries, 2 cross-origin, 0 failed, 0 diagnosed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string(nil), tc.args...)
			for i, a := range args {
				if strings.HasSuffix(a, ".har") || strings.HasSuffix(a, ".txt") {
					args[i] = filepath.Join(corpus, a)
				}
			}
			cmd := exec.Command(bin, args...)
			if tc.stdin != "" {
				f, err := os.Open(filepath.Join(corpus, tc.stdin))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				cmd.Stdin = f
			}
			out, err := cmd.Output()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.exit {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.exit, out)
			}
			wantLines(t, string(out), tc.lines...)
			if tc.exit == 1 && !strings.Contains(string(out), "  probe: gatehouse cors check https://api-") {
				t.Errorf("no probe command:\n%s", out)
			}
		})
	}
}
