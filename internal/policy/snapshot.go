// Package policy is Gatehouse's enforcement engine: the only code that
// decides who gets through. It compiles the control plane's configuration
// into an immutable Snapshot, then answers each request from the snapshot
// and the request's facts alone: no database, no clock, no network, no
// locks. Every decision carries a stable Reason.
package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Snapshot is a compiled, immutable view of the configuration at one
// version. It is safe for concurrent use.
//
// Its indexes are persistent maps (pmap): Apply makes the next version by
// copying only the shards a delta touches, so a snapshot shares nearly
// everything with the one it came from and neither is ever modified.
type Snapshot struct {
	Version int64

	exact    spmap[hostApps]     // host -> apps on it
	wildcard spmap[hostApps]     // "example.com" for "*.example.com" -> apps
	tokens   spmap[*Token]       // client id -> token
	apps     spmap[*compiledApp] // app id -> app
	policies policyTable         // each policy compiled once
	idps     spmap[*IdentityProvider]
	orgs     spmap[*access.Organization] // account id -> its organization

	// Session revocations, looked up on every session request.
	revokedSessions pmap[sessionKey, struct{}]
	revokedUsers    pmap[sessionKey, int64] // key.id is the email; revoked before, in unix nanoseconds

	// invalid are the closed domains: stored domains ParseDomain refuses
	// (stored before it existed) and domains two apps have in canonical
	// form, in the apps' order; their hosts are in invalidHosts (Route).
	// Both are small (usually empty) and rebuilt whole when they change.
	invalid      []invalidEntry
	invalidHosts map[string]bool

	// cas are the CAs uploaded for mutual TLS; nil when there are none.
	cas *caIndex
}

// hostApps are the apps on one host: served, longest path first, is what
// Match reads; all is every destination claiming the host in the apps'
// order (created_at, id), duplicates included, from which Apply rebuilds
// served. all is nil when it is served itself.
type hostApps struct {
	served []*App
	all    []*App
}

func (h hostApps) claims() []*App {
	if h.all != nil {
		return h.all
	}
	return h.served
}

// invalidEntry is one closed domain, with its place in InvalidDomains'
// order: the app's order, then its unparseable domains before its
// duplicates, each in the app's order.
type invalidEntry struct {
	created int64
	appID   string
	phase   int // 0: unparseable, 1: duplicate of another app's domain
	idx     int
	host    string // the closed host, lower-case, "*." for a wildcard
	d       InvalidDomain
}

// InvalidDomain is a stored app domain that is not a valid app domain.
// The edge closes its host rather than serve it without the app: a path
// it was meant to protect would fall through to a less protected app.
type InvalidDomain struct {
	AppID  string
	Domain string
	Err    error
}

// sessionKey scopes a session id or an email to its account.
type sessionKey struct{ account, id string }

// compiledApp is one app as compiled: its settings and its destinations.
type compiledApp struct {
	// base is the app's first destination, or its settings alone when it
	// has none.
	base    *App
	dests   []App           // one per valid self-hosted domain, in the app's order
	invalid []InvalidDomain // stored domains ParseDomain refuses
	// private are the policies compiled from the app's own Policies (a
	// Config in the older shape, without PolicyLinks).
	private []privatePolicy
}

// IdentityProvider is one login method of an account.
type IdentityProvider struct {
	access.IdentityProvider
}

// App is one compiled application (one of its domains: an app with several
// destinations appears once per destination, sharing everything else).
type App struct {
	ID        string
	AccountID string
	AUD       string
	Name      string
	// Host and Path are the matched destination: Path is "" or "/prefix";
	// Domain is the two together, as stored ("host/prefix").
	Host   string
	Path   string
	Domain string
	// Origin is the upstream URL; nil when none is configured.
	Origin *url.URL

	PreflightBypass bool
	CORS            *CORS

	SessionDuration  time.Duration
	CookieHTTPOnly   bool
	CookiePathScoped bool
	// BindingCookie binds each app session to a CF_Binding cookie set
	// beside it (enable_binding_cookie).
	BindingCookie          bool
	ServiceAuth401Redirect bool
	// AutoRedirect skips the login chooser when there is one method.
	AutoRedirect bool
	// AppSettings are the settings most apps leave unset, shared by all
	// of those (never nil): their fields read as the app's own.
	*AppSettings

	// links are the app's policies by key, in precedence order; the
	// snapshot deciding resolves them, so that a policy shared by many
	// apps is compiled once and changing it touches none of them.
	links []int32
	// created (unix nanoseconds) and ID order apps as the store does;
	// dest is the destination's index among the app's domains.
	created int64
	dest    int
}

// AppSettings are an app's less common settings, apart so that the many
// apps without any share one.
type AppSettings struct {
	CookieSameSite              string
	ReadServiceTokensFromHeader string
	CustomDenyMessage           string
	CustomDenyURL               string
	CustomNonIdentityDenyURL    string
	// AllowedIdPs limits the login methods offered (empty: all of the
	// account's).
	AllowedIdPs []string
	// SessionsRevokedAt: app tokens issued before it are refused.
	SessionsRevokedAt time.Time
	// UpstreamClientID and UpstreamClientSecret are the service token a
	// relay app presents to its origin, itself protected by Access; the
	// client id is "" for an ordinary app.
	UpstreamClientID     string
	UpstreamClientSecret string
	// PreserveHostHeader sends the origin the client's Host;
	// HTTPHostHeader, when set, is the Host it is sent instead. Neither:
	// the origin's own address.
	PreserveHostHeader bool
	HTTPHostHeader     string
}

// noSettings are the settings of every app that sets none of them.
var noSettings = &AppSettings{}

// Policy is one compiled policy. A policy linked to many apps is one
// Policy.
type Policy struct {
	ID              string
	Name            string
	Decision        access.Decision
	SessionDuration time.Duration
	// PurposeJustificationRequired: an Allow policy lets a user in only
	// with a reason, asked at login with PurposeJustificationPrompt.
	PurposeJustificationRequired bool
	PurposeJustificationPrompt   string
	include                      []rule
	require                      []rule
	exclude                      []rule
}

// Token is one service token's credential, as authenticated by one of its
// secrets.
type Token struct {
	ID        string
	AccountID string
	Name      string
	ClientID  string
	// hash is the secret's SHA-256 (access.HashSecret), or zero when
	// the stored hash is not one: no secret hashes to zero.
	hash    [sha256.Size]byte
	expires int64 // unix nanoseconds
	// rot is the token as authenticated by its previous secret, while a
	// rotation's grace period may still be running; nil otherwise.
	rot *rotation
}

type rotation struct {
	prev   Token
	expiry int64 // unix nanoseconds
}

// Binding names the secret that authenticated the token: app tokens
// minted for it carry the binding, and work only while that secret does
// (see ServiceTokenSession). It is a digest of the secret's hash, which
// reveals nothing about the secret.
func (t *Token) Binding() string {
	b := t.binding()
	return string(b[:])
}

// Secret identifies the secret that authenticated the token, as Binding
// does, without computing a digest: for keying an in-memory cache on the
// request path. It is the secret's hash: it never leaves the process.
func (t *Token) Secret() [sha256.Size]byte { return t.hash }

func (t *Token) binding() [24]byte {
	h := sha256.New()
	h.Write([]byte("gatehouse service token binding\x00"))
	h.Write(t.hash[:])
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var out [24]byte
	hex.Encode(out[:], sum[:12])
	return out
}

// unixNano is t in unix nanoseconds, saturated at the int64 range (years
// 1678 to 2262), so that comparing two is comparing the times.
func unixNano(t time.Time) int64 {
	switch {
	case t.Year() < 1678:
		return math.MinInt64
	case t.Year() > 2261:
		return math.MaxInt64
	}
	return t.UnixNano()
}

// intern returns one shared copy of a string that many objects repeat
// (account ids).
func intern(s string) string { return unique.Make(s).Value() }

// Compile builds a snapshot from a configuration. It does every costly
// step (parsing, lower-casing, indexing) once, so that decisions do none.
//
// Each policy in cfg.Policies is compiled once, however many apps link
// it. An app in the older shape (Policies set, no PolicyLinks) has its
// policies compiled for it alone. Apps are ordered as the store lists
// them, by CreatedAt then ID: that order decides which of two apps with
// the same domain keeps it, and which app comes first on a host among
// those with paths of one length.
func Compile(cfg access.Config) (*Snapshot, error) {
	s := &Snapshot{Version: cfg.Version}
	// The tokens, the bulk of a large config, need nothing else: they
	// compile while the apps do, filling the cores the apps' serial steps
	// (linking, indexing hosts) leave idle.
	type compiledTokens struct {
		m   spmap[*Token]
		err error
	}
	tokens := make(chan compiledTokens, 1)
	go func() {
		m, err := compileTokens(cfg.ServiceTokens)
		tokens <- compiledTokens{m, err}
	}()
	toks := func() (spmap[*Token], error) { t := <-tokens; return t.m, t.err }
	idps := s.idps.edit()
	for _, p := range cfg.IdentityProviders {
		idps.set(p.ID, &IdentityProvider{p})
	}
	s.idps = idps.done()
	s.orgs = setOrganizations(s.orgs, cfg.Organizations)

	compiled, err := compilePolicies(cfg.Policies)
	if err != nil {
		toks()
		return nil, err
	}
	pols := buildPolicyTable(compiled).edit()

	cas, err := compileApps(cfg.Apps, pols)
	if err != nil {
		toks()
		return nil, err
	}
	s.apps = buildSpmap(len(cas), func(i int) string { return cfg.Apps[i].ID }, func(i int) *compiledApp { return cas[i] })
	exact := map[string][]*App{}
	wildcard := map[string][]*App{}
	var invalid []invalidEntry
	for i, ca := range cas {
		ca.link(pols, cfg.Apps[i].PolicyLinks)
		invalid = appendUnparseable(invalid, ca)
		for j := range ca.dests {
			d := &ca.dests[j]
			m, key := hostKey(d, exact, wildcard)
			m[key] = append(m[key], d)
		}
	}
	s.policies = pols.done()
	s.exact, invalid = indexHosts(exact, invalid)
	s.wildcard, invalid = indexHosts(wildcard, invalid)
	s.setInvalid(invalid)

	if s.tokens, err = toks(); err != nil {
		return nil, err
	}

	sessions, users := s.revokedSessions.edit(), s.revokedUsers.edit()
	for _, r := range cfg.Revocations {
		revoke(sessions, users, r)
	}
	s.revokedSessions, s.revokedUsers = sessions.done(), users.done()
	s.cas = applyCAs(nil, cfg.Certificates, nil)
	return s, nil
}

func revoke(sessions *pmapEdit[sessionKey, struct{}], users *pmapEdit[sessionKey, int64], r access.SessionRevocation) {
	switch {
	case r.SessionID != "":
		sessions.set(sessionKey{intern(r.AccountID), r.SessionID}, struct{}{})
	case r.Email != "":
		k := sessionKey{intern(r.AccountID), strings.ToLower(r.Email)}
		at := unixNano(r.RevokedAt)
		if old, ok := users.get(k); !ok || at > old {
			users.set(k, at)
		}
	}
}

// hostKey returns the map a destination is indexed in and its key there.
func hostKey[M any](d *App, exact, wildcard M) (M, string) {
	if suffix, ok := strings.CutPrefix(d.Host, "*."); ok {
		return wildcard, suffix
	}
	return exact, d.Host
}

// indexHosts makes the host index from every destination claiming each
// host, adding to invalid the domains closed as duplicates.
func indexHosts(claims map[string][]*App, invalid []invalidEntry) (spmap[hostApps], []invalidEntry) {
	keys := make([]string, 0, len(claims))
	for k := range claims {
		keys = append(keys, k)
	}
	entries := make([]hostApps, len(keys))
	closed := make([][]invalidEntry, len(keys))
	parallel(len(keys), func(i int) {
		all := claims[keys[i]]
		slices.SortStableFunc(all, appOrder)
		entries[i], closed[i] = serveHost(all)
	})
	for _, c := range closed {
		invalid = append(invalid, c...)
	}
	return buildSpmap(len(keys), func(i int) string { return keys[i] }, func(i int) hostApps { return entries[i] }), invalid
}

// appOrder orders destinations as the store orders apps (created_at, id),
// then by their place in the app's domains.
func appOrder(a, b *App) int {
	if c := cmp.Compare(a.created, b.created); c != 0 {
		return c
	}
	if c := strings.Compare(a.ID, b.ID); c != 0 {
		return c
	}
	return cmp.Compare(a.dest, b.dest)
}

// serveHost makes a host's entry from every destination claiming it, in
// appOrder: the first app to have a domain keeps it, and a later app with
// the same domain (two rows stored before domains were canonical that are
// now one domain: which app is meant is unknowable) closes the host.
func serveHost(all []*App) (hostApps, []invalidEntry) {
	if len(all) == 1 {
		return hostApps{served: all}, nil
	}
	var closed []invalidEntry
	served := make([]*App, 0, len(all))
	owner := make(map[string]string, len(all))
	for _, d := range all {
		if other, dup := owner[d.Domain]; dup && other != d.ID {
			closed = append(closed, invalidEntry{created: d.created, appID: d.ID, phase: 1, idx: d.dest, host: d.Host,
				d: InvalidDomain{AppID: d.ID, Domain: d.Domain, Err: fmt.Errorf("app %s has the same domain in canonical form", other)}})
			continue
		}
		owner[d.Domain] = d.ID
		served = append(served, d)
	}
	slices.SortStableFunc(served, func(a, b *App) int { return len(b.Path) - len(a.Path) })
	if len(closed) == 0 && slices.Equal(served, all) {
		return hostApps{served: all}, nil
	}
	return hostApps{served: served, all: all}, closed
}

func appendUnparseable(invalid []invalidEntry, ca *compiledApp) []invalidEntry {
	for i, bad := range ca.invalid {
		host, _, _ := strings.Cut(bad.Domain, "/")
		invalid = append(invalid, invalidEntry{created: ca.base.created, appID: bad.AppID, phase: 0, idx: i,
			host: strings.TrimSuffix(strings.ToLower(host), "."), d: bad})
	}
	return invalid
}

// setInvalid sorts the closed domains and indexes their hosts.
func (s *Snapshot) setInvalid(invalid []invalidEntry) {
	slices.SortFunc(invalid, func(a, b invalidEntry) int {
		return cmp.Or(cmp.Compare(a.created, b.created), strings.Compare(a.appID, b.appID),
			cmp.Compare(a.phase, b.phase), cmp.Compare(a.idx, b.idx))
	})
	s.invalid, s.invalidHosts = invalid, nil
	if len(invalid) > 0 {
		s.invalidHosts = make(map[string]bool, len(invalid))
		for _, e := range invalid {
			s.invalidHosts[e.host] = true
		}
	}
}

// InvalidDomains returns the stored domains that are not valid app
// domains, whose hosts the snapshot closes.
func (s *Snapshot) InvalidDomains() []InvalidDomain {
	if len(s.invalid) == 0 {
		return nil
	}
	out := make([]InvalidDomain, len(s.invalid))
	for i, e := range s.invalid {
		out[i] = e.d
	}
	return out
}

// hostInvalid reports whether host, or a wildcard covering it, has an
// invalid stored domain.
func (s *Snapshot) hostInvalid(host string) bool {
	if s.invalidHosts[host] {
		return true
	}
	for rest := host; ; {
		_, parent, ok := strings.Cut(rest, ".")
		if !ok {
			return false
		}
		if s.invalidHosts["*."+parent] {
			return true
		}
		rest = parent
	}
}

// compileTokens indexes service tokens by client id.
func compileTokens(creds []access.ServiceTokenCredential) (spmap[*Token], error) {
	// One allocation for every token: they live and die with the
	// snapshots that share them.
	toks := make([]Token, len(creds))
	parallelRange(len(creds), func(from, to int) {
		// Tokens come grouped by account: intern each run of one
		// account's id once.
		var account, interned string
		for i := from; i < to; i++ {
			if a := creds[i].AccountID; a != account || interned == "" {
				account, interned = a, intern(a)
			}
			compileToken(&toks[i], &creds[i], interned)
		}
	})
	return buildSpmap(len(toks), func(i int) string { return toks[i].ClientID }, func(i int) *Token { return &toks[i] }), nil
}

// parallel calls f(i) for every i below n, on every core.
func parallel(n int, f func(i int)) {
	parallelRange(n, func(from, to int) {
		for i := from; i < to; i++ {
			f(i)
		}
	})
}

// parallelRange calls f(from, to) for consecutive ranges that cover every
// i below n, on every core.
func parallelRange(n int, f func(from, to int)) {
	workers := min(runtime.GOMAXPROCS(0), 8)
	if n < 1024 || workers == 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	const chunk = 256
	var next atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				from := int(next.Add(chunk)) - chunk
				if from >= n {
					return
				}
				f(from, min(from+chunk, n))
			}
		}()
	}
	wg.Wait()
}

// compileToken compiles t into *tok; accountID is t.AccountID interned.
func compileToken(tok *Token, t *access.ServiceTokenCredential, accountID string) {
	// The token's strings are one allocation, not three.
	all := t.ID + t.Name + t.ClientID
	id, name, client := all[:len(t.ID)], all[len(t.ID):len(t.ID)+len(t.Name)], all[len(t.ID)+len(t.Name):]
	*tok = Token{ID: id, AccountID: accountID, Name: name, ClientID: client, expires: unixNano(t.ExpiresAt)}
	tok.hash = secretHash(t.SecretHash)
	if t.PreviousSecretHash != nil && t.PreviousSecretExpiresAt != nil {
		r := &rotation{prev: *tok, expiry: unixNano(*t.PreviousSecretExpiresAt)}
		r.prev.hash = secretHash(t.PreviousSecretHash)
		tok.rot = r
	}
}

// secretHash is a stored secret hash, or zero when it is not one.
func secretHash(b []byte) (h [sha256.Size]byte) {
	if len(b) == sha256.Size {
		copy(h[:], b)
	}
	return h
}

// privateKey is the policies-map key of a policy an app in the older
// Config shape carries itself: it cannot collide with a policy id.
func privateKey(appID, policyID string) string { return "\x00" + appID + "\x00" + policyID }

// compileApps compiles every app, its links resolved to the slots pols
// has; ca.link completes them.
func compileApps(apps []access.App, pols *policyTableEdit) ([]*compiledApp, error) {
	out := make([]*compiledApp, len(apps))
	errs := make([]error, len(apps))
	shared := shareSettings(apps)
	parallel(len(apps), func(i int) { out[i], errs[i] = compileApp(&apps[i], pols, shared) })
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("policy: app %s: %w", apps[i].ID, err)
		}
	}
	return out, nil
}

// compilePolicies compiles every policy.
func compilePolicies(ps []access.Policy) ([]*Policy, error) {
	out := make([]*Policy, len(ps))
	errs := make([]error, len(ps))
	parallel(len(ps), func(i int) { out[i], errs[i] = compilePolicy(ps[i]) })
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("policy: policy %s: %w", ps[i].ID, err)
		}
	}
	return out, nil
}

// link completes the app's links: it gives a slot to each linked policy
// id without one and stores the app's own policies (older Config shape).
// ids are the app's links as given.
func (ca *compiledApp) link(pols *policyTableEdit, ids []access.PolicyLink) {
	links := ca.base.links
	if len(ca.private) > 0 {
		for i, pp := range ca.private {
			pols.set(pp.key, pp.p)
			links[i], _ = pols.lookup(pp.key)
		}
		return
	}
	for i, slot := range links {
		if slot < 0 {
			links[i] = pols.slot(ids[i].ID)
		}
	}
}

// privatePolicy is a policy compiled for one app alone (see privateKey).
type privatePolicy struct {
	key string
	p   *Policy
}

// sharedSettings are the settings many apps repeat (an organisation's
// origin, its CORS settings), each compiled once for all the apps that
// have it: they are read-only, as is everything in a snapshot.
type sharedSettings struct {
	origins map[string]originURL
	cors    map[*access.CORSSettings]*CORS
}

type originURL struct {
	u   *url.URL
	err error
}

// shareSettings compiles the distinct origins and CORS settings of apps.
func shareSettings(apps []access.App) *sharedSettings {
	sh := &sharedSettings{origins: map[string]originURL{}, cors: map[*access.CORSSettings]*CORS{}}
	byValue := map[string]*CORS{}
	var key []byte
	for i := range apps {
		a := &apps[i]
		if _, ok := sh.origins[a.Origin]; !ok && a.Origin != "" {
			u, err := url.Parse(a.Origin)
			sh.origins[a.Origin] = originURL{u, err}
		}
		c := a.CORSHeaders
		if _, ok := sh.cors[c]; ok || !c.Configured() {
			continue
		}
		// Settings decoded apart (from the state file) are equal by
		// value only.
		key = corsKey(key[:0], c)
		cc := byValue[string(key)]
		if cc == nil {
			cc = compileCORS(c)
			byValue[string(key)] = cc
		}
		sh.cors[c] = cc
	}
	return sh
}

// corsKey appends to b an encoding of c that equal settings share.
func corsKey(b []byte, c *access.CORSSettings) []byte {
	b = append(b, b2c(c.AllowAllHeaders), b2c(c.AllowAllMethods), b2c(c.AllowAllOrigins), b2c(c.AllowCredentials))
	b = strconv.AppendFloat(b, c.MaxAge, 'g', -1, 64)
	for _, list := range [][]string{c.AllowedHeaders, c.AllowedMethods, c.AllowedOrigins} {
		b = strconv.AppendInt(append(b, 0), int64(len(list)), 10)
		for _, v := range list {
			b = strconv.AppendInt(append(b, 0), int64(len(v)), 10)
			b = append(append(b, ':'), v...)
		}
	}
	return b
}

func b2c(v bool) byte {
	if v {
		return '1'
	}
	return '0'
}

// compileApp compiles one app and its destinations, taking what sh
// holds from it.
func compileApp(a *access.App, pols *policyTableEdit, sh *sharedSettings) (*compiledApp, error) {
	base, private, err := compileAppSettings(a, pols, sh)
	if err != nil {
		return nil, err
	}
	ca := &compiledApp{base: base, private: private}
	// The destinations are one array: an app lives and dies whole.
	dests := make([]App, 0, len(a.SelfHostedDomains))
	for _, d := range a.SelfHostedDomains {
		// Domains are parsed when written; a row stored before that may
		// be in another form, matched in its canonical form or, when it
		// has none, closing its host.
		dom, err := access.ParseDomain(d)
		if err != nil {
			ca.invalid = append(ca.invalid, InvalidDomain{AppID: a.ID, Domain: d, Err: err})
			continue
		}
		app := *base
		app.Host, app.Path, app.Domain = dom.Host(), dom.Path(), dom.String()
		app.dest = len(dests)
		dests = append(dests, app)
	}
	ca.dests = dests
	if len(dests) > 0 {
		ca.base = &dests[0]
	}
	return ca, nil
}

func compileAppSettings(a *access.App, pols *policyTableEdit, sh *sharedSettings) (*App, []privatePolicy, error) {
	app := &App{
		ID: a.ID, AccountID: intern(a.AccountID), AUD: a.AUD, Name: a.Name,
		PreflightBypass:        a.OptionsPreflightBypass,
		CookieHTTPOnly:         a.HTTPOnlyCookieAttribute == nil || *a.HTTPOnlyCookieAttribute,
		CookiePathScoped:       a.PathCookieAttribute,
		BindingCookie:          a.EnableBindingCookie,
		ServiceAuth401Redirect: a.ServiceAuth401Redirect,
		AutoRedirect:           a.AutoRedirectToIdentity,
		created:                unixNano(a.CreatedAt),
	}
	set := AppSettings{
		CookieSameSite:              a.SameSiteCookieAttribute,
		ReadServiceTokensFromHeader: a.ReadServiceTokensFromHeader,
		CustomDenyMessage:           a.CustomDenyMessage,
		CustomDenyURL:               a.CustomDenyURL,
		CustomNonIdentityDenyURL:    a.CustomNonIdentityDenyURL,
		AllowedIdPs:                 a.AllowedIdPs,
		PreserveHostHeader:          a.PreserveHostHeader,
		HTTPHostHeader:              a.HTTPHostHeader,
	}
	if a.SessionsRevokedAt != nil {
		set.SessionsRevokedAt = *a.SessionsRevokedAt
	}
	if a.UpstreamServiceToken != nil {
		set.UpstreamClientID = a.UpstreamServiceToken.ClientID
		set.UpstreamClientSecret = a.UpstreamClientSecret
	}
	app.AppSettings = noSettings
	if len(set.AllowedIdPs) > 0 || set.SessionsRevokedAt != (time.Time{}) || set.CookieSameSite != "" ||
		set.ReadServiceTokensFromHeader != "" || set.CustomDenyMessage != "" || set.CustomDenyURL != "" ||
		set.CustomNonIdentityDenyURL != "" || set.UpstreamClientID != "" || set.UpstreamClientSecret != "" ||
		set.PreserveHostHeader || set.HTTPHostHeader != "" {
		app.AppSettings = &set
	}
	if a.Origin != "" {
		o, ok := sh.origins[a.Origin]
		if !ok {
			o.u, o.err = url.Parse(a.Origin)
		}
		if o.err != nil {
			return nil, nil, fmt.Errorf("origin: %w", o.err)
		}
		app.Origin = o.u
	}
	d, err := time.ParseDuration(a.SessionDuration)
	if err != nil {
		return nil, nil, fmt.Errorf("session_duration: %w", err)
	}
	app.SessionDuration = d
	if a.CORSHeaders.Configured() {
		if app.CORS = sh.cors[a.CORSHeaders]; app.CORS == nil {
			app.CORS = compileCORS(a.CORSHeaders)
		}
	}
	var private []privatePolicy
	if len(a.PolicyLinks) > 0 || len(a.Policies) == 0 {
		// Slots are read here, on every core; the links to ids without
		// one (-1) are given theirs by link, on one.
		app.links = make([]int32, len(a.PolicyLinks))
		for i, l := range a.PolicyLinks {
			if slot, ok := pols.lookup(l.ID); ok {
				app.links[i] = slot
			} else {
				app.links[i] = -1
			}
		}
		return app, nil, nil
	}
	// The older shape: the app carries its policies, in precedence order.
	app.links = make([]int32, len(a.Policies))
	for i, p := range a.Policies {
		cp, err := compilePolicy(p)
		if err != nil {
			return nil, nil, fmt.Errorf("policy %s: %w", p.ID, err)
		}
		app.links[i] = -1
		private = append(private, privatePolicy{privateKey(a.ID, p.ID), cp})
	}
	return app, private, nil
}

func compilePolicy(p access.Policy) (*Policy, error) {
	switch p.Decision {
	case access.DecisionAllow, access.DecisionDeny, access.DecisionBypass, access.DecisionNonIdentity:
	default:
		return nil, fmt.Errorf("unknown decision %q", p.Decision)
	}
	cp := &Policy{ID: p.ID, Name: p.Name, Decision: p.Decision,
		PurposeJustificationRequired: p.PurposeJustificationRequired, PurposeJustificationPrompt: p.PurposeJustificationPrompt}
	if p.SessionDuration != "" {
		d, err := time.ParseDuration(p.SessionDuration)
		if err != nil {
			return nil, fmt.Errorf("session_duration: %w", err)
		}
		cp.SessionDuration = d
	}
	var err error
	if cp.include, err = compileRules(p.Include); err != nil {
		return nil, err
	}
	if cp.require, err = compileRules(p.Require); err != nil {
		return nil, err
	}
	if cp.exclude, err = compileRules(p.Exclude); err != nil {
		return nil, err
	}
	return cp, nil
}

// CORS is an app's compiled CORS settings, with the preflight answer's
// header values prepared.
type CORS struct {
	allowAllOrigins bool
	origins         map[string][]string // allowed origin -> its Access-Control-Allow-Origin value
	allowAllMethods bool
	methods         map[string]bool
	allowAllHeaders bool
	headers         map[string]bool // lower-case
	credentials     bool

	// The static values of an answer, nil to omit.
	methodsValue []string // Access-Control-Allow-Methods
	headersValue []string // Access-Control-Allow-Headers
	maxAgeValue  []string // Access-Control-Max-Age
}

func compileCORS(c *access.CORSSettings) *CORS {
	// Every prepared value is a one-element slice of one array: the
	// methods, headers and max-age values, then one per allowed origin.
	// Each has cap 1, so appending to one copies it.
	values := make([]string, 3+len(c.AllowedOrigins))
	value := func(i int, v string) []string {
		if v == "" {
			return nil
		}
		values[i] = v
		return values[i : i+1 : i+1]
	}
	cc := &CORS{
		allowAllOrigins: c.AllowAllOrigins,
		origins:         make(map[string][]string, len(c.AllowedOrigins)),
		allowAllMethods: c.AllowAllMethods,
		methods:         make(map[string]bool, len(c.AllowedMethods)),
		allowAllHeaders: c.AllowAllHeaders,
		headers:         make(map[string]bool, len(c.AllowedHeaders)),
		credentials:     c.AllowCredentials,
		methodsValue:    value(0, strings.Join(c.AllowedMethods, ", ")),
		headersValue:    value(1, strings.Join(c.AllowedHeaders, ", ")),
	}
	switch {
	case c.MaxAge > 0:
		cc.maxAgeValue = value(2, strconv.Itoa(int(c.MaxAge)))
	case c.MaxAge < 0:
		cc.maxAgeValue = value(2, "0") // -1: the browser must not cache the answer
	}
	for i, o := range c.AllowedOrigins {
		cc.origins[o] = value(3+i, o)
	}
	for _, m := range c.AllowedMethods {
		cc.methods[m] = true
	}
	for _, h := range c.AllowedHeaders {
		cc.headers[strings.ToLower(h)] = true
	}
	return cc
}

// Match returns the app protecting host and path: exact hosts before
// wildcards, then the longest path prefix. host must be lower-case and
// without a port.

// Match returns the app protecting host and path: exact hosts before
// wildcards, then the longest path prefix. host must be lower-case and
// without a port.
func (s *Snapshot) Match(host, path string) *App {
	h, _ := s.exact.get(host)
	if app := matchPath(h.served, path); app != nil {
		return app
	}
	if s.wildcard.n == 0 {
		return nil
	}
	// "*.example.com" covers a.example.com and a.b.example.com: try each
	// parent domain, nearest first.
	for rest := host; ; {
		_, parent, ok := strings.Cut(rest, ".")
		if !ok {
			return nil
		}
		h, _ := s.wildcard.get(parent)
		if app := matchPath(h.served, path); app != nil {
			return app
		}
		rest = parent
	}
}

func matchPath(apps []*App, path string) *App {
	for _, a := range apps {
		if a.Path == "" {
			return a
		}
		if strings.HasPrefix(path, a.Path) && (len(path) == len(a.Path) || path[len(a.Path)] == '/') {
			return a
		}
	}
	return nil
}

// ServesHost reports whether an app is on host (lower-case, no port):
// on exactly that host, or with wildcards also on a "*." domain covering
// it. A host closed for an invalid stored domain is not served.
func (s *Snapshot) ServesHost(host string, wildcards bool) bool {
	if len(s.invalidHosts) > 0 && s.hostInvalid(host) {
		return false
	}
	if h, _ := s.exact.get(host); len(h.served) > 0 {
		return true
	}
	if !wildcards || s.wildcard.n == 0 {
		return false
	}
	for rest := host; ; {
		_, parent, ok := strings.Cut(rest, ".")
		if !ok {
			return false
		}
		if h, _ := s.wildcard.get(parent); len(h.served) > 0 {
			return true
		}
		rest = parent
	}
}

// LoginMethods returns the identity providers an app offers, in a stable
// order: its allowed_idps, or every provider of its account.
func (s *Snapshot) LoginMethods(app *App) []*IdentityProvider {
	var out []*IdentityProvider
	if len(app.AllowedIdPs) > 0 {
		for _, id := range app.AllowedIdPs {
			if p, _ := s.idps.get(id); p != nil && p.AccountID == app.AccountID {
				out = append(out, p)
			}
		}
		return out
	}
	for _, p := range s.idps.all() {
		if p.AccountID == app.AccountID {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *IdentityProvider) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
	return out
}

// IdentityProvider returns an account's provider by id, or nil.
func (s *Snapshot) IdentityProvider(accountID, id string) *IdentityProvider {
	if p, _ := s.idps.get(id); p != nil && p.AccountID == accountID {
		return p
	}
	return nil
}

// setOrganizations returns m with the organizations os set.
func setOrganizations(m spmap[*access.Organization], os []access.Organization) spmap[*access.Organization] {
	if len(os) == 0 {
		return m
	}
	e := m.edit()
	for i := range os {
		o := os[i]
		o.AccountID = intern(o.AccountID)
		e.set(o.AccountID, &o)
	}
	return e.done()
}

// Organization returns an account's organization settings, or nil when
// the account has none.
func (s *Snapshot) Organization(accountID string) *access.Organization {
	o, _ := s.orgs.get(accountID)
	return o
}

// LoginSessionDuration is how long a login session on the auth domain
// lasts for an account: its organization's session_duration, else
// access.DefaultLoginSession.
func (s *Snapshot) LoginSessionDuration(accountID string) time.Duration {
	if o := s.Organization(accountID); o != nil && o.SessionDuration > 0 {
		return o.SessionDuration
	}
	return access.DefaultLoginSession
}

// App returns an app by id, or nil.
func (s *Snapshot) App(id string) *App {
	if ca, _ := s.apps.get(id); ca != nil {
		return ca.base
	}
	return nil
}

// Apps returns how many apps the snapshot holds.
func (s *Snapshot) Apps() int { return s.apps.len() }

// ruleKind enumerates compiled rule types.
type ruleKind uint8

const (
	ruleEmail ruleKind = iota + 1
	ruleEmailDomain
	ruleEveryone
	ruleIP
	ruleServiceToken
	ruleAnyValidServiceToken
	ruleGeo
	ruleLoginMethod
	ruleCertificate
	ruleCommonName
	ruleGroup
	ruleOIDC
)

type rule struct {
	kind   ruleKind
	value  string // email, "@domain", token id, country, idp id, common name, group id
	prefix netip.Prefix
	// group is a group rule's group, nil when it is unknown.
	group *groupRules
	// oidc is an oidc rule's provider and claim (value holds the value).
	oidc *oidcClaim
}

// oidcClaim is what an oidc rule looks for besides the value.
type oidcClaim struct {
	idp, name string
}

// groupRules are an Access group's compiled rules.
type groupRules struct {
	include, require, exclude []rule
}

func compileRules(rules []access.Rule) ([]rule, error) {
	out := make([]rule, 0, len(rules))
	for _, r := range rules {
		var cr rule
		switch {
		case r.Email != nil:
			cr = rule{kind: ruleEmail, value: strings.ToLower(r.Email.Email)}
		case r.EmailDomain != nil:
			cr = rule{kind: ruleEmailDomain, value: "@" + strings.ToLower(r.EmailDomain.Domain)}
		case r.Everyone != nil:
			cr = rule{kind: ruleEveryone}
		case r.IP != nil:
			p, err := access.ParseCIDR(r.IP.IP)
			if err != nil {
				return nil, fmt.Errorf("ip rule %q: %w", r.IP.IP, err)
			}
			cr = rule{kind: ruleIP, prefix: p}
		case r.ServiceToken != nil:
			cr = rule{kind: ruleServiceToken, value: r.ServiceToken.TokenID}
		case r.AnyValidServiceToken != nil:
			cr = rule{kind: ruleAnyValidServiceToken}
		case r.Geo != nil:
			cr = rule{kind: ruleGeo, value: strings.ToUpper(r.Geo.CountryCode)}
		case r.LoginMethod != nil:
			cr = rule{kind: ruleLoginMethod, value: r.LoginMethod.ID}
		case r.Certificate != nil:
			cr = rule{kind: ruleCertificate}
		case r.CommonName != nil:
			cr = rule{kind: ruleCommonName, value: r.CommonName.CommonName}
		case r.OIDC != nil:
			cr = rule{kind: ruleOIDC, value: r.OIDC.ClaimValue, oidc: &oidcClaim{idp: r.OIDC.IdentityProviderID, name: r.OIDC.ClaimName}}
		case r.Group != nil:
			cr = rule{kind: ruleGroup, value: r.Group.ID}
			// A group naming a group (which the API refuses) is left
			// unknown, as a missing one is: it lets no one in.
			if g := r.Group.Resolved; g != nil && !nested(g) {
				cr.group = &groupRules{}
				var err error
				if cr.group.include, err = compileRules(g.Include); err != nil {
					return nil, fmt.Errorf("group %s: %w", r.Group.ID, err)
				}
				if cr.group.require, err = compileRules(g.Require); err != nil {
					return nil, fmt.Errorf("group %s: %w", r.Group.ID, err)
				}
				if cr.group.exclude, err = compileRules(g.Exclude); err != nil {
					return nil, fmt.Errorf("group %s: %w", r.Group.ID, err)
				}
			}
		default:
			return nil, fmt.Errorf("rule with no known type")
		}
		out = append(out, cr)
	}
	return out, nil
}

// nested reports whether a group's rules name a group.
func nested(g *access.GroupRules) bool {
	for _, list := range [][]access.Rule{g.Include, g.Require, g.Exclude} {
		for _, r := range list {
			if r.Group != nil {
				return true
			}
		}
	}
	return false
}
