package edge_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/edge"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/statefile"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// waitForSavedState waits until the state in dir is at version v or newer.
func waitForSavedState(t *testing.T, dir string, v int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := statefile.Open(dir, gatehousetest.MasterKey)
		if err == nil && st.Version() >= v {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("state in %s not saved at version %d: %v", dir, v, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// probe is one request and the answer the edge gave it.
type probe struct {
	name string
	req  func(e *gatehousetest.Edge) *http.Request
	want int
}

func TestEdgeRestartedWhileTheDatabaseIsDownServesWhatItKnew(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	viaCutter, cutter := gatehousetest.StoreVia(t)
	origin := gatehousetest.StartOrigin(t)
	dir := t.TempDir()
	// Both edges are the same installation: one auth domain.
	issuer := "https://auth." + host(t, "restart")
	first := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: viaCutter, StateDir: dir, Issuer: issuer})

	open, svc, closed := host(t, "open"), host(t, "svc"), host(t, "closed")
	a.CreateApp(t, open, origin.URL, nil, pol("open", "bypass", rules(t, `{"everyone":{}}`)))
	tok := createToken(t, a, "svc", nil)
	svcApp := a.CreateApp(t, svc, origin.URL, nil, pol("svc", "non_identity", rules(t, `{"service_token":{"token_id":"`+tok.ID+`"}}`)))
	a.CreateApp(t, closed, origin.URL, nil, pol("elsewhere", "bypass", rules(t, `{"ip":{"ip":"192.0.2.0/24"}}`)))
	first.Sync(t, a.Store)
	v := first.Loader.State().Snap.Version
	waitForSavedState(t, dir, v)
	session := first.MintSession(t, svcApp.AUD, "someone@example.test", time.Hour)

	probes := []probe{
		{"bypass app", func(e *gatehousetest.Edge) *http.Request { return e.Request(t, "GET", open, "/", nil) }, 200},
		{"service token", func(e *gatehousetest.Edge) *http.Request {
			return withToken(e.Request(t, "GET", svc, "/", nil), tok.ClientID, tok.ClientSecret)
		}, 200},
		{"wrong secret", func(e *gatehousetest.Edge) *http.Request {
			return withToken(e.Request(t, "GET", svc, "/", nil), tok.ClientID, "wrong")
		}, 0},
		{"session of a user the policy does not admit", func(e *gatehousetest.Edge) *http.Request {
			r := e.Request(t, "GET", svc, "/", nil)
			r.AddCookie(&http.Cookie{Name: "CF_Authorization", Value: session})
			return r
		}, 0},
		{"app closed to this address", func(e *gatehousetest.Edge) *http.Request { return e.Request(t, "GET", closed, "/", nil) }, 0},
		{"unknown host", func(e *gatehousetest.Edge) *http.Request { return e.Request(t, "GET", host(t, "nope"), "/", nil) }, 404},
	}
	answers := map[string]int{}
	for _, p := range probes {
		resp, _ := first.Do(t, p.req(first))
		if p.want != 0 && resp.StatusCode != p.want {
			t.Fatalf("%s before the restart: %d, want %d", p.name, resp.StatusCode, p.want)
		}
		answers[p.name] = resp.StatusCode
	}
	first.Started.Stop()
	// Other tests share the database: the first edge may have applied
	// their changes too before it stopped and saved its last state.
	v = first.Loader.State().Snap.Version

	// The database goes away; a new edge starts from the saved state.
	cutter.Cut()
	began := time.Now()
	second := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: viaCutter, StateDir: dir, Issuer: issuer})
	t.Logf("restarted from the saved state in %v", time.Since(began))
	if second.Started.Restored != v {
		t.Fatalf("restored version %d, want %d", second.Started.Restored, v)
	}
	for _, p := range probes {
		resp, _ := second.Do(t, p.req(second))
		if resp.StatusCode != answers[p.name] {
			t.Errorf("%s with the database down: %d, before the restart %d", p.name, resp.StatusCode, answers[p.name])
		}
	}
	if msg, _ := second.Loader.LastError(); msg == "" {
		t.Errorf("no LastError while the database is unreachable")
	}

	// When the database returns, the edge catches up.
	gone := host(t, "later")
	a.CreateApp(t, gone, origin.URL, nil, pol("open", "bypass", rules(t, `{"everyone":{}}`)))
	cutter.Restore()
	second.Sync(t, a.Store)
	if resp, _ := second.Do(t, second.Request(t, "GET", gone, "/", nil)); resp.StatusCode != 200 {
		t.Fatalf("app created while the edge was away: %d after it caught up", resp.StatusCode)
	}
}

func TestAlteredStateIsRefusedAndReplaced(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	origin := gatehousetest.StartOrigin(t)
	dir := t.TempDir()
	first := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, StateDir: dir})
	h := host(t, "app")
	a.CreateApp(t, h, origin.URL, nil, pol("open", "bypass", rules(t, `{"everyone":{}}`)))
	first.Sync(t, a.Store)
	v := first.Loader.State().Snap.Version
	waitForSavedState(t, dir, v)
	first.Started.Stop()

	base := filepath.Join(dir, statefile.BaseName)
	b, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(base, b, 0o600); err != nil {
		t.Fatal(err)
	}

	// With the database down and only an altered state, the edge does
	// not start (it never serves what it cannot trust).
	down, cutter := gatehousetest.StoreVia(t)
	cutter.Cut()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = edge.Start(ctx, edge.Deps{Store: down, Keys: gatehousetest.KeyStore(down),
		MasterKey: gatehousetest.MasterKey, Log: log}, edge.StartConfig{StateDir: dir})
	if err == nil {
		t.Fatal("an edge started from an altered state with the database down")
	}

	// With the database up it starts from the database and saves a new
	// state.
	second := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, StateDir: dir})
	if second.Started.Restored != -1 {
		t.Fatalf("restored version %d from an altered state", second.Started.Restored)
	}
	if resp, _ := second.Do(t, second.Request(t, "GET", h, "/", nil)); resp.StatusCode != 200 {
		t.Fatalf("after refusing the state: %d", resp.StatusCode)
	}
	waitForSavedState(t, dir, v)

	// A state sealed with another installation's master key is refused.
	if _, err := statefile.Open(dir, make([]byte, 32)); !errors.Is(err, statefile.ErrRefused) {
		t.Fatalf("state opened with another key: %v", err)
	}
}

// TestABurstOfChangesIsAppliedInFewerReloads: notifications that arrive
// while the loader applies one are drained and applied at once. The
// change feed is not built yet, so every reload is the full-load
// fallback: the edge must still end at the latest version.
func TestABurstOfChangesIsAppliedInFewerReloads(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	var applies atomic.Int64
	e := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: a.Store, ReloadInterval: time.Minute,
		OnApply: func(*edge.State, time.Duration) { applies.Add(1) }})
	origin := gatehousetest.StartOrigin(t)
	before := applies.Load()
	const writes = 40
	var wg sync.WaitGroup
	hosts := make([]string, writes)
	for i := range writes {
		hosts[i] = host(t, "burst"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		wg.Go(func() { a.CreateApp(t, hosts[i], origin.URL, nil, pol("open", "bypass", rules(t, `{"everyone":{}}`))) })
	}
	wg.Wait()
	e.Sync(t, a.Store)
	n := applies.Load() - before
	t.Logf("%d writes applied in %d reloads", 2*writes, n)
	if n >= 2*writes {
		t.Errorf("%d reloads for %d changes: not coalesced", n, 2*writes)
	}
	for _, h := range hosts {
		if resp, _ := e.Do(t, e.Request(t, "GET", h, "/", nil)); resp.StatusCode != 200 {
			t.Fatalf("%s after the burst: %d", h, resp.StatusCode)
		}
	}
}

// TestASavedStateAheadOfTheDatabaseIsReplaced: a database behind the
// saved state (restored from a backup, or another one) is loaded whole,
// not ignored until its versions pass the state's.
// TestASavedStateFromAnotherHistoryIsReplaced starts an edge from a saved
// state on a database that does not have the state's history (restored
// from a backup, or another database): behind the saved version, or
// written past it since. Either way the edge serves what the database
// holds, not what the saved state held, once the database answers.
func TestASavedStateFromAnotherHistoryIsReplaced(t *testing.T) {
	for name, lead := range map[string]int64{"database behind the state": -1, "database at the state's version": 0, "database written past the state": 3} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			restartOnAnotherHistory(t, lead)
		})
	}
}

// restartOnAnotherHistory restarts an edge from its saved state on
// another database, written to until its version is the saved one plus
// lead (or left behind it when lead < 0).
func restartOnAnotherHistory(t *testing.T, lead int64) {
	dir := t.TempDir()
	old := gatehousetest.NewAPI(t)
	origin := gatehousetest.StartOrigin(t)
	first := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: old.Store, StateDir: dir})
	was, now := host(t, "was"), host(t, "now")
	for i := range 3 {
		old.CreateApp(t, host(t, "pad"+strconv.Itoa(i)), origin.URL, nil)
	}
	old.CreateApp(t, was, origin.URL, nil, pol("open", "bypass", rules(t, `{"everyone":{}}`)))
	tok := createToken(t, old, "gone", nil)
	first.Sync(t, old.Store)
	waitForSavedState(t, dir, first.Loader.State().Snap.Version)
	first.Started.Stop()
	saved := first.Loader.State().Snap.Version

	freshURL := gatehousetest.NewDatabase(t)
	if err := store.MigrateUp(freshURL); err != nil {
		t.Fatal(err)
	}
	fresh, err := store.Open(context.Background(), freshURL, store.WithMasterKey(gatehousetest.MasterKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fresh.Close)
	a := gatehousetest.NewAPIOn(t, fresh)
	a.CreateApp(t, now, origin.URL, nil, pol("open", "bypass", rules(t, `{"everyone":{}}`)))
	for i := 0; lead >= 0; i++ {
		if v, _ := fresh.ConfigVersion(context.Background()); v >= saved+lead {
			break
		}
		a.CreateApp(t, host(t, "more"+strconv.Itoa(i)), origin.URL, nil)
	}
	v, _ := fresh.ConfigVersion(context.Background())
	if lead < 0 && v >= saved || lead >= 0 && v != saved+lead {
		t.Skipf("the fresh database is at version %d, not the saved state's %d %+d", v, saved, lead)
	}
	second := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: fresh, StateDir: dir})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := second.Do(t, second.Request(t, "GET", now, "/", nil))
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fresh database's app is not served: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp, _ := second.Do(t, second.Request(t, "GET", was, "/", nil)); resp.StatusCode != 404 {
		t.Errorf("an app of the saved state that the database does not have: %d", resp.StatusCode)
	}
	// Nor does a token of the saved state that the database does not have
	// authenticate.
	if second.Loader.State().Snap.ServiceToken(old.AccountID, tok.ID) != nil {
		t.Errorf("the edge still holds a token of the saved state that the database does not have")
	}
}

// TestStartRotatesTheSigningKeyWhenDue: edge.Start owns key rotation, so
// every edge (tests and benchmarks too) runs it.
func TestStartRotatesTheSigningKeyWhenDue(t *testing.T) {
	t.Parallel()
	url := gatehousetest.NewDatabase(t) // rotation is installation-wide: not on the shared database
	if err := store.MigrateUp(url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), url, store.WithMasterKey(gatehousetest.MasterKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	before, err := gatehousetest.KeyStore(st).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	e := gatehousetest.StartEdge(t, gatehousetest.EdgeOptions{Store: st, KeyRotation: time.Millisecond})
	if kid := e.Loader.State().Keys.CurrentKID(); kid == before.CurrentKID() {
		t.Fatalf("the signing key was not rotated at start: still %s", kid)
	}
}
