package policy

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// fullApp is an app with every field of access.App set, every pointer
// non-nil and every list non-empty, so that mutate reaches every leaf.
func fullApp(id string) access.App {
	yes := true
	revoked := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	rules := func(n string) []access.Rule {
		return []access.Rule{
			{Email: &access.EmailRule{Email: n + "@example.test"}},
			{EmailDomain: &access.EmailDomainRule{Domain: n + ".test"}},
			{Everyone: &struct{}{}},
			{IP: &access.IPRule{IP: "10.0.0.0/8"}},
			{ServiceToken: &access.ServiceTokenRule{TokenID: n + "-token"}},
			{AnyValidServiceToken: &struct{}{}},
			{Geo: &access.GeoRule{CountryCode: "DE"}},
			{LoginMethod: &access.LoginMethodRule{ID: n + "-idp"}},
		}
	}
	policy := func(pid string, d access.Decision, prec int) access.Policy {
		return access.Policy{ID: pid, Name: pid, Decision: d, Include: rules(pid + "i"), Require: rules(pid + "r"),
			Exclude: rules(pid + "e"), SessionDuration: "1h", Precedence: prec, Reusable: true, AppCount: 2,
			PolicyExtras: access.PolicyExtras{ApprovalGroups: []byte(`[]`), ApprovalRequired: true, IsolationRequired: true,
				PurposeJustificationRequired: true, PurposeJustificationPrompt: "why"},
			CreatedAt: revoked, UpdatedAt: revoked, AppID: id, Revision: 3}
	}
	return access.App{
		ID: id, AUD: "aud-" + id, Type: access.AppTypeSelfHosted, Name: id, Domain: id + ".example.test",
		SelfHostedDomains: []string{id + ".example.test", "*." + id + ".example.test/api"},
		Destinations:      []access.Destination{{Type: "public", URI: id + ".example.test"}},
		Origin:            "https://origin.example.test:8443/base", SessionDuration: "24h",
		CORSHeaders: &access.CORSSettings{AllowAllHeaders: true, AllowAllMethods: true, AllowAllOrigins: true, AllowCredentials: true,
			AllowedHeaders: []string{"X-A"}, AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"https://web.test"}, MaxAge: 600},
		OptionsPreflightBypass: true,
		UpstreamServiceToken:   &access.UpstreamServiceToken{ClientID: "up.access", ClientSecretSet: true},
		AppSettings: access.AppSettings{AllowedIdPs: []string{"idp-1"}, AutoRedirectToIdentity: true, HTTPOnlyCookieAttribute: &yes,
			SameSiteCookieAttribute: "lax", PathCookieAttribute: true, EnableBindingCookie: true, ServiceAuth401Redirect: true,
			ReadServiceTokensFromHeader: "X-Token", CustomDenyMessage: "no", CustomDenyURL: "https://deny.test",
			CustomNonIdentityDenyURL: "https://deny2.test", AppLauncherVisible: &yes, SkipInterstitial: true,
			LogoURL: "https://logo.test", Tags: []string{"t"}},
		Policies: []access.Policy{
			policy(id+"-bypass", access.DecisionBypass, 1), policy(id+"-sa", access.DecisionNonIdentity, 2),
			policy(id+"-allow", access.DecisionAllow, 3), policy(id+"-deny", access.DecisionDeny, 4),
		},
		CreatedAt: revoked, UpdatedAt: revoked, AccountID: "acct", Revision: 7,
		SessionsRevokedAt: &revoked, UpstreamClientSecret: "secret",
	}
}

// mutate applies the target-th of the single-field changes it can make to
// v, counting them in *n, and returns a description of the one applied.
// The changes: strings get a suffix, bools flip, numbers and times move,
// nil pointers are set and set ones cleared, lists grow and shrink.
func mutate(v reflect.Value, path string, target int, n *int) (string, bool) {
	step := func(what string, apply func()) (string, bool) {
		if *n == target {
			apply()
			return path + ": " + what, true
		}
		*n++
		return "", false
	}
	switch v.Kind() {
	case reflect.String:
		return step("suffix", func() { v.SetString(v.String() + "x") })
	case reflect.Bool:
		return step("flip", func() { v.SetBool(!v.Bool()) })
	case reflect.Int, reflect.Int64:
		return step("+1", func() { v.SetInt(v.Int() + 1) })
	case reflect.Float64:
		return step("+1", func() { v.SetFloat(v.Float() + 1) })
	case reflect.Uint8:
		return step("+1", func() { v.SetUint(v.Uint() + 1) })
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			if d, ok := step("+1s", func() { v.Set(reflect.ValueOf(t.Add(time.Second))) }); ok {
				return d, true
			}
			return step("other location", func() { v.Set(reflect.ValueOf(t.In(time.FixedZone("X", 3600)))) })
		}
		for i := range v.NumField() {
			if d, ok := mutate(v.Field(i), path+"."+v.Type().Field(i).Name, target, n); ok {
				return d, true
			}
		}
		return "", false
	case reflect.Pointer:
		if v.IsNil() {
			return step("set", func() { v.Set(reflect.New(v.Type().Elem())) })
		}
		if d, ok := step("clear", func() { v.Set(reflect.Zero(v.Type())) }); ok {
			return d, true
		}
		return mutate(v.Elem(), path, target, n)
	case reflect.Slice:
		if d, ok := step("append", func() { v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem()))) }); ok {
			return d, true
		}
		if v.Len() > 0 {
			if d, ok := step("drop last", func() { v.Set(v.Slice(0, v.Len()-1)) }); ok {
				return d, true
			}
		}
		for i := range v.Len() {
			if d, ok := mutate(v.Index(i), fmt.Sprintf("%s[%d]", path, i), target, n); ok {
				return d, true
			}
		}
		return "", false
	}
	panic(fmt.Sprintf("mutate: %s has kind %s: teach mutate about it", path, v.Kind()))
}

// compiled is compileApp's result without the inputs it records.
func compiled(a *access.App) (*compiledApp, error) {
	ca, err := compileApp(a)
	if ca != nil {
		ca.inputs = nil
	}
	return ca, err
}

// TestAppInputsCoverWhatCompileReads changes every field of an app, one at
// a time: whenever the encoding stays the same, so must the compiled app.
// A field compileApp reads but appendAppInputs forgets fails here.
func TestAppInputsCoverWhatCompileReads(t *testing.T) {
	orig := fullApp("a")
	origInputs := appendAppInputs(nil, &orig)
	origApp, err := compiled(&orig)
	if err != nil {
		t.Fatal(err)
	}
	changed, same := 0, 0
	for target := 0; ; target++ {
		a := fullApp("a")
		n := 0
		what, ok := mutate(reflect.ValueOf(&a).Elem(), "App", target, &n)
		if !ok {
			break
		}
		if !slices.Equal(appendAppInputs(nil, &a), origInputs) {
			changed++
			continue
		}
		same++
		got, err := compiled(&a)
		if err != nil || !reflect.DeepEqual(got, origApp) {
			t.Errorf("%s: the inputs' encoding is unchanged but the compiled app is not (err %v)", what, err)
		}
	}
	// Guard the walk itself: a fixture that stopped reaching the leaves
	// would pass vacuously.
	t.Logf("%d mutations changed the inputs, %d did not", changed, same)
	if changed < 200 || same < 20 {
		t.Fatalf("%d mutations changed the inputs and %d did not: the walk no longer reaches every field", changed, same)
	}
}

// TestCompileFromIsCompile applies random edits to a configuration over
// many generations: each rebuild from the previous snapshot must be the
// same, field for field, as compiling the configuration from scratch.
func TestCompileFromIsCompile(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			cfg := randomConfig(rng)
			prev, err := Compile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			built, failed, reused, recompiled := 0, 0, 0, 0
			for gen := range 40 {
				next, edits := editConfig(rng, cfg)
				want, wantErr := Compile(next)
				got, gotErr := CompileFrom(prev, next)
				if (wantErr == nil) != (gotErr == nil) {
					t.Fatalf("generation %d after %v: Compile error %v, CompileFrom error %v", gen, edits, wantErr, gotErr)
				}
				if wantErr != nil {
					failed++ // the edge keeps the previous snapshot, and so do we
					continue
				}
				built++
				reused += got.reused
				recompiled += len(next.Apps) - got.reused
				r := got.reused
				got.reused = 0
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("generation %d after %v: CompileFrom differs from Compile", gen, edits)
				}
				got.reused = r
				prev, cfg = got, next
			}
			if built < 10 || reused == 0 || recompiled == 0 {
				t.Fatalf("%d builds (%d failed), %d apps reused, %d recompiled: the edits no longer exercise reuse", built, failed, reused, recompiled)
			}
			t.Logf("%d builds (%d failed), %d apps reused, %d recompiled", built, failed, reused, recompiled)
		})
	}
}

// randomConfig is a few apps like fullApp, with tokens and providers.
func randomConfig(rng *rand.Rand) access.Config {
	cfg := access.Config{Version: 1}
	for i := range 2 + rng.IntN(5) {
		a := fullApp(fmt.Sprintf("app%d", i))
		a.SessionsRevokedAt = nil
		cfg.Apps = append(cfg.Apps, a)
		cfg.ServiceTokens = append(cfg.ServiceTokens, access.ServiceTokenCredential{ID: fmt.Sprintf("tok%d", i),
			AccountID: "acct", ClientID: fmt.Sprintf("c%d.access", i), SecretHash: []byte{byte(i)}})
		cfg.IdentityProviders = append(cfg.IdentityProviders, access.IdentityProvider{ID: fmt.Sprintf("idp-%d", i), AccountID: "acct", Name: "p"})
	}
	return cfg
}

// editConfig returns a fresh copy of cfg, as the store would load it, with
// one to three random edits: a field of an app (any field mutate knows),
// an app added, removed or moved, a token or a provider changed.
func editConfig(rng *rand.Rand, cfg access.Config) (access.Config, []string) {
	next := access.Config{Version: cfg.Version + 1}
	for _, a := range cfg.Apps {
		next.Apps = append(next.Apps, cloneApp(a))
	}
	next.ServiceTokens = slices.Clone(cfg.ServiceTokens)
	next.IdentityProviders = slices.Clone(cfg.IdentityProviders)
	var edits []string
	for range 1 + rng.IntN(3) {
		switch k := rng.IntN(10); {
		case k < 6 && len(next.Apps) > 0:
			i := rng.IntN(len(next.Apps))
			v := reflect.ValueOf(&next.Apps[i]).Elem()
			count := 0
			mutate(v, "", -1, &count)
			n := 0
			what, _ := mutate(v, next.Apps[i].ID, rng.IntN(count), &n)
			edits = append(edits, what)
		case k == 6:
			a := fullApp(fmt.Sprintf("new%d", rng.IntN(1000)))
			next.Apps = slices.Insert(next.Apps, rng.IntN(len(next.Apps)+1), a)
			edits = append(edits, "add "+a.ID)
		case k == 7 && len(next.Apps) > 1:
			i := rng.IntN(len(next.Apps))
			edits = append(edits, "remove "+next.Apps[i].ID)
			next.Apps = slices.Delete(next.Apps, i, i+1)
		case k == 8 && len(next.Apps) > 1:
			i, j := rng.IntN(len(next.Apps)), rng.IntN(len(next.Apps))
			next.Apps[i], next.Apps[j] = next.Apps[j], next.Apps[i]
			edits = append(edits, fmt.Sprintf("swap %d %d", i, j))
		case len(next.ServiceTokens) > 0:
			i := rng.IntN(len(next.ServiceTokens))
			next.ServiceTokens[i].SecretHash = []byte{byte(rng.IntN(256))}
			next.IdentityProviders[i].Name += "x"
			edits = append(edits, fmt.Sprintf("token and provider %d", i))
		}
	}
	return next, edits
}

// cloneApp deep-copies an app, so that editing the copy leaves the
// original (and the snapshot compiled from it) alone.
func cloneApp(a access.App) access.App {
	v := reflect.New(reflect.TypeOf(a)).Elem()
	deepCopy(v, reflect.ValueOf(a))
	return v.Interface().(access.App)
}

func deepCopy(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if !src.IsNil() {
			dst.Set(reflect.New(src.Type().Elem()))
			deepCopy(dst.Elem(), src.Elem())
		}
	case reflect.Slice:
		if !src.IsNil() {
			dst.Set(reflect.MakeSlice(src.Type(), src.Len(), src.Len()))
			for i := range src.Len() {
				deepCopy(dst.Index(i), src.Index(i))
			}
		}
	case reflect.Struct:
		if _, ok := src.Interface().(time.Time); ok {
			dst.Set(src)
			return
		}
		for i := range src.NumField() {
			deepCopy(dst.Field(i), src.Field(i))
		}
	default:
		dst.Set(src)
	}
}
