package edge_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/edge"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/statefile"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestStartFromSavedStateAtScale measures edge.Start from a saved state
// of 100k apps and 1M service tokens with the database unreachable, up
// to its first answer. It runs only with GATEHOUSE_STATE_SCALE set.
func TestStartFromSavedStateAtScale(t *testing.T) {
	if os.Getenv("GATEHOUSE_STATE_SCALE") == "" {
		t.Skip("set GATEHOUSE_STATE_SCALE=1 to measure")
	}
	const apps, tokens = 100_000, 1_000_000
	now := time.Now().UTC()
	shared := access.Policy{ID: "00000000-0000-0000-0000-000000000001", Name: "org", Decision: "bypass", Reusable: true,
		Include: []access.Rule{{Everyone: &struct{}{}}}, CreatedAt: now, UpdatedAt: now}
	cfg := access.Config{Version: 1000, Policies: []access.Policy{shared}}
	for i := range apps {
		d := fmt.Sprintf("app%d.scale.test", i)
		cfg.Apps = append(cfg.Apps, access.App{ID: fmt.Sprintf("00000000-0000-0000-0001-%012d", i), AUD: fmt.Sprintf("aud%d", i),
			Type: access.AppTypeSelfHosted, Name: d, Domain: d, SelfHostedDomains: []string{d},
			Destinations: []access.Destination{{Type: "public", URI: d}}, Origin: "http://127.0.0.1:9", SessionDuration: "24h",
			Policies: []access.Policy{shared}, PolicyLinks: []access.PolicyLink{{ID: shared.ID, Precedence: 1}},
			CreatedAt: now, UpdatedAt: now, AccountID: "acct", Revision: 1})
	}
	for i := range tokens {
		h := sha256.Sum256(fmt.Appendf(nil, "secret%d", i))
		cfg.ServiceTokens = append(cfg.ServiceTokens, access.ServiceTokenCredential{ID: fmt.Sprintf("00000000-0000-0000-0002-%012d", i),
			AccountID: "acct", Name: fmt.Sprintf("t%d", i), ClientID: fmt.Sprintf("%032x.access", i), SecretHash: h[:],
			ExpiresAt: now.Add(24 * time.Hour)})
	}
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := statefile.NewWriter(dir, gatehousetest.MasterKey, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.SaveBase(cfg, nil)
	w.Flush()
	w.Close()
	cfg = access.Config{}
	runtime.GC()

	// The parts, for the record: reading, then compiling.
	gc := debug.SetGCPercent(400)
	begin := time.Now()
	saved, err := statefile.Open(dir, gatehousetest.MasterKey)
	if err != nil {
		t.Fatal(err)
	}
	read := time.Since(begin)
	begin = time.Now()
	if _, err := policy.Compile(saved.Config); err != nil {
		t.Fatal(err)
	}
	t.Logf("statefile.Open %v, policy.Compile %v", read, time.Since(begin))
	saved = nil
	debug.SetGCPercent(gc)
	runtime.GC()

	// A database that is not there: connections are refused at once.
	st, err := store.Open(context.Background(), "postgres://gatehouse@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	begin = time.Now()
	e, err := edge.Start(context.Background(), edge.Deps{Store: st, Keys: gatehousetest.KeyStore(st),
		MasterKey: gatehousetest.MasterKey, Log: log}, edge.StartConfig{Issuer: "https://auth.scale.test", StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	started := time.Since(begin)
	defer e.Stop()
	// Without saved keys the edge answers 503 until the database gives
	// it some; the snapshot is what is measured.
	snap := e.Loader.State().Snap
	rec := httptest.NewRecorder()
	e.Server.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://app99999.scale.test/", nil))
	t.Logf("edge.Start from a saved state of %d apps and %d tokens with the database down: %v (snapshot version %d, %d apps); first answer %d",
		apps, tokens, started, snap.Version, snap.Apps(), rec.Code)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("heap in use after start: %d MB", ms.HeapInuse>>20)
}
