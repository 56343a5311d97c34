// Package policy is Gatehouse's enforcement engine: the only code that
// decides who gets through. It compiles the control plane's configuration
// into an immutable Snapshot, then answers each request from the snapshot
// and the request's facts alone: no database, no clock, no network, no
// locks. Every decision carries a stable Reason.
package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Snapshot is a compiled, immutable view of the configuration at one
// version. It is safe for concurrent use.
type Snapshot struct {
	Version int64

	exact    map[string][]*App       // host -> apps on it, longest path first
	wildcard map[string][]*App       // "example.com" for "*.example.com" -> apps
	tokens   map[string]*Token       // client id -> token
	apps     map[string]*compiledApp // app id -> app
	idps     map[string]*IdentityProvider
	reused   int

	// Session revocations, looked up on every session request.
	revokedSessions map[sessionKey]struct{}
	revokedUsers    map[sessionKey]time.Time // key.id is the email
	// invalid are stored domains ParseDomain refuses (stored before it
	// existed); their hosts are in invalidHosts and closed (Route).
	invalid      []InvalidDomain
	invalidHosts map[string]bool
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

// compiledApp is one app as compiled, with its destinations and the
// encoding of what it was compiled from (appendAppInputs), so that a
// rebuild can reuse it while the inputs stay the same. Comparing the
// encodings, not a hash of them, makes a false match impossible and costs
// less than hashing.
type compiledApp struct {
	inputs  []byte // its own allocation, so a reused app pins no older buffer; holds the upstream secret, as base does
	base    *App
	dests   []*App          // one per valid self-hosted domain, in the app's order
	invalid []InvalidDomain // stored domains ParseDomain refuses
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
	CookieSameSite   string
	CookieHTTPOnly   bool
	CookiePathScoped bool
	// BindingCookie binds each app session to a CF_Binding cookie set
	// beside it (enable_binding_cookie).
	BindingCookie               bool
	ServiceAuth401Redirect      bool
	ReadServiceTokensFromHeader string
	CustomDenyMessage           string
	CustomDenyURL               string
	CustomNonIdentityDenyURL    string
	// AllowedIdPs limits the login methods offered (empty: all of the
	// account's); AutoRedirect skips the chooser when there is one.
	AllowedIdPs  []string
	AutoRedirect bool
	// SessionsRevokedAt: app tokens issued before it are refused.
	SessionsRevokedAt time.Time
	// UpstreamClientID and UpstreamClientSecret are the service token a
	// relay app presents to its origin, itself protected by Access; the
	// client id is "" for an ordinary app.
	UpstreamClientID     string
	UpstreamClientSecret string

	bypass      []*Policy
	serviceAuth []*Policy
	identity    []*Policy // allow and deny, by precedence
}

// Policy is one compiled policy.
type Policy struct {
	ID              string
	Name            string
	Decision        access.Decision
	Precedence      int
	SessionDuration time.Duration
	// PurposeJustificationRequired: an Allow policy lets a user in only
	// with a reason, asked at login with PurposeJustificationPrompt.
	PurposeJustificationRequired bool
	PurposeJustificationPrompt   string
	include                      []rule
	require                      []rule
	exclude                      []rule
}

// Token is one service token's credential.
type Token struct {
	ID        string
	AccountID string
	Name      string
	ClientID  string
	// Binding names the secret that authenticated the token: app tokens
	// minted for it carry the binding, and work only while that secret
	// does (see ServiceTokenSession).
	Binding string
	// prev is the token as authenticated by its previous secret (during a
	// rotation's grace period), with that secret's Binding.
	prev       *Token
	hash       []byte
	prevHash   []byte
	prevExpiry time.Time
	expires    time.Time
}

// Compile builds a snapshot from a configuration. It does every costly
// step (parsing, lower-casing, indexing) once, so that decisions do none.
func Compile(cfg access.Config) (*Snapshot, error) { return CompileFrom(nil, cfg) }

// CompileFrom is Compile, reusing prev's compiled apps whose inputs are
// unchanged: the result decides exactly as Compile(cfg) would. An app is
// reused when everything compiling it reads (see appendAppInputs) is byte
// for byte the same, its linked policies included. Service tokens and
// identity providers are not part of a compiled app (rules and
// allowed_idps name them by id, looked up when a request is decided), so
// they are rebuilt every time. prev may be nil.
func CompileFrom(prev *Snapshot, cfg access.Config) (*Snapshot, error) {
	exact, wildcard := len(cfg.Apps), 0
	if prev != nil {
		exact, wildcard = len(prev.exact), len(prev.wildcard)
	}
	s := &Snapshot{
		Version:  cfg.Version,
		exact:    make(map[string][]*App, exact),
		wildcard: make(map[string][]*App, wildcard),
		tokens:   make(map[string]*Token, len(cfg.ServiceTokens)),
		apps:     make(map[string]*compiledApp, len(cfg.Apps)),
		idps:     make(map[string]*IdentityProvider, len(cfg.IdentityProviders)),
	}
	for _, p := range cfg.IdentityProviders {
		s.idps[p.ID] = &IdentityProvider{p}
	}
	var inputs []byte
	domainOwner := make(map[string]string, len(cfg.Apps))
	for i := range cfg.Apps {
		a := &cfg.Apps[i]
		inputs = appendAppInputs(inputs[:0], a)
		var ca *compiledApp
		if prev != nil {
			if p := prev.apps[a.ID]; p != nil && bytes.Equal(p.inputs, inputs) {
				ca = p
				s.reused++
			}
		}
		if ca == nil {
			var err error
			if ca, err = compileApp(a); err != nil {
				return nil, fmt.Errorf("policy: app %s: %w", a.ID, err)
			}
			ca.inputs = bytes.Clone(inputs)
		}
		s.apps[a.ID] = ca
		for _, bad := range ca.invalid {
			s.closeHost(bad)
		}
		for j, app := range ca.dests {
			if other, dup := domainOwner[app.Domain]; dup && other != a.ID {
				// Two rows stored before domains were canonical that are
				// now one domain: which app is meant is unknowable.
				s.closeHost(InvalidDomain{AppID: a.ID, Domain: app.Domain, Err: fmt.Errorf("app %s has the same domain in canonical form", other)})
				continue
			}
			domainOwner[app.Domain] = a.ID
			m, key := s.exact, app.Host
			if suffix, ok := strings.CutPrefix(app.Host, "*."); ok {
				m, key = s.wildcard, suffix
			}
			if on := m[key]; on != nil {
				m[key] = append(on, app)
			} else {
				// Most hosts have one app: index a slice of the app's own
				// array instead of allocating one. Its cap is 1, so a second
				// app on the host appends to a copy, which is then sorted.
				m[key] = ca.dests[j : j+1 : j+1]
			}
		}
	}
	for _, m := range []map[string][]*App{s.exact, s.wildcard} {
		for _, apps := range m {
			slices.SortStableFunc(apps, func(a, b *App) int { return len(b.Path) - len(a.Path) })
		}
	}
	for _, t := range cfg.ServiceTokens {
		tok := &Token{ID: t.ID, AccountID: t.AccountID, Name: t.Name, ClientID: t.ClientID,
			hash: t.SecretHash, prevHash: t.PreviousSecretHash, expires: t.ExpiresAt}
		if t.PreviousSecretExpiresAt != nil {
			tok.prevExpiry = *t.PreviousSecretExpiresAt
		}
		tok.Binding = secretBinding(t.SecretHash)
		if t.PreviousSecretHash != nil {
			prev := *tok
			prev.Binding = secretBinding(t.PreviousSecretHash)
			tok.prev = &prev
		}
		s.tokens[t.ClientID] = tok
	}
	s.revokedSessions = make(map[sessionKey]struct{})
	s.revokedUsers = make(map[sessionKey]time.Time)
	for _, r := range cfg.Revocations {
		switch {
		case r.SessionID != "":
			s.revokedSessions[sessionKey{r.AccountID, r.SessionID}] = struct{}{}
		case r.Email != "":
			k := sessionKey{r.AccountID, strings.ToLower(r.Email)}
			if r.RevokedAt.After(s.revokedUsers[k]) {
				s.revokedUsers[k] = r.RevokedAt
			}
		}
	}
	return s, nil
}

// secretBinding is a service token secret's Binding: a digest of its hash,
// which names the secret without revealing anything about it.
func secretBinding(hash []byte) string {
	sum := sha256.Sum256(append([]byte("gatehouse service token binding\x00"), hash...))
	return hex.EncodeToString(sum[:12])
}

func (s *Snapshot) closeHost(bad InvalidDomain) {
	s.invalid = append(s.invalid, bad)
	if s.invalidHosts == nil {
		s.invalidHosts = map[string]bool{}
	}
	host, _, _ := strings.Cut(bad.Domain, "/")
	s.invalidHosts[strings.TrimSuffix(strings.ToLower(host), ".")] = true
}

// InvalidDomains returns the stored domains that are not valid app
// domains, whose hosts the snapshot closes.
func (s *Snapshot) InvalidDomains() []InvalidDomain { return s.invalid }

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

// Reused returns how many of the snapshot's apps CompileFrom took
// unchanged from the previous snapshot.
func (s *Snapshot) Reused() int { return s.reused }

// compileApp compiles one app and its destinations. It reads nothing but
// what appendAppInputs encodes.
func compileApp(a *access.App) (*compiledApp, error) {
	base, err := compileAppSettings(a)
	if err != nil {
		return nil, err
	}
	ca := &compiledApp{base: base, dests: make([]*App, 0, len(a.SelfHostedDomains))}
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
		ca.dests = append(ca.dests, &app)
	}
	return ca, nil
}

func compileAppSettings(a *access.App) (*App, error) {
	app := &App{
		ID: a.ID, AccountID: a.AccountID, AUD: a.AUD, Name: a.Name,
		PreflightBypass:             a.OptionsPreflightBypass,
		CookieSameSite:              a.SameSiteCookieAttribute,
		CookieHTTPOnly:              a.HTTPOnlyCookieAttribute == nil || *a.HTTPOnlyCookieAttribute,
		CookiePathScoped:            a.PathCookieAttribute,
		BindingCookie:               a.EnableBindingCookie,
		ServiceAuth401Redirect:      a.ServiceAuth401Redirect,
		ReadServiceTokensFromHeader: a.ReadServiceTokensFromHeader,
		CustomDenyMessage:           a.CustomDenyMessage,
		CustomDenyURL:               a.CustomDenyURL,
		CustomNonIdentityDenyURL:    a.CustomNonIdentityDenyURL,
		AllowedIdPs:                 a.AllowedIdPs,
		AutoRedirect:                a.AutoRedirectToIdentity,
	}
	if a.SessionsRevokedAt != nil {
		app.SessionsRevokedAt = *a.SessionsRevokedAt
	}
	if a.UpstreamServiceToken != nil {
		app.UpstreamClientID = a.UpstreamServiceToken.ClientID
		app.UpstreamClientSecret = a.UpstreamClientSecret
	}
	if a.Origin != "" {
		u, err := url.Parse(a.Origin)
		if err != nil {
			return nil, fmt.Errorf("origin: %w", err)
		}
		app.Origin = u
	}
	d, err := time.ParseDuration(a.SessionDuration)
	if err != nil {
		return nil, fmt.Errorf("session_duration: %w", err)
	}
	app.SessionDuration = d
	if a.CORSHeaders.Configured() {
		app.CORS = compileCORS(a.CORSHeaders)
	}
	for _, p := range a.Policies {
		cp, err := compilePolicy(p)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", p.ID, err)
		}
		switch p.Decision {
		case access.DecisionBypass:
			app.bypass = append(app.bypass, cp)
		case access.DecisionNonIdentity:
			app.serviceAuth = append(app.serviceAuth, cp)
		case access.DecisionAllow, access.DecisionDeny:
			app.identity = append(app.identity, cp)
		default:
			return nil, fmt.Errorf("policy %s: unknown decision %q", p.ID, p.Decision)
		}
	}
	return app, nil
}

func compilePolicy(p access.Policy) (*Policy, error) {
	cp := &Policy{ID: p.ID, Name: p.Name, Decision: p.Decision, Precedence: p.Precedence,
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
func (s *Snapshot) Match(host, path string) *App {
	if app := matchPath(s.exact[host], path); app != nil {
		return app
	}
	// "*.example.com" covers a.example.com and a.b.example.com: try each
	// parent domain, nearest first.
	for rest := host; ; {
		_, parent, ok := strings.Cut(rest, ".")
		if !ok {
			return nil
		}
		if app := matchPath(s.wildcard[parent], path); app != nil {
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

// LoginMethods returns the identity providers an app offers, in a stable
// order: its allowed_idps, or every provider of its account.
func (s *Snapshot) LoginMethods(app *App) []*IdentityProvider {
	var out []*IdentityProvider
	if len(app.AllowedIdPs) > 0 {
		for _, id := range app.AllowedIdPs {
			if p := s.idps[id]; p != nil && p.AccountID == app.AccountID {
				out = append(out, p)
			}
		}
		return out
	}
	for _, p := range s.idps {
		if p.AccountID == app.AccountID {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *IdentityProvider) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
	return out
}

// IdentityProvider returns an account's provider by id, or nil.
func (s *Snapshot) IdentityProvider(accountID, id string) *IdentityProvider {
	if p := s.idps[id]; p != nil && p.AccountID == accountID {
		return p
	}
	return nil
}

// App returns an app by id, or nil.
func (s *Snapshot) App(id string) *App {
	if ca := s.apps[id]; ca != nil {
		return ca.base
	}
	return nil
}

// Apps returns how many apps the snapshot holds.
func (s *Snapshot) Apps() int { return len(s.apps) }

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
)

type rule struct {
	kind   ruleKind
	value  string // email, "@domain", token id, country, idp id
	prefix netip.Prefix
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
		default:
			return nil, fmt.Errorf("rule with no known type")
		}
		out = append(out, cr)
	}
	return out, nil
}
