package corscheck_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/corscheck"
)

// Firefox's CORS messages, in the wording of MDN's CORS error reasons
// (developer.mozilla.org/docs/Web/HTTP/Guides/CORS/Errors: Firefox prints
// "Cross-Origin Request Blocked: … (Reason: …)"); the corpus generator
// drives Firefox without a console it can read, so these are not
// generated like Chrome's.
func TestFirefoxConsoleMessages(t *testing.T) {
	const at = "Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote resource at https://api.example.com/data. "
	tests := []struct {
		line, cause string
		preflight   bool
	}{
		{at + "(Reason: CORS header ‘Access-Control-Allow-Origin’ missing). Status code: 200.", corscheck.CauseMissingAllowOrigin, false},
		{at + "(Reason: CORS preflight response did not succeed). Status code: 403.", corscheck.CausePreflightRefused, true},
		{at + "(Reason: Credential is not supported if the CORS header ‘Access-Control-Allow-Origin’ is ‘*’).", corscheck.CauseCredentialsWildcard, false},
		{at + "(Reason: CORS header ‘Access-Control-Allow-Origin’ does not match ‘https://other.example.com’).", corscheck.CauseOriginNotAllowed, false},
		{at + "(Reason: Did not find method in CORS header ‘Access-Control-Allow-Methods’).", corscheck.CauseMethodNotAllowed, false},
		{at + "(Reason: missing token ‘x-custom’ in CORS header ‘Access-Control-Allow-Headers’ from CORS preflight channel).", corscheck.CauseHeaderNotAllowed, true},
		{at + "(Reason: expected ‘true’ in CORS header ‘Access-Control-Allow-Credentials’).", corscheck.CauseMissingAllowCredentials, false},
		{at + "(Reason: CORS request did not succeed). Status code: (null).", corscheck.CauseUndetermined, false},
	}
	for _, tc := range tests {
		t.Run(tc.cause, func(t *testing.T) {
			c, err := corscheck.ParseConsole(strings.NewReader("some other line\n" + tc.line + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Errors) != 1 || c.Errors[0].URL != "https://api.example.com/data" || c.Errors[0].Line != 2 || c.Errors[0].Browser != "firefox" || c.Errors[0].Preflight != tc.preflight {
				t.Fatalf("parsed %+v", c.Errors)
			}
			d := corscheck.DiagnoseConsole(c)
			if d.Cause != tc.cause || !strings.HasPrefix(d.Findings[0].Probe, "gatehouse cors check https://api.example.com/data --origin ") {
				t.Fatalf("cause %q, want %q; finding %+v", d.Cause, tc.cause, d.Findings[0])
			}
		})
	}
}

// How producers record a request that got no response: each is a failure,
// and none is "nothing wrong".
func TestFailedRequestConventions(t *testing.T) {
	const req = `"request":{"method":"PUT","url":"https://api.example.com/x","headers":[{"name":"Referer","value":"https://app.example.com/"},{"name":"X-Custom","value":"1"}]}`
	tests := map[string]string{
		"chrome status 0 _error":            `{"log":{"creator":{"name":"WebInspector"},"entries":[{` + req + `,"response":{"status":0,"_error":"net::ERR_FAILED"}}]}}`,
		"playwright status -1 _failureText": `{"log":{"creator":{"name":"Playwright"},"entries":[{` + req + `,"response":{"status":-1,"_failureText":"net::ERR_FAILED"}}]}}`,
		"no response object":                `{"log":{"creator":{"name":"Firefox"},"entries":[{` + req + `}]}}`,
		"status 0 without error":            `{"log":{"creator":{"name":"Safari"},"entries":[{` + req + `,"response":{"status":0}}]}}`,
	}
	for name, har := range tests {
		t.Run(name, func(t *testing.T) {
			h, err := corscheck.ParseHAR(strings.NewReader(har))
			if err != nil {
				t.Fatal(err)
			}
			d := corscheck.Diagnose(h)
			if d.Failed != 1 || d.CrossOrigin != 1 || len(d.Findings) != 1 || d.Cause != corscheck.CauseUndetermined ||
				d.Findings[0].Probe != "gatehouse cors check https://api.example.com/x --origin https://app.example.com -X PUT -H 'x-custom: 1' --credentials --cookie \"CF_Authorization=$TOKEN\"" {
				t.Fatalf("diagnosis %+v", d)
			}
		})
	}
}

// FuzzParseConsole feeds arbitrary console logs to the parser and the
// diagnosis: neither may panic, every error names a URL and a
// line of the input, and every finding has a cause and a probe.
func FuzzParseConsole(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "har", "*.console.txt"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote resource at https://a/. (Reason: missing token ‘x’ in CORS header ‘Access-Control-Allow-Headers’ from CORS preflight channel).\n"))
	f.Add([]byte("Access to fetch at 'http://a/' from origin 'http://b' has been blocked by CORS policy: Method  is not allowed by Access-Control-Allow-Methods in preflight response.\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := corscheck.ParseConsole(bytes.NewReader(data))
		if err != nil {
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, e := range c.Errors {
			if e.Line < 1 || e.Line > lines || e.URL == "" {
				t.Fatalf("error %+v for %d lines", e, lines)
			}
		}
		d := corscheck.DiagnoseConsole(c)
		for _, fd := range d.Findings {
			if fd.Cause == "" || !strings.HasPrefix(fd.Probe, "gatehouse cors check ") || len(fd.Problems) == 0 {
				t.Fatalf("finding %+v", fd)
			}
		}
	})
}
