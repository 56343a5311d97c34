package access

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseRule(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		want  string // canonical JSON of the parsed rule; empty for failures
		field string // field of the error for failures
	}{
		{"ok/email lower-cased", `{"email":{"email":"Ann@Example.COM"}}`, `{"email":{"email":"ann@example.com"}}`, ""},
		{"ok/email domain without @", `{"email_domain":{"domain":"@Example.com"}}`, `{"email_domain":{"domain":"example.com"}}`, ""},
		{"ok/everyone", `{"everyone":{}}`, `{"everyone":{}}`, ""},
		{"ok/ip host bits masked", `{"ip":{"ip":"10.9.8.7/8"}}`, `{"ip":{"ip":"10.0.0.0/8"}}`, ""},
		{"ok/bare ip is a host range", `{"ip":{"ip":"2001:db8::1"}}`, `{"ip":{"ip":"2001:db8::1/128"}}`, ""},
		{"ok/token id canonical", `{"service_token":{"token_id":"6F1F7E7E-0000-4000-8000-000000000000"}}`, `{"service_token":{"token_id":"6f1f7e7e-0000-4000-8000-000000000000"}}`, ""},
		{"ok/any valid token", `{"any_valid_service_token":{}}`, `{"any_valid_service_token":{}}`, ""},
		{"ok/geo upper-cased", `{"geo":{"country_code":"de"}}`, `{"geo":{"country_code":"DE"}}`, ""},
		{"ok/login method", `{"login_method":{"id":"otp"}}`, `{"login_method":{"id":"otp"}}`, ""},
		{"fail/not an object", `"everyone"`, "", "r"},
		{"fail/null", `null`, "", "r"},
		{"fail/two types", `{"everyone":{},"geo":{"country_code":"DE"}}`, "", "r"},
		{"fail/unknown type", `{"device_posture":{}}`, "", "r.device_posture"},
		{"fail/email display name", `{"email":{"email":"Ann <ann@example.com>"}}`, "", "r.email.email"},
		{"fail/domain with space", `{"email_domain":{"domain":"exa mple.com"}}`, "", "r.email_domain.domain"},
		{"fail/cidr", `{"ip":{"ip":"300.1.1.1/8"}}`, "", "r.ip.ip"},
		{"fail/token id", `{"service_token":{"token_id":""}}`, "", "r.service_token.token_id"},
		{"fail/country", `{"geo":{"country_code":"D1"}}`, "", "r.geo.country_code"},
		{"fail/empty login method", `{"login_method":{"id":""}}`, "", "r.login_method.id"},
		{"fail/wrong inner type", `{"ip":{"ip":8}}`, "", "r.ip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, errs := ParseRule("r", json.RawMessage(tc.raw))
			if tc.want == "" {
				if len(errs) != 1 || errs[0].Field != tc.field {
					t.Fatalf("errors %+v, want one on %q", errs, tc.field)
				}
				return
			}
			if len(errs) != 0 {
				t.Fatalf("unexpected errors %+v", errs)
			}
			got, _ := json.Marshal(r)
			if string(got) != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// FuzzParseRule checks that any input either fails cleanly or yields a
// rule with exactly one type that parses again to itself.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{`{"email":{"email":"a@b.c"}}`, `{"ip":{"ip":"10.0.0.0/8"}}`, `{"geo":{"country_code":"us"}}`, `{"everyone":{}}`, `{"group":{"id":"6F1F7E7E-0000-4000-8000-000000000000"}}`, `{}`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, errs := ParseRule("r", json.RawMessage(raw))
		if len(errs) > 0 {
			return
		}
		if r.Type() == "" {
			t.Fatalf("%q parsed to a rule with no type", raw)
		}
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		again, errs := ParseRule("r", enc)
		if len(errs) > 0 {
			t.Fatalf("canonical form %s does not parse: %+v", enc, errs)
		}
		if enc2, _ := json.Marshal(again); string(enc2) != string(enc) {
			t.Fatalf("not canonical: %s then %s", enc, enc2)
		}
	})
}

func TestNormalizeAppSpec(t *testing.T) {
	s := AppSpec{Type: "self_hosted", Name: "x", Domain: "Example.COM/API/",
		CORSHeaders: &CORSSettings{AllowedOrigins: []string{"HTTPS://Web.Example.com:8443"}}}
	valid, err := s.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if domains := valid.DomainNames(); len(domains) != 1 || domains[0] != "example.com/api" || s.Domain != "example.com/api" {
		t.Errorf("domains %q domain %q: host and path are lower-cased, the trailing slash dropped", domains, s.Domain)
	}
	if s.CORSHeaders.AllowedOrigins[0] != "https://web.example.com:8443" {
		t.Errorf("origin %q", s.CORSHeaders.AllowedOrigins[0])
	}
	if s.SessionDuration != "24h" || !*s.HTTPOnlyCookieAttribute {
		t.Error("defaults not applied")
	}
	empty := AppSpec{Type: "self_hosted", Name: "x", Domain: "a.test", OptionsPreflightBypass: true, CORSHeaders: &CORSSettings{}}
	if _, err := empty.Normalize(); err != nil || empty.CORSHeaders != nil {
		t.Errorf("bypass with empty cors_headers: %v, cors %+v", err, empty.CORSHeaders)
	}
	both := AppSpec{Type: "self_hosted", Name: "x", Domain: "a.test", OptionsPreflightBypass: true, CORSHeaders: &CORSSettings{MaxAge: 5}}
	if _, err := both.Normalize(); KindOf(err) != EInvalid {
		t.Errorf("bypass with cors settings: %v", err)
	}
}

func TestNormalizeCORS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     *CORSSettings
		bypass bool
		want   *CORSSettings
		fields []string
	}{
		{"ok/nil is none", nil, false, nil, nil},
		{"ok/all zero is none", &CORSSettings{}, false, nil, nil},
		{"ok/all zero with the bypass is none", &CORSSettings{}, true, nil, nil},
		{"ok/origins lower-cased, lists not nil", &CORSSettings{AllowedOrigins: []string{"HTTPS://A.Test"}},
			false, &CORSSettings{AllowedOrigins: []string{"https://a.test"}, AllowedMethods: []string{}, AllowedHeaders: []string{}}, nil},
		{"fail/origin listed twice", &CORSSettings{AllowedOrigins: []string{"https://a.test", "https://A.test"}}, false, nil,
			[]string{"cors_headers.allowed_origins[1]"}},
		{"fail/fractional max age", &CORSSettings{MaxAge: 0.5}, false, nil, []string{"cors_headers.max_age"}},
		{"fail/bypass with settings", &CORSSettings{AllowCredentials: true}, true, nil, []string{"options_preflight_bypass"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := NormalizeCORS(tc.in, tc.bypass)
			var fields []string
			for _, e := range errs {
				fields = append(fields, e.Field)
			}
			if fmt.Sprint(fields) != fmt.Sprint(tc.fields) {
				t.Fatalf("fields %q, want %q", fields, tc.fields)
			}
			if tc.fields == nil && fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestGroupSpecRules: a group's rules are a policy's, except that a group
// rule is refused there (groups do not nest), naming the rule.
func TestGroupSpecRules(t *testing.T) {
	raw := func(s ...string) []json.RawMessage {
		out := make([]json.RawMessage, len(s))
		for i, r := range s {
			out[i] = json.RawMessage(r)
		}
		return out
	}
	const gid = `{"group":{"id":"6f1f7e7e-0000-4000-8000-000000000000"}}`
	tests := []struct {
		name   string
		spec   GroupSpec
		fields []string
	}{
		{"ok/every other rule type", GroupSpec{Include: raw(`{"email":{"email":"A@b.test"}}`, `{"ip":{"ip":"10.1.0.0/8"}}`, `{"login_method":{"id":"x"}}`),
			Require: raw(`{"geo":{"country_code":"de"}}`), Exclude: raw(`{"any_valid_service_token":{}}`)}, nil},
		{"fail/group in include", GroupSpec{Include: raw(gid)}, []string{"include[0].group"}},
		{"fail/group in require and exclude", GroupSpec{Include: raw(`{"everyone":{}}`), Require: raw(gid), Exclude: raw(`{"everyone":{}}`, gid)},
			[]string{"exclude[1].group", "require[0].group"}},
		{"fail/bad rule", GroupSpec{Include: raw(`{"email":{}}`)}, []string{"include[0].email.email"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gr, err := tc.spec.Rules()
			var fields []string
			if e, ok := err.(*Error); ok {
				for _, f := range e.Fields {
					fields = append(fields, f.Field)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(fields, tc.fields) {
				t.Fatalf("fields %q, want %q (%v)", fields, tc.fields, err)
			}
			if err == nil && (gr.Include[0].Email.Email != "a@b.test" || gr.Require[0].Geo.CountryCode != "DE") {
				t.Errorf("not canonical: %+v", gr)
			}
		})
	}
}

func TestKeepClaims(t *testing.T) {
	long := strings.Repeat("x", MaxClaimValueLen+1)
	many := make([]any, MaxClaimValues+1)
	for i := range many {
		many[i] = "g"
	}
	raw := map[string]any{"groups": []any{"eng", "ops", 7.0, map[string]any{"x": 1}, true}, "dept": "eng",
		"admin": false, "level": 3.5, "obj": map[string]any{"a": "b"}, "other": "not listed"}
	tests := []struct {
		name  string
		raw   map[string]any
		names []string
		want  map[string][]string
		fails bool
	}{
		{"ok/nothing listed", raw, nil, nil, false},
		{"ok/strings, arrays, scalars, objects", raw, []string{"groups", "dept", "admin", "level", "obj"},
			map[string][]string{"groups": {"eng", "ops", "7", "true"}, "dept": {"eng"}, "admin": {"false"}, "level": {"3.5"}, "obj": {}}, false},
		{"ok/a listed claim not sent is kept empty", raw, []string{"missing"}, map[string][]string{"missing": {}}, false},
		{"fail/a value too long", map[string]any{"a": long}, []string{"a"}, nil, true},
		{"fail/too many values", map[string]any{"a": many}, []string{"a"}, nil, true},
		{"fail/too large together", map[string]any{"a": strings.Repeat("x", 1000), "b": strings.Repeat("y", 1000), "c": strings.Repeat("z", 100)},
			[]string{"a", "b", "c"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := KeepClaims(tc.raw, tc.names)
			if (err != nil) != tc.fails {
				t.Fatalf("err %v, want failure %v", err, tc.fails)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzKeepClaims: any claims JSON either fails or yields claims within
// the bounds, every listed name present.
func FuzzKeepClaims(f *testing.F) {
	f.Add(`{"groups":["a","b"],"dept":"x"}`, "groups")
	f.Add(`{"groups":[1,true,{"a":1},null]}`, "groups")
	f.Fuzz(func(t *testing.T, js, name string) {
		var raw map[string]any
		if json.Unmarshal([]byte(js), &raw) != nil {
			return
		}
		got, err := KeepClaims(raw, []string{name})
		if err != nil {
			return
		}
		size := len(name)
		vals, ok := got[name]
		if !ok || vals == nil {
			t.Fatalf("listed claim %q missing: %v", name, got)
		}
		for _, v := range vals {
			size += len(v)
		}
		if size > MaxClaimsSize || len(vals) > MaxClaimValues {
			t.Fatalf("bounds exceeded: %d bytes, %d values", size, len(vals))
		}
	})
}
