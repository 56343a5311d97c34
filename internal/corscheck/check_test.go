package corscheck_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/corscheck"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestMain(m *testing.M) { gatehousetest.Main(m) }

const page = "https://app.example.test"

type env struct {
	api    *gatehousetest.API
	edge   *gatehousetest.Edge
	client *http.Client
	port   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	a := gatehousetest.NewAPI(t)
	e := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store})
	u, _ := url.Parse(e.URL)
	addr := u.Host
	// Every host resolves to the edge, as DNS would in production.
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	return &env{api: a, edge: e, client: client, port: u.Port()}
}

var host = gatehousetest.Host

func (e *env) app(t *testing.T, domain, origin string, fields map[string]any, policies ...map[string]any) access.App {
	t.Helper()
	app := e.api.CreateApp(t, domain, origin, fields, policies...)
	e.edge.Sync(t, e.api.Store)
	return app
}

func (e *env) url(h string) string { return "http://" + h + ":" + e.port + "/data" }

func everyone(decision string) map[string]any {
	return map[string]any{"name": decision + " everyone", "decision": decision, "include": []any{map[string]any{"everyone": map[string]any{}}}}
}

func allowAnn() map[string]any {
	return map[string]any{"name": "ann", "decision": "allow", "include": []any{map[string]any{"email": map[string]any{"email": "ann@example.test"}}}}
}

func check(t *testing.T, e *env, req corscheck.Request) *corscheck.Report {
	t.Helper()
	rep, err := corscheck.Check(context.Background(), e.client, req)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// wantBlocked asserts a blocked report whose problems mention each part.
func wantBlocked(t *testing.T, rep *corscheck.Report, parts ...string) {
	t.Helper()
	if rep.Allowed {
		t.Fatalf("allowed, want blocked: %+v", rep)
	}
	var all []string
	for _, p := range rep.Problems() {
		all = append(all, p.String())
	}
	text := strings.Join(all, "\n")
	for _, part := range parts {
		if !strings.Contains(text, part) {
			t.Errorf("problems do not mention %q:\n%s", part, text)
		}
	}
}

func TestCheckAgainstTheEdge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	corsOrigin := gatehousetest.StartCORSOrigin(t)
	plainOrigin := gatehousetest.StartOrigin(t)
	corsSettings := map[string]any{"cors_headers": map[string]any{"allowed_origins": []string{page}, "allowed_methods": []string{"GET", "PUT"},
		"allowed_headers": []string{"X-Custom"}, "allow_credentials": true}}
	withCORS := host(t, "cors")
	app := e.app(t, withCORS, corsOrigin.URL, corsSettings, allowAnn())
	cookie := "CF_Authorization=" + e.edge.MintSession(t, app.AUD, "ann@example.test", time.Hour)
	neither := host(t, "neither")
	e.app(t, neither, plainOrigin.URL, nil, allowAnn())
	bypass := host(t, "bypass")
	e.app(t, bypass, corsOrigin.URL, map[string]any{"options_preflight_bypass": true}, allowAnn())
	wildcard := host(t, "wildcard")
	e.app(t, wildcard, corsOrigin.URL, map[string]any{"cors_headers": map[string]any{"allow_all_origins": true, "allow_all_methods": true}},
		everyone("bypass"))
	noCreds := host(t, "nocreds")
	e.app(t, noCreds, corsOrigin.URL, map[string]any{"cors_headers": map[string]any{"allowed_origins": []string{page}, "allowed_methods": []string{"PUT"}}},
		everyone("bypass"))
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://auth.example.test/cdn-cgi/access/login/x", http.StatusFound)
	}))
	t.Cleanup(redirecting.Close)
	redirect := host(t, "redirect")
	e.app(t, redirect, redirecting.URL, nil, everyone("bypass"))

	t.Run("ok/preflight answered by the edge, request with a session", func(t *testing.T) {
		rep := check(t, e, corscheck.Request{URL: e.url(withCORS), Origin: page, Method: "PUT", Headers: []string{"X-Custom: 1", "Content-Type: text/plain"},
			Credentials: true, Cookie: cookie})
		if !rep.Allowed || len(rep.Exchanges) != 2 || rep.Exchanges[0].Status != 204 || rep.Exchanges[1].Status != 200 {
			t.Fatalf("%+v", rep)
		}
		if got := strings.Join(rep.PreflightReasons, "; "); got != "method PUT is not CORS-safelisted; header x-custom is not CORS-safelisted" {
			t.Errorf("preflight reasons %q", got)
		}
		if got := rep.Exchanges[0].RequestHeaders["Access-Control-Request-Headers"]; got != "x-custom" {
			t.Errorf("Access-Control-Request-Headers %q", got)
		}
	})
	t.Run("ok/preflight bypass, the origin does CORS", func(t *testing.T) {
		rep := check(t, e, corscheck.Request{URL: e.url(bypass), Origin: page, Method: "DELETE"})
		// The origin allowed it; the edge then wants a session and its 401
		// carries no CORS headers (no cors_headers on this app).
		wantBlocked(t, rep, "has no Access-Control-Allow-Origin", "login_required")
		if rep.Exchanges[0].Status != 204 || len(rep.Exchanges[0].Problems) != 0 {
			t.Errorf("preflight %+v", rep.Exchanges[0])
		}
	})
	t.Run("ok/simple request needs no preflight; the edge's 401 is readable", func(t *testing.T) {
		rep := check(t, e, corscheck.Request{URL: e.url(withCORS), Origin: page, Credentials: true})
		if !rep.Allowed || len(rep.Exchanges) != 1 || rep.Exchanges[0].Status != 401 || rep.Exchanges[0].EdgeError != "login_required" ||
			!strings.Contains(rep.Note, "login_required") {
			t.Fatalf("%+v", rep)
		}
	})
	t.Run("fail/preflight 403 without CORS settings or bypass", func(t *testing.T) {
		rep := check(t, e, corscheck.Request{URL: e.url(neither), Origin: page, Method: "PUT"})
		wantBlocked(t, rep, "preflight got 403: the app has neither CORS settings nor preflight bypass: set cors_headers (allowed_origins …) or options_preflight_bypass")
		if len(rep.Exchanges) != 1 || rep.Exchanges[0].EdgeError != "preflight_no_cors_settings" {
			t.Errorf("%+v", rep.Exchanges)
		}
	})
	t.Run("fail/method not in allowed_methods", func(t *testing.T) {
		rep := check(t, e, corscheck.Request{URL: e.url(withCORS), Origin: page, Method: "DELETE"})
		wantBlocked(t, rep, "has no Access-Control-Allow-Origin", "DELETE in allowed_methods")
	})
	t.Run("fail/origin not allowed", func(t *testing.T) {
		rep := check(t, e, corscheck.Request{URL: e.url(withCORS), Origin: "https://evil.test", Method: "PUT"})
		wantBlocked(t, rep, "https://evil.test is in allowed_origins")
	})
	t.Run("fail/wildcard origin with credentials", func(t *testing.T) {
		rep := check(t, e, corscheck.Request{URL: e.url(wildcard), Origin: page, Method: "PUT", Credentials: true})
		wantBlocked(t, rep, "Access-Control-Allow-Origin: * but the request carries credentials", "allow_credentials: true")
	})
	t.Run("fail/credentials without allow_credentials", func(t *testing.T) {
		rep := check(t, e, corscheck.Request{URL: e.url(noCreds), Origin: page, Method: "PUT", Credentials: true})
		wantBlocked(t, rep, "lacks Access-Control-Allow-Credentials: true", "cors_headers.allow_credentials: true")
	})
	t.Run("fail/header not in allowed_headers", func(t *testing.T) {
		rep := check(t, e, corscheck.Request{URL: e.url(noCreds), Origin: page, Method: "PUT", Headers: []string{"X-Other: 1"}})
		wantBlocked(t, rep, "x-other in allowed_headers")
	})
	t.Run("fail/login redirect answered to a fetch", func(t *testing.T) {
		rep := check(t, e, corscheck.Request{URL: e.url(redirect), Origin: page})
		wantBlocked(t, rep, "302 Found redirect to the Access login page")
	})
	t.Run("fail/network error", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if _, err := corscheck.Check(context.Background(), http.DefaultClient, corscheck.Request{URL: "http://" + addr + "/", Origin: page}); err == nil {
			t.Fatal("no error from a closed port")
		}
	})
}

func TestSafelistedRequestsNeedNoPreflight(t *testing.T) {
	for _, tc := range []struct {
		method  string
		headers []string
		want    int // preflight reasons
	}{
		{"GET", nil, 0},
		{"POST", []string{"Content-Type: text/plain;charset=utf-8", "Accept: application/json", "Accept-Language: de-DE,de;q=0.9"}, 0},
		{"POST", []string{"Content-Type: application/json"}, 1},
		{"GET", []string{"Range: bytes=0-99"}, 0},
		{"GET", []string{"Authorization: Bearer x"}, 1},
		{"PATCH", []string{"X-A: 1", "x-a: 2"}, 2},
	} {
		req := corscheck.Request{URL: "http://127.0.0.1:1/", Origin: page, Method: tc.method, Headers: tc.headers}
		if got := len(corscheck.PreflightReasons(req)); got != tc.want {
			t.Errorf("%s %v: %d preflight reasons, want %d", tc.method, tc.headers, got, tc.want)
		}
	}
}
