package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// ownStore opens a store on a database of its own: the feed tests read
// the whole config and sweep the feed, which other tests must not see.
func ownStore(t testing.TB, opts ...store.Option) *store.Store {
	t.Helper()
	url := gatehousetest.NewDatabase(t)
	if err := store.MigrateUp(url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), url, append([]store.Option{store.WithMasterKey(gatehousetest.MasterKey)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// configState is a Config keyed for an order-insensitive comparison.
type configState struct {
	Version     int64
	Apps        map[string]access.App
	Policies    map[string]access.Policy
	Tokens      map[string]access.ServiceTokenCredential // by client id
	IdPs        map[string]access.IdentityProvider
	Revocations map[string]access.SessionRevocation
}

func revocationKey(r access.SessionRevocation) string {
	return r.AccountID + "|" + r.SessionID + "|" + r.Email
}

func stateOf(cfg access.Config) configState {
	s := configState{Version: cfg.Version, Apps: map[string]access.App{}, Policies: map[string]access.Policy{},
		Tokens: map[string]access.ServiceTokenCredential{}, IdPs: map[string]access.IdentityProvider{},
		Revocations: map[string]access.SessionRevocation{}}
	for _, a := range cfg.Apps {
		s.Apps[a.ID] = a
	}
	for _, p := range cfg.Policies {
		s.Policies[p.ID] = p
	}
	for _, t := range cfg.ServiceTokens {
		s.Tokens[t.ClientID] = t
	}
	for _, p := range cfg.IdentityProviders {
		s.IdPs[p.ID] = p
	}
	for _, r := range cfg.Revocations {
		s.Revocations[revocationKey(r)] = r
	}
	return s
}

// merge is the reference application of a delta: upsert what it carries,
// delete what it names.
func merge(s configState, d access.Delta) configState {
	out := stateOf(access.Config{})
	out.Version = d.To
	for k, v := range s.Apps {
		out.Apps[k] = v
	}
	for k, v := range s.Policies {
		out.Policies[k] = v
	}
	for k, v := range s.Tokens {
		out.Tokens[k] = v
	}
	for k, v := range s.IdPs {
		out.IdPs[k] = v
	}
	for k, v := range s.Revocations {
		out.Revocations[k] = v
	}
	for _, a := range d.Apps {
		out.Apps[a.ID] = a
	}
	for _, id := range d.DeletedApps {
		delete(out.Apps, id)
	}
	for _, p := range d.Policies {
		out.Policies[p.ID] = p
	}
	for _, id := range d.DeletedPolicies {
		delete(out.Policies, id)
	}
	for _, t := range d.ServiceTokens {
		out.Tokens[t.ClientID] = t
	}
	for _, id := range d.DeletedServiceTokens {
		delete(out.Tokens, id)
	}
	for _, p := range d.IdentityProviders {
		out.IdPs[p.ID] = p
	}
	for _, id := range d.DeletedIdentityProviders {
		delete(out.IdPs, id)
	}
	for _, r := range d.Revocations {
		out.Revocations[revocationKey(r)] = r
	}
	return out
}

func diffStates(t *testing.T, step string, got, want configState) {
	t.Helper()
	if got.Version != want.Version {
		t.Errorf("%s: version %d, want %d", step, got.Version, want.Version)
	}
	check := func(kind string, g, w any) {
		gv, wv := reflect.ValueOf(g), reflect.ValueOf(w)
		for _, k := range wv.MapKeys() {
			if x := gv.MapIndex(k); !x.IsValid() {
				t.Errorf("%s: %s %v missing after the delta", step, kind, k)
			} else if !reflect.DeepEqual(x.Interface(), wv.MapIndex(k).Interface()) {
				t.Errorf("%s: %s %v differs:\n merged %+v\n loaded %+v", step, kind, k, x.Interface(), wv.MapIndex(k).Interface())
			}
		}
		for _, k := range gv.MapKeys() {
			if !wv.MapIndex(k).IsValid() {
				t.Errorf("%s: %s %v still there after the delta", step, kind, k)
			}
		}
	}
	check("app", got.Apps, want.Apps)
	check("policy", got.Policies, want.Policies)
	check("service token", got.Tokens, want.Tokens)
	check("identity provider", got.IdPs, want.IdPs)
	check("revocation", got.Revocations, want.Revocations)
}

// feedWorld issues random writes against a store.
type feedWorld struct {
	t        *testing.T
	st       *store.Store
	rng      *rand.Rand
	accounts []string
	n        int
	keys     func(ctx context.Context) error // rotates the signing keys
	// policyAccount is each policy's account (a Policy does not say).
	policyAccount map[string]string
}

var actor = access.Actor{Name: "feed test"}

func (w *feedWorld) next() int { w.n++; return w.n }

func (w *feedWorld) pick(n int) int { return w.rng.IntN(n) }

func rawRules(rules ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(rules))
	for i, r := range rules {
		out[i] = json.RawMessage(r)
	}
	return out
}

func (w *feedWorld) policySpec(cfg access.Config, account string) (access.PolicySpec, access.PolicyRules) {
	decisions := []access.Decision{"allow", "deny", "bypass", "non_identity"}
	decision := decisions[w.pick(len(decisions))]
	include := []string{`{"everyone":{}}`}
	if w.pick(3) == 0 && decision != "non_identity" {
		include = []string{fmt.Sprintf(`{"email":{"email":"u%d@feed.test"}}`, w.next())}
	}
	var tokens []string
	for _, tok := range cfg.ServiceTokens {
		if tok.AccountID == account {
			tokens = append(tokens, tok.ID)
		}
	}
	if len(tokens) > 0 && w.pick(4) == 0 {
		include = append(include, fmt.Sprintf(`{"service_token":{"token_id":%q}}`, tokens[w.pick(len(tokens))]))
	}
	spec := access.PolicySpec{Name: fmt.Sprintf("p%d", w.next()), Decision: decision, Include: rawRules(include...)}
	rules, err := spec.Rules()
	if err != nil {
		w.t.Fatal(err)
	}
	return spec, rules
}

// links picks a random set of the account's reusable policies, keeping
// the app's own policies linked.
func (w *feedWorld) links(cfg access.Config, account, appID string) []access.PolicyLink {
	var out []access.PolicyLink
	for _, p := range cfg.Policies {
		if w.policyAccount[p.ID] != account {
			continue
		}
		if p.AppID == appID && appID != "" || p.Reusable && w.pick(2) == 0 {
			out = append(out, access.PolicyLink{ID: p.ID})
		}
	}
	w.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func (w *feedWorld) appSpec(cfg access.Config, account, appID string) access.ValidApp {
	n := w.next()
	spec := access.AppSpec{Type: access.AppTypeSelfHosted, Name: fmt.Sprintf("app%d", n),
		SelfHostedDomains: []string{fmt.Sprintf("a%d.feed.test", n)}, Policies: w.links(cfg, account, appID)}
	if w.pick(2) == 0 {
		spec.SelfHostedDomains = append(spec.SelfHostedDomains, fmt.Sprintf("a%d.feed.test/admin", n))
	}
	if w.pick(4) == 0 {
		spec.Origin = "https://origin.feed.test"
		spec.UpstreamServiceToken = access.UpstreamServiceTokenField{Present: true,
			Token: &access.UpstreamServiceTokenSpec{ClientID: "up.access", ClientSecret: fmt.Sprintf("secret%d", n)}}
	}
	for _, p := range cfg.IdentityProviders {
		if p.AccountID == account && w.pick(3) == 0 {
			spec.AllowedIdPs = append(spec.AllowedIdPs, p.ID)
		}
	}
	v, err := spec.Normalize()
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

func pickWhere[T any](w *feedWorld, xs []T, ok func(T) bool) (T, bool) {
	var c []T
	for _, x := range xs {
		if ok(x) {
			c = append(c, x)
		}
	}
	var zero T
	if len(c) == 0 {
		return zero, false
	}
	return c[w.pick(len(c))], true
}

// step makes one random write and names it.
func (w *feedWorld) step(ctx context.Context, cfg access.Config) (string, error) {
	acct := w.accounts[w.pick(len(w.accounts))]
	mine := func(a string) bool { return a == acct }
	app, haveApp := pickWhere(w, cfg.Apps, func(a access.App) bool { return mine(a.AccountID) })
	token, haveToken := pickWhere(w, cfg.ServiceTokens, func(t access.ServiceTokenCredential) bool { return mine(t.AccountID) })
	idp, haveIdP := pickWhere(w, cfg.IdentityProviders, func(p access.IdentityProvider) bool { return mine(p.AccountID) })
	reusable, haveReusable := pickWhere(w, cfg.Policies, func(p access.Policy) bool { return mine(w.policyAccount[p.ID]) && p.Reusable })
	own, haveOwn := pickWhere(w, cfg.Policies, func(p access.Policy) bool { return mine(w.policyAccount[p.ID]) && !p.Reusable })
	switch op := w.pick(22); {
	case op < 3 || !haveApp:
		_, err := w.st.CreateApp(ctx, actor, acct, w.appSpec(cfg, acct, ""))
		return "create app", err
	case op == 3:
		_, err := w.st.UpdateApp(ctx, actor, acct, app.ID, 0, w.appSpec(cfg, acct, app.ID))
		return "update app (domains, links)", err
	case op == 4:
		return "delete app", w.st.DeleteApp(ctx, actor, acct, app.ID, 0)
	case op == 5:
		_, err := w.st.RevokeAppSessions(ctx, actor, acct, app.ID)
		return "revoke app tokens", err
	case op == 6 || op == 7:
		spec, rules := w.policySpec(cfg, acct)
		p, err := w.st.CreatePolicy(ctx, actor, store.PolicyScope{AccountID: acct}, spec, rules)
		w.policyAccount[p.ID] = acct
		return "create reusable policy", err
	case op == 8:
		spec, rules := w.policySpec(cfg, acct)
		p, err := w.st.CreatePolicy(ctx, actor, store.PolicyScope{AccountID: acct, AppID: app.ID}, spec, rules)
		w.policyAccount[p.ID] = acct
		return "create app policy", err
	case op == 9 && haveReusable:
		spec, rules := w.policySpec(cfg, acct)
		_, err := w.st.UpdatePolicy(ctx, actor, store.PolicyScope{AccountID: acct}, reusable.ID, 0, spec, rules)
		return "update reusable policy", err
	case op == 10 && haveOwn:
		spec, rules := w.policySpec(cfg, acct)
		spec.Precedence = 1000 + w.next()
		_, err := w.st.UpdatePolicy(ctx, actor, store.PolicyScope{AccountID: acct, AppID: own.AppID}, own.ID, 0, spec, rules)
		return "update and move app policy", err
	case op == 11 && haveOwn:
		return "delete app policy", w.st.DeletePolicy(ctx, actor, store.PolicyScope{AccountID: acct, AppID: own.AppID}, own.ID, 0)
	case op == 12 && haveReusable:
		return "delete reusable policy", w.st.DeletePolicy(ctx, actor, store.PolicyScope{AccountID: acct}, reusable.ID, 0)
	case op == 13 && haveReusable:
		linked, ok := pickWhere(w, cfg.Apps, func(a access.App) bool {
			for _, l := range a.PolicyLinks {
				if l.ID == reusable.ID {
					return true
				}
			}
			return false
		})
		if ok {
			return "unlink reusable policy", w.st.DeletePolicy(ctx, actor, store.PolicyScope{AccountID: acct, AppID: linked.ID}, reusable.ID, 0)
		}
		fallthrough
	case op == 14 || !haveToken:
		_, err := w.st.CreateServiceToken(ctx, actor, acct, access.ServiceTokenSpec{Name: fmt.Sprintf("t%d", w.next())})
		return "create service token", err
	case op == 15:
		name := fmt.Sprintf("t%d", w.next())
		_, err := w.st.UpdateServiceToken(ctx, actor, acct, token.ID, 0, access.ServiceTokenUpdate{Name: &name})
		return "update service token", err
	case op == 16:
		_, err := w.st.RotateServiceToken(ctx, actor, acct, token.ID, nil)
		return "rotate service token", err
	case op == 17:
		_, err := w.st.RefreshServiceToken(ctx, actor, acct, token.ID)
		return "refresh service token", err
	case op == 18:
		_, err := w.st.DeleteServiceToken(ctx, actor, acct, token.ID, 0)
		return "delete service token", err
	case op == 19 && haveIdP && w.pick(2) == 0:
		_, err := w.st.UpdateIdentityProvider(ctx, actor, acct, idp.ID, 0, oidcSpec(fmt.Sprintf("idp%d", w.next()), "new-secret"))
		return "update identity provider", err
	case op == 19 && haveIdP:
		return "delete identity provider", w.st.DeleteIdentityProvider(ctx, actor, acct, idp.ID, 0)
	case op == 19:
		_, err := w.st.CreateIdentityProvider(ctx, actor, acct, oidcSpec(fmt.Sprintf("idp%d", w.next()), "secret"))
		return "create identity provider", err
	case op == 20:
		if w.pick(2) == 0 {
			return "logout", w.st.RevokeLoginSession(ctx, acct, fmt.Sprintf("session-%d", w.pick(5)))
		}
		return "revoke user", w.st.RevokeUserSessions(ctx, actor, acct, fmt.Sprintf("U%d@Feed.test", w.pick(5)))
	default:
		if w.keys != nil {
			return "rotate signing keys", w.keys(ctx)
		}
		_, err := w.st.CreateServiceToken(ctx, actor, acct, access.ServiceTokenSpec{Name: fmt.Sprintf("t%d", w.next())})
		return "create service token", err
	}
}

// TestFeedDeltasRebuildTheConfig: after every random write, the config
// before it plus Changes from its version equals the config loaded anew;
// and so does any earlier config plus the changes since.
func TestFeedDeltasRebuildTheConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := ownStore(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	w := &feedWorld{t: t, st: st, rng: rand.New(rand.NewPCG(seed, 1)), policyAccount: map[string]string{}}
	keys := session.NewKeyStore(st, gatehousetest.MasterKey)
	if _, err := keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	w.keys = func(ctx context.Context) error { _, err := keys.Rotate(ctx); return err }
	for _, name := range []string{"one", "two"} {
		a, err := st.CreateAccount(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		w.accounts = append(w.accounts, a.ID)
	}
	cfg, err := st.LoadConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	history := []access.Config{cfg}
	steps, failed := 300, 0
	if testing.Short() {
		steps = 80
	}
	for i := range steps {
		what, err := w.step(ctx, cfg)
		var ae *access.Error
		if errors.As(err, &ae) {
			failed++ // refused (a conflict, say): nothing may change
		} else if err != nil {
			t.Fatalf("step %d %s: %v", i, what, err)
		}
		step := fmt.Sprintf("step %d (%s, err %v)", i, what, err)
		d, err := st.Changes(ctx, cfg.Version)
		if err != nil {
			t.Fatalf("%s: changes: %v", step, err)
		}
		if d.From != cfg.Version {
			t.Fatalf("%s: delta from %d, want %d", step, d.From, cfg.Version)
		}
		if what == "rotate signing keys" && ae == nil && !d.SigningKeys {
			t.Errorf("%s: the delta does not say the keys changed", step)
		}
		next, err := st.LoadConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ae != nil && next.Version != cfg.Version {
			t.Errorf("%s: a refused write changed the version", step)
		}
		diffStates(t, step, merge(stateOf(cfg), d), stateOf(next))
		// From further back.
		old := history[w.pick(len(history))]
		d, err = st.Changes(ctx, old.Version)
		if err != nil {
			t.Fatalf("%s: changes since %d: %v", step, old.Version, err)
		}
		diffStates(t, step+fmt.Sprintf(" since version %d", old.Version), merge(stateOf(old), d), stateOf(next))
		if t.Failed() {
			t.FailNow()
		}
		cfg = next
		history = append(history, next)
	}
	t.Logf("%d steps, %d refused; %d apps, %d policies, %d tokens, %d providers, %d revocations at version %d",
		steps, failed, len(cfg.Apps), len(cfg.Policies), len(cfg.ServiceTokens), len(cfg.IdentityProviders), len(cfg.Revocations), cfg.Version)

	d, err := st.Changes(ctx, cfg.Version)
	if err != nil || d.From != cfg.Version || d.To != cfg.Version || !d.Empty() {
		t.Errorf("changes since the latest version: %+v %v", d, err)
	}
}

func TestFeedGapAfterASweep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := ownStore(t)
	acct, err := st.CreateAccount(ctx, "sweep")
	if err != nil {
		t.Fatal(err)
	}
	v0, err := st.ConfigVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tokens []access.ServiceToken
	for i := range 5 {
		tok, err := st.CreateServiceToken(ctx, actor, acct.ID, access.ServiceTokenSpec{Name: fmt.Sprintf("t%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	if d, err := st.Changes(ctx, v0); err != nil || len(d.ServiceTokens) != 5 {
		t.Fatalf("before the sweep: %d tokens, %v", len(d.ServiceTokens), err)
	}
	floor, err := st.SweepFeed(ctx, 2, time.Hour)
	if err != nil || floor != v0+3 {
		t.Fatalf("sweep keeping 2 versions: floor %d (want %d), %v", floor, v0+3, err)
	}
	if _, err := st.Changes(ctx, v0); !errors.Is(err, store.ErrFeedGap) {
		t.Errorf("changes from before the floor: %v, want ErrFeedGap", err)
	}
	d, err := st.Changes(ctx, floor)
	if err != nil || len(d.ServiceTokens) != 2 || d.ServiceTokens[0].ClientID == tokens[0].ClientID {
		t.Errorf("changes from the floor: %+v %v", d.ServiceTokens, err)
	}
	if _, err := st.Changes(ctx, v0+1000); !errors.Is(err, store.ErrFeedGap) {
		t.Errorf("changes from a version ahead of the database: %v, want ErrFeedGap", err)
	}
	// Age: everything older than the retention goes.
	if floor, err = st.SweepFeed(ctx, 1000, 0); err != nil || floor != v0+5 {
		t.Errorf("sweep by age: floor %d (want %d), %v", floor, v0+5, err)
	}
	if d, err := st.Changes(ctx, v0+5); err != nil || !d.Empty() {
		t.Errorf("changes from the newest version after a full sweep: %+v %v", d, err)
	}
	// A write too large for the feed (a bulk seed) moves the floor past it.
	v, err := st.BumpVersionPastFeed(ctx)
	if err != nil || v != v0+6 {
		t.Fatalf("bump past the feed: %d %v", v, err)
	}
	if _, err := st.Changes(ctx, v0+5); !errors.Is(err, store.ErrFeedGap) {
		t.Errorf("changes from before a bulk write: %v, want ErrFeedGap", err)
	}
	if d, err := st.Changes(ctx, v); err != nil || !d.Empty() || d.To != v {
		t.Errorf("changes from the bulk write's version: %+v %v", d, err)
	}
}

// TestFeedIsProportionalToTheChange: a delta reads the objects changed,
// and only them, however large the config.
func TestFeedChangesCarryOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := ownStore(t)
	acct, err := st.CreateAccount(ctx, "small delta")
	if err != nil {
		t.Fatal(err)
	}
	spec := access.PolicySpec{Name: "everyone", Decision: "allow", Include: rawRules(`{"everyone":{}}`)}
	rules, _ := spec.Rules()
	shared, err := st.CreatePolicy(ctx, actor, store.PolicyScope{AccountID: acct.ID}, spec, rules)
	if err != nil {
		t.Fatal(err)
	}
	var apps []access.App
	for i := range 20 {
		s := access.AppSpec{Type: access.AppTypeSelfHosted, Name: fmt.Sprintf("app%d", i), Domain: fmt.Sprintf("a%d.small.test", i),
			Policies: []access.PolicyLink{{ID: shared.ID}}}
		v, err := s.Normalize()
		if err != nil {
			t.Fatal(err)
		}
		app, err := st.CreateApp(ctx, actor, acct.ID, v)
		if err != nil {
			t.Fatal(err)
		}
		apps = append(apps, app)
	}
	v0, _ := st.ConfigVersion(ctx)
	spec.Name = "everyone, renamed"
	if _, err := st.UpdatePolicy(ctx, actor, store.PolicyScope{AccountID: acct.ID}, shared.ID, 0, spec, rules); err != nil {
		t.Fatal(err)
	}
	d, err := st.Changes(ctx, v0)
	if err != nil || d.To != v0+1 || len(d.Policies) != 1 || len(d.Apps) != 0 || d.Policies[0].Name != spec.Name {
		t.Fatalf("a shared policy's update: %+v %v", d, err)
	}
	own, err := st.CreatePolicy(ctx, actor, store.PolicyScope{AccountID: acct.ID, AppID: apps[3].ID}, spec, rules)
	if err != nil {
		t.Fatal(err)
	}
	d, err = st.Changes(ctx, v0+1)
	if err != nil || len(d.Policies) != 1 || len(d.Apps) != 1 || d.Apps[0].ID != apps[3].ID ||
		!reflect.DeepEqual(d.Apps[0].PolicyLinks, []access.PolicyLink{{ID: shared.ID, Precedence: 1}, {ID: own.ID, Precedence: 2}}) ||
		len(d.Apps[0].Policies) != 0 {
		t.Fatalf("an app policy's creation: %+v %v", d, err)
	}
	if err := st.DeleteApp(ctx, actor, acct.ID, apps[3].ID, 0); err != nil {
		t.Fatal(err)
	}
	d, err = st.Changes(ctx, v0+2)
	if err != nil || !reflect.DeepEqual(d.DeletedApps, []string{apps[3].ID}) || !reflect.DeepEqual(d.DeletedPolicies, []string{own.ID}) {
		t.Fatalf("an app's deletion: %+v %v", d, err)
	}
	if err := st.RevokeLoginSession(ctx, acct.ID, "s1"); err != nil {
		t.Fatal(err)
	}
	d, err = st.Changes(ctx, v0+3)
	if err != nil || len(d.Revocations) != 1 || d.Revocations[0].SessionID != "s1" || d.Revocations[0].AccountID != acct.ID {
		t.Fatalf("a logout: %+v %v", d, err)
	}
}
