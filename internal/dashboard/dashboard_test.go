package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
)

func get(t *testing.T, h http.Handler, method, path string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// api stands in for the API's handler behind Mount.
var api = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-API", "yes")
	w.WriteHeader(http.StatusTeapot)
})

func TestDashboardServesEmbeddedAssetsWithTheirContentTypes(t *testing.T) {
	h := dashboard.Mount(api)
	tests := []struct {
		path, contentType, contains string
	}{
		{"/dashboard/", "text/html; charset=utf-8", `<script type="module" src="app.js"></script>`},
		{"/dashboard/index.html", "text/html; charset=utf-8", "<title>Gatehouse</title>"},
		{"/dashboard/app.js", "text/javascript; charset=utf-8", "import "},
		{"/dashboard/api.js", "text/javascript; charset=utf-8", "X-Gatehouse-CSRF"},
		{"/dashboard/certificates.js", "text/javascript; charset=utf-8", "/access/certificates"},
		{"/dashboard/organization.js", "text/javascript; charset=utf-8", "/access/keys/rotate"},
		{"/dashboard/users.js", "text/javascript; charset=utf-8", "/failed_logins"},
		{"/dashboard/app.css", "text/css; charset=utf-8", "prefers-color-scheme: dark"},
		{"/dashboard/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp := get(t, h, "GET", tc.path, nil)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			if resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("ETag") == "" {
				t.Errorf("Cache-Control %q, ETag %q", resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"))
			}
			again := get(t, h, "GET", tc.path, map[string]string{"If-None-Match": resp.Header.Get("ETag")})
			if again.StatusCode != http.StatusNotModified {
				t.Errorf("revalidation: status %d, want 304", again.StatusCode)
			}
		})
	}
}

func TestDashboardResponsesCarryTheCSPAndHardeningHeaders(t *testing.T) {
	h := dashboard.Mount(api)
	for _, path := range []string{"/dashboard/", "/dashboard/app.js", "/dashboard/nope.js", "/dashboard"} {
		resp := get(t, h, "GET", path, nil)
		want := map[string]string{
			"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", path, k, got, v)
			}
		}
	}
}

func TestDashboardRootRedirectsAndUnknownAssetsAre404(t *testing.T) {
	h := dashboard.Mount(api)
	for path, want := range map[string]string{"/": "/dashboard/", "/dashboard": "/dashboard/"} {
		resp := get(t, h, "GET", path, nil)
		if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != want {
			t.Errorf("GET %s: status %d Location %q, want a redirect to %s", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	for _, path := range []string{"/dashboard/nope.js", "/dashboard/assets/app.js", "/dashboard/dashboard.go", "/dashboard/../dashboard.go"} {
		if resp := get(t, h, "GET", path, nil); resp.StatusCode != http.StatusNotFound && resp.StatusCode/100 != 3 {
			t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
		}
	}
	if resp := get(t, h, "POST", "/dashboard/", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /dashboard/: status %d, want 405", resp.StatusCode)
	}
}

func TestMountPassesEverythingElseToTheAPI(t *testing.T) {
	h := dashboard.Mount(api)
	for _, r := range [][2]string{{"GET", "/client/v4/accounts/x/access/apps"}, {"POST", "/"}, {"GET", "/healthz"}, {"GET", "/dashboardx"}} {
		resp := get(t, h, r[0], r[1], nil)
		if resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-API") != "yes" {
			t.Errorf("%s %s: status %d, want the API's", r[0], r[1], resp.StatusCode)
		}
		if resp.Header.Get("Content-Security-Policy") != "" {
			t.Errorf("%s %s: the dashboard's CSP on an API response", r[0], r[1])
		}
	}
}
