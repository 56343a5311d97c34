// Package feedmodel_test is the change feed's model test: random
// sequences of writes through the real API, each followed at the edge's
// side by Changes + Apply, and every decision of the resulting snapshot
// compared with a snapshot compiled from scratch from the whole config.
package feedmodel_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestMain(m *testing.M) { gatehousetest.Main(m) }

// world is what the test knows of the account it writes to: the ids it
// may name in the next write, and every secret it was shown.
type world struct {
	apps      []string
	reusable  []string // reusable policy ids
	appPols   map[string][]string
	tokens    []token
	idps      []string
	groups    []string // Access group ids
	emails    []string
	sessions  []string
	hosts     []string // exact hosts
	wildcards []string // "*.parent"
}

type token struct {
	id, clientID string
	secrets      []string // every secret ever issued, newest last
}

// model drives one random sequence.
type model struct {
	t   *testing.T
	rng *rand.Rand
	api *gatehousetest.API
	st  *store.Store
	w   world
	ops map[string]int // op -> accepted writes, reported at the end
	// rotated is set by a key rotation, for the next delta to show.
	rotated bool
}

func steps() int {
	if n, err := strconv.Atoi(os.Getenv("FEEDMODEL_STEPS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return 60
	}
	return 250
}

func TestDeltasDecideAsACompileFromScratch(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		// One after another: each compares versions of the one database.
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			runModel(t, seed, steps())
		})
	}
}

func runModel(t *testing.T, seed uint64, n int) {
	ctx := context.Background()
	st := gatehousetest.Store(t, store.WithMasterKey(gatehousetest.MasterKey))
	api := gatehousetest.NewAPIOn(t, st)
	api.SkipSpecCheck()
	m := &model{t: t, rng: rand.New(rand.NewPCG(seed, seed*7919)), api: api, st: st, ops: map[string]int{}}
	m.w.appPols = map[string][]string{}
	for i := range 3 {
		m.w.hosts = append(m.w.hosts, gatehousetest.Host(t, fmt.Sprintf("m%d-s%d", i, seed)))
	}
	m.w.wildcards = append(m.w.wildcards, "*."+gatehousetest.Host(t, fmt.Sprintf("w-s%d", seed)))
	m.w.emails = []string{"ann@example.com", "bob@corp.example", "Eve@Example.com"}

	cfg, err := st.LoadConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	edge, err := policy.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	deltas := 0
	for step := range n {
		op := m.step()
		d, err := st.Changes(ctx, edge.Version)
		if err != nil {
			t.Fatalf("step %d (%s): Changes(%d): %v", step, op, edge.Version, err)
		}
		if d.SigningKeys != m.rotated {
			t.Fatalf("step %d (%s): delta's SigningKeys is %v after a rotation: %v", step, op, d.SigningKeys, m.rotated)
		}
		m.rotated = false
		prev := edge
		next, err := edge.Apply(d)
		if err != nil {
			t.Fatalf("step %d (%s): Apply(%d..%d): %v", step, op, d.From, d.To, err)
		}
		if !d.Empty() {
			deltas++
		}
		cfg, err := st.LoadConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := policy.Compile(cfg)
		if err != nil {
			t.Fatalf("step %d: compile from scratch: %v", step, err)
		}
		if next.Version != fresh.Version {
			t.Fatalf("step %d (%s): applied version %d, loaded %d", step, op, next.Version, fresh.Version)
		}
		// The previous snapshot must still answer as it did (Apply
		// copies what it changes); check it against itself before and
		// after, cheaply, on a sample.
		before := m.answers(prev)
		if diff := m.compare(next, fresh); diff != "" {
			t.Fatalf("step %d (%s), version %d: the snapshot built by deltas decides differently:\n%s", step, op, next.Version, diff)
		}
		if after := m.answers(prev); !slices.Equal(before, after) {
			t.Fatalf("step %d (%s): applying a delta changed the previous snapshot's answers", step, op)
		}
		edge = next
	}
	t.Logf("seed %d: %d steps, %d non-empty deltas, writes accepted: %v", seed, n, deltas, m.ops)
	if deltas < n/3 {
		t.Fatalf("only %d of %d steps changed anything: the random writes are mostly refused", deltas, n)
	}
}

// step makes one random write through the API (or the store, for a
// logout) and returns its name. A write the API refuses is fine: it
// must change nothing, which the comparison checks too.
func (m *model) step() string {
	r := m.rng
	type op struct {
		name   string
		weight int
		run    func() bool
	}
	ops := []op{
		{"create_app", 6, m.createApp},
		{"update_app", 6, m.updateApp},
		{"delete_app", 2, m.deleteApp},
		{"revoke_app_tokens", 1, m.revokeAppTokens},
		{"create_reusable_policy", 4, m.createReusablePolicy},
		{"update_reusable_policy", 5, m.updateReusablePolicy},
		{"delete_reusable_policy", 1, m.deleteReusablePolicy},
		{"create_app_policy", 3, m.createAppPolicy},
		{"update_app_policy", 2, m.updateAppPolicy},
		{"delete_app_policy", 1, m.deleteAppPolicy},
		{"create_token", 4, m.createToken},
		{"rotate_token", 2, m.rotateToken},
		{"refresh_token", 1, m.refreshToken},
		{"delete_token", 1, m.deleteToken},
		{"create_idp", 2, m.createIdP},
		{"update_idp", 2, m.updateIdP},
		{"rotate_signing_keys", 1, m.rotateKeys},
		{"delete_idp", 1, m.deleteIdP},
		{"create_group", 2, m.createGroup},
		{"update_group", 3, m.updateGroup},
		{"delete_group", 1, m.deleteGroup},
		{"revoke_user", 1, m.revokeUser},
		{"logout", 1, m.logout},
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	k := r.IntN(total)
	for _, o := range ops {
		if k < o.weight {
			if o.run() {
				m.ops[o.name]++
			}
			return o.name
		}
		k -= o.weight
	}
	panic("unreachable")
}

func (m *model) pick(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[m.rng.IntN(len(list))]
}

func (m *model) call(method, path string, body any) (gatehousetest.Response, bool) {
	resp := m.api.Call(m.t, method, path, body)
	if resp.Status >= 500 {
		m.t.Fatalf("%s %s: %d %s", method, path, resp.Status, resp.Body)
	}
	return resp, resp.Status < 300
}

func (m *model) domain() string {
	paths := []string{"", "", "/a", "/a/b", "/b", "/A"}
	if m.rng.IntN(5) == 0 {
		return m.pick(m.w.wildcards) + m.pick(paths)
	}
	return m.pick(m.w.hosts) + m.pick(paths)
}

func (m *model) appBody() map[string]any {
	r := m.rng
	domains := []string{m.domain()}
	if r.IntN(4) == 0 {
		domains = append(domains, m.domain())
	}
	body := map[string]any{
		"type": "self_hosted", "name": fmt.Sprintf("app-%d", r.IntN(1e6)),
		"domain": domains[0], "self_hosted_domains": domains,
		"origin":           "http://127.0.0.1:9",
		"session_duration": m.pick([]string{"24h", "30m", "720h"}),
	}
	if r.IntN(3) == 0 {
		body["cors_headers"] = map[string]any{
			"allowed_origins": []string{"https://a.example", "https://b.example"}[:1+r.IntN(2)],
			"allowed_methods": []string{"GET", "PUT"}, "allow_credentials": r.IntN(2) == 0, "max_age": r.IntN(600),
		}
	}
	if r.IntN(4) == 0 {
		body["options_preflight_bypass"] = true
	}
	if r.IntN(3) == 0 && len(m.w.idps) > 0 {
		body["allowed_idps"] = []string{m.pick(m.w.idps)}
	}
	var links []map[string]any
	for i, id := range m.sample(m.w.reusable, r.IntN(3)) {
		links = append(links, map[string]any{"id": id, "precedence": i + 1 + r.IntN(2)*10})
	}
	if links != nil {
		body["policies"] = links
	}
	return body
}

func (m *model) sample(list []string, n int) []string {
	out := slices.Clone(list)
	m.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:min(n, len(out))]
}

// create POSTs body to path and adds the new object's id to ids.
func (m *model) create(path string, body any, ids *[]string) bool {
	resp, ok := m.call("POST", path, body)
	if ok {
		var obj struct {
			ID string `json:"id"`
		}
		resp.Decode(m.t, &obj)
		*ids = append(*ids, obj.ID)
	}
	return ok
}

// update PUTs body to path/id for one of ids.
func (m *model) update(path string, ids []string, body func() map[string]any) bool {
	id := m.pick(ids)
	if id == "" {
		return false
	}
	_, ok := m.call("PUT", path+"/"+id, body())
	return ok
}

// remove DELETEs path/id for one of ids and drops it from ids; it
// returns the id when the API deleted it.
func (m *model) remove(path string, ids *[]string) (string, bool) {
	id := m.pick(*ids)
	if id == "" {
		return "", false
	}
	if _, ok := m.call("DELETE", path+"/"+id, nil); !ok {
		return id, false
	}
	*ids = slices.DeleteFunc(*ids, func(s string) bool { return s == id })
	return id, true
}

func (m *model) createApp() bool { return m.create("access/apps", m.appBody(), &m.w.apps) }

func (m *model) updateApp() bool {
	id := m.pick(m.w.apps)
	if id == "" {
		return false
	}
	body := m.appBody()
	// An app's own policies must stay linked.
	if own := m.w.appPols[id]; len(own) > 0 {
		links, _ := body["policies"].([]map[string]any)
		for i, pid := range own {
			links = append(links, map[string]any{"id": pid, "precedence": 100 + i})
		}
		body["policies"] = links
	}
	_, ok := m.call("PUT", "access/apps/"+id, body)
	return ok
}

func (m *model) deleteApp() bool {
	id, ok := m.remove("access/apps", &m.w.apps)
	if ok {
		delete(m.w.appPols, id)
	}
	return ok
}

func (m *model) revokeAppTokens() bool {
	id := m.pick(m.w.apps)
	if id == "" {
		return false
	}
	_, ok := m.call("POST", "access/apps/"+id+"/revoke_tokens", nil)
	return ok
}

func (m *model) rules(n int) []map[string]any { return m.rulesOf(n, true) }

// rulesOf is n random rules, group rules among them when groups says so
// (not in a group's own rules: groups do not nest).
func (m *model) rulesOf(n int, groups bool) []map[string]any {
	var out []map[string]any
	kinds := 8
	if groups {
		kinds = 9
	}
	for range n {
		switch m.rng.IntN(kinds) {
		case 0:
			out = append(out, map[string]any{"email": map[string]any{"email": m.pick(m.w.emails)}})
		case 1:
			out = append(out, map[string]any{"email_domain": map[string]any{"domain": m.pick([]string{"example.com", "corp.example"})}})
		case 2:
			out = append(out, map[string]any{"everyone": map[string]any{}})
		case 3:
			out = append(out, map[string]any{"ip": map[string]any{"ip": m.pick([]string{"10.0.0.0/8", "192.0.2.7/32"})}})
		case 4:
			if tok := m.pickToken(); tok != nil {
				out = append(out, map[string]any{"service_token": map[string]any{"token_id": tok.id}})
			}
		case 5:
			out = append(out, map[string]any{"any_valid_service_token": map[string]any{}})
		case 6:
			if id := m.pick(m.w.idps); id != "" {
				out = append(out, map[string]any{"login_method": map[string]any{"id": id}})
			}
		case 7:
			out = append(out, map[string]any{"geo": map[string]any{"country_code": m.pick([]string{"US", "FR"})}})
		case 8:
			if id := m.pick(m.w.groups); id != "" {
				out = append(out, map[string]any{"group": map[string]any{"id": id}})
			}
		}
	}
	if len(out) == 0 {
		out = append(out, map[string]any{"everyone": map[string]any{}})
	}
	return out
}

func (m *model) policyBody() map[string]any {
	decision := m.pick([]string{"allow", "allow", "deny", "bypass", "non_identity"})
	include := m.rules(1 + m.rng.IntN(2))
	if decision == "bypass" {
		include = []map[string]any{{"everyone": map[string]any{}}}
		if m.rng.IntN(2) == 0 {
			include = []map[string]any{{"ip": map[string]any{"ip": "10.0.0.0/8"}}}
		}
	}
	if decision == "non_identity" {
		include = []map[string]any{{"any_valid_service_token": map[string]any{}}}
		if tok := m.pickToken(); tok != nil && m.rng.IntN(2) == 0 {
			include = []map[string]any{{"service_token": map[string]any{"token_id": tok.id}}}
		}
	}
	body := map[string]any{"name": fmt.Sprintf("p-%d", m.rng.IntN(1e6)), "decision": decision, "include": include}
	if decision == "allow" || decision == "deny" {
		if m.rng.IntN(3) == 0 {
			body["require"] = m.rules(1)
		}
		if m.rng.IntN(3) == 0 {
			body["exclude"] = m.rules(1)
		}
		if m.rng.IntN(3) == 0 {
			body["session_duration"] = m.pick([]string{"15m", "12h"})
		}
	}
	return body
}

func (m *model) createReusablePolicy() bool {
	return m.create("access/policies", m.policyBody(), &m.w.reusable)
}

func (m *model) updateReusablePolicy() bool {
	return m.update("access/policies", m.w.reusable, m.policyBody)
}

func (m *model) deleteReusablePolicy() bool {
	_, ok := m.remove("access/policies", &m.w.reusable)
	return ok
}

func (m *model) createAppPolicy() bool {
	app := m.pick(m.w.apps)
	if app == "" {
		return false
	}
	body := m.policyBody()
	if m.rng.IntN(2) == 0 {
		body["precedence"] = 1 + m.rng.IntN(20)
	}
	resp, ok := m.call("POST", "access/apps/"+app+"/policies", body)
	if ok {
		var p access.Policy
		resp.Decode(m.t, &p)
		m.w.appPols[app] = append(m.w.appPols[app], p.ID)
	}
	return ok
}

func (m *model) appPolicy() (app, id string) {
	var apps []string
	for a, ps := range m.w.appPols {
		if len(ps) > 0 {
			apps = append(apps, a)
		}
	}
	slices.Sort(apps)
	app = m.pick(apps)
	if app == "" {
		return "", ""
	}
	return app, m.pick(m.w.appPols[app])
}

func (m *model) updateAppPolicy() bool {
	app, id := m.appPolicy()
	if app == "" {
		return false
	}
	_, ok := m.call("PUT", "access/apps/"+app+"/policies/"+id, m.policyBody())
	return ok
}

func (m *model) deleteAppPolicy() bool {
	app, id := m.appPolicy()
	if app == "" {
		return false
	}
	_, ok := m.call("DELETE", "access/apps/"+app+"/policies/"+id, nil)
	if ok {
		m.w.appPols[app] = slices.DeleteFunc(m.w.appPols[app], func(s string) bool { return s == id })
	}
	return ok
}

func (m *model) pickToken() *token {
	if len(m.w.tokens) == 0 {
		return nil
	}
	return &m.w.tokens[m.rng.IntN(len(m.w.tokens))]
}

type tokenResult struct {
	ID           string `json:"id"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func (m *model) createToken() bool {
	body := map[string]any{"name": fmt.Sprintf("tok-%d", m.rng.IntN(1e6))}
	if m.rng.IntN(3) == 0 {
		body["duration"] = m.pick([]string{"1h", "8760h"})
	}
	resp, ok := m.call("POST", "access/service_tokens", body)
	if ok {
		var tr tokenResult
		resp.Decode(m.t, &tr)
		m.w.tokens = append(m.w.tokens, token{id: tr.ID, clientID: tr.ClientID, secrets: []string{tr.ClientSecret}})
	}
	return ok
}

func (m *model) rotateToken() bool {
	tok := m.pickToken()
	if tok == nil {
		return false
	}
	var body any
	if m.rng.IntN(2) == 0 {
		body = map[string]any{"previous_client_secret_expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
	}
	resp, ok := m.call("POST", "access/service_tokens/"+tok.id+"/rotate", body)
	if ok {
		var tr tokenResult
		resp.Decode(m.t, &tr)
		tok.secrets = append(tok.secrets, tr.ClientSecret)
	}
	return ok
}

func (m *model) refreshToken() bool {
	tok := m.pickToken()
	if tok == nil {
		return false
	}
	_, ok := m.call("POST", "access/service_tokens/"+tok.id+"/refresh", nil)
	return ok
}

func (m *model) deleteToken() bool {
	tok := m.pickToken()
	if tok == nil {
		return false
	}
	id := tok.id
	_, ok := m.call("DELETE", "access/service_tokens/"+id, nil)
	if ok {
		m.w.tokens = slices.DeleteFunc(m.w.tokens, func(t token) bool { return t.id == id })
	}
	return ok
}

// idpBody is a one-time PIN provider (one per account) or an OpenID
// Connect one, whose client secret the edge's config carries opened.
func (m *model) idpBody() map[string]any {
	name := fmt.Sprintf("idp-%d", m.rng.IntN(1e6))
	if m.rng.IntN(4) == 0 {
		return map[string]any{"name": name, "type": "onetimepin", "config": map[string]any{}}
	}
	return map[string]any{"name": name, "type": "oidc", "config": map[string]any{
		"client_id": name, "client_secret": fmt.Sprintf("secret-%d", m.rng.IntN(1e6)),
		"auth_url": "https://idp.example.test/authorize", "token_url": "https://idp.example.test/token",
		"certs_url": "https://idp.example.test/jwks",
	}}
}

func (m *model) groupBody() map[string]any {
	body := map[string]any{"name": fmt.Sprintf("g-%d", m.rng.IntN(1e6)), "include": m.rulesOf(1+m.rng.IntN(2), false)}
	if m.rng.IntN(3) == 0 {
		body["require"] = m.rulesOf(1, false)
	}
	if m.rng.IntN(3) == 0 {
		body["exclude"] = m.rulesOf(1, false)
	}
	return body
}

func (m *model) createGroup() bool {
	return m.create("access/groups", m.groupBody(), &m.w.groups)
}

func (m *model) updateGroup() bool {
	return m.update("access/groups", m.w.groups, m.groupBody)
}

func (m *model) deleteGroup() bool {
	_, ok := m.remove("access/groups", &m.w.groups)
	return ok
}

func (m *model) createIdP() bool {
	return m.create("access/identity_providers", m.idpBody(), &m.w.idps)
}

func (m *model) updateIdP() bool {
	return m.update("access/identity_providers", m.w.idps, m.idpBody)
}

func (m *model) deleteIdP() bool {
	_, ok := m.remove("access/identity_providers", &m.w.idps)
	return ok
}

func (m *model) rotateKeys() bool {
	if _, err := session.NewKeyStore(m.st, gatehousetest.MasterKey).Rotate(context.Background()); err != nil {
		m.t.Fatal(err)
	}
	m.rotated = true
	return true
}

func (m *model) revokeUser() bool {
	_, ok := m.call("POST", "access/organizations/revoke_user", map[string]any{"email": m.pick(m.w.emails)})
	return ok
}

func (m *model) logout() bool {
	sid := fmt.Sprintf("sid-%d", m.rng.IntN(8))
	m.w.sessions = append(m.w.sessions, sid)
	if err := m.st.RevokeLoginSession(context.Background(), m.api.AccountID, sid); err != nil {
		m.t.Fatal(err)
	}
	return true
}

// probeHosts are the hosts and paths every comparison routes.
func (m *model) probes() (hosts, paths []string) {
	hosts = slices.Clone(m.w.hosts)
	for _, w := range m.w.wildcards {
		parent := strings.TrimPrefix(w, "*.")
		hosts = append(hosts, "x."+parent, "a.b."+parent, parent)
	}
	return hosts, []string{"/", "/a", "/a/b/c", "/b", "/A", "/c", "/a/../b"}
}

// answers lists everything a snapshot answers for the probe requests, one
// line each, so that two snapshots compare line by line.
func (m *model) answers(s *policy.Snapshot) []string {
	now := time.Now()
	past := now.Add(-time.Hour)
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	hosts, paths := m.probes()
	for _, inv := range s.InvalidDomains() {
		add("invalid %s %s", inv.AppID, inv.Domain)
	}
	slices.Sort(out)
	seen := map[string]bool{}
	for _, h := range hosts {
		for _, p := range paths {
			cp, err := access.CanonicalPath(p)
			if err != nil {
				panic(err)
			}
			app, reason := s.Route(h, cp)
			if app == nil {
				add("route %s%s -> none %s", h, p, reason)
				continue
			}
			add("route %s%s -> %s %s %s", h, p, app.ID, app.Domain, reason)
			if seen[app.ID+app.Domain] {
				continue
			}
			seen[app.ID+app.Domain] = true
			out = append(out, m.appAnswers(s, app, now, past)...)
		}
	}
	return out
}

func (m *model) appAnswers(s *policy.Snapshot, app *policy.App, now, past time.Time) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	add("app %s %s session=%v cors=%v bypass=%v idps=%v", app.ID, app.Domain, app.SessionDuration, app.CORS != nil, app.PreflightBypass, app.AllowedIdPs)
	for _, idp := range s.LoginMethods(app) {
		add("  login method %s %s", idp.ID, idp.Name)
	}
	pf := app.Preflight("https://a.example", "PUT", "")
	add("  preflight %v %s %v", pf.Outcome, pf.Reason, pf.Headers)
	decide := func(label string, f policy.Facts) {
		d := s.Decide(app, f)
		pid := ""
		if d.Policy != nil {
			pid = d.Policy.ID
		}
		add("  decide %s: %v %s %s %v", label, d.Action, d.Reason, pid, d.NonIdentity)
	}
	ips := []string{"10.1.2.3", "203.0.113.9"}
	idps := append([]string{""}, m.w.idps...)
	for _, ip := range ips {
		addr := mustAddr(ip)
		decide("anon "+ip, policy.Facts{IP: addr, Country: "US"})
		for _, e := range m.w.emails {
			for _, idp := range idps {
				decide("user "+e+" "+idp+" "+ip, policy.Facts{IP: addr, Country: "FR", Identity: &policy.Identity{Email: e, LoginMethod: idp}})
			}
		}
		for _, tok := range m.w.tokens {
			for i, secret := range tok.secrets {
				t, reason := s.AuthenticateServiceToken(app, tok.clientID, secret, now)
				if t == nil {
					add("  token %s secret %d: %s", tok.id, i, reason)
					continue
				}
				add("  token %s secret %d: %s %s binding=%s", tok.id, i, t.ID, t.Name, t.Binding())
				decide("token "+tok.id+" "+ip, policy.Facts{IP: addr, Token: t})
				st, reason := s.ServiceTokenSession(app, tok.clientID, t.Binding(), now)
				add("  token session %s: %v %s", tok.id, st != nil, reason)
			}
		}
	}
	for _, e := range m.w.emails {
		for _, sid := range append([]string{"sid-none"}, m.w.sessions...) {
			add("  revoked %s %s: %v %v", e, sid, s.SessionRevoked(app, sid, e, past), s.SessionRevoked(app, sid, e, now.Add(time.Hour)))
		}
	}
	return out
}

// compare returns the first differences between two snapshots' answers.
func (m *model) compare(got, want *policy.Snapshot) string {
	a, b := m.answers(got), m.answers(want)
	if slices.Equal(a, b) {
		return ""
	}
	var diff []string
	for i := 0; i < max(len(a), len(b)) && len(diff) < 12; i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			diff = append(diff, "  deltas:  "+x, "  scratch: "+y)
		}
	}
	return strings.Join(diff, "\n")
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
