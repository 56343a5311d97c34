package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestSeedBulkWritesWhatTheAPIWrites seeds a few apps and tokens in bulk
// and compares a bulk app with the same app created by CreateApp.
func TestSeedBulkWritesWhatTheAPIWrites(t *testing.T) {
	t.Parallel()
	st := gatehousetest.Store(t)
	ctx := context.Background()
	actor := access.Actor{Name: "test"}
	acct, err := st.CreateAccount(ctx, "bulk")
	if err != nil {
		t.Fatal(err)
	}
	everyone := []access.Rule{{Everyone: &struct{}{}}}
	shared, err := st.CreatePolicy(ctx, actor, store.PolicyScope{AccountID: acct.ID},
		access.PolicySpec{Name: "org", Decision: "allow"}, access.PolicyRules{Include: everyone, Require: []access.Rule{}, Exclude: []access.Rule{}})
	if err != nil {
		t.Fatal(err)
	}
	template := access.AppSpec{Type: access.AppTypeSelfHosted, Name: "bulk-%d", Domain: "app%d.bulk.test", Origin: "http://127.0.0.1:9",
		CORSHeaders: &access.CORSSettings{AllowedOrigins: []string{"https://web.test"}, MaxAge: 600}}
	v0, err := st.ConfigVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := st.SeedBulk(ctx, acct.ID, store.Bulk{
		Apps: 10, App: template, SharedPolicyID: shared.ID, SharedApps: 4,
		AppPolicy: access.PolicySpec{Name: "own", Decision: "allow"}, AppPolicyRules: access.PolicyRules{Include: everyone},
		ServiceTokens: 25, TokenName: "bulk-%d", TokenSecretHash: access.HashSecret("secret"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.BulkCounts{Apps: 10, AppPolicies: 6, Links: 10, ServiceTokens: 25, Version: v0 + 1}); counts != want {
		t.Errorf("counts %+v, want %+v", counts, want)
	}

	apps, info, err := st.ListApps(ctx, acct.ID, store.AppFilter{Name: "bulk-3"}, access.Page{Page: 1, PerPage: 50})
	if err != nil || len(apps) != 1 || info.TotalCount != 1 {
		t.Fatalf("list bulk-3: %d apps, %+v, %v", len(apps), info, err)
	}
	bulk := apps[0]
	if len(bulk.Policies) != 1 || bulk.Policies[0].ID != shared.ID {
		t.Errorf("bulk-3 policies %+v, want the shared one", bulk.Policies)
	}
	spec := template
	spec.Name, spec.Domain = "api-3", "api3.bulk.test"
	valid, err := spec.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	viaAPI, err := st.CreateApp(ctx, actor, acct.ID, valid)
	if err != nil {
		t.Fatal(err)
	}
	// What differs by design: ids, names, hosts, times and policies.
	normalise := func(a access.App) string {
		a.ID, a.AUD, a.Name, a.Domain, a.Policies = "", "", "", "", nil
		a.SelfHostedDomains, a.Destinations = nil, nil
		a.CreatedAt, a.UpdatedAt = time.Time{}, time.Time{}
		b, _ := json.Marshal(a)
		return fmt.Sprintf("%s account=%s revision=%d", b, a.AccountID, a.Revision)
	}
	if got, want := normalise(bulk), normalise(viaAPI); got != want {
		t.Errorf("bulk app\n%s\ndiffers from the API's\n%s", got, want)
	}
	if d := bulk.SelfHostedDomains; len(d) != 1 || d[0] != "app3.bulk.test" {
		t.Errorf("bulk-3 domains %q", d)
	}

	own, _, err := st.ListPolicies(ctx, store.PolicyScope{AccountID: acct.ID, AppID: mustApp(t, st, acct.ID, "bulk-7").ID}, access.Page{Page: 1, PerPage: 50})
	if err != nil || len(own) != 1 || own[0].Reusable || own[0].Name != "own" || own[0].Precedence != 1 {
		t.Errorf("bulk-7 policies %+v, %v; want its own", own, err)
	}
	got, err := st.GetPolicy(ctx, store.PolicyScope{AccountID: acct.ID}, shared.ID)
	if err != nil || got.AppCount != 4 {
		t.Errorf("shared policy used by %d apps (%v), want 4", got.AppCount, err)
	}

	// The lists count the seeded rows, and an edge that was behind the
	// seed loads the whole config: the change feed does not list them.
	if _, info, err := st.ListApps(ctx, acct.ID, store.AppFilter{}, access.Page{Page: 1, PerPage: 5}); err != nil || info.TotalCount != 11 {
		t.Errorf("apps total_count %d (%v), want 11", info.TotalCount, err)
	}
	if _, info, err := st.ListServiceTokens(ctx, acct.ID, "", "", access.Page{Page: 1, PerPage: 5}); err != nil || info.TotalCount != 25 {
		t.Errorf("service tokens total_count %d (%v), want 25", info.TotalCount, err)
	}
	if _, err := st.Changes(ctx, v0); !errors.Is(err, store.ErrFeedGap) {
		t.Errorf("changes since before the seed: %v, want ErrFeedGap", err)
	}

	// Other tests share the database: read this account's part, at a
	// version at or after the seed's.
	cfg, err := st.LoadAccountConfig(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps) != 11 || len(cfg.ServiceTokens) != 25 || cfg.Version <= counts.Version {
		t.Errorf("config: %d apps, %d tokens, version %d", len(cfg.Apps), len(cfg.ServiceTokens), cfg.Version)
	}
	for _, tok := range cfg.ServiceTokens {
		if string(tok.SecretHash) != string(access.HashSecret("secret")) {
			t.Fatalf("token %s: secret hash %x", tok.Name, tok.SecretHash)
		}
	}
	// The hosts are held: another account cannot take one.
	other, err := st.CreateAccount(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	spec = template
	spec.Name, spec.Domain = "thief", "app5.bulk.test"
	if valid, err = spec.Normalize(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateApp(ctx, actor, other.ID, valid); access.KindOf(err) != access.EConflict {
		t.Errorf("another account took a bulk app's host: %v", err)
	}
}

func TestSeedBulkRefusesAnIncompleteTemplate(t *testing.T) {
	t.Parallel()
	st := gatehousetest.Store(t)
	ctx := context.Background()
	acct, err := st.CreateAccount(ctx, "bulk")
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.SeedBulk(ctx, acct.ID, store.Bulk{Apps: 3, App: access.AppSpec{Type: access.AppTypeSelfHosted, Name: "b-%d", Domain: "b%d.bulk.test"}})
	if err == nil {
		t.Fatal("seeded apps without any policy")
	}
	if apps, _, _ := st.ListApps(ctx, acct.ID, store.AppFilter{}, access.Page{Page: 1, PerPage: 50}); len(apps) != 0 {
		t.Errorf("%d apps written by a refused seed", len(apps))
	}
}

func mustApp(t *testing.T, st *store.Store, accountID, name string) access.App {
	t.Helper()
	apps, _, err := st.ListApps(context.Background(), accountID, store.AppFilter{Name: name}, access.Page{Page: 1, PerPage: 50})
	if err != nil || len(apps) != 1 {
		t.Fatalf("app %s: %d found, %v", name, len(apps), err)
	}
	return apps[0]
}
