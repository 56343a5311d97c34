package statefile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/session"
)

var (
	testKey   = bytes.Repeat([]byte{7}, 32)
	otherKey  = bytes.Repeat([]byte{8}, 32)
	t0        = time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	farFuture = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func ptr[T any](v T) *T { return &v }

func app(i int) access.App {
	revoked := t0.Add(time.Duration(i) * time.Minute)
	return access.App{
		ID: fmt.Sprintf("app-%d", i), AUD: fmt.Sprintf("aud-%d", i), Type: access.AppTypeSelfHosted, Name: fmt.Sprintf("App %d", i),
		Domain: fmt.Sprintf("app%d.example.test", i), SelfHostedDomains: []string{fmt.Sprintf("app%d.example.test", i)},
		Destinations: []access.Destination{{Type: "public", URI: fmt.Sprintf("app%d.example.test", i)}},
		Origin:       "http://127.0.0.1:9", SessionDuration: "24h",
		CORSHeaders:          &access.CORSSettings{AllowedOrigins: []string{"https://a.test"}, AllowCredentials: true, MaxAge: 600},
		UpstreamServiceToken: &access.UpstreamServiceToken{ClientID: "up.access", ClientSecretSet: true},
		AppSettings: access.AppSettings{AllowedIdPs: []string{"idp-1"}, HTTPOnlyCookieAttribute: ptr(true), SameSiteCookieAttribute: "lax",
			Tags: []string{"t"}, CustomDenyMessage: "no"},
		CreatedAt: t0, UpdatedAt: t0.Add(time.Second), AccountID: "acct-1", Revision: int64(i), SessionsRevokedAt: &revoked,
		UpstreamClientSecret: "up-secret", PolicyLinks: []access.PolicyLink{{ID: fmt.Sprintf("pol-%d", i), Precedence: 1}, {ID: "pol-shared", Precedence: 2}},
	}
}

func policy(id string) access.Policy {
	return access.Policy{ID: id, Name: "policy " + id, Decision: access.Decision("allow"),
		Include: []access.Rule{{Email: &access.EmailRule{Email: "a@example.test"}}, {Everyone: &struct{}{}}},
		Require: []access.Rule{{IP: &access.IPRule{IP: "10.0.0.0/8"}}, {Group: &access.GroupRule{ID: "grp-1", Resolved: &access.GroupRules{
			Include: []access.Rule{{EmailDomain: &access.EmailDomainRule{Domain: "example.test"}},
				{OIDC: &access.OIDCRule{ClaimName: "groups", ClaimValue: "eng", IdentityProviderID: "idp-1"}}}, Require: []access.Rule{},
			Exclude: []access.Rule{{Geo: &access.GeoRule{CountryCode: "KP"}}}}}}},
		Exclude:         []access.Rule{{AnyValidServiceToken: &struct{}{}}, {Group: &access.GroupRule{ID: "grp-unknown"}}},
		SessionDuration: "1h", Reusable: id == "pol-shared", CreatedAt: t0, UpdatedAt: t0, AppID: "app-x", Revision: 3}
}

func token(i int) access.ServiceTokenCredential {
	t := access.ServiceTokenCredential{ID: fmt.Sprintf("tok-%d", i), AccountID: "acct-1", Name: fmt.Sprintf("token %d", i),
		ClientID: fmt.Sprintf("client-%d.access", i), SecretHash: bytes.Repeat([]byte{byte(i)}, 32), ExpiresAt: t0.Add(time.Hour)}
	if i%2 == 0 {
		t.PreviousSecretHash = []byte{}
		t.PreviousSecretExpiresAt = ptr(t0.Add(time.Minute))
	}
	return t
}

func testConfig(apps, tokens int) access.Config {
	cfg := access.Config{Version: 10}
	cfg.Policies = append(cfg.Policies, policy("pol-shared"))
	for i := range apps {
		cfg.Apps = append(cfg.Apps, app(i))
		cfg.Policies = append(cfg.Policies, policy(fmt.Sprintf("pol-%d", i)))
	}
	for i := range tokens {
		cfg.ServiceTokens = append(cfg.ServiceTokens, token(i))
	}
	cfg.IdentityProviders = []access.IdentityProvider{{ID: "idp-1", Name: "IdP", Type: "oidc", AccountID: "acct-1", Revision: 2,
		Config: access.IdPConfig{ClientID: "cid", ClientSecret: "csecret", IssuerURL: "https://idp.test"}, CreatedAt: t0, UpdatedAt: t0}}
	cfg.Revocations = []access.SessionRevocation{{AccountID: "acct-1", Email: "a@example.test", RevokedAt: t0, ExpiresAt: farFuture}}
	cfg.Organizations = []access.Organization{{AccountID: "acct-1", Name: "Example Corp", SessionDuration: 2 * time.Hour,
		LoginDesign: access.LoginDesign{BackgroundColor: "#fff", TextColor: "black", LogoPath: "https://l.test/a.png", HeaderText: "Hi", FooterText: "Bye"}},
		{AccountID: "acct-2"}}
	return cfg
}

func testKeys(testing.TB) []session.ExportedKey {
	return []session.ExportedKey{{KID: "kid-1", PrivateKey: []byte("not a real key"), PublicCert: "cert", CreatedAt: t0}}
}

// save writes cfg as a base (and any deltas after it) through a Writer.
func save(t testing.TB, dir string, cfg access.Config, keys []session.ExportedKey, deltas ...access.Delta) *Writer {
	t.Helper()
	w, err := NewWriter(dir, testKey, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg
	w.queue = append(w.queue, item{cfg: &c, keys: keys})
	for i := range deltas {
		w.queue = append(w.queue, item{delta: &deltas[i]})
	}
	w.Flush()
	return w
}

func mustOpen(t *testing.T, dir string, key []byte) *State {
	t.Helper()
	st, err := Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestBaseRoundTripsEveryField(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(600, 9000) // several chunks of apps, policies and tokens
	keys := testKeys(t)
	w := save(t, dir, cfg, keys)
	defer w.Close()
	st := mustOpen(t, dir, testKey)
	if !reflect.DeepEqual(st.Config, cfg) {
		t.Fatalf("config read back differs from the one saved")
	}
	if !reflect.DeepEqual(st.Keys, keys) {
		t.Fatalf("keys: got %+v", st.Keys)
	}
	for _, name := range []string{BaseName, JournalName} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
}

// apply is the reference: a delta applied to a Config by hand.
func apply(cfg access.Config, d access.Delta) access.Config {
	out := cfg
	out.Version = d.To
	out.Apps = slices.Clone(cfg.Apps)
	for _, a := range d.Apps {
		if i := slices.IndexFunc(out.Apps, func(x access.App) bool { return x.ID == a.ID }); i >= 0 {
			out.Apps[i] = a
		} else {
			out.Apps = append(out.Apps, a)
		}
	}
	out.Apps = slices.DeleteFunc(out.Apps, func(x access.App) bool { return slices.Contains(d.DeletedApps, x.ID) })
	out.Policies = slices.Clone(cfg.Policies)
	for _, p := range d.Policies {
		if i := slices.IndexFunc(out.Policies, func(x access.Policy) bool { return x.ID == p.ID }); i >= 0 {
			out.Policies[i] = p
		} else {
			out.Policies = append(out.Policies, p)
		}
	}
	out.Policies = slices.DeleteFunc(out.Policies, func(x access.Policy) bool { return slices.Contains(d.DeletedPolicies, x.ID) })
	out.ServiceTokens = slices.Clone(cfg.ServiceTokens)
	for _, tk := range d.ServiceTokens {
		if i := slices.IndexFunc(out.ServiceTokens, func(x access.ServiceTokenCredential) bool { return x.ClientID == tk.ClientID }); i >= 0 {
			out.ServiceTokens[i] = tk
		} else {
			out.ServiceTokens = append(out.ServiceTokens, tk)
		}
	}
	out.ServiceTokens = slices.DeleteFunc(out.ServiceTokens, func(x access.ServiceTokenCredential) bool {
		return slices.Contains(d.DeletedServiceTokens, x.ClientID)
	})
	out.Revocations = append(slices.Clone(cfg.Revocations), d.Revocations...)
	out.Organizations = slices.Clone(cfg.Organizations)
	for _, o := range d.Organizations {
		if i := slices.IndexFunc(out.Organizations, func(x access.Organization) bool { return x.AccountID == o.AccountID }); i >= 0 {
			out.Organizations[i] = o
		} else {
			out.Organizations = append(out.Organizations, o)
		}
	}
	return out
}

func testDeltas(n int) []access.Delta {
	var ds []access.Delta
	v := int64(10)
	for i := range n {
		d := access.Delta{From: v, To: v + 1 + int64(i%3)}
		changed := app(i * 7 % 40) // never one deleted below: a deleted id does not come back
		changed.Name = fmt.Sprintf("renamed %d", i)
		d.Apps = []access.App{changed, app(1000 + i)}
		d.Policies = []access.Policy{policy(fmt.Sprintf("pol-%d", 1000+i))}
		if i%4 == 1 {
			d.DeletedApps = []string{fmt.Sprintf("app-%d", 40+i%10)}
			d.DeletedPolicies = []string{fmt.Sprintf("pol-%d", 40+i%10)}
		}
		tk := token(i % 30) // deleted tokens are 60 and up
		tk.Name = fmt.Sprintf("rotated %d", i)
		d.ServiceTokens = []access.ServiceTokenCredential{tk, token(5000 + i)}
		if i%5 == 2 {
			d.DeletedServiceTokens = []string{fmt.Sprintf("client-%d.access", 60+i)}
		}
		d.Revocations = []access.SessionRevocation{{AccountID: "acct-1", SessionID: fmt.Sprintf("s-%d", i), RevokedAt: t0, ExpiresAt: farFuture}}
		if i%3 == 0 {
			d.Organizations = []access.Organization{{AccountID: fmt.Sprintf("acct-%d", 1+i%4), SessionDuration: time.Duration(i+1) * time.Minute,
				LoginDesign: access.LoginDesign{HeaderText: fmt.Sprintf("v%d", i)}}}
		}
		ds = append(ds, d)
		v = d.To
	}
	return ds
}

func TestJournalReplayEqualsTheAppliedState(t *testing.T) {
	testJournalReplay(t, testConfig(50, 100), testDeltas(20))
}

// Tokens of several records (whose memory Open reuses) replay as well:
// changes to tokens in later records, and records that change in size.
func TestJournalReplayOverManyTokenRecords(t *testing.T) {
	deltas := testDeltas(20)
	last := deltas[len(deltas)-1].To
	renamed := token(2*tokensPerChunk + 5)
	renamed.Name = "renamed late"
	deltas = append(deltas, access.Delta{From: last, To: last + 1, ServiceTokens: []access.ServiceTokenCredential{renamed},
		DeletedServiceTokens: []string{fmt.Sprintf("client-%d.access", tokensPerChunk+7), fmt.Sprintf("client-%d.access", 3*tokensPerChunk+1)}})
	testJournalReplay(t, testConfig(50, 3*tokensPerChunk+100), deltas)
}

func testJournalReplay(t *testing.T, cfg access.Config, deltas []access.Delta) {
	dir := t.TempDir()
	w := save(t, dir, cfg, testKeys(t), deltas...)
	defer w.Close()
	want := cfg
	for _, d := range deltas {
		want = apply(want, d)
	}
	st := mustOpen(t, dir, testKey)
	if st.Deltas != len(deltas) {
		t.Fatalf("%d journal records applied, want %d", st.Deltas, len(deltas))
	}
	if !reflect.DeepEqual(st.Config, want) {
		t.Fatalf("replayed config (version %d, %d apps, %d tokens) differs from the applied one (version %d, %d apps, %d tokens)",
			st.Config.Version, len(st.Config.Apps), len(st.Config.ServiceTokens), want.Version, len(want.Apps), len(want.ServiceTokens))
	}

	// Compacting gives the same state as a base alone.
	if err := w.compact(); err != nil {
		t.Fatal(err)
	}
	after := mustOpen(t, dir, testKey)
	if after.Deltas != 0 || !reflect.DeepEqual(after.Config, want) {
		t.Fatalf("after compaction: %d records, equal %v", after.Deltas, reflect.DeepEqual(after.Config, want))
	}
}

func TestWriterContinuesTheJournalAfterReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(5, 5)
	deltas := testDeltas(4)
	w := save(t, dir, cfg, nil, deltas[:2]...)
	w.Close()
	st := mustOpen(t, dir, testKey)
	w2, err := NewWriter(dir, testKey, quiet(), st)
	if err != nil {
		t.Fatal(err)
	}
	w2.SaveDelta(deltas[2])
	w2.SaveDelta(deltas[3])
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w2.Run(ctx) // writes what is queued, then returns
	want := cfg
	for _, d := range deltas {
		want = apply(want, d)
	}
	if got := mustOpen(t, dir, testKey); got.Deltas != 4 || !reflect.DeepEqual(got.Config, want) {
		t.Fatalf("after reopen and two more changes: %d records, version %d, want 4 and %d", got.Deltas, got.Config.Version, want.Version)
	}
}

func TestTornJournalTailIsIgnored(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(5, 5)
	deltas := testDeltas(3)
	w := save(t, dir, cfg, nil, deltas...)
	w.Close()
	path := filepath.Join(dir, JournalName)
	fi, _ := os.Stat(path)
	if err := os.Truncate(path, fi.Size()-5); err != nil {
		t.Fatal(err)
	}
	want := apply(apply(cfg, deltas[0]), deltas[1])
	st := mustOpen(t, dir, testKey)
	if st.Deltas != 2 || !reflect.DeepEqual(st.Config, want) {
		t.Fatalf("torn tail: %d records applied, version %d; want 2, %d", st.Deltas, st.Config.Version, want.Version)
	}
	// The writer cuts the torn record off and appends after the last whole one.
	w2, err := NewWriter(dir, testKey, quiet(), st)
	if err != nil {
		t.Fatal(err)
	}
	w2.SaveDelta(deltas[2])
	w2.Flush()
	w2.Close()
	if got := mustOpen(t, dir, testKey); got.Deltas != 3 || got.Config.Version != deltas[2].To {
		t.Fatalf("after appending past a torn record: %d records, version %d", got.Deltas, got.Config.Version)
	}
}

func TestRefusesAlteredOrForeignState(t *testing.T) {
	cfg := testConfig(20, 100)
	deltas := testDeltas(2)
	for _, tc := range []struct {
		name  string
		alter func(t *testing.T, dir string)
		key   []byte
	}{
		{"wrong key", func(*testing.T, string) {}, otherKey},
		{"base byte flipped", flip(BaseName, 200), testKey},
		{"base cut short", cut(BaseName, 100), testKey},
		{"journal byte flipped", flip(JournalName, int64(headerSize)+40), testKey},
		{"not a state file", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, BaseName), bytes.Repeat([]byte("x"), 100), 0o600); err != nil {
				t.Fatal(err)
			}
		}, testKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := save(t, dir, cfg, nil, deltas...)
			w.Close()
			tc.alter(t, dir)
			_, err := Open(dir, tc.key)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Open: %v, want ErrRefused", err)
			}
		})
	}
	if _, err := Open(t.TempDir(), testKey); !errors.Is(err, ErrNoState) {
		t.Fatalf("empty directory: %v, want ErrNoState", err)
	}
}

func flip(name string, at int64) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[at] ^= 0x40
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func cut(name string, by int64) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, fi.Size()-by); err != nil {
			t.Fatal(err)
		}
	}
}

func TestJournalOfAnotherBaseIsIgnored(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(5, 5)
	w := save(t, dir, cfg, nil, testDeltas(2)...)
	w.Close()
	old, err := os.ReadFile(filepath.Join(dir, JournalName))
	if err != nil {
		t.Fatal(err)
	}
	// A crash between a new base and its empty journal leaves the old journal.
	w = save(t, dir, cfg, nil)
	w.Close()
	if err := os.WriteFile(filepath.Join(dir, JournalName), old, 0o600); err != nil {
		t.Fatal(err)
	}
	if st := mustOpen(t, dir, testKey); st.Deltas != 0 || !reflect.DeepEqual(st.Config, cfg) {
		t.Fatalf("stale journal applied: %d records", st.Deltas)
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, size := range []struct{ apps, tokens int }{{1000, 10_000}, {10_000, 100_000}} {
		b.Run(fmt.Sprintf("apps=%d/tokens=%d", size.apps, size.tokens), func(b *testing.B) {
			dir := b.TempDir()
			w, err := NewWriter(dir, testKey, quiet(), nil)
			if err != nil {
				b.Fatal(err)
			}
			cfg := testConfig(size.apps, size.tokens)
			start := time.Now()
			if err := w.writeBase(&cfg, nil); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds()), "write-ms")
			w.Close()
			fi, _ := os.Stat(filepath.Join(dir, BaseName))
			b.ReportMetric(float64(fi.Size())/1e6, "MB")
			b.ResetTimer()
			for b.Loop() {
				if _, err := Open(dir, testKey); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestOpenAtScale measures Open of a 100k-app / 1M-token state; it runs
// only with GATEHOUSE_STATE_SCALE set (it needs about 2 GB).
func TestOpenAtScale(t *testing.T) {
	if os.Getenv("GATEHOUSE_STATE_SCALE") == "" {
		t.Skip("set GATEHOUSE_STATE_SCALE=1 to measure")
	}
	dir := t.TempDir()
	w, err := NewWriter(dir, testKey, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(100_000, 1_000_000)
	start := time.Now()
	if err := w.writeBase(&cfg, nil); err != nil {
		t.Fatal(err)
	}
	wrote := time.Since(start)
	w.Close()
	cfg = access.Config{}
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // as edge.Start reads it
	fi, _ := os.Stat(filepath.Join(dir, BaseName))
	for range 3 {
		start = time.Now()
		st, err := Open(dir, testKey)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("base %.0f MB written in %v; opened in %v (%d apps, %d tokens)", float64(fi.Size())/1e6, wrote, time.Since(start),
			len(st.Config.Apps), len(st.Config.ServiceTokens))
	}
}

// BenchmarkSaveDelta is the cost of saving one change (one app and one
// token), synced, on a base of 10k apps and 100k tokens: the size of the
// change, not of the config.
func BenchmarkSaveDelta(b *testing.B) {
	dir := b.TempDir()
	w, err := NewWriter(dir, testKey, quiet(), nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig(10_000, 100_000)
	if err := w.writeBase(&cfg, nil); err != nil {
		b.Fatal(err)
	}
	v := cfg.Version
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		a := app(i % 10_000)
		a.Name = fmt.Sprintf("renamed %d", i)
		d := access.Delta{From: v, To: v + 1, Apps: []access.App{a}, ServiceTokens: []access.ServiceTokenCredential{token(i % 100_000)}}
		if err := w.appendDelta(&d); err != nil {
			b.Fatal(err)
		}
		v++
	}
	b.StopTimer()
	b.ReportMetric(float64(w.journalSize)/float64(b.N), "bytes/change")
	start := time.Now()
	if err := w.compact(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "compact-ms")
	w.Close()
}

func TestTwoWritersCannotShareADirectory(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, testKey, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if w2, err := NewWriter(dir, testKey, quiet(), nil); err == nil {
		w2.Close()
		t.Fatal("a second writer took the state directory")
	}
	w.Close()
	w3, err := NewWriter(dir, testKey, quiet(), nil)
	if err != nil {
		t.Fatalf("after the first writer closed: %v", err)
	}
	w3.Close()
}
