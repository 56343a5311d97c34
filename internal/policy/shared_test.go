package policy

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

func TestAppsWithEqualSettingsShareTheirCompiledSettings(t *testing.T) {
	cors := func(origin string) *access.CORSSettings {
		return &access.CORSSettings{AllowedOrigins: []string{origin}, AllowedMethods: []string{"GET"}, MaxAge: 600}
	}
	app := func(id, domain, origin string, c *access.CORSSettings) access.App {
		return access.App{ID: id, AccountID: "acct", Domain: domain, SelfHostedDomains: []string{domain},
			Origin: origin, SessionDuration: "24h", CORSHeaders: c}
	}
	shared := cors("https://w.example")
	snap, err := Compile(access.Config{Apps: []access.App{
		app("a", "a.test", "http://o.test:1", shared),
		app("b", "b.test", "http://o.test:1", shared),
		app("c", "c.test", "http://o.test:1", cors("https://w.example")), // equal, decoded apart
		app("d", "d.test", "http://o.test:2", cors("https://x.example")),
		app("e", "e.test", "http://o.test:2", &access.CORSSettings{}), // not configured
	}})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c, d, e := snap.App("a"), snap.App("b"), snap.App("c"), snap.App("d"), snap.App("e")
	if a.CORS == nil || a.CORS != b.CORS || a.CORS != c.CORS {
		t.Errorf("equal CORS settings compiled apart: %p %p %p", a.CORS, b.CORS, c.CORS)
	}
	if d.CORS == nil || d.CORS == a.CORS || e.CORS != nil {
		t.Errorf("other CORS settings: d %p (a %p), e %p", d.CORS, a.CORS, e.CORS)
	}
	if a.Origin != c.Origin || a.Origin == d.Origin || d.Origin.String() != "http://o.test:2" {
		t.Errorf("origins: a %v c %v d %v", a.Origin, c.Origin, d.Origin)
	}
	for _, tc := range []struct {
		app    *App
		origin string
		allow  bool
	}{{a, "https://w.example", true}, {c, "https://w.example", true}, {c, "https://x.example", false}, {d, "https://x.example", true}, {d, "https://w.example", false}} {
		pf := tc.app.Preflight(tc.origin, "GET", "")
		if got := pf.Headers.Get("Access-Control-Allow-Origin") == tc.origin; got != tc.allow {
			t.Errorf("app %s, origin %s: allowed %v, want %v (%+v)", tc.app.ID, tc.origin, got, tc.allow, pf)
		}
	}
}

func TestCORSKeyTellsListsApart(t *testing.T) {
	// The same strings in other lists, or split otherwise, are other settings.
	a := corsKey(nil, &access.CORSSettings{AllowedHeaders: []string{"a", "b"}})
	b := corsKey(nil, &access.CORSSettings{AllowedHeaders: []string{"a"}, AllowedMethods: []string{"b"}})
	c := corsKey(nil, &access.CORSSettings{AllowedHeaders: []string{"a,b"}})
	if string(a) == string(b) || string(a) == string(c) || string(b) == string(c) {
		t.Errorf("keys collide: %q %q %q", a, b, c)
	}
}
