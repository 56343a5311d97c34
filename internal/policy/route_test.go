package policy_test

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"path"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// routeFixture is a host with a bypass app on the whole host and
// protected apps on paths under it.
var routeFixture = []struct{ id, domain string }{
	{"pub", "pub.test"},
	{"admin", "pub.test/admin"},
	{"adminsub", "pub.test/admin/sub"},
	{"api", "pub.test/api"},
	{"dotted", "pub.test/a.b"},
	{"tilde", "pub.test/x~y"},
	{"wildadmin", "*.wild.test/admin"},
	{"wild", "*.wild.test"},
}

func routeSnapshot(tb testing.TB) *policy.Snapshot {
	var apps []access.App
	for _, d := range routeFixture {
		apps = append(apps, newApp(d.id, d.domain))
	}
	return compile(tb, access.Config{Version: 1, Apps: apps})
}

// TestRoutePathForms runs README's table of request-path forms through
// the engine: a bypass app on the host, a protected app on /admin.
func TestRoutePathForms(t *testing.T) {
	s := compile(t, access.Config{Version: 1, Apps: []access.App{newApp("pub", "pub.test"), newApp("admin", "pub.test/admin")}})
	if len(gatehousetest.PathForms) < 60 {
		t.Fatalf("only %d path forms", len(gatehousetest.PathForms))
	}
	for _, f := range gatehousetest.PathForms {
		t.Run(string(f.Want)+"/"+f.Path, func(t *testing.T) {
			p, _, _ := strings.Cut(f.Path, "?")
			app, reason := s.RouteURLPath("pub.test", p)
			got := "refused"
			if app != nil {
				got = map[string]string{"pub": "public", "admin": "admin"}[app.ID]
			} else if reason != policy.ReasonBadPath && reason != policy.ReasonAmbiguousPath {
				t.Fatalf("refused with reason %q", reason)
			}
			if got != string(f.Want) {
				t.Fatalf("RouteURLPath(%q) = %s (%s), want %s (%s)", f.Path, got, reason, f.Want, f.Why)
			}
		})
	}
}

func TestRoute(t *testing.T) {
	s := routeSnapshot(t)
	tests := []struct {
		name, host, path string
		wantID           string
		wantReason       policy.Reason
	}{
		{"ok/plain path", "pub.test", "/admin/sub/x", "adminsub", ""},
		{"ok/file extension is no trailing dot", "pub.test", "/api/v1.json", "api", ""},
		{"ok/dotted segment", "pub.test", "/a.b/c", "dotted", ""},
		{"ok/mixed case under one app", "pub.test", "/api/Users", "api", ""},
		{"ok/wildcard path", "x.wild.test", "/admin/x", "wildadmin", ""},
		{"fail/encoded slashes climbing out of an app", "pub.test", "/api/x%2F..%2F..%2Fadmin", "", policy.ReasonAmbiguousPath},
		{"fail/case under the host app", "pub.test", "/API", "", policy.ReasonAmbiguousPath},
		{"fail/case between two path apps", "pub.test", "/admin/SUB", "", policy.ReasonAmbiguousPath},
		{"fail/trailing dot of a dotted app", "pub.test", "/a.b.", "", policy.ReasonAmbiguousPath},
		{"fail/wildcard case", "x.wild.test", "/Admin", "", policy.ReasonAmbiguousPath},
		{"fail/encoded NUL", "pub.test", "/api%00", "", policy.ReasonBadPath},
		{"fail/not absolute", "pub.test", "api", "", policy.ReasonBadPath},
		{"fail/unknown host", "other.test", "/admin", "", policy.ReasonAppNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, reason := s.RouteURLPath(tc.host, tc.path)
			id := ""
			if app != nil {
				id = app.ID
			}
			if id != tc.wantID || reason != tc.wantReason {
				t.Fatalf("RouteURLPath(%q, %q) = %q %q, want %q %q", tc.host, tc.path, id, reason, tc.wantID, tc.wantReason)
			}
		})
	}
}

// TestRouteOnlyAppTakesEveryReading: without a host app, a path that only
// some reading matches goes to that app (nothing else could take it).
func TestRouteOnlyAppTakesEveryReading(t *testing.T) {
	s := compile(t, access.Config{Version: 1, Apps: []access.App{newApp("admin", "only.test/admin")}})
	for _, p := range []string{"/admin", "/ADMIN", "/admin;x", "/admin.", "/..;/admin", "/admin%20/x"} {
		if app, reason := s.RouteURLPath("only.test", p); app == nil || app.ID != "admin" {
			t.Errorf("RouteURLPath(%q) = %v %s, want the admin app", p, app, reason)
		}
	}
	if app, reason := s.RouteURLPath("only.test", "/public"); app != nil || reason != policy.ReasonAppNotFound {
		t.Errorf("/public: %v %s, want app_not_found", app, reason)
	}
}

// TestInvalidStoredDomainClosesItsHost: a row stored before domains were
// parsed that ParseDomain refuses is not silently dropped (its paths would
// fall to the host app); its host answers ReasonDomainInvalid.
func TestInvalidStoredDomainClosesItsHost(t *testing.T) {
	s := compile(t, access.Config{Version: 1, Apps: []access.App{
		newApp("pub", "pub.test"), newApp("bad", "pub.test/../admin"),
		newApp("other", "other.test"),
		newApp("old", "old.test/Admin"), newApp("oldpub", "old.test"),
		newApp("wbad", "*.w.test/a;b"),
		newApp("dup1", "dup.test/x"), newApp("dup2", "dup.test/X"),
	}})
	for _, tc := range []struct {
		host, path, wantID string
		wantReason         policy.Reason
	}{
		{"pub.test", "/admin", "", policy.ReasonDomainInvalid},
		{"pub.test", "/", "", policy.ReasonDomainInvalid},
		{"a.w.test", "/", "", policy.ReasonDomainInvalid},
		{"dup.test", "/x", "", policy.ReasonDomainInvalid},
		{"other.test", "/admin", "other", ""},
		{"old.test", "/admin", "old", ""}, // a stored upper-case path is matched in canonical form
	} {
		app, reason := s.RouteURLPath(tc.host, tc.path)
		id := ""
		if app != nil {
			id = app.ID
		}
		if id != tc.wantID || reason != tc.wantReason {
			t.Errorf("RouteURLPath(%q, %q) = %q %q, want %q %q", tc.host, tc.path, id, reason, tc.wantID, tc.wantReason)
		}
	}
	if n := len(s.InvalidDomains()); n != 3 {
		t.Errorf("InvalidDomains: %d, want 3 (../admin, a;b, the duplicate)", n)
	}
}

// storedDomainSeeds are domains as operators type them.
var storedDomainSeeds = []string{
	"pub.test/admin", "Pub.Test/Admin/", "pub.test/adm%69n", "pub.test/a.b", "pub.test/x~y", "pub.test/a-b_c",
	"pub.test/api/v1", "*.pub.test/admin", "*.pub.test", "pub.test/%7Euser", "pub.test/!$&'()+,=@",
	"bücher.test/kb", "pub.test./x", "pub.test/a..b", "pub.test/.a", "pub.test/..a", "pub.test/a.b.c/d",
}

// TestStoredDomainIsRouted: for every domain the parser accepts, a request
// for exactly its host and path goes to its app, beside a host app, an app
// on a longer path and a wildcard.
func TestStoredDomainIsRouted(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := append([]string(nil), storedDomainSeeds...)
	for range 3000 {
		inputs = append(inputs, randomDomain(rng))
	}
	accepted := 0
	for _, in := range inputs {
		if checkStoredDomainIsRouted(t, in, "pub.test/admin/sub") {
			accepted++
		}
	}
	if accepted < len(inputs)/4 {
		t.Fatalf("only %d of %d generated domains parse: the generator is off", accepted, len(inputs))
	}
}

func FuzzStoredDomainIsRouted(f *testing.F) {
	for _, s := range storedDomainSeeds {
		f.Add(s, "pub.test/admin/sub")
	}
	f.Fuzz(func(t *testing.T, domain, other string) {
		checkStoredDomainIsRouted(t, domain, other)
	})
}

// checkStoredDomainIsRouted checks the property for one domain, if it
// parses, beside other (if it parses and differs), a host app and a
// wildcard. It reports whether domain parsed.
func checkStoredDomainIsRouted(t *testing.T, domain, other string) bool {
	d, err := access.ParseDomain(domain)
	if err != nil {
		return false
	}
	if again, err := access.ParseDomain(d.String()); err != nil || again != d {
		t.Fatalf("ParseDomain(%q) = %q, which parses to %q, %v", domain, d, again, err)
	}
	host := d.Host()
	reqHost := host
	if suffix, ok := strings.CutPrefix(host, "*."); ok {
		reqHost = "x." + suffix
	}
	apps := []access.App{newApp("it", d.String())}
	seen := map[string]bool{d.String(): true}
	add := func(id, dom string) {
		if od, err := access.ParseDomain(dom); err == nil && !seen[od.String()] {
			seen[od.String()] = true
			apps = append(apps, newApp(id, od.String()))
		}
	}
	add("other", other)
	add("host", host)
	add("longer", d.String()+"/sub")
	add("wild", "*."+reqHost)
	add("wildparent", "*."+strings.TrimPrefix(host, "*."))
	s := compile(t, access.Config{Version: 1, Apps: apps})
	p := d.Path()
	if p == "" {
		p = "/"
	}
	reqPaths := []string{"/"}
	if d.Path() != "" {
		reqPaths = []string{p, p + "/", p + "/x"}
	}
	for _, reqPath := range reqPaths {
		app, reason := s.RouteURLPath(reqHost, reqPath)
		if app == nil || app.ID != "it" {
			id := ""
			if app != nil {
				id = app.ID
			}
			t.Fatalf("stored %q (from %q): request %s%s goes to %q (%s), want its app", d, domain, reqHost, reqPath, id, reason)
		}
	}
	return true
}

// randomDomain builds a domain from pieces an operator (or attacker) may
// type: cases, encodings, dots, separators.
func randomDomain(rng *rand.Rand) string {
	hosts := []string{"pub.test", "PUB.test", "*.pub.test", "a.b.pub.test", "xn--bcher-kva.test", "bücher.test", "pub.test."}
	pieces := []string{"admin", "Admin", "a", "b.c", "~x", "%61", "%41", "%7e", "%2e", ".", "..", "-", "_", "!", "$", "&", "'", "(", ")",
		"+", ",", "=", "@", ";", ":", "%2f", "%5c", "\\", " ", "%20", "*", "%00", "é", "%C3%A9", "%", "v1", "API"}
	var b strings.Builder
	b.WriteString(hosts[rng.IntN(len(hosts))])
	for range rng.IntN(4) {
		b.WriteByte('/')
		for range 1 + rng.IntN(3) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
	}
	if rng.IntN(4) == 0 {
		b.WriteByte('/')
	}
	return b.String()
}

// FuzzRoute checks the invariant of the path rules, from a reading of the
// rules written independently of Route: for any path, Route refuses it or
// picks an app such that no way an origin may read the path (any
// combination of decodings, backslash as slash, ;parameters dropped,
// Windows names, case folding) matches a different app.
func FuzzRoute(f *testing.F) {
	for _, form := range gatehousetest.PathForms {
		p, _, _ := strings.Cut(form.Path, "?")
		f.Add(p)
	}
	for _, p := range []string{"/api/v1.json", "/a.b.", "/A.B", "/admin/SUB", "/x~y/..;/admin", "/%2561pi", "/api%2f%2e%2e%2fadmin"} {
		f.Add(p)
	}
	s := routeSnapshot(f)
	f.Fuzz(func(t *testing.T, p string) {
		app, reason := s.RouteURLPath("pub.test", p)
		canonical, err := access.CanonicalPath(p)
		if err != nil {
			if app != nil || reason != policy.ReasonBadPath {
				t.Fatalf("RouteURLPath(%q) = %v %s for a path CanonicalPath refuses", p, app, reason)
			}
			return
		}
		readings := referenceReadings(canonical)
		ids := map[string]bool{}
		for _, r := range readings {
			if id := referenceRoute(r); id != "" {
				ids[id] = true
			}
		}
		switch {
		case app != nil:
			for _, r := range readings {
				if id := referenceRoute(r); id != "" && id != app.ID {
					t.Fatalf("RouteURLPath(%q) = %s, but the reading %q is app %s's", p, app.ID, r, id)
				}
			}
		case reason == policy.ReasonAppNotFound:
			if len(ids) != 0 {
				t.Fatalf("RouteURLPath(%q) = app_not_found, but readings match %v", p, ids)
			}
		case reason == policy.ReasonAmbiguousPath:
			if len(ids) < 2 {
				t.Fatalf("RouteURLPath(%q) refused as ambiguous, but readings match only %v", p, ids)
			}
		default:
			t.Fatalf("RouteURLPath(%q) = nil, %q", p, reason)
		}
	})
}

var (
	refParams  = regexp.MustCompile(`;[^/]*`)
	refStreams = regexp.MustCompile(`:[^/]*`)
)

// referenceReadings lists every reading of a canonical path, without
// pruning: 3 decoding levels times every subset of 4 transformations.
func referenceReadings(canonical string) []string {
	var out []string
	for level := 0; level <= 2; level++ {
		p := canonical
		for range level {
			if d, err := url.PathUnescape(p); err == nil {
				p = d
			} else {
				p = lenientUnescape(p)
			}
		}
		if level > 0 {
			for _, stop := range []string{"\x00", "?", "#"} {
				p, _, _ = strings.Cut(p, stop)
			}
		}
		for mask := range 16 {
			r := p
			if mask&1 != 0 {
				r = strings.Map(func(c rune) rune {
					if c == '\\' {
						return '/'
					}
					return c
				}, r)
			}
			if mask&2 != 0 {
				r = refParams.ReplaceAllString(r, "")
			}
			if mask&4 != 0 {
				r = refStreams.ReplaceAllString(r, "")
				segs := strings.Split(r, "/")
				for i, seg := range segs {
					trimmed := strings.TrimRight(seg, ". ")
					switch {
					case trimmed != "" || seg == "":
						segs[i] = trimmed
					case strings.Count(seg, ".") == 1:
						segs[i] = "."
					default:
						segs[i] = ".."
					}
				}
				r = strings.Join(segs, "/")
			}
			if mask&8 != 0 {
				r = strings.ToLower(strings.ToUpper(norm.NFKC.String(r)))
			}
			out = append(out, path.Clean("/"+r))
		}
	}
	return out
}

func lenientUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+3], "%02x", &c); err == nil {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// referenceRoute is the longest routeFixture path on pub.test covering p
// on a segment boundary.
func referenceRoute(p string) string {
	best, bestLen := "", -1
	for _, d := range routeFixture {
		h, dp, _ := strings.Cut(d.domain, "/")
		if h != "pub.test" {
			continue
		}
		if dp != "" {
			dp = "/" + dp
		}
		if pathCovers(dp, p) && len(dp) > bestLen {
			best, bestLen = d.id, len(dp)
		}
	}
	return best
}
