package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func dests(domains ...string) []map[string]string {
	out := make([]map[string]string, len(domains))
	for i, d := range domains {
		out[i] = map[string]string{"type": "public", "uri": d}
	}
	return out
}

// appCount is how many apps the account of a has.
func appCount(t *testing.T, a *gatehousetest.API) int {
	t.Helper()
	resp := a.Call(t, "GET", "access/apps?per_page=1", nil)
	if resp.Status != 200 || resp.Env.ResultInfo == nil {
		t.Fatalf("list apps: %d %s", resp.Status, resp.Body)
	}
	return resp.Env.ResultInfo.TotalCount
}

// assertHostInUse checks a refusal for a host another account holds: 409
// in the error envelope, naming the field, and naming neither the other
// account nor its apps.
func assertHostInUse(t *testing.T, resp gatehousetest.Response, field string, secrets ...string) {
	t.Helper()
	if resp.Status != http.StatusConflict || resp.Env.Success || len(resp.Env.Errors) != 1 {
		t.Fatalf("status %d, want 409 with one error: %s", resp.Status, resp.Body)
	}
	e := resp.Env.Errors[0]
	if e.Code != 1006 || e.Field != field || !strings.Contains(e.Message, "in use by another account") {
		t.Errorf("error %+v, want code 1006, field %q, \"in use by another account\"", e, field)
	}
	for _, s := range secrets {
		if strings.Contains(string(resp.Body), s) {
			t.Errorf("the refusal reveals %q: %s", s, resp.Body)
		}
	}
}

func TestHostsBelongToOneAccount(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	b := gatehousetest.NewAPIOn(t, a.Store)
	l := gatehousetest.RunLabel(t) + ".test"
	// Account A holds an exact host, a host with a path and a wildcard zone.
	svc := createApp(t, a, appBody("a-svc", "svc."+l))
	path := createApp(t, a, appBody("a-path", "deep."+l+"/admin"))
	wild := createApp(t, a, appBody("a-wild", "*.w."+l))
	inner := createApp(t, a, appBody("a-inner", "*.in.ww."+l))
	secrets := []string{a.AccountID, svc.ID, svc.Name, path.ID, wild.ID, inner.ID, "a-path", "a-wild", "a-inner"}

	tests := []struct {
		name   string
		body   map[string]any
		status int
		field  string
	}{
		{"fail/the same host", appBody("b", "svc."+l), 409, "domain"},
		{"fail/a path under the host", appBody("b", "svc."+l+"/x"), 409, "domain"},
		{"fail/a deep path under the host", appBody("b", "svc."+l+"/admin/sub"), 409, "domain"},
		{"fail/the bare host of a path app", appBody("b", "deep."+l), 409, "domain"},
		{"fail/another path on the host of a path app", appBody("b", "deep."+l+"/other"), 409, "domain"},
		{"fail/a wildcard over the host", appBody("b", "*."+l), 409, "domain"},
		{"fail/a wildcard over the TLD", appBody("b", "*.test"), 409, "domain"},
		{"fail/a wildcard at the host's apex", appBody("b", "*.svc."+l), 409, "domain"},
		{"fail/a wildcard with a path at the host's apex", appBody("b", "*.svc."+l+"/api"), 409, "domain"},
		{"fail/a host under the wildcard", appBody("b", "a.w."+l), 409, "domain"},
		{"fail/a deep host under the wildcard", appBody("b", "x.y.w."+l+"/p"), 409, "domain"},
		{"fail/the wildcard's apex", appBody("b", "w."+l), 409, "domain"},
		{"fail/the same wildcard", appBody("b", "*.w."+l), 409, "domain"},
		{"fail/a wildcard under the wildcard", appBody("b", "*.x.w."+l), 409, "domain"},
		{"fail/a wildcard over the wildcard", appBody("b", "*.ww."+l), 409, "domain"},
		{"fail/upper case", appBody("b", "SVC."+strings.ToUpper(l)), 409, "domain"},
		{"fail/upper-case wildcard", appBody("b", "*.W."+l), 409, "domain"},
		{"fail/only the second destination conflicts", map[string]any{"type": "self_hosted", "name": "b",
			"destinations": dests("free1."+l, "svc."+l+"/x")}, 409, "destinations[1].uri"},
		{"fail/only the second self-hosted domain conflicts", map[string]any{"type": "self_hosted", "name": "b",
			"self_hosted_domains": []string{"free2." + l, "a.w." + l}}, 409, "self_hosted_domains[1]"},
		{"fail/a primary domain among destinations", map[string]any{"type": "self_hosted", "name": "b", "domain": "free3." + l,
			"destinations": dests("free3."+l, "*."+l)}, 409, "destinations[1].uri"},
		{"ok/a longer TLD", appBody("b1", "svc."+strings.TrimSuffix(l, ".test")+".testing"), 200, ""},
		{"ok/a host that ends in the same letters", appBody("b2", "xsvc."+l), 200, ""},
		{"ok/the host as a label of another domain", appBody("b3", "svc."+l+".evil"), 200, ""},
		{"ok/a sibling of the wildcard's zone", appBody("b4", "xw."+l), 200, ""},
		{"ok/a wildcard beside the host", appBody("b5", "*.xsvc."+l), 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := appCount(t, b)
			resp := b.Call(t, "POST", "access/apps", tc.body)
			if tc.status == 200 {
				if resp.Status != 200 {
					t.Fatalf("status %d, want 200: %s", resp.Status, resp.Body)
				}
				return
			}
			assertHostInUse(t, resp, tc.field, secrets...)
			if n := appCount(t, b); n != before {
				t.Errorf("account B has %d apps after the refusal, %d before", n, before)
			}
		})
	}

	// Refused writes claimed nothing: the free hosts of refused
	// multi-domain bodies are still free for A.
	createApp(t, a, appBody("a-free", "free1."+l))

	// Variants the validator may refuse (400) or canonicalise (then 409):
	// never accepted.
	for _, d := range []string{"svc." + l + ".", "svc." + l + ":443", "svc." + l + ":443/x", "*.w." + l + "."} {
		resp := b.Call(t, "POST", "access/apps", appBody("b-variant", d))
		if resp.Status != 400 && resp.Status != 409 {
			t.Errorf("%q: status %d, want 400 or 409: %s", d, resp.Status, resp.Body)
		}
	}

	// The same account may overlap its own hosts.
	for _, d := range []string{"svc." + l + "/x", "*.svc." + l, "a.w." + l, "*.x.w." + l} {
		createApp(t, a, appBody("a-own-"+d, d))
	}
}

func TestUpdatesThatAddAnotherAccountsHostAreRefused(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	b := gatehousetest.NewAPIOn(t, a.Store)
	l := gatehousetest.RunLabel(t) + ".test"
	createApp(t, a, appBody("a", "svc."+l))
	app := createApp(t, b, appBody("b", "mine."+l))

	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"fail/replace the domain", appBody("b", "svc."+l+"/x"), "domain"},
		{"fail/add a destination", map[string]any{"type": "self_hosted", "name": "b", "destinations": dests("mine."+l, "*."+l)}, "destinations[1].uri"},
		{"fail/add a self-hosted domain", map[string]any{"type": "self_hosted", "name": "b", "self_hosted_domains": []string{"mine." + l, "svc." + l}}, "self_hosted_domains[1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := b.Call(t, "PUT", "access/apps/"+app.ID, tc.body)
			assertHostInUse(t, resp, tc.field, a.AccountID)
			var got access.App
			b.MustCall(t, "GET", "access/apps/"+app.ID, nil, &got)
			if !slices.Equal(got.SelfHostedDomains, []string{"mine." + l}) || got.Name != "b" || !got.UpdatedAt.Equal(app.UpdatedAt) {
				t.Errorf("after the refusal the app has %q, want it unchanged", got.SelfHostedDomains)
			}
		})
	}
	// An update that keeps the domains works.
	body := appBody("b-renamed", "mine."+l)
	b.MustCall(t, "PUT", "access/apps/"+app.ID, body, nil)
}

func TestAppsOfOverlappingAccountsPredatingTheRuleKeepWorking(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	b := gatehousetest.NewAPIOn(t, a.Store)
	l := gatehousetest.RunLabel(t) + ".test"
	createApp(t, a, appBody("a", "svc."+l))
	app := createApp(t, b, appBody("b", "mine."+l))
	// As a database from before the rule would have it: B also holds a
	// path under A's host.
	if _, err := a.Store.Pool().Exec(context.Background(),
		`INSERT INTO app_domains (app_id, position, domain) VALUES ($1, 1, $2)`, app.ID, "svc."+l+"/legacy"); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"type": "self_hosted", "name": "b-renamed", "destinations": dests("mine."+l, "svc."+l+"/legacy")}
	b.MustCall(t, "PUT", "access/apps/"+app.ID, body, nil)
	body["destinations"] = dests("mine."+l, "svc."+l+"/legacy", "svc."+l+"/more")
	assertHostInUse(t, b.Call(t, "PUT", "access/apps/"+app.ID, body), "destinations[2].uri")
}

func TestConcurrentClaimsOfOneHostByTwoAccountsLetExactlyOneWin(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	b := gatehousetest.NewAPIOn(t, a.Store)
	l := gatehousetest.RunLabel(t) + ".test"
	// Each round, A and B claim overlapping hosts at the same moment, in
	// every shape of overlap.
	shapes := []struct{ a, b string }{
		{"%s", "%s"}, {"%s", "%s/x"}, {"x.%s", "*.%s"}, {"*.%s", "*.y.%s"}, {"%s", "*.%s"}, {"a.b.%s", "*.b.%s"},
	}
	const rounds = 8
	for i := 0; i < rounds; i++ {
		for j, s := range shapes {
			zone := fmt.Sprintf("r%dx%d.%s", i, j, l)
			var wg sync.WaitGroup
			start := make(chan struct{})
			var statuses [2]int
			for k, side := range []struct {
				api    *gatehousetest.API
				domain string
			}{{a, fmt.Sprintf(s.a, zone)}, {b, fmt.Sprintf(s.b, zone)}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					statuses[k] = side.api.Call(t, "POST", "access/apps", appBody(side.domain, side.domain)).Status
				}()
			}
			close(start)
			wg.Wait()
			slices.Sort(statuses[:])
			if statuses != [2]int{200, 409} {
				t.Fatalf("%s vs %s: statuses %v, want exactly one 200 and one 409", s.a, s.b, statuses)
			}
		}
	}
}

func TestAccountDomainListBoundsItsApps(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	b := gatehousetest.NewAPIOn(t, a.Store)
	l := gatehousetest.RunLabel(t) + ".test"
	ctx := context.Background()
	op := access.Actor{Name: "operator"}
	for _, d := range []string{"site." + l, "*.apps." + l} {
		c, err := access.ParseAccountDomain(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Store.AddAccountDomain(ctx, op, a.AccountID, c); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		body   map[string]any
		status int
		field  string
	}{
		{"ok/the listed host", appBody("1", "site."+l), 200, ""},
		{"ok/a path on the listed host", appBody("2", "site."+l+"/admin"), 200, ""},
		{"ok/a host under the listed wildcard", appBody("3", "x.apps."+l), 200, ""},
		{"ok/a deep host under the listed wildcard", appBody("4", "a.b.apps."+l), 200, ""},
		{"ok/the listed wildcard", appBody("5", "*.apps."+l), 200, ""},
		{"ok/a wildcard under the listed wildcard", appBody("6", "*.z.apps."+l), 200, ""},
		{"fail/a host outside the list", appBody("7", "other."+l), 400, "domain"},
		{"fail/a subdomain of the listed exact host", appBody("8", "x.site."+l), 400, "domain"},
		{"fail/the wildcard entry's apex", appBody("9", "apps."+l), 400, "domain"},
		{"fail/a wildcard over the list", appBody("10", "*."+l), 400, "domain"},
		{"fail/the second destination outside", map[string]any{"type": "self_hosted", "name": "11",
			"destinations": dests("y.apps."+l, "out."+l)}, 400, "destinations[1].uri"},
		{"fail/a self-hosted domain outside", map[string]any{"type": "self_hosted", "name": "12",
			"self_hosted_domains": []string{"out2." + l}}, 400, "self_hosted_domains[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := appCount(t, a)
			resp := a.Call(t, "POST", "access/apps", tc.body)
			if resp.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.Status, tc.status, resp.Body)
			}
			if tc.status == 200 {
				return
			}
			if resp.Env.Errors[0].Code != 1002 || resp.Env.Errors[0].Field != tc.field || !strings.Contains(resp.Env.Errors[0].Message, "outside the account's domains") {
				t.Errorf("error %+v, want field %q, outside the account's domains", resp.Env.Errors[0], tc.field)
			}
			if n := appCount(t, a); n != before {
				t.Errorf("%d apps after the refusal, %d before", n, before)
			}
		})
	}
	// Another account cannot take a listed host, even one no app uses yet.
	assertHostInUse(t, b.Call(t, "POST", "access/apps", appBody("b", "free.apps."+l)), "domain", a.AccountID)
	assertHostInUse(t, b.Call(t, "POST", "access/apps", appBody("b", "site."+l+"/b")), "domain", a.AccountID)
	// Nor list it: the operator is told, not the tenant.
	c, _ := access.ParseAccountDomain("x.apps." + l)
	if err := a.Store.AddAccountDomain(ctx, op, b.AccountID, c); access.KindOf(err) != access.EConflict {
		t.Errorf("listing a host another account lists: %v, want a conflict", err)
	}
}
