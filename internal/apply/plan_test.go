package apply

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

const (
	tokID    = "11111111-1111-4111-8111-111111111111"
	staffID  = "22222222-2222-4222-8222-222222222222"
	appID    = "33333333-3333-4333-8333-333333333333"
	ownID    = "44444444-4444-4444-8444-444444444444"
	staleID  = "55555555-5555-4555-8555-555555555555"
	oldTokID = "66666666-6666-4666-8666-666666666666"
)

func mustParse(t *testing.T, s string) File {
	t.Helper()
	f, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// policy is a stored policy as the API shows it.
func policy(t *testing.T, id string, reusable bool, spec string) access.Policy {
	t.Helper()
	var ps access.PolicySpec
	if err := json.Unmarshal([]byte(spec), &ps); err != nil {
		t.Fatal(err)
	}
	rules, err := ps.Rules()
	if err != nil {
		t.Fatal(err)
	}
	return access.Policy{ID: id, Name: ps.Name, Decision: ps.Decision, Include: rules.Include, Require: rules.Require,
		Exclude: rules.Exclude, SessionDuration: access.DefaultSessionDuration, Reusable: reusable}
}

const staffSpec = `{"name": "staff", "decision": "allow", "include": [{"email_domain": {"domain": "example.com"}}]}`
const ownSpec = `{"name": "robots", "decision": "non_identity", "include": [{"service_token": {"token_id": "` + tokID + `"}}]}`

// current is an account holding what fullFile describes.
func current(t *testing.T) Current {
	return Current{
		ServiceTokens: []access.ServiceToken{{ID: tokID, Name: "ci", Duration: "8760h"}},
		Policies:      []access.Policy{policy(t, staffID, true, staffSpec)},
		Apps: []access.App{{ID: appID, Type: access.AppTypeSelfHosted, Name: "api", Domain: "api.example.test",
			Origin: "http://127.0.0.1:9000", Policies: []access.Policy{policy(t, ownID, false, ownSpec), policy(t, staffID, true, staffSpec)}}},
	}
}

const fullFile = `{
  "service_tokens": [{"name": "ci"}],
  "policies": [` + staffSpec + `],
  "apps": [{"name": "api", "domain": "api.example.test", "origin": "http://127.0.0.1:9000",
            "policies": [{"name": "robots", "decision": "non_identity", "include": [{"service_token": {"token_name": "ci"}}]}, "staff"]}]
}`

func lines(steps []Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.String()
	}
	return out
}

func TestPlan(t *testing.T) {
	for _, c := range []struct {
		name  string
		file  string
		cur   func(t *testing.T) Current
		want  []string
		check func(t *testing.T, steps []Step)
	}{
		{
			name: "ok/create everything: tokens before policies before apps, named by $ref",
			file: fullFile, cur: func(*testing.T) Current { return Current{} },
			want: []string{"+ create service_token ci", "+ create policy staff", "+ create app api", "+ create policy api/robots"},
			check: func(t *testing.T, steps []Step) {
				if steps[0].Op.Ref != "token-0" || steps[1].Op.Ref != "policy-0" || steps[2].Op.Ref != "app-0" {
					t.Errorf("refs: %q %q %q", steps[0].Op.Ref, steps[1].Op.Ref, steps[2].Op.Ref)
				}
				app := steps[2].Op.Body.(access.AppSpec)
				if len(app.Policies) != 1 || app.Policies[0].ID != "$ref:policy-0" || app.Policies[0].Precedence != 2 {
					t.Errorf("new app's links: %+v", app.Policies)
				}
				own := steps[3]
				if own.Op.Path != "access/apps/$ref:app-0/policies" || own.Entry != "apps[0].policies[0]" {
					t.Errorf("own policy: %+v", own)
				}
				body, _ := json.Marshal(own.Op.Body)
				if !strings.Contains(string(body), `"token_id":"$ref:token-0"`) || !strings.Contains(string(body), `"precedence":1`) {
					t.Errorf("own policy body: %s", body)
				}
			},
		},
		{
			name: "ok/no-op when the account matches", file: fullFile, cur: current, want: []string{},
		},
		{
			name: "ok/update only what differs",
			file: strings.Replace(strings.Replace(fullFile, `"name": "ci"`, `"name": "ci", "duration": "24h"`, 1), `"origin": "http://127.0.0.1:9000"`, `"origin": "http://127.0.0.1:9001"`, 1),
			cur:  current,
			want: []string{"~ update service_token ci: duration 8760h -> 24h", `~ update app api: origin "http://127.0.0.1:9000" -> "http://127.0.0.1:9001"`},
			check: func(t *testing.T, steps []Step) {
				if steps[1].Op.Method != "PUT" || steps[1].Op.Path != "access/apps/"+appID || steps[1].Op.Body.(access.AppSpec).Policies != nil {
					t.Errorf("app update keeps the links: %+v", steps[1].Op)
				}
			},
		},
		{
			name: "ok/token referenced by name is the existing token's id",
			file: fullFile, cur: func(t *testing.T) Current {
				c := current(t)
				c.Apps[0].Policies = c.Apps[0].Policies[1:] // the app lacks its own policy
				return c
			},
			want: []string{"+ create policy api/robots", "~ update app api: policies [staff, robots] -> [robots, staff]"},
			check: func(t *testing.T, steps []Step) {
				body, _ := json.Marshal(steps[0].Op.Body)
				if !strings.Contains(string(body), `"token_id":"`+tokID+`"`) || steps[0].Op.Path != "access/apps/"+appID+"/policies" {
					t.Errorf("own policy: %s %s", steps[0].Op.Path, body)
				}
				links := steps[1].Op.Body.(access.AppSpec).Policies
				if len(links) != 2 || links[0].ID != "$ref:app-0-policy-0" || links[0].Precedence != 1 || links[1].ID != staffID || links[1].Precedence != 2 {
					t.Errorf("links: %+v", links)
				}
			},
		},
		{
			name: "ok/unlisted things stay without prune",
			file: fullFile, cur: func(t *testing.T) Current {
				c := current(t)
				c.Policies = append(c.Policies, policy(t, staleID, true, `{"name": "stale", "decision": "allow", "include": [{"everyone": {}}]}`))
				c.ServiceTokens = append(c.ServiceTokens, access.ServiceToken{ID: oldTokID, Name: "old", Duration: "8760h"})
				return c
			},
			want: []string{},
		},
		{
			name: "ok/prune in the file deletes unlisted things, dependants first",
			file: strings.Replace(fullFile, `"service_tokens"`, `"prune": true, "service_tokens"`, 1),
			cur: func(t *testing.T) Current {
				c := current(t)
				c.Policies = append(c.Policies, policy(t, staleID, true, `{"name": "stale", "decision": "allow", "include": [{"everyone": {}}]}`))
				c.ServiceTokens = append(c.ServiceTokens, access.ServiceToken{ID: oldTokID, Name: "old", Duration: "8760h"})
				c.Apps = append(c.Apps, access.App{ID: "77777777-7777-4777-8777-777777777777", Name: "gone"})
				return c
			},
			want: []string{"- delete app gone", "- delete policy stale", "- delete service_token old"},
			check: func(t *testing.T, steps []Step) {
				if steps[1].Op.Method != "DELETE" || steps[1].Op.Path != "access/policies/"+staleID || steps[1].Entry != "" {
					t.Errorf("delete: %+v", steps[1])
				}
			},
		},
		{
			name: "ok/an own policy dropped from the file is deleted",
			file: strings.Replace(fullFile, `{"name": "robots", "decision": "non_identity", "include": [{"service_token": {"token_name": "ci"}}]}, `, "", 1),
			cur:  current,
			want: []string{"- delete policy api/robots"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			steps, err := Plan(mustParse(t, c.file), c.cur(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := lines(steps); !slices.Equal(got, c.want) {
				t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if c.check != nil {
				c.check(t, steps)
			}
		})
	}
}

func TestPlanRefusesUnknownNames(t *testing.T) {
	for _, c := range []struct{ name, file, want string }{
		{"fail/unknown reusable policy", `{"apps": [{"name": "x", "domain": "x.test", "policies": ["nobody"]}]}`, `apps[0].policies[0] (app "x"): no reusable policy "nobody"`},
		{"fail/unknown token", `{"policies": [{"name": "p", "decision": "non_identity", "include": [{"service_token": {"token_name": "ghost"}}]}]}`, `policies[0] (policy "p"): no service token "ghost"`},
		{"fail/unknown token in an own policy", `{"apps": [{"name": "x", "domain": "x.test", "policies": [{"name": "p", "decision": "non_identity", "include": [{"service_token": {"token_name": "ghost"}}]}]}]}`, `apps[0].policies[0] (app "x", policy "p")`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Plan(mustParse(t, c.file), Current{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestParseNamesTheBadEntry(t *testing.T) {
	for _, c := range []struct{ name, file, want string }{
		{"fail/unknown field", `{"apps": [{"name": "x", "domian": "x.test"}]}`, `apps[0]: json: unknown field "domian"`},
		{"fail/token without name", `{"service_tokens": [{"duration": "1h"}]}`, "service_tokens[0]: name is required"},
		{"fail/policy twice", `{"policies": [{"name": "p"}, {"name": "p"}]}`, `policies[1]: policy "p" is listed twice`},
		{"fail/app twice", `{"apps": [{"name": "x"}, {"name": "x"}]}`, `apps[1]: app "x" is listed twice`},
		{"fail/link twice", `{"apps": [{"name": "x", "policies": ["p", "p"]}]}`, `apps[0].policies[1]: policy "p" is listed twice`},
		{"fail/unknown top-level key", `{"applications": []}`, `unknown field "applications"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Parse([]byte(c.file)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}
