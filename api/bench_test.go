package api_test

import (
	"fmt"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// The benchmarks run the whole path a client sees: HTTP on loopback,
// authentication, validation, one PostgreSQL transaction (with audit entry
// and NOTIFY for writes). BenchmarkBaselineReadyz, one HTTP round trip and
// one trivial query, is the yardstick to compare them with.

func BenchmarkBaselineReadyz(b *testing.B) {
	a := gatehousetest.NewAPI(b)
	a.SkipSpecCheck()
	for b.Loop() {
		if resp := a.Do(b, gatehousetest.Request{Method: "GET", Path: "/readyz", Token: "-"}); resp.Status != 200 {
			b.Fatal(resp.Status)
		}
	}
}

func BenchmarkCreateApp(b *testing.B) {
	a := gatehousetest.NewAPI(b)
	a.SkipSpecCheck()
	i := 0
	for b.Loop() {
		i++
		body := appBody(fmt.Sprintf("app-%d", i), fmt.Sprintf("app-%d.%s.bench.test", i, a.AccountID))
		body["cors_headers"] = map[string]any{"allowed_origins": []string{"https://web.test"}, "allowed_methods": []string{"GET", "POST"}, "max_age": 600}
		if resp := a.Call(b, "POST", "access/apps", body); resp.Status != 200 {
			b.Fatalf("%d %s", resp.Status, resp.Body)
		}
	}
}

func BenchmarkListApps(b *testing.B) {
	a := gatehousetest.NewAPI(b)
	a.SkipSpecCheck()
	var policy struct{ ID string }
	a.MustCall(b, "POST", "access/policies", allowEveryone("all"), &policy)
	for i := range 100 {
		body := appBody(fmt.Sprintf("app-%d", i), fmt.Sprintf("app-%d.%s.bench.test", i, a.AccountID))
		body["policies"] = []string{policy.ID}
		a.MustCall(b, "POST", "access/apps", body, nil)
	}
	b.ResetTimer()
	for b.Loop() {
		if resp := a.Call(b, "GET", "access/apps?per_page=25&page=2", nil); resp.Status != 200 || resp.Env.ResultInfo.Count != 25 {
			b.Fatalf("%d %s", resp.Status, resp.Body)
		}
	}
}

func BenchmarkCreateServiceToken(b *testing.B) {
	a := gatehousetest.NewAPI(b)
	a.SkipSpecCheck()
	i := 0
	for b.Loop() {
		i++
		if resp := a.Call(b, "POST", "access/service_tokens", map[string]any{"name": fmt.Sprintf("t-%d", i)}); resp.Status != 200 {
			b.Fatalf("%d %s", resp.Status, resp.Body)
		}
	}
}

func BenchmarkListServiceTokens(b *testing.B) {
	a := gatehousetest.NewAPI(b)
	a.SkipSpecCheck()
	for i := range 100 {
		a.MustCall(b, "POST", "access/service_tokens", map[string]any{"name": fmt.Sprintf("t-%d", i)}, nil)
	}
	b.ResetTimer()
	for b.Loop() {
		if resp := a.Call(b, "GET", "access/service_tokens?per_page=25&page=2", nil); resp.Status != 200 || resp.Env.ResultInfo.Count != 25 {
			b.Fatalf("%d %s", resp.Status, resp.Body)
		}
	}
}

// The same read, authenticated with a bearer token and with a dashboard
// session cookie and its CSRF header.
func BenchmarkGetAccountBearer(b *testing.B) {
	a := gatehousetest.NewAPI(b)
	a.SkipSpecCheck()
	for b.Loop() {
		if resp := a.Call(b, "GET", "", nil); resp.Status != 200 {
			b.Fatalf("%d %s", resp.Status, resp.Body)
		}
	}
}

func BenchmarkGetAccountDashboardSession(b *testing.B) {
	a := gatehousetest.NewAPI(b)
	a.SkipSpecCheck()
	secret, sess, _ := signIn(b, a, a.Token)
	req := withCookie("GET", "", secret, sess.CSRFToken, nil)
	for b.Loop() {
		if resp := a.Do(b, req); resp.Status != 200 {
			b.Fatalf("%d %s", resp.Status, resp.Body)
		}
	}
}
