package policy_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// The scale figures of issue 13: what a snapshot costs per app and per
// service token, how long Compile takes, and what one delta costs to
// apply at 100k apps / 1M tokens against 10 apps.

// scaleConfig is a configuration as a large organisation grows it: apps
// with one domain and their own policy, one in ten also linking the
// account's reusable policy, and service tokens. Every string is its own
// allocation, as when the store decodes rows.
func scaleConfig(apps, tokens int) access.Config {
	cfg := access.Config{Version: 1}
	reusable := access.Policy{ID: scaleUUID(0, 0), Name: "org-wide staff", Decision: access.DecisionAllow,
		Include: []access.Rule{emailDomain("example.com")}, Reusable: true}
	cfg.Policies = append(cfg.Policies, reusable)
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range apps {
		a := access.App{ID: scaleUUID(1, i), AccountID: strings.Clone(account), AUD: fmt.Sprintf("%064x", i),
			Name: fmt.Sprintf("app %d", i), Type: access.AppTypeSelfHosted,
			SelfHostedDomains: []string{fmt.Sprintf("app%d.example.com", i)}, Origin: fmt.Sprintf("http://10.%d.%d.%d:8080", i>>16&255, i>>8&255, i&255),
			SessionDuration: "24h", CreatedAt: created.Add(time.Duration(i) * time.Millisecond)}
		own := access.Policy{ID: scaleUUID(2, i), Name: "service", Decision: access.DecisionNonIdentity,
			Include: []access.Rule{serviceToken(scaleUUID(3, i))}}
		cfg.Policies = append(cfg.Policies, own)
		a.PolicyLinks = []access.PolicyLink{{ID: strings.Clone(own.ID), Precedence: 1}}
		if i%10 == 0 {
			a.PolicyLinks = append(a.PolicyLinks, access.PolicyLink{ID: strings.Clone(reusable.ID), Precedence: 2})
		}
		cfg.Apps = append(cfg.Apps, a)
	}
	for i := range tokens {
		cfg.ServiceTokens = append(cfg.ServiceTokens, scaleToken(i))
	}
	return cfg
}

func scaleToken(i int) access.ServiceTokenCredential {
	return access.ServiceTokenCredential{ID: scaleUUID(3, i), AccountID: strings.Clone(account), Name: fmt.Sprintf("token %d", i),
		ClientID: fmt.Sprintf("%032x.access", i), SecretHash: access.HashSecret(strconv.Itoa(i)),
		ExpiresAt: benchNow.Add(24 * time.Hour)}
}

func scaleUUID(kind, i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", kind, i) }

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// retained returns the heap a snapshot of cfg keeps once cfg is gone, and
// how long compiling it took.
func retained(tb testing.TB, cfg func() access.Config) (uint64, time.Duration) {
	base := heapAfterGC()
	c := cfg()
	start := time.Now()
	s, err := policy.Compile(c)
	took := time.Since(start)
	if err != nil {
		tb.Fatal(err)
	}
	c = access.Config{}
	after := heapAfterGC()
	sinkSnapshot = s
	return after - base, took
}

// TestSnapshotScale prints the bytes per app and per token and Compile's
// time at GATEHOUSE_SCALE apps (and ten times as many tokens), e.g.
// GATEHOUSE_SCALE=100000 go test -run TestSnapshotScale -v ./internal/policy
func TestSnapshotScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("GATEHOUSE_SCALE"))
	if n == 0 {
		t.Skip("set GATEHOUSE_SCALE to a number of apps")
	}
	appBytes, appTook := retained(t, func() access.Config { return scaleConfig(n, 0) })
	tokBytes, tokTook := retained(t, func() access.Config { return scaleConfig(0, 10*n) })
	bothBytes, bothTook := retained(t, func() access.Config { return scaleConfig(n, 10*n) })
	t.Logf("%d apps: %.0f B/app, compiled in %v", n, float64(appBytes)/float64(n), appTook)
	t.Logf("%d tokens: %.0f B/token, compiled in %v", 10*n, float64(tokBytes)/float64(10*n), tokTook)
	t.Logf("%d apps + %d tokens: %.1f MB, compiled in %v (GOMAXPROCS %d)", n, 10*n, float64(bothBytes)/1e6, bothTook, runtime.GOMAXPROCS(0))
}

var (
	scaleSnaps   = map[int]*policy.Snapshot{}
	scaleSnapsMu sync.Mutex
)

// scaleSnapshot is the snapshot of scaleConfig(apps, 10*apps), built once
// per process.
func scaleSnapshot(b *testing.B, apps int) *policy.Snapshot {
	scaleSnapsMu.Lock()
	defer scaleSnapsMu.Unlock()
	if s := scaleSnaps[apps]; s != nil {
		return s
	}
	s, err := policy.Compile(scaleConfig(apps, 10*apps))
	if err != nil {
		b.Fatal(err)
	}
	scaleSnaps[apps] = s
	return s
}

// scaleSizes are the benchmark sizes in apps; GATEHOUSE_SCALE adds one
// (100000 for the 100k apps / 1M tokens).
func scaleSizes() []int {
	sizes := []int{10, 10000}
	if n, _ := strconv.Atoi(os.Getenv("GATEHOUSE_SCALE")); n > 0 {
		sizes = append(sizes, n)
	}
	return sizes
}

// BenchmarkApplyOneApp applies a delta that changes one app's domain and
// links, and compares the cost at each size with the cost at 10 apps.
func BenchmarkApplyOneApp(b *testing.B) {
	for _, n := range scaleSizes() {
		b.Run(fmt.Sprintf("apps=%d/tokens=%d", n, 10*n), func(b *testing.B) {
			s := scaleSnapshot(b, n)
			base := scaleConfig(1, 0).Apps[0]
			base.ID = scaleUUID(1, n/2)
			b.ReportAllocs()
			for b.Loop() {
				a := base
				a.SelfHostedDomains = []string{fmt.Sprintf("moved%d.example.com", n/2)}
				next, err := s.Apply(access.Delta{From: s.Version, To: s.Version + 1, Apps: []access.App{a}})
				if err != nil {
					b.Fatal(err)
				}
				sinkSnapshot = next
			}
		})
	}
}

// BenchmarkApplyOneToken applies a delta that rotates one token.
func BenchmarkApplyOneToken(b *testing.B) {
	for _, n := range scaleSizes() {
		b.Run(fmt.Sprintf("apps=%d/tokens=%d", n, 10*n), func(b *testing.B) {
			s := scaleSnapshot(b, n)
			tok := scaleToken(5 * n)
			exp := benchNow.Add(time.Hour)
			tok.PreviousSecretHash, tok.PreviousSecretExpiresAt, tok.SecretHash = tok.SecretHash, &exp, access.HashSecret("new")
			b.ReportAllocs()
			for b.Loop() {
				next, err := s.Apply(access.Delta{From: s.Version, To: s.Version + 1, ServiceTokens: []access.ServiceTokenCredential{tok}})
				if err != nil {
					b.Fatal(err)
				}
				sinkSnapshot = next
			}
		})
	}
}

// BenchmarkApplySharedPolicy changes the policy one in ten apps link (10k
// apps at 100k): it touches no app.
func BenchmarkApplySharedPolicy(b *testing.B) {
	for _, n := range scaleSizes() {
		b.Run(fmt.Sprintf("apps=%d/tokens=%d", n, 10*n), func(b *testing.B) {
			s := scaleSnapshot(b, n)
			p := access.Policy{ID: scaleUUID(0, 0), Name: "org-wide staff", Decision: access.DecisionAllow,
				Include: []access.Rule{emailDomain("example.org")}, Reusable: true}
			b.ReportAllocs()
			for b.Loop() {
				next, err := s.Apply(access.Delta{From: s.Version, To: s.Version + 1, Policies: []access.Policy{p}})
				if err != nil {
					b.Fatal(err)
				}
				sinkSnapshot = next
			}
		})
	}
}

// BenchmarkCompileScale compiles scaleConfig(n, 10n) from a decoded
// config, as an edge starting from the database or its state file does.
func BenchmarkCompileScale(b *testing.B) {
	for _, n := range scaleSizes() {
		b.Run(fmt.Sprintf("apps=%d/tokens=%d", n, 10*n), func(b *testing.B) {
			cfg := scaleConfig(n, 10*n)
			b.ReportAllocs()
			for b.Loop() {
				s, err := policy.Compile(cfg)
				if err != nil {
					b.Fatal(err)
				}
				sinkSnapshot = s
			}
		})
	}
}

// TestCompileInParallelIsRaceFree compiles a configuration large enough
// for Compile to use every core (run with -race).
func TestCompileInParallelIsRaceFree(t *testing.T) {
	cfg := scaleConfig(3000, 5000)
	cfg.Apps[7].PolicyLinks = append(cfg.Apps[7].PolicyLinks, access.PolicyLink{ID: "not-yet-created"})
	s, err := policy.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Apps() != 3000 {
		t.Fatalf("%d apps", s.Apps())
	}
	if d := s.Decide(s.Match("app7.example.com", "/"), policy.Facts{}); d.Reason != policy.ReasonPolicyMissing {
		t.Errorf("an app linking a missing policy: %s, want %s", d.Reason, policy.ReasonPolicyMissing)
	}
}
