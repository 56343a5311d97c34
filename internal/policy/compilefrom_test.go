package policy_test

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// reuseConfig is three apps, two of them linked to the reusable policy
// "staff", with a service token and two identity providers. Each call
// builds it afresh, as the store loads it.
func reuseConfig() access.Config {
	staff := func() access.Policy { return allow("staff", emailDomain("example.test")) }
	a := withPolicies(newApp("a", "a.example.test"),
		serviceAuth("sa", serviceToken(tokenA)), deny("deny-kp", geo("KP")), staff())
	a.CORSHeaders = &access.CORSSettings{AllowedOrigins: []string{"https://web.test"}, AllowedMethods: []string{"PUT"}, MaxAge: 60}
	a.AllowedIdPs = []string{"idp-1"}
	b := withPolicies(newApp("b", "b.example.test", "*.b.example.test"), staff())
	c := withPolicies(newApp("c", "c.example.test"), allow("carol", email("carol@example.test")))
	return access.Config{
		Version: 1,
		Apps:    []access.App{a, b, c},
		ServiceTokens: []access.ServiceTokenCredential{{ID: tokenA, AccountID: account, Name: "ci", ClientID: "a.access",
			SecretHash: access.HashSecret("secret-a"), ExpiresAt: reuseNow.Add(time.Hour)}},
		IdentityProviders: []access.IdentityProvider{
			{ID: "idp-1", AccountID: account, Name: "Okta", Type: "oidc"},
			{ID: "idp-2", AccountID: account, Name: "GitHub", Type: "github"},
		},
	}
}

var reuseNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func appIndex(cfg *access.Config, id string) int {
	return slices.IndexFunc(cfg.Apps, func(a access.App) bool { return a.ID == id })
}

// TestCompileFromReusesOnlyUnchangedApps changes each kind of input an
// app depends on. The rebuilt snapshot must answer every probe as a
// snapshot compiled from scratch does, recompile exactly the apps whose
// inputs changed, and keep the others as they were.
func TestCompileFromReusesOnlyUnchangedApps(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*access.Config)
		changed []string // apps that must be recompiled
	}{
		{"ok/nothing changed", func(*access.Config) {}, nil},
		{"ok/an app field", func(c *access.Config) { c.Apps[appIndex(c, "c")].CustomDenyMessage = "go away" }, []string{"c"}},
		{"ok/an app's session duration", func(c *access.Config) { c.Apps[appIndex(c, "b")].SessionDuration = "1h" }, []string{"b"}},
		{"ok/an app's domain", func(c *access.Config) {
			a := &c.Apps[appIndex(c, "b")]
			a.SelfHostedDomains = a.SelfHostedDomains[:1]
		}, []string{"b"}},
		{"ok/CORS settings", func(c *access.Config) {
			c.Apps[appIndex(c, "a")].CORSHeaders.AllowedOrigins = []string{"https://other.test"}
		}, []string{"a"}},
		{"ok/CORS max age", func(c *access.Config) { c.Apps[appIndex(c, "a")].CORSHeaders.MaxAge = -1 }, []string{"a"}},
		{"ok/the rules of a reusable policy, in every app that links it", func(c *access.Config) {
			for i := range c.Apps {
				for j := range c.Apps[i].Policies {
					if c.Apps[i].Policies[j].ID == "staff" {
						c.Apps[i].Policies[j].Include = []access.Rule{emailDomain("other.test")}
					}
				}
			}
		}, []string{"a", "b"}},
		{"ok/precedence", func(c *access.Config) {
			ps := c.Apps[appIndex(c, "a")].Policies
			ps[1], ps[2] = ps[2], ps[1]
			ps[1].Precedence, ps[2].Precedence = 2, 3
		}, []string{"a"}},
		{"ok/a policy's decision", func(c *access.Config) {
			c.Apps[appIndex(c, "c")].Policies[0].Decision = access.DecisionDeny
		}, []string{"c"}},
		{"ok/allowed identity providers", func(c *access.Config) {
			c.Apps[appIndex(c, "a")].AllowedIdPs = []string{"idp-2"}
		}, []string{"a"}},
		{"ok/sessions revoked", func(c *access.Config) {
			at := reuseNow
			c.Apps[appIndex(c, "c")].SessionsRevokedAt = &at
		}, []string{"c"}},
		{"ok/a service token an app names: secret rotated", func(c *access.Config) {
			c.ServiceTokens[0].SecretHash = access.HashSecret("secret-a2")
		}, nil},
		{"ok/a service token an app names: expired", func(c *access.Config) {
			c.ServiceTokens[0].ExpiresAt = reuseNow.Add(-time.Second)
		}, nil},
		{"ok/a service token an app names: deleted", func(c *access.Config) { c.ServiceTokens = nil }, nil},
		{"ok/an identity provider renamed", func(c *access.Config) { c.IdentityProviders[0].Name = "Okta SSO" }, nil},
		{"ok/an identity provider deleted", func(c *access.Config) { c.IdentityProviders = c.IdentityProviders[1:] }, nil},
		{"ok/an app deleted", func(c *access.Config) { c.Apps = slices.Delete(c.Apps, 0, 1) }, nil},
		{"ok/an app added", func(c *access.Config) {
			c.Apps = append(c.Apps, withPolicies(newApp("d", "d.example.test", "*.b.example.test/d"), everyoneAllowed()))
		}, []string{"d"}},
		{"ok/apps in another order", func(c *access.Config) { c.Apps[0], c.Apps[2] = c.Apps[2], c.Apps[0] }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prev := compile(t, reuseConfig())
			cfg := reuseConfig()
			cfg.Version = 2
			tc.edit(&cfg)
			got, err := policy.CompileFrom(prev, cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := compile(t, cfg)
			assertSameAnswers(t, got, want)

			for _, a := range cfg.Apps {
				recompiled := got.App(a.ID) != prev.App(a.ID)
				if recompiled != slices.Contains(tc.changed, a.ID) {
					t.Errorf("app %s: recompiled %v, want %v", a.ID, recompiled, !recompiled)
				}
			}
			if want := len(cfg.Apps) - len(tc.changed); got.Reused() != want {
				t.Errorf("Reused() = %d, want %d", got.Reused(), want)
			}
		})
	}
}

func everyoneAllowed() access.Policy { return allow("everyone", everyone()) }

// assertSameAnswers probes two snapshots with the same requests: the
// matched app (compared field by field, unexported ones included), its
// decisions, preflight and CORS answers, service-token checks and login
// methods.
func assertSameAnswers(t *testing.T, got, want *policy.Snapshot) {
	t.Helper()
	if got.Version != want.Version || got.Apps() != want.Apps() {
		t.Fatalf("version %d, %d apps; want %d, %d", got.Version, got.Apps(), want.Version, want.Apps())
	}
	users := []*policy.Identity{nil, user("staff@example.test"), user("carol@example.test"), user("x@other.test"),
		{Email: "staff@example.test", LoginMethod: "idp-1"}}
	countries := []string{"", "DE", "KP"}
	secrets := []string{"", "secret-a", "secret-a2"}
	for _, host := range []string{"a.example.test", "b.example.test", "x.b.example.test", "c.example.test", "d.example.test", "none.test"} {
		for _, path := range []string{"/", "/d/x"} {
			ga, wa := got.Match(host, path), want.Match(host, path)
			if !reflect.DeepEqual(ga, wa) {
				t.Fatalf("Match(%s%s) = %+v, want %+v", host, path, ga, wa)
			}
			if wa == nil {
				continue
			}
			for _, secret := range secrets {
				gt, gr := got.AuthenticateServiceToken(ga, "a.access", secret, reuseNow)
				wt, wr := want.AuthenticateServiceToken(wa, "a.access", secret, reuseNow)
				if !reflect.DeepEqual(gt, wt) || gr != wr {
					t.Fatalf("%s: AuthenticateServiceToken(%q) = %v %s, want %v %s", host, secret, gt, gr, wt, wr)
				}
				for _, u := range users {
					for _, cc := range countries {
						f := policy.Facts{IP: netip.MustParseAddr("10.1.2.3"), Country: cc, Identity: u, Token: wt}
						if gd, wd := ga.Decide(f), wa.Decide(f); !reflect.DeepEqual(gd, wd) {
							t.Fatalf("%s: Decide(%v, %s, token %v) = %+v, want %+v", host, u, cc, wt != nil, gd, wd)
						}
					}
				}
			}
			for _, origin := range []string{"https://web.test", "https://other.test"} {
				if gp, wp := ga.Preflight(origin, "PUT", ""), wa.Preflight(origin, "PUT", ""); !reflect.DeepEqual(gp, wp) {
					t.Fatalf("%s: Preflight(%s) = %+v, want %+v", host, origin, gp, wp)
				}
				if gh, wh := ga.ResponseCORS(origin), wa.ResponseCORS(origin); !reflect.DeepEqual(gh, wh) {
					t.Fatalf("%s: ResponseCORS(%s) = %v, want %v", host, origin, gh, wh)
				}
			}
			if gm, wm := loginNames(got.LoginMethods(ga)), loginNames(want.LoginMethods(wa)); !slices.Equal(gm, wm) {
				t.Fatalf("%s: LoginMethods = %v, want %v", host, gm, wm)
			}
		}
	}
}

func loginNames(ps []*policy.IdentityProvider) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s=%s", p.ID, p.Name))
	}
	return out
}

// TestCompileFromFailureLeavesThePreviousSnapshot checks that a config
// that does not compile is refused as Compile refuses it, and that the
// previous snapshot, which the edge keeps serving, is untouched.
func TestCompileFromFailureLeavesThePreviousSnapshot(t *testing.T) {
	prev := compile(t, reuseConfig())
	before := prev.Match("c.example.test", "/")
	cfg := reuseConfig()
	cfg.Apps[appIndex(&cfg, "c")].Policies[0].Include = []access.Rule{ip("not-a-cidr")}
	_, wantErr := policy.Compile(cfg)
	if _, err := policy.CompileFrom(prev, cfg); err == nil || wantErr == nil || err.Error() != wantErr.Error() {
		t.Fatalf("CompileFrom error %v, want Compile's %v", err, wantErr)
	}
	if got := prev.Match("c.example.test", "/"); got != before {
		t.Fatal("the previous snapshot changed")
	}
	if d := before.Decide(policy.Facts{Identity: user("carol@example.test")}); d.Action != policy.Allow {
		t.Fatalf("previous snapshot now decides %s", d.Reason)
	}
}
