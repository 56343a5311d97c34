package store_test

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestUnreachableOrHungDatabaseIsUnavailable: with the database hung
// (SIGSTOP) or refusing connections, reads and writes fail within the
// caller's deadline with the EUnavailable kind, the one the API turns
// into 503.
func TestUnreachableOrHungDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	cluster, dbURL := gatehousetest.PrivateDatabase(t)
	st, cutter := gatehousetest.StoreThrough(t, dbURL)
	ctx := context.Background()
	acct, err := st.CreateAccount(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	actor := access.Actor{Name: "test"}
	everyone := []json.RawMessage{json.RawMessage(`{"everyone":{}}`)}
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"CreateAccount", func(ctx context.Context) error { _, err := st.CreateAccount(ctx, "other"); return err }},
		{"CountAccounts", func(ctx context.Context) error { _, err := st.CountAccounts(ctx); return err }},
		{"AuthenticateAPIToken", func(ctx context.Context) error {
			_, err := st.AuthenticateAPIToken(ctx, access.NewAPITokenValue())
			return err
		}},
		{"CreateServiceToken", func(ctx context.Context) error {
			_, err := st.CreateServiceToken(ctx, actor, acct.ID, access.ServiceTokenSpec{Name: "t"})
			return err
		}},
		{"CreatePolicy", func(ctx context.Context) error {
			_, err := st.CreatePolicy(ctx, actor, store.PolicyScope{AccountID: acct.ID}, access.PolicySpec{Name: "p", Decision: "allow", Include: everyone}, access.PolicyRules{})
			return err
		}},
		{"ListApps", func(ctx context.Context) error {
			_, _, err := st.ListApps(ctx, acct.ID, store.AppFilter{}, access.Page{Page: 1, PerPage: 10})
			return err
		}},
		{"GetApp", func(ctx context.Context) error {
			_, err := st.GetApp(ctx, acct.ID, "00000000-0000-0000-0000-000000000000")
			return err
		}},
		{"DeleteApp", func(ctx context.Context) error {
			return st.DeleteApp(ctx, actor, acct.ID, "00000000-0000-0000-0000-000000000000", 0)
		}},
		{"ListServiceTokens", func(ctx context.Context) error {
			_, _, err := st.ListServiceTokens(ctx, acct.ID, "", "", access.Page{Page: 1, PerPage: 10})
			return err
		}},
		{"ListEdges", func(ctx context.Context) error { _, err := st.ListEdges(ctx, time.Minute); return err }},
		{"ConfigVersion", func(ctx context.Context) error { _, err := st.ConfigVersion(ctx); return err }},
	}
	faults := []struct {
		name       string
		fail, heal func() error
	}{
		{"hung (SIGSTOP)", func() error { return cluster.Signal(syscall.SIGSTOP) }, func() error { return cluster.Signal(syscall.SIGCONT) }},
		{"down (refused)", func() error { cutter.Cut(); return nil }, func() error { cutter.Restore(); return nil }},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			if err := f.fail(); err != nil {
				t.Fatal(err)
			}
			for _, c := range calls {
				cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
				start := time.Now()
				err := c.call(cctx)
				cancel()
				if access.KindOf(err) != access.EUnavailable {
					t.Errorf("%s: %v (kind %s), want unavailable", c.name, err, access.KindOf(err))
				}
				if took := time.Since(start); took > 3*time.Second {
					t.Errorf("%s: took %v with a 500ms deadline", c.name, took)
				}
			}
			if err := f.heal(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				n, err := st.CountAccounts(ctx)
				if err == nil {
					if n < 1 {
						t.Fatalf("%d accounts after recovery", n)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no recovery: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}
