package policy_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

const (
	account      = "0123456789abcdef0123456789abcdef"
	otherAccount = "fedcba9876543210fedcba9876543210"

	tokenA = "11111111-1111-4111-8111-111111111111"
	tokenB = "22222222-2222-4222-8222-222222222222"
)

// Rules, as the control plane stores them.

func email(e string) access.Rule { return access.Rule{Email: &access.EmailRule{Email: e}} }
func emailDomain(d string) access.Rule {
	return access.Rule{EmailDomain: &access.EmailDomainRule{Domain: d}}
}
func everyone() access.Rule      { return access.Rule{Everyone: &struct{}{}} }
func ip(cidr string) access.Rule { return access.Rule{IP: &access.IPRule{IP: cidr}} }
func serviceToken(id string) access.Rule {
	return access.Rule{ServiceToken: &access.ServiceTokenRule{TokenID: id}}
}
func anyValidServiceToken() access.Rule { return access.Rule{AnyValidServiceToken: &struct{}{}} }
func geo(cc string) access.Rule         { return access.Rule{Geo: &access.GeoRule{CountryCode: cc}} }
func loginMethod(id string) access.Rule {
	return access.Rule{LoginMethod: &access.LoginMethodRule{ID: id}}
}

// parsed is a rule as the API parses it from JSON.
func parsed(raw string) access.Rule {
	r, errs := access.ParseRule("r", json.RawMessage(raw))
	if len(errs) > 0 {
		panic(errs[0].Message)
	}
	return r
}

// Policies. Precedence is given by their order in the app.

func newPolicy(id string, d access.Decision, include ...access.Rule) access.Policy {
	return access.Policy{ID: id, Name: id, Decision: d, Include: include}
}
func allow(id string, include ...access.Rule) access.Policy {
	return newPolicy(id, access.DecisionAllow, include...)
}
func deny(id string, include ...access.Rule) access.Policy {
	return newPolicy(id, access.DecisionDeny, include...)
}
func bypass(id string, include ...access.Rule) access.Policy {
	return newPolicy(id, access.DecisionBypass, include...)
}
func serviceAuth(id string, include ...access.Rule) access.Policy {
	return newPolicy(id, access.DecisionNonIdentity, include...)
}
func requiring(p access.Policy, r ...access.Rule) access.Policy { p.Require = r; return p }
func excluding(p access.Policy, r ...access.Rule) access.Policy { p.Exclude = r; return p }
func justified(p access.Policy) access.Policy {
	p.PurposeJustificationRequired, p.PurposeJustificationPrompt = true, "Why do you need access?"
	return p
}

func newApp(id string, domains ...string) access.App {
	return access.App{ID: id, AccountID: account, AUD: "aud-" + id, Name: id, Type: access.AppTypeSelfHosted,
		SelfHostedDomains: domains, SessionDuration: "24h"}
}

func withPolicies(a access.App, ps ...access.Policy) access.App {
	for i := range ps {
		ps[i].Precedence = i + 1
	}
	a.Policies = ps
	return a
}

func compile(tb testing.TB, cfg access.Config) *policy.Snapshot {
	tb.Helper()
	s, err := policy.Compile(cfg)
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	return s
}

func user(e string) *policy.Identity { return &policy.Identity{Email: e, LoginMethod: "otp"} }

// matchFixture is a configuration with every kind of destination; it is
// shared by TestMatch and FuzzMatch.
var matchFixture = []struct{ id, domain string }{
	{"root", "example.test"},
	{"api", "example.test/api"},
	{"apiv2", "example.test/api/v2"},
	{"exact", "api.example.test"},
	{"wild", "*.example.test"},
	{"wildadmin", "*.example.test/admin"},
	{"capi", "c.example.test/api"},
	{"zone", "*.zone.test"},
	{"inzone", "*.in.zone.test"},
	{"onlywild", "*.wild.test"},
	{"multi", "one.test"},
	{"multi", "two.test/app"},
}

func matchSnapshot(tb testing.TB) *policy.Snapshot {
	var apps []access.App
	byID := map[string]int{}
	for _, d := range matchFixture {
		if i, ok := byID[d.id]; ok {
			apps[i].SelfHostedDomains = append(apps[i].SelfHostedDomains, d.domain)
			continue
		}
		byID[d.id] = len(apps)
		apps = append(apps, newApp(d.id, d.domain))
	}
	return compile(tb, access.Config{Version: 7, Apps: apps})
}

func TestMatch(t *testing.T) {
	s := matchSnapshot(t)
	tests := []struct {
		name       string
		host, path string
		wantID     string // "" for no match
		wantHost   string
		wantPath   string
	}{
		{"ok/exact host", "api.example.test", "/", "exact", "api.example.test", ""},
		{"ok/exact host, empty path", "api.example.test", "", "exact", "api.example.test", ""},
		{"ok/host without path covers every path", "example.test", "/other/thing", "root", "example.test", ""},
		{"ok/path prefix", "example.test", "/api/x", "api", "example.test", "/api"},
		{"ok/path prefix equal to the path", "example.test", "/api", "api", "example.test", "/api"},
		{"ok/path prefix with trailing slash", "example.test", "/api/", "api", "example.test", "/api"},
		{"ok/longest path prefix wins", "example.test", "/api/v2/users", "apiv2", "example.test", "/api/v2"},
		{"ok/longest path prefix, exact path", "example.test", "/api/v2", "apiv2", "example.test", "/api/v2"},
		{"ok/path prefix stops at a segment boundary", "example.test", "/apix", "root", "example.test", ""},
		{"ok/longer prefix stops at a segment boundary", "example.test", "/api/v2x", "api", "example.test", "/api"},
		{"ok/paths are case-sensitive", "example.test", "/API/x", "root", "example.test", ""},
		{"ok/wildcard covers one label", "a.example.test", "/", "wild", "*.example.test", ""},
		{"ok/wildcard covers several labels", "a.b.example.test", "/x", "wild", "*.example.test", ""},
		{"ok/wildcard with a path", "b.example.test", "/admin/users", "wildadmin", "*.example.test", "/admin"},
		{"ok/wildcard path stops at a segment boundary", "b.example.test", "/administrator", "wild", "*.example.test", ""},
		{"ok/exact host beats a wildcard with a longer path", "api.example.test", "/admin", "exact", "api.example.test", ""},
		{"ok/exact host and path", "c.example.test", "/api/x", "capi", "c.example.test", "/api"},
		{"ok/exact host whose path does not match falls back to the wildcard", "c.example.test", "/other", "wild", "*.example.test", ""},
		{"ok/nearest wildcard wins", "x.in.zone.test", "/", "inzone", "*.in.zone.test", ""},
		{"ok/outer wildcard", "x.zone.test", "/", "zone", "*.zone.test", ""},
		{"ok/outer wildcard covers the inner wildcard's apex", "in.zone.test", "/", "zone", "*.zone.test", ""},
		{"ok/app with two destinations, first", "one.test", "/anything", "multi", "one.test", ""},
		{"ok/app with two destinations, second", "two.test", "/app/x", "multi", "two.test", "/app"},
		{"fail/app with two destinations, second off its path", "two.test", "/apps", "", "", ""},
		{"fail/wildcard does not cover its apex", "wild.test", "/", "", "", ""},
		{"fail/wildcard needs a label boundary", "notwild.test", "/", "", "", ""},
		{"fail/exact host needs a label boundary", "xexample.test", "/", "", "", ""},
		{"fail/unknown host", "unknown.test", "/", "", "", ""},
		{"fail/empty host", "", "/", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := s.Match(tc.host, tc.path)
			if tc.wantID == "" {
				if a != nil {
					t.Fatalf("Match(%q, %q) = app %s (%s%s), want nil", tc.host, tc.path, a.ID, a.Host, a.Path)
				}
				return
			}
			if a == nil {
				t.Fatalf("Match(%q, %q) = nil, want app %s", tc.host, tc.path, tc.wantID)
			}
			if a.ID != tc.wantID || a.Host != tc.wantHost || a.Path != tc.wantPath {
				t.Fatalf("Match(%q, %q) = %s (%q %q), want %s (%q %q)", tc.host, tc.path, a.ID, a.Host, a.Path, tc.wantID, tc.wantHost, tc.wantPath)
			}
		})
	}
}

func TestCompile(t *testing.T) {
	pd := allow("p1", everyone())
	pd.SessionDuration = "30m"
	a := withPolicies(newApp("a1", "a.test", "b.test/x"), pd)
	a.Origin = "https://origin.internal:8443"
	s := compile(t, access.Config{Version: 42, Apps: []access.App{a, newApp("a2", "c.test")}})

	if s.Version != 42 || s.Apps() != 2 {
		t.Fatalf("version %d, apps %d; want 42, 2", s.Version, s.Apps())
	}
	if s.App("a1") == nil || s.App("a1").ID != "a1" || s.App("nope") != nil {
		t.Fatal("App(id) does not find apps by id")
	}
	m := s.Match("b.test", "/x")
	if m == nil || m.ID != "a1" || m.AccountID != account || m.AUD != "aud-a1" {
		t.Fatalf("Match = %+v", m)
	}
	if m.SessionDuration != 24*time.Hour || !m.CookieHTTPOnly || m.Origin == nil || m.Origin.Host != "origin.internal:8443" {
		t.Errorf("session %v, httponly %v, origin %v: want 24h, true by default, origin.internal:8443", m.SessionDuration, m.CookieHTTPOnly, m.Origin)
	}
	d := s.Decide(m, policy.Facts{Identity: user("a@b.test")})
	if d.Policy == nil || d.Policy.ID != "p1" || d.Policy.SessionDuration != 30*time.Minute {
		t.Errorf("decision policy %+v: want p1 with its own 30m session", d.Policy)
	}
}

func TestCompileErrors(t *testing.T) {
	withApp := func(f func(*access.App)) access.Config {
		a := newApp("bad", "bad.test")
		f(&a)
		return access.Config{Apps: []access.App{newApp("good", "good.test"), a}}
	}
	tests := []struct {
		name string
		cfg  access.Config
	}{
		{"fail/session duration", withApp(func(a *access.App) { a.SessionDuration = "1 day" })},
		{"fail/empty session duration", withApp(func(a *access.App) { a.SessionDuration = "" })},
		{"fail/origin", withApp(func(a *access.App) { a.Origin = "http://[::1" })},
		{"fail/policy session duration", withApp(func(a *access.App) {
			p := allow("p", everyone())
			p.SessionDuration = "soon"
			a.Policies = []access.Policy{p}
		})},
		{"fail/unknown decision", withApp(func(a *access.App) { a.Policies = []access.Policy{newPolicy("p", "maybe", everyone())} })},
		{"fail/bad cidr", withApp(func(a *access.App) { a.Policies = []access.Policy{allow("p", ip("10.0.0.0/33"))} })},
		{"fail/rule with no type in require", withApp(func(a *access.App) {
			a.Policies = []access.Policy{requiring(allow("p", everyone()), access.Rule{})}
		})},
		{"fail/rule with no type in exclude", withApp(func(a *access.App) {
			a.Policies = []access.Policy{excluding(allow("p", everyone()), access.Rule{})}
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := policy.Compile(tc.cfg)
			if err == nil {
				t.Fatalf("Compile succeeded (%d apps), want an error", s.Apps())
			}
			if !strings.Contains(err.Error(), "bad") {
				t.Errorf("error %q does not name the app", err)
			}
		})
	}
	t.Run("ok/empty config", func(t *testing.T) {
		s := compile(t, access.Config{})
		if s.Apps() != 0 || s.Match("a.test", "/") != nil {
			t.Fatal("empty snapshot matches something")
		}
	})
}

const varyPreflight = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

func TestPreflight(t *testing.T) {
	base := func() *access.CORSSettings {
		return &access.CORSSettings{
			AllowedOrigins: []string{"https://app.example.test", "https://admin.example.test:8443"},
			AllowedMethods: []string{"GET", "POST", "PUT"},
			AllowedHeaders: []string{"Content-Type", "X-Api-Key"},
			MaxAge:         600,
		}
	}
	with := func(f func(*access.CORSSettings)) *access.CORSSettings { c := base(); f(c); return c }
	refused := http.Header{"Vary": {varyPreflight}}
	answer := func(kv ...string) http.Header {
		h := http.Header{"Vary": {varyPreflight}}
		for i := 0; i < len(kv); i += 2 {
			h[kv[i]] = []string{kv[i+1]}
		}
		return h
	}
	const (
		web     = "https://app.example.test"
		acao    = "Access-Control-Allow-Origin"
		acam    = "Access-Control-Allow-Methods"
		acah    = "Access-Control-Allow-Headers"
		acac    = "Access-Control-Allow-Credentials"
		maxAge  = "Access-Control-Max-Age"
		methods = "GET, POST, PUT"
		headers = "Content-Type, X-Api-Key"
	)
	tests := []struct {
		name                  string
		cors                  *access.CORSSettings
		bypass                bool
		origin, method, reqHd string
		outcome               policy.PreflightOutcome
		reason                policy.Reason
		headers               http.Header
	}{
		{"ok/bypass forwards to the origin", nil, true, web, "PUT", "x-anything",
			policy.PreflightForward, policy.ReasonPreflightBypassed, nil},
		{"ok/bypass wins over CORS settings", base(), true, "https://evil.test", "DELETE", "",
			policy.PreflightForward, policy.ReasonPreflightBypassed, nil},
		{"fail/no CORS settings", nil, false, web, "GET", "",
			policy.PreflightRefuse, policy.ReasonPreflightNoCORSSettings, nil},
		{"fail/all-zero CORS settings are no settings", &access.CORSSettings{AllowedOrigins: []string{}}, false, web, "GET", "",
			policy.PreflightRefuse, policy.ReasonPreflightNoCORSSettings, nil},

		{"ok/allowed origin", base(), false, web, "PUT", "Content-Type",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, web, acam, methods, acah, headers, maxAge, "600")},
		{"ok/second allowed origin, with port", base(), false, "https://admin.example.test:8443", "GET", "",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, "https://admin.example.test:8443", acam, methods, acah, headers, maxAge, "600")},
		{"ok/credentials", with(func(c *access.CORSSettings) { c.AllowCredentials = true }), false, web, "POST", "",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, web, acam, methods, acah, headers, acac, "true", maxAge, "600")},
		{"ok/origin in upper case is accepted and echoed", base(), false, "HTTPS://APP.Example.Test", "GET", "",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, "HTTPS://APP.Example.Test", acam, methods, acah, headers, maxAge, "600")},
		{"ok/allow all origins without credentials is *", with(func(c *access.CORSSettings) { c.AllowAllOrigins = true; c.AllowedOrigins = nil }),
			false, "https://anyone.test", "GET", "",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, "*", acam, methods, acah, headers, maxAge, "600")},
		{"ok/allow all origins with credentials echoes the origin", with(func(c *access.CORSSettings) {
			c.AllowAllOrigins = true
			c.AllowCredentials = true
			c.AllowedOrigins = nil
		}), false, "https://anyone.test", "GET", "",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, "https://anyone.test", acam, methods, acah, headers, acac, "true", maxAge, "600")},
		{"fail/origin not allowed", base(), false, "https://evil.test", "GET", "",
			policy.PreflightAnswer, policy.ReasonPreflightOriginForbidden, refused},
		{"fail/origin with another scheme", base(), false, "http://app.example.test", "GET", "",
			policy.PreflightAnswer, policy.ReasonPreflightOriginForbidden, refused},
		{"fail/origin with another port", base(), false, "https://app.example.test:444", "GET", "",
			policy.PreflightAnswer, policy.ReasonPreflightOriginForbidden, refused},
		{"fail/origin that only shares a prefix", base(), false, "https://app.example.test.evil.test", "GET", "",
			policy.PreflightAnswer, policy.ReasonPreflightOriginForbidden, refused},
		{"fail/null origin", base(), false, "null", "GET", "",
			policy.PreflightAnswer, policy.ReasonPreflightOriginForbidden, refused},
		{"fail/origin is checked before the method", base(), false, "https://evil.test", "DELETE", "X-Other",
			policy.PreflightAnswer, policy.ReasonPreflightOriginForbidden, refused},

		{"fail/method not allowed", base(), false, web, "DELETE", "",
			policy.PreflightAnswer, policy.ReasonPreflightMethodForbidden, refused},
		{"fail/methods compare case-sensitively, as in fetch", base(), false, web, "put", "",
			policy.PreflightAnswer, policy.ReasonPreflightMethodForbidden, refused},
		{"ok/CORS-safelisted method need not be listed", with(func(c *access.CORSSettings) { c.AllowedMethods = []string{"PUT"} }),
			false, web, "GET", "",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, web, acam, "PUT", acah, headers, maxAge, "600")},
		{"ok/no methods listed, safelisted method: no Allow-Methods", with(func(c *access.CORSSettings) { c.AllowedMethods = nil }),
			false, web, "HEAD", "",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, web, acah, headers, maxAge, "600")},
		{"fail/no methods listed, other method", with(func(c *access.CORSSettings) { c.AllowedMethods = nil }),
			false, web, "PATCH", "",
			policy.PreflightAnswer, policy.ReasonPreflightMethodForbidden, refused},
		{"fail/safelisting is case-sensitive too", with(func(c *access.CORSSettings) { c.AllowedMethods = []string{"PUT"} }),
			false, web, "get", "",
			policy.PreflightAnswer, policy.ReasonPreflightMethodForbidden, refused},
		{"ok/allow all methods echoes the method", with(func(c *access.CORSSettings) { c.AllowAllMethods = true; c.AllowedMethods = nil }),
			false, web, "PATCH", "",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, web, acam, "PATCH", acah, headers, maxAge, "600")},

		{"fail/header not allowed", base(), false, web, "GET", "X-Other",
			policy.PreflightAnswer, policy.ReasonPreflightHeaderForbidden, refused},
		{"fail/one of several headers not allowed", base(), false, web, "GET", "content-type, x-other",
			policy.PreflightAnswer, policy.ReasonPreflightHeaderForbidden, refused},
		{"fail/header that only shares a prefix", base(), false, web, "GET", "x-api-key-2",
			policy.PreflightAnswer, policy.ReasonPreflightHeaderForbidden, refused},
		{"fail/headers requested, none allowed", with(func(c *access.CORSSettings) { c.AllowedHeaders = nil }), false, web, "GET", "x-api-key",
			policy.PreflightAnswer, policy.ReasonPreflightHeaderForbidden, refused},
		{"ok/header names compare case-insensitively, list with spaces", base(), false, web, "POST", "content-type , X-API-KEY,x-api-key",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, web, acam, methods, acah, headers, maxAge, "600")},
		{"ok/empty entries in the header list are ignored", base(), false, web, "POST", " , content-type,",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, web, acam, methods, acah, headers, maxAge, "600")},
		{"ok/no headers requested", base(), false, web, "POST", "",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, web, acam, methods, acah, headers, maxAge, "600")},
		{"ok/no headers requested, none allowed: no Allow-Headers", with(func(c *access.CORSSettings) { c.AllowedHeaders = nil }), false, web, "POST", "",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, web, acam, methods, maxAge, "600")},
		{"ok/allow all headers echoes the requested headers", with(func(c *access.CORSSettings) { c.AllowAllHeaders = true; c.AllowedHeaders = nil }),
			false, web, "POST", "X-A, x-b",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, web, acam, methods, acah, "X-A, x-b", maxAge, "600")},
		{"ok/allow all headers, none requested: no Allow-Headers", with(func(c *access.CORSSettings) { c.AllowAllHeaders = true; c.AllowedHeaders = nil }),
			false, web, "POST", "",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, web, acam, methods, maxAge, "600")},

		{"ok/max age -1 is 0", with(func(c *access.CORSSettings) { c.MaxAge = -1 }), false, web, "GET", "",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, web, acam, methods, acah, headers, maxAge, "0")},
		{"ok/max age 0 leaves the header out", with(func(c *access.CORSSettings) { c.MaxAge = 0 }), false, web, "GET", "",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, web, acam, methods, acah, headers)},
		{"ok/max age at Firefox's cap", with(func(c *access.CORSSettings) { c.MaxAge = 86400 }), false, web, "GET", "",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, web, acam, methods, acah, headers, maxAge, "86400")},
		{"ok/only allow all, nothing listed", &access.CORSSettings{AllowAllOrigins: true, AllowAllMethods: true, AllowAllHeaders: true},
			false, web, "DELETE", "authorization",
			policy.PreflightAnswer, policy.ReasonPreflightAnswered,
			answer(acao, "*", acam, "DELETE", acah, "authorization")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp("cors", "api.example.test")
			a.CORSHeaders = tc.cors
			a.OptionsPreflightBypass = tc.bypass
			app := compile(t, access.Config{Apps: []access.App{a}}).Match("api.example.test", "/v1")
			got := app.Preflight(tc.origin, tc.method, tc.reqHd)
			if got.Outcome != tc.outcome || got.Reason != tc.reason {
				t.Fatalf("Preflight = %d/%s, want %d/%s", got.Outcome, got.Reason, tc.outcome, tc.reason)
			}
			if !reflect.DeepEqual(got.Headers, tc.headers) {
				t.Fatalf("headers\n got %v\nwant %v", got.Headers, tc.headers)
			}
			if got.Outcome == policy.PreflightAnswer && tc.reason != policy.ReasonPreflightAnswered {
				for k := range got.Headers {
					if strings.HasPrefix(k, "Access-Control-Allow-") {
						t.Fatalf("refused preflight carries %s", k)
					}
				}
			}
		})
	}
}

// TestPreflightAnswersAreIndependent checks that an answer's headers are
// the caller's to change: editing one must not leak into the next.
func TestPreflightAnswersAreIndependent(t *testing.T) {
	a := newApp("cors", "api.example.test")
	a.CORSHeaders = &access.CORSSettings{AllowedOrigins: []string{"https://app.test"}, AllowedMethods: []string{"GET"}}
	app := compile(t, access.Config{Apps: []access.App{a}}).Match("api.example.test", "/")
	first := app.Preflight("https://app.test", "GET", "")
	first.Headers.Set("Access-Control-Allow-Origin", "*")
	first.Headers.Add("Vary", "Cookie")
	second := app.Preflight("https://app.test", "GET", "")
	if got := second.Headers.Get("Access-Control-Allow-Origin"); got != "https://app.test" {
		t.Fatalf("second answer's origin %q", got)
	}
	if got := second.Headers.Values("Vary"); len(got) != 1 || got[0] != varyPreflight {
		t.Fatalf("second answer's Vary %q", got)
	}
}

// TestPreflightPreparedValuesSurviveCallerEdits: an answer's values are
// prepared once and shared by every answer, so a caller adding to each
// header of one answer, directly or after copying it into a response as
// the edge does, must not change the next answer, whatever the settings.
func TestPreflightPreparedValuesSurviveCallerEdits(t *testing.T) {
	listed := []string{"https://app.test"}
	settings := map[string]*access.CORSSettings{
		"listed":                    {AllowedOrigins: listed, AllowedMethods: []string{"GET", "PUT"}, AllowedHeaders: []string{"X-A"}, MaxAge: 60},
		"listed with credentials":   {AllowedOrigins: listed, AllowedMethods: []string{"PUT"}, AllowCredentials: true, MaxAge: -1},
		"allow all origins":         {AllowAllOrigins: true, AllowedMethods: []string{"PUT"}},
		"allow all, credentials":    {AllowAllOrigins: true, AllowCredentials: true, AllowAllMethods: true, AllowAllHeaders: true},
		"allow all methods, listed": {AllowedOrigins: listed, AllowAllMethods: true, AllowedHeaders: []string{"X-A"}},
	}
	for name, c := range settings {
		t.Run(name, func(t *testing.T) {
			a := newApp("cors", "api.example.test")
			a.CORSHeaders = c
			app := compile(t, access.Config{Apps: []access.App{a}}).Match("api.example.test", "/")
			for _, origin := range []string{"https://app.test", "HTTPS://APP.TEST", "https://evil.test"} {
				want := app.Preflight(origin, "PUT", "x-a").Headers
				first, second := app.Preflight(origin, "PUT", "x-a"), app.Preflight(origin, "PUT", "x-a")
				response := http.Header{}
				for k, v := range second.Headers {
					response[k] = v
				}
				for k := range want {
					first.Headers.Add(k, "first")
					response.Add(k, "second")
				}
				for k, v := range want {
					if got := first.Headers[k]; !slices.Equal(got, append(slices.Clip(v), "first")) {
						t.Errorf("%s: %s of an edited answer is %q after another was edited", origin, k, got)
					}
				}
				if again := app.Preflight(origin, "PUT", "x-a"); !reflect.DeepEqual(again.Headers, want) {
					t.Fatalf("%s: after edits the answer is\n%v\nwant\n%v", origin, again.Headers, want)
				}
			}
		})
	}
}

func TestIsPreflight(t *testing.T) {
	req := func(method string, h ...string) *http.Request {
		r, _ := http.NewRequest(method, "https://api.example.test/x", nil)
		for i := 0; i < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	tests := []struct {
		name string
		r    *http.Request
		want bool
	}{
		{"ok/options with origin and request method", req("OPTIONS", "Origin", "https://app.test", "Access-Control-Request-Method", "PUT"), true},
		{"fail/options without request method", req("OPTIONS", "Origin", "https://app.test"), false},
		{"fail/options without origin", req("OPTIONS", "Access-Control-Request-Method", "PUT"), false},
		{"fail/get with CORS headers", req("GET", "Origin", "https://app.test", "Access-Control-Request-Method", "PUT"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := policy.IsPreflight(tc.r); got != tc.want {
				t.Fatalf("IsPreflight = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestResponseCORS(t *testing.T) {
	tests := []struct {
		name   string
		cors   *access.CORSSettings
		origin string
		want   http.Header
	}{
		{"ok/allowed origin", &access.CORSSettings{AllowedOrigins: []string{"https://app.test"}}, "https://app.test",
			http.Header{"Access-Control-Allow-Origin": {"https://app.test"}, "Vary": {"Origin"}}},
		{"ok/allowed origin with credentials", &access.CORSSettings{AllowedOrigins: []string{"https://app.test"}, AllowCredentials: true}, "https://app.test",
			http.Header{"Access-Control-Allow-Origin": {"https://app.test"}, "Access-Control-Allow-Credentials": {"true"}, "Vary": {"Origin"}}},
		{"ok/allow all origins", &access.CORSSettings{AllowAllOrigins: true}, "https://x.test",
			http.Header{"Access-Control-Allow-Origin": {"*"}, "Vary": {"Origin"}}},
		{"ok/allow all origins with credentials echoes", &access.CORSSettings{AllowAllOrigins: true, AllowCredentials: true}, "https://x.test",
			http.Header{"Access-Control-Allow-Origin": {"https://x.test"}, "Access-Control-Allow-Credentials": {"true"}, "Vary": {"Origin"}}},
		{"fail/origin not allowed", &access.CORSSettings{AllowedOrigins: []string{"https://app.test"}}, "https://evil.test", nil},
		{"fail/no origin", &access.CORSSettings{AllowAllOrigins: true}, "", nil},
		{"fail/no CORS settings", nil, "https://app.test", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp("cors", "api.example.test")
			a.CORSHeaders = tc.cors
			app := compile(t, access.Config{Apps: []access.App{a}}).Match("api.example.test", "/")
			if got := app.ResponseCORS(tc.origin); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ResponseCORS = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	v4 := netip.MustParseAddr("10.1.2.3")
	type want struct {
		action      policy.Action
		reason      policy.Reason
		policy      string // id of the deciding policy, "" for none
		nonIdentity bool
	}
	var (
		allowed    = func(id string) want { return want{policy.Allow, policy.ReasonAllowPolicy, id, false} }
		denied     = func(id string) want { return want{policy.Deny, policy.ReasonDenyPolicy, id, false} }
		bypassed   = func(id string) want { return want{policy.Allow, policy.ReasonBypassPolicy, id, true} }
		authed     = func(id string) want { return want{policy.Allow, policy.ReasonServiceAuthPolicy, id, true} }
		noMatch    = want{policy.Deny, policy.ReasonNoPolicyMatched, "", false}
		login      = want{policy.Login, policy.ReasonLoginRequired, "", false}
		tokenNoPol = want{policy.Deny, policy.ReasonServiceTokenNoPolicy, "", false}
	)
	ann := user("ann@example.test")
	tokA := &policy.Token{ID: tokenA, AccountID: account, ClientID: "a.access"}
	tokB := &policy.Token{ID: tokenB, AccountID: account, ClientID: "b.access"}
	allowAnn := allow("allow-ann", email("ann@example.test"))

	tests := []struct {
		name     string
		policies []access.Policy
		facts    policy.Facts
		want     want
	}{
		// Order of evaluation.
		{"ok/bypass before a deny that matches", []access.Policy{deny("deny-all", everyone()), bypass("bypass", everyone())},
			policy.Facts{Identity: ann, IP: v4}, bypassed("bypass")},
		{"ok/bypass before service auth", []access.Policy{serviceAuth("sa", anyValidServiceToken()), bypass("bypass", everyone())},
			policy.Facts{Token: tokA}, bypassed("bypass")},
		{"ok/bypass needs no identity", []access.Policy{bypass("bypass", ip("10.0.0.0/8")), allowAnn},
			policy.Facts{IP: v4}, bypassed("bypass")},
		{"fail/bypass that does not match then login", []access.Policy{bypass("bypass", ip("192.0.2.0/24")), allowAnn},
			policy.Facts{IP: v4}, login},
		{"ok/service auth before identity policies", []access.Policy{deny("deny-ann", email("ann@example.test")), serviceAuth("sa", anyValidServiceToken())},
			policy.Facts{Identity: ann, Token: tokA}, authed("sa")},
		{"ok/service auth by ip needs no token", []access.Policy{serviceAuth("sa", ip("10.0.0.0/8")), allowAnn},
			policy.Facts{IP: v4}, authed("sa")},
		{"ok/token whose service auth does not match, with identity, goes on to identity policies",
			[]access.Policy{serviceAuth("sa", serviceToken(tokenB)), allowAnn},
			policy.Facts{Identity: ann, Token: tokA}, allowed("allow-ann")},
		{"ok/deny at precedence 1 beats allow at 2", []access.Policy{deny("deny-ann", email("ann@example.test")), allow("allow-all", everyone())},
			policy.Facts{Identity: ann}, denied("deny-ann")},
		{"ok/allow at precedence 1 beats deny at 2", []access.Policy{allow("allow-ann", email("ann@example.test")), deny("deny-all", everyone())},
			policy.Facts{Identity: ann}, allowed("allow-ann")},
		{"ok/first matching policy decides, later ones are not reached",
			[]access.Policy{allow("allow-bob", email("bob@example.test")), deny("deny-ann", email("ann@example.test")), allow("allow-all", everyone())},
			policy.Facts{Identity: ann}, denied("deny-ann")},
		{"fail/no policy matches", []access.Policy{allow("allow-bob", email("bob@example.test"))},
			policy.Facts{Identity: ann}, noMatch},
		{"fail/no policies at all", nil, policy.Facts{Identity: ann}, noMatch},
		{"fail/no identity and no token", []access.Policy{allow("allow-all", everyone())},
			policy.Facts{IP: v4, Country: "DE"}, login},
		{"fail/valid token, no service auth policy", []access.Policy{allow("allow-all", everyone())},
			policy.Facts{Token: tokA}, tokenNoPol},
		{"fail/valid token, service auth for another token", []access.Policy{serviceAuth("sa", serviceToken(tokenB))},
			policy.Facts{Token: tokA}, tokenNoPol},

		// Purpose justification: an Allow policy that asks for a reason
		// lets in only a session that carries one.
		{"fail/purpose required and none given", []access.Policy{justified(allow("p", everyone()))},
			policy.Facts{Identity: ann}, want{policy.Login, policy.ReasonPurposeJustificationRequired, "p", false}},
		{"ok/purpose required and given", []access.Policy{justified(allow("p", everyone()))},
			policy.Facts{Identity: &policy.Identity{Email: "ann@example.test", Purpose: "incident 42"}}, allowed("p")},
		{"ok/purpose asked only by the policy that matches", []access.Policy{allow("p", email("ann@example.test")), justified(allow("q", everyone()))},
			policy.Facts{Identity: ann}, allowed("p")},
		{"ok/deny before a justified allow still denies", []access.Policy{deny("d", everyone()), justified(allow("p", everyone()))},
			policy.Facts{Identity: ann}, denied("d")},
		{"fail/purpose on a later policy after a justified one matched", []access.Policy{justified(allow("p", everyone())), allow("q", everyone())},
			policy.Facts{Identity: ann}, want{policy.Login, policy.ReasonPurposeJustificationRequired, "p", false}},

		// Include any, require all, exclude none.
		{"ok/include: any rule", []access.Policy{allow("p", email("bob@example.test"), email("ann@example.test"))},
			policy.Facts{Identity: ann}, allowed("p")},
		{"ok/require: all rules hold", []access.Policy{requiring(allow("p", everyone()), emailDomain("example.test"), geo("DE"))},
			policy.Facts{Identity: ann, Country: "DE"}, allowed("p")},
		{"fail/require: one rule fails", []access.Policy{requiring(allow("p", everyone()), emailDomain("example.test"), geo("DE"))},
			policy.Facts{Identity: ann, Country: "FR"}, noMatch},
		{"fail/require: rule fails although include matches", []access.Policy{requiring(allow("p", email("ann@example.test")), loginMethod("google"))},
			policy.Facts{Identity: ann}, noMatch},
		{"ok/exclude: no rule matches", []access.Policy{excluding(allow("p", everyone()), email("bob@example.test"), geo("KP"))},
			policy.Facts{Identity: ann, Country: "DE"}, allowed("p")},
		{"fail/exclude: one rule matches", []access.Policy{excluding(allow("p", everyone()), email("bob@example.test"), geo("KP"))},
			policy.Facts{Identity: ann, Country: "KP"}, noMatch},
		{"ok/excluded from a deny falls through to the next policy",
			[]access.Policy{excluding(deny("deny-all", everyone()), email("ann@example.test")), allow("allow-all", everyone())},
			policy.Facts{Identity: ann}, allowed("allow-all")},

		// email
		{"ok/email compares case-insensitively", []access.Policy{allow("p", email("ann@example.test"))},
			policy.Facts{Identity: user("Ann@EXAMPLE.test")}, allowed("p")},
		{"ok/email rule not in canonical case", []access.Policy{allow("p", email("ANN@Example.Test"))},
			policy.Facts{Identity: ann}, allowed("p")},
		{"ok/email rule parsed from JSON", []access.Policy{allow("p", parsed(`{"email":{"email":"Ann@Example.TEST"}}`))},
			policy.Facts{Identity: ann}, allowed("p")},
		{"fail/email of someone else", []access.Policy{allow("p", email("ann@example.test"))},
			policy.Facts{Identity: user("ann@example.test.evil.test")}, noMatch},
		// email_domain
		{"ok/email domain", []access.Policy{allow("p", emailDomain("example.test"))},
			policy.Facts{Identity: user("a@EXAMPLE.test")}, allowed("p")},
		{"ok/email domain rule parsed from JSON with @", []access.Policy{allow("p", parsed(`{"email_domain":{"domain":"@Example.test"}}`))},
			policy.Facts{Identity: user("a@example.test")}, allowed("p")},
		{"fail/email domain that only ends the same", []access.Policy{allow("p", emailDomain("example.test"))},
			policy.Facts{Identity: user("a@notexample.test")}, noMatch},
		{"fail/email domain does not cover subdomains", []access.Policy{allow("p", emailDomain("example.test"))},
			policy.Facts{Identity: user("a@sub.example.test")}, noMatch},
		{"fail/email domain with an empty local part", []access.Policy{allow("p", emailDomain("example.test"))},
			policy.Facts{Identity: user("@example.test")}, noMatch},
		{"fail/email domain with a longer TLD", []access.Policy{allow("p", emailDomain("example.test"))},
			policy.Facts{Identity: user("a@example.tester")}, noMatch},
		// everyone
		{"ok/everyone", []access.Policy{allow("p", everyone())}, policy.Facts{Identity: ann}, allowed("p")},
		// ip
		{"ok/ipv4 in range", []access.Policy{allow("p", ip("10.0.0.0/8"))},
			policy.Facts{Identity: ann, IP: v4}, allowed("p")},
		{"ok/ipv4 single address", []access.Policy{allow("p", ip("10.1.2.3"))},
			policy.Facts{Identity: ann, IP: v4}, allowed("p")},
		{"fail/ipv4 out of range", []access.Policy{allow("p", ip("10.0.0.0/8"))},
			policy.Facts{Identity: ann, IP: netip.MustParseAddr("11.0.0.1")}, noMatch},
		{"ok/ipv6 in range", []access.Policy{allow("p", ip("2001:db8::/32"))},
			policy.Facts{Identity: ann, IP: netip.MustParseAddr("2001:db8:1::5")}, allowed("p")},
		{"fail/ipv6 out of range", []access.Policy{allow("p", ip("2001:db8::/32"))},
			policy.Facts{Identity: ann, IP: netip.MustParseAddr("2001:db9::5")}, noMatch},
		{"ok/ipv4-mapped ipv6 address matches an ipv4 range", []access.Policy{allow("p", ip("10.0.0.0/8"))},
			policy.Facts{Identity: ann, IP: netip.MustParseAddr("::ffff:10.1.2.3")}, allowed("p")},
		{"ok/ipv4-mapped single-address rule matches the ipv4 address", []access.Policy{allow("p", ip("::ffff:10.1.2.3"))},
			policy.Facts{Identity: ann, IP: v4}, allowed("p")},
		{"fail/ipv4 address does not match an ipv6 range", []access.Policy{allow("p", ip("::/0"))},
			policy.Facts{Identity: ann, IP: v4}, noMatch},
		{"fail/unknown ip: include does not match", []access.Policy{allow("p", ip("0.0.0.0/0"))},
			policy.Facts{Identity: ann}, noMatch},
		{"fail/unknown ip: exclude matches", []access.Policy{excluding(allow("p", everyone()), ip("192.0.2.0/24"))},
			policy.Facts{Identity: ann}, noMatch},
		{"fail/unknown ip: require does not hold", []access.Policy{requiring(allow("p", everyone()), ip("0.0.0.0/0"))},
			policy.Facts{Identity: ann}, noMatch},
		// service_token, any_valid_service_token
		{"ok/service token by id", []access.Policy{serviceAuth("sa", serviceToken(tokenA))},
			policy.Facts{Token: tokA}, authed("sa")},
		{"ok/second of two service token rules", []access.Policy{serviceAuth("sa", serviceToken(tokenA), serviceToken(tokenB))},
			policy.Facts{Token: tokB}, authed("sa")},
		{"ok/any valid service token", []access.Policy{serviceAuth("sa", anyValidServiceToken())},
			policy.Facts{Token: tokB}, authed("sa")},
		{"fail/any valid service token without a token", []access.Policy{serviceAuth("sa", anyValidServiceToken())},
			policy.Facts{IP: v4}, login},
		{"fail/service token excluded", []access.Policy{excluding(serviceAuth("sa", anyValidServiceToken()), serviceToken(tokenA))},
			policy.Facts{Token: tokA}, tokenNoPol},
		{"ok/service auth requiring an ip", []access.Policy{requiring(serviceAuth("sa", serviceToken(tokenA)), ip("10.0.0.0/8"))},
			policy.Facts{Token: tokA, IP: v4}, authed("sa")},
		{"fail/service auth requiring an ip, from elsewhere", []access.Policy{requiring(serviceAuth("sa", serviceToken(tokenA)), ip("10.0.0.0/8"))},
			policy.Facts{Token: tokA, IP: netip.MustParseAddr("192.0.2.1")}, tokenNoPol},
		// geo
		{"ok/geo", []access.Policy{allow("p", geo("DE"))}, policy.Facts{Identity: ann, Country: "DE"}, allowed("p")},
		{"ok/geo rule in lower case", []access.Policy{allow("p", geo("de"))}, policy.Facts{Identity: ann, Country: "DE"}, allowed("p")},
		{"fail/geo of another country", []access.Policy{allow("p", geo("DE"))}, policy.Facts{Identity: ann, Country: "FR"}, noMatch},
		{"fail/unknown country: include does not match", []access.Policy{allow("p", geo("DE"))}, policy.Facts{Identity: ann}, noMatch},
		{"fail/unknown country: exclude matches (deny when unsure)", []access.Policy{excluding(allow("p", everyone()), geo("KP"))},
			policy.Facts{Identity: ann}, noMatch},
		{"ok/known country: exclude of another country does not match", []access.Policy{excluding(allow("p", everyone()), geo("KP"))},
			policy.Facts{Identity: ann, Country: "DE"}, allowed("p")},
		// login_method
		{"ok/login method", []access.Policy{allow("p", loginMethod("otp"))}, policy.Facts{Identity: ann}, allowed("p")},
		{"fail/other login method", []access.Policy{allow("p", loginMethod("google"))}, policy.Facts{Identity: ann}, noMatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(t, tc.facts, tc.policies...)
			gotID := ""
			if got.Policy != nil {
				gotID = got.Policy.ID
			}
			if got.Action != tc.want.action || got.Reason != tc.want.reason || gotID != tc.want.policy || got.NonIdentity != tc.want.nonIdentity {
				t.Fatalf("Decide = %s/%s policy %q nonIdentity %v; want %s/%s policy %q nonIdentity %v",
					got.Action, got.Reason, gotID, got.NonIdentity, tc.want.action, tc.want.reason, tc.want.policy, tc.want.nonIdentity)
			}
		})
	}
}

// decide compiles one app with the policies, in precedence order, and
// decides the facts on it.
func decide(tb testing.TB, f policy.Facts, ps ...access.Policy) policy.Decision {
	tb.Helper()
	a := withPolicies(newApp("app", "app.example.test"), ps...)
	s := compile(tb, access.Config{Apps: []access.App{a}})
	app := s.Match("app.example.test", "/")
	if app == nil {
		tb.Fatal("app not matched")
	}
	d := s.Decide(app, f)
	if ex := s.Explain(app, f); ex.Decision != d {
		tb.Fatalf("Explain decided %+v, Decide %+v", ex.Decision, d)
	}
	return d
}

// TestDecideDeniesWhenUnsure holds cases where a fact is missing or
// arrives in a form the rules do not expect. The engine's rule is that not
// knowing never lets anyone in: for an Allow policy an unknown fact must
// not satisfy include or require and must satisfy exclude; for a Deny
// policy it must be the other way round, or the deny is skipped and a
// later Allow lets the request in.
func TestDecideDeniesWhenUnsure(t *testing.T) {
	ann := user("ann@example.test")
	allowAll := allow("allow-all", everyone())
	tests := []struct {
		name     string
		policies []access.Policy
		facts    policy.Facts
		want     policy.Reason // deny_policy or no_policy_matched
		why      string
	}{
		{"fail/allow: exclude geo with a lower-case country",
			[]access.Policy{excluding(allow("p", everyone()), geo("KP"))}, policy.Facts{Identity: ann, Country: "kp"},
			policy.ReasonNoPolicyMatched,
			"countries compare case-insensitively, so \"kp\" cannot escape an exclude of KP"},
		{"fail/allow: exclude ip with a zoned ipv6 address",
			[]access.Policy{excluding(allow("p", everyone()), ip("fe80::/10"))}, policy.Facts{Identity: ann, IP: netip.MustParseAddr("fe80::1%eth0")},
			policy.ReasonNoPolicyMatched,
			"the zone is dropped before matching: Prefix.Contains is false for any zoned address"},
		{"fail/allow: exclude ipv4-mapped range with an ipv4 client",
			[]access.Policy{excluding(allow("p", everyone()), ip("::ffff:10.0.0.0/104"))}, policy.Facts{Identity: ann, IP: netip.MustParseAddr("10.1.2.3")},
			policy.ReasonNoPolicyMatched,
			"a ::ffff:a.b.c.d/n range is stored as its IPv4 range, as client addresses are unmapped"},
		{"fail/allow: email rule does not fold non-ASCII letters",
			[]access.Policy{allow("p", email("kate@example.test"))}, policy.Facts{Identity: user("\u212Aate@example.test")},
			policy.ReasonNoPolicyMatched,
			"emails fold ASCII case only: with Unicode folding KELVIN SIGN (U+212A) would equal 'k'"},
		{"fail/deny: include geo with an unknown country",
			[]access.Policy{deny("deny-kp", geo("KP")), allowAll}, policy.Facts{Identity: ann},
			policy.ReasonDenyPolicy,
			"an unknown country satisfies a Deny's include: not knowing never lets anyone in"},
		{"fail/deny: exclude geo with an unknown country",
			[]access.Policy{excluding(deny("deny-outside-us", everyone()), geo("US")), allowAll}, policy.Facts{Identity: ann},
			policy.ReasonDenyPolicy,
			"an unknown country does not satisfy a Deny's exclude, so \"deny everyone except US\" still denies"},
		{"fail/deny: require geo with an unknown country",
			[]access.Policy{requiring(deny("deny-ann-from-kp", email("ann@example.test")), geo("KP")), allowAll}, policy.Facts{Identity: ann},
			policy.ReasonDenyPolicy,
			"an unknown country satisfies a Deny's require"},
		{"fail/deny: include ip with an unknown address",
			[]access.Policy{deny("deny-net", ip("192.0.2.0/24")), allowAll}, policy.Facts{Identity: ann},
			policy.ReasonDenyPolicy,
			"an unknown address satisfies a Deny's include"},
		{"ok/deny: known country outside the deny",
			[]access.Policy{deny("deny-kp", geo("KP")), allow("p", everyone())}, policy.Facts{Identity: ann, Country: "DE"},
			policy.ReasonAllowPolicy, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(t, tc.facts, tc.policies...)
			wantAction := policy.Deny
			if tc.want == policy.ReasonAllowPolicy {
				wantAction = policy.Allow
			}
			if got.Action != wantAction || got.Reason != tc.want {
				t.Fatalf("Decide = %s/%s, want %s/%s (%s)", got.Action, got.Reason, wantAction, tc.want, tc.why)
			}
		})
	}
}

func TestDecideIsTheSameOnEveryDestination(t *testing.T) {
	a := withPolicies(newApp("multi", "one.test", "two.test/app", "*.three.test"),
		deny("deny-bob", email("bob@example.test")), allow("allow-domain", emailDomain("example.test")))
	s := compile(t, access.Config{Apps: []access.App{a}})
	for _, dest := range [][2]string{{"one.test", "/"}, {"two.test", "/app/x"}, {"x.three.test", "/"}} {
		app := s.Match(dest[0], dest[1])
		if app == nil || app.ID != "multi" {
			t.Fatalf("%s%s not matched to app multi", dest[0], dest[1])
		}
		if d := s.Decide(app, policy.Facts{Identity: user("ann@example.test")}); d.Action != policy.Allow || d.Policy.ID != "allow-domain" {
			t.Errorf("%s: ann %s/%s", dest[0], d.Action, d.Reason)
		}
		if d := s.Decide(app, policy.Facts{Identity: user("bob@example.test")}); d.Action != policy.Deny || d.Policy.ID != "deny-bob" {
			t.Errorf("%s: bob %s/%s", dest[0], d.Action, d.Reason)
		}
	}
}

func TestAuthenticateServiceToken(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	graceEnd := now.Add(10 * time.Minute)
	cred := func(id, acct, clientID, secret string, expires time.Time) access.ServiceTokenCredential {
		return access.ServiceTokenCredential{ID: id, AccountID: acct, Name: id, ClientID: clientID,
			SecretHash: access.HashSecret(secret), ExpiresAt: expires}
	}
	rotated := cred("rotated", account, "rotated.access", "new-secret", now.Add(time.Hour))
	rotated.PreviousSecretHash = access.HashSecret("old-secret")
	rotated.PreviousSecretExpiresAt = &graceEnd
	rotatedNoGrace := cred("rotated-now", account, "rotated-now.access", "new-secret", now.Add(time.Hour))
	rotatedNoGrace.PreviousSecretHash = access.HashSecret("old-secret")
	s := compile(t, access.Config{
		Apps: []access.App{newApp("app", "app.example.test")},
		ServiceTokens: []access.ServiceTokenCredential{
			cred("live", account, "live.access", "live-secret", now.Add(time.Hour)),
			cred("foreign", otherAccount, "foreign.access", "foreign-secret", now.Add(time.Hour)),
			cred("expired", account, "expired.access", "expired-secret", now.Add(-time.Second)),
			cred("expiring", account, "expiring.access", "expiring-secret", now),
			rotated,
			rotatedNoGrace,
		},
	})
	app := s.Match("app.example.test", "/")

	tests := []struct {
		name             string
		clientID, secret string
		now              time.Time
		wantID           string
		wantReason       policy.Reason
	}{
		{"ok/current secret", "live.access", "live-secret", now, "live", ""},
		{"ok/rotated: new secret", "rotated.access", "new-secret", now, "rotated", ""},
		{"ok/rotated: previous secret before its grace ends", "rotated.access", "old-secret", graceEnd.Add(-time.Nanosecond), "rotated", ""},
		{"ok/rotated: new secret after the grace", "rotated.access", "new-secret", graceEnd.Add(time.Minute), "rotated", ""},
		{"fail/rotated: previous secret when its grace ends", "rotated.access", "old-secret", graceEnd, "", policy.ReasonServiceTokenBadSecret},
		{"fail/rotated: previous secret after its grace", "rotated.access", "old-secret", graceEnd.Add(time.Minute), "", policy.ReasonServiceTokenBadSecret},
		{"fail/rotated without grace: previous secret", "rotated-now.access", "old-secret", now, "", policy.ReasonServiceTokenBadSecret},
		{"fail/unknown client id", "nobody.access", "live-secret", now, "", policy.ReasonServiceTokenUnknown},
		{"fail/client ids compare exactly", "LIVE.access", "live-secret", now, "", policy.ReasonServiceTokenUnknown},
		{"fail/token of another account is unknown", "foreign.access", "foreign-secret", now, "", policy.ReasonServiceTokenUnknown},
		{"fail/wrong secret", "live.access", "wrong", now, "", policy.ReasonServiceTokenBadSecret},
		{"fail/another token's secret", "live.access", "expired-secret", now, "", policy.ReasonServiceTokenBadSecret},
		{"fail/expired", "expired.access", "expired-secret", now, "", policy.ReasonServiceTokenExpired},
		{"fail/expired with a wrong secret says bad secret", "expired.access", "wrong", now, "", policy.ReasonServiceTokenBadSecret},
		{"fail/expires at this instant", "expiring.access", "expiring-secret", now, "", policy.ReasonServiceTokenExpired},
		{"ok/an instant before it expires", "expiring.access", "expiring-secret", now.Add(-time.Nanosecond), "expiring", ""},
		{"fail/empty client id", "", "live-secret", now, "", policy.ReasonServiceTokenMalformed},
		{"fail/empty secret", "live.access", "", now, "", policy.ReasonServiceTokenMalformed},
		{"fail/both empty", "", "", now, "", policy.ReasonServiceTokenMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, reason := s.AuthenticateServiceToken(app, tc.clientID, tc.secret, tc.now)
			if reason != tc.wantReason {
				t.Fatalf("reason %q, want %q", reason, tc.wantReason)
			}
			if tc.wantID == "" {
				if tok != nil {
					t.Fatalf("token %s with reason %q, want none", tok.ID, reason)
				}
				return
			}
			if tok == nil || tok.ID != tc.wantID || tok.AccountID != account || tok.ClientID != tc.clientID {
				t.Fatalf("token %+v, want %s", tok, tc.wantID)
			}
		})
	}
}

// TestServiceTokenRequest runs a request with a service token the way the
// edge does: match, authenticate, decide.
func TestServiceTokenRequest(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a := withPolicies(newApp("app", "app.example.test"),
		serviceAuth("sa", parsed(`{"service_token":{"token_id":"`+strings.ToUpper(tokenA)+`"}}`)),
		allow("allow-ann", email("ann@example.test")))
	s := compile(t, access.Config{Apps: []access.App{a}, ServiceTokens: []access.ServiceTokenCredential{
		{ID: tokenA, AccountID: account, ClientID: "a.access", SecretHash: access.HashSecret("sa"), ExpiresAt: now.Add(time.Hour)},
		{ID: tokenB, AccountID: account, ClientID: "b.access", SecretHash: access.HashSecret("sb"), ExpiresAt: now.Add(time.Hour)},
	}})
	app := s.Match("app.example.test", "/")
	tests := []struct {
		name     string
		clientID string
		want     policy.Decision
	}{
		{"ok/token named by the service auth policy", "a.access", policy.Decision{Action: policy.Allow, Reason: policy.ReasonServiceAuthPolicy, NonIdentity: true}},
		{"fail/another valid token", "b.access", policy.Decision{Action: policy.Deny, Reason: policy.ReasonServiceTokenNoPolicy}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			secret := map[string]string{"a.access": "sa", "b.access": "sb"}[tc.clientID]
			tok, reason := s.AuthenticateServiceToken(app, tc.clientID, secret, now)
			if tok == nil {
				t.Fatalf("authenticate: %s", reason)
			}
			got := s.Decide(app, policy.Facts{Token: tok})
			if got.Action != tc.want.Action || got.Reason != tc.want.Reason || got.NonIdentity != tc.want.NonIdentity {
				t.Fatalf("Decide = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestReasonCodes pins the reason codes: they are a contract shared by the
// access log, the policy tester, the CLI and error bodies.
func TestReasonCodes(t *testing.T) {
	codes := map[policy.Reason]string{
		policy.ReasonAppNotFound:              "app_not_found",
		policy.ReasonBadPath:                  "bad_path",
		policy.ReasonAmbiguousPath:            "ambiguous_path",
		policy.ReasonDomainInvalid:            "app_domain_invalid",
		policy.ReasonPreflightAnswered:        "preflight_answered",
		policy.ReasonPreflightBypassed:        "preflight_bypassed",
		policy.ReasonPreflightNoCORSSettings:  "preflight_no_cors_settings",
		policy.ReasonPreflightOriginForbidden: "preflight_origin_not_allowed",
		policy.ReasonPreflightMethodForbidden: "preflight_method_not_allowed",
		policy.ReasonPreflightHeaderForbidden: "preflight_header_not_allowed",
		policy.ReasonBypassPolicy:             "bypass_policy",
		policy.ReasonServiceAuthPolicy:        "service_auth_policy",
		policy.ReasonAllowPolicy:              "allow_policy",
		policy.ReasonDenyPolicy:               "deny_policy",
		policy.ReasonNoPolicyMatched:          "no_policy_matched",
		policy.ReasonLoginRequired:            "login_required",
		policy.ReasonServiceTokenUnknown:      "service_token_unknown",
		policy.ReasonServiceTokenBadSecret:    "service_token_bad_secret",
		policy.ReasonServiceTokenExpired:      "service_token_expired",
		policy.ReasonServiceTokenNoPolicy:     "service_token_no_policy",
		policy.ReasonServiceTokenMalformed:    "service_token_malformed",
		policy.ReasonSessionInvalid:           "session_invalid",
		policy.ReasonSessionExpired:           "session_expired",
		policy.ReasonSessionWrongAudience:     "session_wrong_audience",
		policy.ReasonSessionSignatureFailed:   "session_bad_signature",
	}
	described := map[string]policy.Reason{}
	for r, code := range codes {
		if string(r) != code {
			t.Errorf("reason %q changed its code, want %q", r, code)
		}
		d := r.Describe()
		if d == string(r) || d == "" {
			t.Errorf("reason %q has no description", r)
		}
		if other, ok := described[d]; ok {
			t.Errorf("reasons %q and %q share the description %q", r, other, d)
		}
		described[d] = r
	}
	for a, want := range map[policy.Action]string{policy.Deny: "deny", policy.Allow: "allow", policy.Login: "login", policy.Action(99): "deny"} {
		if a.String() != want {
			t.Errorf("Action(%d) = %q, want %q", a, a.String(), want)
		}
	}
}

// FuzzMatch checks Match against a direct reading of the rules on
// matchFixture: exact hosts before wildcards, the nearest wildcard parent
// first, the longest path prefix on a segment boundary.
func FuzzMatch(f *testing.F) {
	for _, seed := range [][2]string{
		{"example.test", "/api/x"}, {"example.test", "/apix"}, {"example.test", "/api"}, {"a.b.example.test", "/admin/"},
		{"api.example.test", "/admin"}, {"x.in.zone.test", ""}, {"two.test", "/app"}, {"wild.test", "/"},
		{".example.test", "/"}, {"..", "//"}, {"", ""}, {"*.example.test", "/api/v2/"}, {"c.example.test", "/api"},
	} {
		f.Add(seed[0], seed[1])
	}
	s := matchSnapshot(f)
	f.Fuzz(func(t *testing.T, host, path string) {
		got := s.Match(host, path)
		if got != nil {
			// Any match: the host is the destination's or under its
			// wildcard (never the wildcard's apex), and the path is on a
			// segment boundary.
			if suffix, ok := strings.CutPrefix(got.Host, "*"); ok {
				if !strings.HasSuffix(host, suffix) {
					t.Fatalf("Match(%q, %q): host not under %s", host, path, got.Host)
				}
			} else if got.Host != host {
				t.Fatalf("Match(%q, %q): host %s", host, path, got.Host)
			}
			if !pathCovers(got.Path, path) {
				t.Fatalf("Match(%q, %q): path %q does not cover it on a segment boundary", host, path, got.Path)
			}
		}
		want := referenceMatch(host, path)
		switch {
		case got == nil && want == nil:
		case got == nil || want == nil:
			t.Fatalf("Match(%q, %q) = %v, want %v", host, path, got, want)
		case got.ID != want.id || got.Host+got.Path != want.domain:
			t.Fatalf("Match(%q, %q) = %s %s%s, want %s %s", host, path, got.ID, got.Host, got.Path, want.id, want.domain)
		}
	})
}

func pathCovers(prefix, path string) bool {
	return prefix == "" || path == prefix || strings.HasPrefix(path, prefix+"/")
}

type fixtureDest = struct{ id, domain string }

// referenceMatch scans every destination of matchFixture.
func referenceMatch(host, path string) *fixtureDest {
	best := func(want func(h string) bool) *fixtureDest {
		var b *fixtureDest
		bestLen := -1
		for i := range matchFixture {
			d := &matchFixture[i]
			h, p, _ := strings.Cut(d.domain, "/")
			if p != "" {
				p = "/" + p
			}
			if want(h) && pathCovers(p, path) && len(p) > bestLen {
				b, bestLen = d, len(p)
			}
		}
		return b
	}
	if d := best(func(h string) bool { return h == host }); d != nil {
		return d
	}
	for i := 0; i < len(host); i++ {
		if host[i] != '.' {
			continue
		}
		parent := host[i+1:]
		if d := best(func(h string) bool { return h == "*."+parent }); d != nil {
			return d
		}
	}
	return nil
}
