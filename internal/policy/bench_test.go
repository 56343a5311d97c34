package policy_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// The benchmarks decide one request on a snapshot of benchApps apps, the
// way the edge does: Match, then the app's answer. They should stay at a
// few hundred nanoseconds and, except for the preflight answer's headers,
// allocate nothing.

const benchApps = 1000

var benchNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func benchTokenID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// benchConfig is benchApps apps: app i protects app<i>.example.test and
// *.w<i>.example.test, answers preflights for https://web<i>.test, has a
// Service Auth policy for service token i and five Allow/Deny policies.
func benchConfig() access.Config {
	cfg := access.Config{Version: 1}
	for i := range benchApps {
		cfg.Apps = append(cfg.Apps, benchApp(i))
		cfg.ServiceTokens = append(cfg.ServiceTokens, access.ServiceTokenCredential{
			ID: benchTokenID(i), AccountID: account, Name: fmt.Sprintf("token%d", i),
			ClientID: fmt.Sprintf("%032x.access", i), SecretHash: access.HashSecret(fmt.Sprintf("secret%d", i)),
			ExpiresAt: benchNow.Add(time.Hour),
		})
	}
	return cfg
}

// benchApp is app i of benchConfig, built afresh: nothing shared with
// another call, as when the store loads the config again.
func benchApp(i int) access.App {
	a := withPolicies(newApp(fmt.Sprintf("app%d", i), fmt.Sprintf("app%d.example.test", i), fmt.Sprintf("*.w%d.example.test", i)),
		serviceAuth("sa", serviceToken(benchTokenID(i))),
		deny("deny-evil", emailDomain("evil.test")),
		excluding(allow("allow-admins", email("admin@example.test"), email("root@example.test")), geo("KP")),
		requiring(allow("allow-staff", emailDomain("example.test")), ip("10.0.0.0/8"), loginMethod("otp")),
		deny("deny-all", everyone()),
		allow("allow-contractors", emailDomain("contractor.test")),
	)
	a.CORSHeaders = &access.CORSSettings{
		AllowedOrigins:   []string{fmt.Sprintf("https://web%d.test", i), "https://admin.example.test"},
		AllowedMethods:   []string{"GET", "POST", "PUT", "DELETE"},
		AllowedHeaders:   []string{"Content-Type", "X-Api-Key", "X-Request-Id"},
		AllowCredentials: true,
		MaxAge:           600,
	}
	return a
}

func benchSnapshot(b *testing.B) *policy.Snapshot {
	b.Helper()
	return compile(b, benchConfig())
}

var sinkSnapshot *policy.Snapshot

// BenchmarkCompile1000Apps builds the benchmark snapshot from scratch: the
// baseline for BenchmarkRecompile1000AppsOneChanged.
func BenchmarkCompile1000Apps(b *testing.B) {
	cfg := benchConfig()
	b.ReportAllocs()
	for b.Loop() {
		s, err := policy.Compile(cfg)
		if err != nil {
			b.Fatal(err)
		}
		sinkSnapshot = s
	}
}

var (
	sinkDecision  policy.Decision
	sinkPreflight policy.Preflight
	sinkApp       *policy.App
)

func BenchmarkDecidePreflight(b *testing.B) {
	s := benchSnapshot(b)
	const host, origin, method, headers = "app500.example.test", "https://web500.test", "PUT", "content-type, x-api-key"
	if p := s.Match(host, "/v1/items").Preflight(origin, method, headers); p.Reason != policy.ReasonPreflightAnswered {
		b.Fatalf("preflight %s", p.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkPreflight = s.Match(host, "/v1/items").Preflight(origin, method, headers)
	}
}

func BenchmarkDecideServiceToken(b *testing.B) {
	s := benchSnapshot(b)
	const host = "app500.example.test"
	clientID, secret := fmt.Sprintf("%032x.access", 500), "secret500"
	facts := policy.Facts{IP: netip.MustParseAddr("203.0.113.7"), Country: "DE"}
	decide := func() policy.Decision {
		app := s.Match(host, "/v1/items")
		tok, reason := s.AuthenticateServiceToken(app, clientID, secret, benchNow)
		if tok == nil {
			return policy.Decision{Reason: reason}
		}
		f := facts
		f.Token = tok
		return s.Decide(app, f)
	}
	if d := decide(); d.Reason != policy.ReasonServiceAuthPolicy {
		b.Fatalf("decision %s", d.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkDecision = decide()
	}
}

func BenchmarkDecideCookie(b *testing.B) {
	s := benchSnapshot(b)
	const host = "app500.example.test"
	facts := policy.Facts{IP: netip.MustParseAddr("10.20.30.40"), Country: "DE",
		Identity: &policy.Identity{Email: "Carol@Example.test", LoginMethod: "otp"}}
	if d := s.Decide(s.Match(host, "/v1/items"), facts); d.Reason != policy.ReasonAllowPolicy || d.Policy.ID != "allow-staff" {
		b.Fatalf("decision %s by %v: want the 3rd of 5 identity policies", d.Reason, d.Policy)
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkDecision = s.Decide(s.Match(host, "/v1/items"), facts)
	}
}

func BenchmarkMatchWildcard(b *testing.B) {
	s := benchSnapshot(b)
	// Three labels under the wildcard: Match looks up three parents
	// before it finds *.w500.example.test.
	const host = "a.b.c.w500.example.test"
	if a := s.Match(host, "/x"); a == nil || a.ID != "app500" {
		b.Fatalf("matched %v", a)
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkApp = s.Match(host, "/x")
	}
}

// BenchmarkMatchRequestPath is the edge's path step on benchSnapshot
// with a path app beside app500:
// "match" is Match alone (the engine's part before the path rules, whose
// edge step was two strings.Contains); "route" is access.CanonicalPath
// then Route, as the edge now does it. Ordinary paths should cost a scan
// more than Match and allocate nothing.
func BenchmarkMatchRequestPath(b *testing.B) {
	// A second app on app500's host, on a path: Route cannot take its
	// one-app shortcut, and matches every reading.
	cfg := benchConfig()
	cfg.Apps = append(cfg.Apps, newApp("app500-admin", "app500.example.test/admin"))
	s := compile(b, cfg)
	const host = "app500.example.test"
	for _, p := range []string{"/api/v1/users", "/static/App.js", "/a%2Fb/%7Euser;v=1"} {
		b.Run("match"+p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkApp = s.Match(host, p)
			}
		})
		b.Run("route"+p, func(b *testing.B) {
			if a, _ := s.RouteURLPath(host, p); a == nil || a.ID != "app500" {
				b.Fatalf("routed %v", a)
			}
			b.ReportAllocs()
			for b.Loop() {
				c, err := access.CanonicalPath(p)
				if err != nil {
					b.Fatal(err)
				}
				sinkApp, _ = s.Route(host, c)
			}
		})
	}
}
