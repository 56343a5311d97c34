package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// checkPages walks every page of a list at several page sizes and checks
// that the pages, concatenated, are want, and that result_info is right.
func checkPages[T any](t *testing.T, name string, want []string, id func(T) string, list func(access.Page) ([]T, access.ListInfo, error)) {
	t.Helper()
	for _, perPage := range []int{1, 3, 7, 50} {
		pages := (len(want) + perPage - 1) / perPage
		// In any order (seeking from remembered page ends, or not),
		// then in order.
		for _, page := range rand.Perm(pages + 1) {
			items, _, err := list(access.Page{Page: page + 1, PerPage: perPage})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, it := range items {
				ids = append(ids, id(it))
			}
			if w := want[min(page*perPage, len(want)):min((page+1)*perPage, len(want))]; !slices.Equal(ids, w) && len(ids)+len(w) > 0 {
				t.Fatalf("%s: page %d of %d: got %v, want %v", name, page+1, perPage, ids, w)
			}
		}
		var got []string
		for page := 1; page <= pages+1; page++ {
			items, info, err := list(access.Page{Page: page, PerPage: perPage})
			if err != nil {
				t.Fatalf("%s: page %d of %d: %v", name, page, perPage, err)
			}
			if info.TotalCount != len(want) || info.TotalPages != pages || info.Count != len(items) || info.Page != page || info.PerPage != perPage {
				t.Fatalf("%s: page %d of %d: result_info %+v, want total %d", name, page, perPage, info, len(want))
			}
			for _, it := range items {
				got = append(got, id(it))
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s at %d per page:\n got %v\nwant %v", name, perPage, got, want)
		}
	}
}

func TestListPagesConcatenateToTheWholeList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := gatehousetest.Store(t)
	acct, err := st.CreateAccount(ctx, "pages")
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.CreateAccount(ctx, "other pages")
	if err != nil {
		t.Fatal(err)
	}
	type keyed struct{ created, id string }
	sorted := func(ks []keyed) []string {
		slices.SortFunc(ks, func(a, b keyed) int { return strings.Compare(a.created+a.id, b.created+b.id) })
		out := make([]string, len(ks))
		for i, k := range ks {
			out[i] = k.id
		}
		return out
	}
	var tokens, apps, policies, idps []keyed
	for i := range 23 {
		for _, a := range []string{acct.ID, other.ID} {
			tok, err := st.CreateServiceToken(ctx, actor, a, access.ServiceTokenSpec{Name: fmt.Sprintf("t%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			spec := access.AppSpec{Type: access.AppTypeSelfHosted, Name: fmt.Sprintf("app%d", i), Domain: fmt.Sprintf("a%d.%s.pages.test", i, a)}
			v, err := spec.Normalize()
			if err != nil {
				t.Fatal(err)
			}
			app, err := st.CreateApp(ctx, actor, a, v)
			if err != nil {
				t.Fatal(err)
			}
			ps := access.PolicySpec{Name: fmt.Sprintf("p%d", i), Decision: "allow", Include: rawRules(`{"everyone":{}}`)}
			rules, _ := ps.Rules()
			p, err := st.CreatePolicy(ctx, actor, store.PolicyScope{AccountID: a}, ps, rules)
			if err != nil {
				t.Fatal(err)
			}
			// App-scoped policies are not in the reusable list.
			if _, err := st.CreatePolicy(ctx, actor, store.PolicyScope{AccountID: a, AppID: app.ID}, ps, rules); err != nil {
				t.Fatal(err)
			}
			if a != acct.ID {
				continue
			}
			key := func(c fmt.Stringer, id string) keyed { return keyed{c.String(), id} }
			tokens = append(tokens, key(tok.CreatedAt.UTC(), tok.ID))
			apps = append(apps, key(app.CreatedAt.UTC(), app.ID))
			policies = append(policies, key(p.CreatedAt.UTC(), p.ID))
			if i < 5 {
				idp, err := st.CreateIdentityProvider(ctx, actor, a, oidcSpec(fmt.Sprintf("idp%d", i), "s"))
				if err != nil {
					t.Fatal(err)
				}
				idps = append(idps, key(idp.CreatedAt.UTC(), idp.ID))
			}
		}
	}
	// Deletes keep the counts right.
	for _, i := range []int{0, 11, 22} {
		if _, err := st.DeleteServiceToken(ctx, actor, acct.ID, tokens[i].id, 0); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteApp(ctx, actor, acct.ID, apps[i].id, 0); err != nil {
			t.Fatal(err)
		}
		if err := st.DeletePolicy(ctx, actor, store.PolicyScope{AccountID: acct.ID}, policies[i].id, 0); err != nil {
			t.Fatal(err)
		}
	}
	drop := func(ks []keyed) []keyed {
		return slices.DeleteFunc(ks, func(k keyed) bool {
			return k.id == tokens[0].id || k.id == tokens[11].id || k.id == tokens[22].id ||
				k.id == apps[0].id || k.id == apps[11].id || k.id == apps[22].id ||
				k.id == policies[0].id || k.id == policies[11].id || k.id == policies[22].id
		})
	}
	if err := st.DeleteIdentityProvider(ctx, actor, acct.ID, idps[2].id, 0); err != nil {
		t.Fatal(err)
	}
	idps = slices.Delete(idps, 2, 3)
	tokens, apps, policies = drop(tokens), drop(apps), drop(policies)

	checkPages(t, "service tokens", sorted(tokens), func(x access.ServiceToken) string { return x.ID },
		func(pg access.Page) ([]access.ServiceToken, access.ListInfo, error) {
			return st.ListServiceTokens(ctx, acct.ID, "", "", pg)
		})
	checkPages(t, "apps", sorted(apps), func(x access.App) string { return x.ID },
		func(pg access.Page) ([]access.App, access.ListInfo, error) {
			return st.ListApps(ctx, acct.ID, store.AppFilter{}, pg)
		})
	checkPages(t, "reusable policies", sorted(policies), func(x access.Policy) string { return x.ID },
		func(pg access.Page) ([]access.Policy, access.ListInfo, error) {
			return st.ListPolicies(ctx, store.PolicyScope{AccountID: acct.ID}, pg)
		})
	checkPages(t, "identity providers", sorted(idps), func(x access.IdentityProvider) string { return x.ID },
		func(pg access.Page) ([]access.IdentityProvider, access.ListInfo, error) {
			return st.ListIdentityProviders(ctx, acct.ID, pg)
		})
	// The audit log: its whole length, both ways, equals the filtered
	// (counted) path's.
	all, _, err := st.ListAudit(ctx, acct.ID, access.AuditQuery{Since: acct.CreatedAt.Add(-1)}, access.Page{Page: 1, PerPage: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range all {
		ids = append(ids, e.ID)
	}
	checkPages(t, "audit log", ids, func(x access.AuditEntry) string { return x.ID },
		func(pg access.Page) ([]access.AuditEntry, access.ListInfo, error) {
			return st.ListAudit(ctx, acct.ID, access.AuditQuery{}, pg)
		})
	slices.Reverse(ids)
	checkPages(t, "audit log, oldest first", ids, func(x access.AuditEntry) string { return x.ID },
		func(pg access.Page) ([]access.AuditEntry, access.ListInfo, error) {
			return st.ListAudit(ctx, acct.ID, access.AuditQuery{Ascending: true}, pg)
		})
	// With marks every 2 rows, long skips leave marks to seek from.
	marked, err := store.Open(ctx, gatehousetest.DatabaseURL(t), store.WithMarkStride(2))
	if err != nil {
		t.Fatal(err)
	}
	defer marked.Close()
	checkPages(t, "service tokens, marked", sorted(tokens), func(x access.ServiceToken) string { return x.ID },
		func(pg access.Page) ([]access.ServiceToken, access.ListInfo, error) {
			return marked.ListServiceTokens(ctx, acct.ID, "", "", pg)
		})
	checkPages(t, "audit log, marked", ids, func(x access.AuditEntry) string { return x.ID },
		func(pg access.Page) ([]access.AuditEntry, access.ListInfo, error) {
			return marked.ListAudit(ctx, acct.ID, access.AuditQuery{Ascending: true}, pg)
		})
	slices.Reverse(ids)
	checkPages(t, "audit log newest first, marked", ids, func(x access.AuditEntry) string { return x.ID },
		func(pg access.Page) ([]access.AuditEntry, access.ListInfo, error) {
			return marked.ListAudit(ctx, acct.ID, access.AuditQuery{}, pg)
		})
	// A filter still works, and counts what matches.
	got, info, err := st.ListServiceTokens(ctx, acct.ID, "", "t1", access.Page{Page: 1, PerPage: 50})
	if err != nil || info.TotalCount != len(got) || len(got) != 10 { // t1, t10, t12..t19 (t11 deleted)
		t.Fatalf("search t1: %d tokens, %+v, %v", len(got), info, err)
	}
}

func TestConcurrentCreatesKeepTheCountsRight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := gatehousetest.Store(t)
	acct, err := st.CreateAccount(ctx, "concurrent counts")
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 6
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				tok, err := st.CreateServiceToken(ctx, actor, acct.ID, access.ServiceTokenSpec{Name: fmt.Sprintf("w%d-%d", w, i)})
				if err != nil {
					t.Error(err)
					return
				}
				if i%3 == 0 {
					if _, err := st.DeleteServiceToken(ctx, actor, acct.ID, tok.ID, 0); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	_, info, err := st.ListServiceTokens(ctx, acct.ID, "", "", access.Page{Page: 1, PerPage: 5})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM service_tokens WHERE account_id = $1`, acct.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := writers * (each - each/3); n != want || info.TotalCount != n {
		t.Fatalf("total_count %d, %d rows, want %d", info.TotalCount, n, want)
	}
	_, info, err = st.ListAudit(ctx, acct.ID, access.AuditQuery{}, access.Page{Page: 1, PerPage: 5})
	if err != nil || info.TotalCount != writers*(each+each/3) {
		t.Fatalf("audit total_count %d, want %d (%v)", info.TotalCount, writers*(each+each/3), err)
	}
}
