package policy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// The model test keeps a reference configuration, changes it at random
// the way the control plane does (apps, domains, policies, links, service
// tokens and their rotations, identity providers, revocations), and after
// each change applies the delta to a running snapshot. The result must
// answer every probe exactly as a snapshot compiled from scratch from the
// reference, and the snapshot it was applied to must still answer as it
// did.

var modelNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// The universe the model draws from: hosts with wildcards over them,
// paths, case variants and stored forms that are not valid domains.
var (
	modelDomains = []string{
		"a.test", "a.test/api", "a.test/api/v1", "a.test/admin", "A.test", "a.test/API",
		"*.a.test", "*.a.test/api", "*.x.a.test", "x.a.test", "x.a.test/admin",
		"b.test", "b.test/api", "*.b.test", "c.test", "c.test/a;b", "c.test/../admin", "c.test/api",
	}
	modelHosts = []string{"a.test", "x.a.test", "q.x.a.test", "y.a.test", "b.test", "z.b.test", "c.test", "d.test"}
	modelPaths = []string{"/", "/api", "/api/v1/x", "/admin", "/API", "/api;x", "/admin/", "/%61dmin"}
	modelIPs   = []string{"10.0.0.1", "192.168.1.9", ""}
	modelMails = []string{"ann@a.test", "bob@b.test", "eve@evil.test"}
	modelIdPs  = []string{"idp-1", "idp-2", "idp-3"}
	accounts   = []string{account, otherAccount}
)

type modelToken struct {
	cred    access.ServiceTokenCredential
	secrets []string // every secret it ever had, current last
}

type model struct {
	t        testing.TB
	rng      *rand.Rand
	version  int64
	next     int
	apps     map[string]access.App
	policies map[string]access.Policy
	tokens   map[string]*modelToken // by token id
	idps     map[string]access.IdentityProvider
	revs     []access.SessionRevocation
	clients  []string // every client id ever issued
	secrets  []string // every secret ever issued

	// The pending delta: ids changed since the last one.
	dApps, dPolicies, dTokens, dIdPs map[string]bool
	dClients                         map[string]bool // client ids deleted
	dRevs                            []access.SessionRevocation
}

func newModel(t testing.TB, seed uint64) *model {
	m := &model{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), version: 1,
		apps: map[string]access.App{}, policies: map[string]access.Policy{}, tokens: map[string]*modelToken{},
		idps: map[string]access.IdentityProvider{}}
	m.resetDelta()
	return m
}

func (m *model) resetDelta() {
	m.dApps, m.dPolicies, m.dTokens, m.dIdPs, m.dClients, m.dRevs = map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}, nil
}

func (m *model) id(prefix string) string {
	m.next++
	return fmt.Sprintf("%s-%04d", prefix, m.next)
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func pickKey[V any](rng *rand.Rand, mp map[string]V) (string, bool) {
	if len(mp) == 0 {
		return "", false
	}
	keys := slices.Sorted(maps.Keys(mp))
	return pick(rng, keys), true
}

func (m *model) rule() access.Rule {
	switch m.rng.IntN(9) {
	case 0:
		return email(pick(m.rng, modelMails))
	case 1:
		return emailDomain(strings.SplitN(pick(m.rng, modelMails), "@", 2)[1])
	case 2:
		return everyone()
	case 3:
		return ip(pick(m.rng, []string{"10.0.0.0/8", "192.168.0.0/16", "0.0.0.0/0"}))
	case 4:
		if id, ok := pickKey(m.rng, m.tokens); ok && m.rng.IntN(4) > 0 {
			return serviceToken(id)
		}
		return serviceToken("99999999-9999-4999-8999-999999999999")
	case 5:
		return anyValidServiceToken()
	case 6:
		return geo(pick(m.rng, []string{"DE", "KP"}))
	default:
		return loginMethod(pick(m.rng, modelIdPs))
	}
}

func (m *model) rules(min, max int) []access.Rule {
	n := min + m.rng.IntN(max-min+1)
	out := make([]access.Rule, n)
	for i := range out {
		out[i] = m.rule()
	}
	return out
}

func (m *model) putPolicy(id string) {
	p := access.Policy{ID: id, Name: "name of " + id, Decision: pick(m.rng, []access.Decision{
		access.DecisionAllow, access.DecisionAllow, access.DecisionDeny, access.DecisionBypass, access.DecisionNonIdentity}),
		Include: m.rules(1, 3), Require: m.rules(0, 1), Exclude: m.rules(0, 1)}
	if m.rng.IntN(3) == 0 {
		p.SessionDuration = "30m"
	}
	if p.Decision == access.DecisionAllow && m.rng.IntN(4) == 0 {
		p.PurposeJustificationRequired, p.PurposeJustificationPrompt = true, "why?"
	}
	m.policies[id] = p
	m.dPolicies[id] = true
}

func (m *model) links() []access.PolicyLink {
	ids := slices.Sorted(maps.Keys(m.policies))
	m.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	n := min(len(ids), m.rng.IntN(4))
	out := make([]access.PolicyLink, n)
	for i := range out {
		out[i] = access.PolicyLink{ID: ids[i], Precedence: i + 1}
	}
	return out
}

func (m *model) putApp(a access.App) {
	a.SelfHostedDomains = nil
	for range 1 + m.rng.IntN(3) {
		a.SelfHostedDomains = append(a.SelfHostedDomains, pick(m.rng, modelDomains))
	}
	a.PolicyLinks = m.links()
	a.AllowedIdPs = nil
	if m.rng.IntN(3) == 0 {
		a.AllowedIdPs = []string{pick(m.rng, modelIdPs)}
	}
	a.SessionsRevokedAt = nil
	if m.rng.IntN(4) == 0 {
		at := modelNow.Add(time.Duration(m.rng.IntN(3)-1) * time.Hour)
		a.SessionsRevokedAt = &at
	}
	a.Name = m.id("name")
	m.apps[a.ID] = a
	m.dApps[a.ID] = true
}

func (m *model) secret() string {
	s := m.id("secret")
	m.secrets = append(m.secrets, s)
	return s
}

func (m *model) step() string {
	op := m.rng.IntN(20)
	// Keep the configuration small, so that hosts are crowded: creations
	// past a size become deletions.
	switch {
	case op < 4 && len(m.apps) > 25:
		op = 7
	case op >= 12 && op < 14 && len(m.tokens) > 12:
		op = 16
	case op >= 8 && op < 11 && len(m.policies) > 12:
		op = 11
	}
	switch {
	case op < 4: // create an app
		id := m.id("app")
		a := newApp(id)
		a.AccountID = pick(m.rng, accounts)
		// Some apps are created in the same instant: the id orders them.
		a.CreatedAt = modelNow.Add(time.Duration(m.next/3) * time.Second)
		m.putApp(a)
		return "create app " + id
	case op < 7: // update an app: domains, links, settings
		id, ok := pickKey(m.rng, m.apps)
		if !ok {
			return "no app to update"
		}
		a := m.apps[id]
		switch m.rng.IntN(3) {
		case 0:
			m.putApp(a)
		case 1: // reorder the links
			a.PolicyLinks = slices.Clone(a.PolicyLinks)
			m.rng.Shuffle(len(a.PolicyLinks), func(i, j int) { a.PolicyLinks[i], a.PolicyLinks[j] = a.PolicyLinks[j], a.PolicyLinks[i] })
			m.apps[id] = a
			m.dApps[id] = true
		default: // links only
			a.PolicyLinks = m.links()
			m.apps[id] = a
			m.dApps[id] = true
		}
		return "update app " + id
	case op < 8:
		id, ok := pickKey(m.rng, m.apps)
		if !ok {
			return "no app to delete"
		}
		delete(m.apps, id)
		m.dApps[id] = true
		return "delete app " + id
	case op < 11: // create or update a policy
		id, ok := pickKey(m.rng, m.policies)
		if !ok || m.rng.IntN(2) == 0 {
			id = m.id("pol")
		}
		m.putPolicy(id)
		return "put policy " + id
	case op < 12: // delete a policy: usually unlinked first, as the store does
		id, ok := pickKey(m.rng, m.policies)
		if !ok {
			return "no policy to delete"
		}
		delete(m.policies, id)
		m.dPolicies[id] = true
		if m.rng.IntN(5) > 0 {
			for aid, a := range m.apps {
				if i := slices.IndexFunc(a.PolicyLinks, func(l access.PolicyLink) bool { return l.ID == id }); i >= 0 {
					a.PolicyLinks = slices.Delete(slices.Clone(a.PolicyLinks), i, i+1)
					m.apps[aid] = a
					m.dApps[aid] = true
				}
			}
			return "delete policy " + id
		}
		return "delete policy " + id + ", leaving its links"
	case op < 14: // create a token
		id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", m.next)
		m.next++
		s := m.secret()
		c := access.ServiceTokenCredential{ID: id, AccountID: pick(m.rng, accounts), Name: m.id("tok"),
			ClientID: m.id("client") + ".access", SecretHash: access.HashSecret(s),
			ExpiresAt: modelNow.Add(time.Duration(m.rng.IntN(3)-1) * time.Hour)}
		m.tokens[id] = &modelToken{cred: c, secrets: []string{s}}
		m.clients = append(m.clients, c.ClientID)
		m.dTokens[id] = true
		return "create token " + id
	case op < 16: // rotate a token, the previous secret valid for a while
		id, ok := pickKey(m.rng, m.tokens)
		if !ok {
			return "no token to rotate"
		}
		tok := m.tokens[id]
		s := m.secret()
		c := tok.cred
		c.PreviousSecretHash = c.SecretHash
		exp := modelNow.Add(time.Duration(m.rng.IntN(3)-1) * time.Minute)
		c.PreviousSecretExpiresAt = &exp
		c.SecretHash = access.HashSecret(s)
		if m.rng.IntN(3) == 0 {
			c.ExpiresAt = modelNow.Add(time.Hour)
		}
		tok.cred, tok.secrets = c, append(slices.Clone(tok.secrets), s)
		m.dTokens[id] = true
		return "rotate token " + id
	case op < 17:
		id, ok := pickKey(m.rng, m.tokens)
		if !ok {
			return "no token to delete"
		}
		m.dClients[m.tokens[id].cred.ClientID] = true
		delete(m.tokens, id)
		delete(m.dTokens, id)
		return "delete token " + id
	case op < 18: // identity providers
		id := pick(m.rng, modelIdPs)
		if _, ok := m.idps[id]; ok && m.rng.IntN(2) == 0 {
			delete(m.idps, id)
		} else {
			m.idps[id] = access.IdentityProvider{ID: id, Name: pick(m.rng, []string{"Okta", "PIN", "Google"}),
				Type: access.IdPTypeOneTimePIN, AccountID: pick(m.rng, accounts)}
		}
		m.dIdPs[id] = true
		return "identity provider " + id
	default: // a revocation: a logout or a revoke_user
		r := access.SessionRevocation{AccountID: pick(m.rng, accounts), RevokedAt: modelNow.Add(time.Duration(m.rng.IntN(5)-2) * time.Minute),
			ExpiresAt: modelNow.Add(time.Hour)}
		if m.rng.IntN(2) == 0 {
			r.SessionID = pick(m.rng, []string{"s1", "s2", "s3"})
		} else {
			r.Email = strings.ToUpper(pick(m.rng, modelMails)[:1]) + pick(m.rng, modelMails)[1:]
		}
		m.revs = append(m.revs, r)
		m.dRevs = append(m.dRevs, r)
		return "revoke"
	}
}

// config is the reference configuration, apps in the store's order.
func (m *model) config() access.Config {
	cfg := access.Config{Version: m.version, Revocations: slices.Clone(m.revs)}
	for _, a := range m.apps {
		cfg.Apps = append(cfg.Apps, a)
	}
	slices.SortFunc(cfg.Apps, func(a, b access.App) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for _, id := range slices.Sorted(maps.Keys(m.policies)) {
		cfg.Policies = append(cfg.Policies, m.policies[id])
	}
	for _, id := range slices.Sorted(maps.Keys(m.tokens)) {
		cfg.ServiceTokens = append(cfg.ServiceTokens, m.tokens[id].cred)
	}
	for _, id := range slices.Sorted(maps.Keys(m.idps)) {
		cfg.IdentityProviders = append(cfg.IdentityProviders, m.idps[id])
	}
	return cfg
}

// delta is the pending change, as the feed reports it, from the current
// version to a new one.
func (m *model) delta() access.Delta {
	d := access.Delta{From: m.version, To: m.version + 1 + int64(m.rng.IntN(3))}
	m.version = d.To
	for _, id := range slices.Sorted(maps.Keys(m.dApps)) {
		if a, ok := m.apps[id]; ok {
			d.Apps = append(d.Apps, a)
		} else {
			d.DeletedApps = append(d.DeletedApps, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(m.dPolicies)) {
		if p, ok := m.policies[id]; ok {
			d.Policies = append(d.Policies, p)
		} else {
			d.DeletedPolicies = append(d.DeletedPolicies, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(m.dTokens)) {
		d.ServiceTokens = append(d.ServiceTokens, m.tokens[id].cred)
	}
	for _, c := range slices.Sorted(maps.Keys(m.dClients)) {
		if !slices.ContainsFunc(d.ServiceTokens, func(t access.ServiceTokenCredential) bool { return t.ClientID == c }) {
			d.DeletedServiceTokens = append(d.DeletedServiceTokens, c)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(m.dIdPs)) {
		if p, ok := m.idps[id]; ok {
			d.IdentityProviders = append(d.IdentityProviders, p)
		} else {
			d.DeletedIdentityProviders = append(d.DeletedIdentityProviders, id)
		}
	}
	d.Revocations = m.dRevs
	m.resetDelta()
	return d
}

var modelBindings = map[string]string{}

// modelBinding is a secret's binding as the engine computes it.
func modelBinding(secret string) string {
	b, ok := modelBindings[secret]
	if !ok {
		sum := sha256.Sum256(append([]byte("gatehouse service token binding\x00"), access.HashSecret(secret)...))
		b = hex.EncodeToString(sum[:12])
		modelBindings[secret] = b
	}
	return b
}

// probe answers every question the model asks of a snapshot, in words:
// two snapshots that decide alike give the same answer.
func (m *model) probe(s *policy.Snapshot) string { return m.probeWith(s, m.universe()) }

// probeSet is what a probe asks about: the last secrets and client ids
// issued and the app ids.
type probeSet struct {
	clients, secrets []string
	apps             int
}

func (m *model) universe() probeSet {
	secrets := m.secrets
	if len(secrets) > 8 {
		secrets = secrets[len(secrets)-8:]
	}
	clients := m.clients
	if len(clients) > 6 {
		clients = clients[len(clients)-6:]
	}
	return probeSet{clients: slices.Clone(clients), secrets: slices.Clone(secrets), apps: m.next}
}

func (m *model) probeWith(s *policy.Snapshot, ps probeSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version %d apps %d\n", s.Version, s.Apps())
	for _, d := range s.InvalidDomains() {
		fmt.Fprintf(&b, "invalid %s %s: %v\n", d.AppID, d.Domain, d.Err)
	}
	var ids []string
	for i := 0; i <= ps.apps; i++ {
		ids = append(ids, fmt.Sprintf("app-%04d", i))
	}
	for _, id := range ids {
		if a := s.App(id); a != nil {
			fmt.Fprintf(&b, "app %s %s %s\n", id, a.Name, a.AccountID)
		}
	}
	clients, secrets := ps.clients, ps.secrets
	seen := map[*policy.App]bool{}
	for _, host := range modelHosts {
		for _, path := range modelPaths {
			match := s.Match(host, path)
			app, reason := s.Route(host, path)
			fmt.Fprintf(&b, "%s%s: match %s route %s %s\n", host, path, appName(match), appName(app), reason)
			for _, a := range []*policy.App{match, app} {
				if a == nil || seen[a] {
					continue
				}
				seen[a] = true
				m.probeApp(&b, s, a, clients, secrets)
			}
		}
	}
	return b.String()
}

func appName(a *policy.App) string {
	if a == nil {
		return "-"
	}
	return a.ID + "@" + a.Domain
}

func (m *model) probeApp(b *strings.Builder, s *policy.Snapshot, a *policy.App, clients, secrets []string) {
	fmt.Fprintf(b, " app %s:", appName(a))
	for _, p := range s.LoginMethods(a) {
		fmt.Fprintf(b, " idp %s/%s", p.ID, p.Name)
	}
	b.WriteString("\n")
	decide := func(f policy.Facts) {
		d := s.Decide(a, f)
		ex := s.Explain(a, f)
		pid := "-"
		if d.Policy != nil {
			pid = d.Policy.ID
		}
		fmt.Fprintf(b, "  %s %s %s %v |", d.Action, d.Reason, pid, d.NonIdentity)
		for _, p := range ex.Policies {
			fmt.Fprintf(b, " %s:%v:%v", p.Policy.ID, p.Evaluated, p.Matched)
		}
		b.WriteString("\n")
	}
	for _, addr := range modelIPs {
		var f policy.Facts
		if addr != "" {
			f.IP = netip.MustParseAddr(addr)
		}
		f.Country = "DE"
		decide(f)
		for _, mail := range modelMails {
			for _, idp := range modelIdPs[:2] {
				f.Identity = &policy.Identity{Email: mail, LoginMethod: idp}
				decide(f)
			}
		}
		f.Identity = &policy.Identity{Email: modelMails[0], LoginMethod: modelIdPs[0], Purpose: "on call"}
		decide(f)
		f.Identity = nil
		if addr != "" {
			continue
		}
		for _, c := range clients {
			for _, sec := range secrets {
				for _, now := range []time.Time{modelNow, modelNow.Add(2 * time.Minute)} {
					tok, reason := s.AuthenticateServiceToken(a, c, sec, now)
					if tok == nil {
						if reason != policy.ReasonServiceTokenBadSecret {
							fmt.Fprintf(b, "  auth %s: %s\n", c, reason)
						}
						continue
					}
					fmt.Fprintf(b, "  auth %s %s at %v: %s %s %s\n", c, sec, now.Sub(modelNow), tok.ID, tok.Name, tok.Binding())
					f.Token = tok
					decide(f)
					f.Token = nil
				}
				tok, reason := s.ServiceTokenSession(a, c, modelBinding(sec), modelNow)
				if tok != nil {
					fmt.Fprintf(b, "  session %s %s: %s %s\n", c, sec, tok.ID, tok.Binding())
				} else if reason != policy.ReasonSessionRevoked {
					fmt.Fprintf(b, "  session %s: %s\n", c, reason)
				}
			}
		}
	}
	for _, sid := range []string{"", "s1", "s2", "s3"} {
		for _, mail := range append([]string{""}, modelMails...) {
			for _, at := range []time.Duration{-3 * time.Minute, 0, 3 * time.Minute, 2 * time.Hour} {
				if s.SessionRevoked(a, sid, mail, modelNow.Add(at)) {
					fmt.Fprintf(b, "  revoked %s %s %v\n", sid, mail, at)
				}
			}
		}
	}
}

func TestModelApplyIsCompile(t *testing.T) {
	steps := 1500 // per seed
	if testing.Short() {
		steps = 200
	}
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runModel(t, seed, steps) })
	}
}

func runModel(t *testing.T, seed uint64, steps int) {
	m := newModel(t, seed)
	snap, err := policy.Compile(m.config())
	if err != nil {
		t.Fatal(err)
	}
	set := m.universe()
	before := m.probeWith(snap, set)
	var log []string
	for i := range steps {
		var ops []string
		for range 1 + m.rng.IntN(4) {
			ops = append(ops, m.step())
		}
		log = append(log, strings.Join(ops, "; "))
		if len(log) > 8 {
			log = log[1:]
		}
		d := m.delta()
		if m.rng.IntN(50) == 0 {
			wrong := d
			wrong.From++
			if _, err := snap.Apply(wrong); err == nil {
				t.Fatalf("step %d: a delta from %d applied to version %d", i, wrong.From, snap.Version)
			}
		}
		next, err := snap.Apply(d)
		if err != nil {
			t.Fatalf("step %d (%s): Apply: %v", i, ops, err)
		}
		want, err := policy.Compile(m.config())
		if err != nil {
			t.Fatalf("step %d: Compile: %v", i, err)
		}
		got, exp := m.probe(next), m.probe(want)
		if got != exp {
			t.Fatalf("step %d: Apply differs from Compile after:\n%s\n%s", i, strings.Join(log, "\n"), firstDiff(got, exp))
		}
		if again := m.probeWith(snap, set); again != before {
			t.Fatalf("step %d: Apply changed the snapshot it was applied to (%s):\n%s", i, ops, firstDiff(again, before))
		}
		snap, before, set = next, got, m.universe()
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) && i < len(w); i++ {
		if g[i] != w[i] {
			from := max(0, i-3)
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s\ncontext:\n%s", i, g[i], w[i], strings.Join(w[from:i], "\n"))
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(g), len(w))
}
