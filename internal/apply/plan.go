package apply

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Current is the account's state that a file is compared with.
type Current struct {
	ServiceTokens []access.ServiceToken
	Policies      []access.Policy // reusable policies
	Apps          []access.App    // with their policies, in precedence order
}

// Action is what a step does.
type Action string

// Actions.
const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// Step is one write of a plan.
type Step struct {
	Action Action
	Kind   string // service_token, policy or app
	Name   string // an app's own policy is "APP/POLICY"
	Detail string // for an update, what changes
	// Entry is the file entry the step comes from, such as apps[1] or
	// apps[1].policies[0]; empty for the deletion of something the file
	// does not list.
	Entry string
	Op    Operation
}

// String is the step as the CLI prints it, e.g. "~ update app API:
// cors_headers.max_age 600 -> 900".
func (s Step) String() string {
	sign := map[Action]string{Create: "+", Update: "~", Delete: "-"}[s.Action]
	line := fmt.Sprintf("%s %s %s %s", sign, s.Action, s.Kind, s.Name)
	if s.Detail != "" {
		line += ": " + s.Detail
	}
	return line
}

// Operation is one write of the API's batch: Path is relative to the
// account; a string "$ref:REF" in Path or Body stands for the id of the
// result of the earlier operation whose Ref is REF.
type Operation struct {
	Ref    string `json:"ref,omitempty"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Body   any    `json:"body,omitempty"`
}

// ref returns the "$ref:" string naming an operation's result id.
func ref(name string) string { return "$ref:" + name }

// Plan lists the writes that make cur match f, in an order the API can
// run them: service tokens, then reusable policies, then apps (each with
// its own policies and then its policy order), then, when f.Prune,
// deletions of what f does not list, dependants first. Something created
// by the plan is named by later steps with a $ref to its step. Plan
// fails, naming the file entry, when f names a policy or service token
// that is neither in f nor in cur.
func Plan(f File, cur Current) ([]Step, error) {
	p := planner{f: f, cur: cur, tokenIDs: map[string]string{}, policyIDs: map[string]string{}}
	return p.plan()
}

type planner struct {
	f         File
	cur       Current
	steps     []Step
	tokenIDs  map[string]string // name → id or $ref
	policyIDs map[string]string // reusable policies: name → id or $ref
}

func (p *planner) add(s Step) { p.steps = append(p.steps, s) }

func (p *planner) plan() ([]Step, error) {
	// What each name will be once the plan has run.
	for _, t := range p.cur.ServiceTokens {
		p.tokenIDs[t.Name] = t.ID
	}
	for i, t := range p.f.ServiceTokens {
		if _, ok := p.tokenIDs[t.Name]; !ok {
			p.tokenIDs[t.Name] = ref(fmt.Sprintf("token-%d", i))
		}
	}
	if !p.f.Prune {
		for _, c := range p.cur.Policies {
			p.policyIDs[c.Name] = c.ID
		}
	}
	for i, raw := range p.f.Policies {
		name := policyName(raw)
		if k := slices.IndexFunc(p.cur.Policies, func(c access.Policy) bool { return c.Name == name }); k >= 0 {
			p.policyIDs[name] = p.cur.Policies[k].ID
		} else {
			p.policyIDs[name] = ref(fmt.Sprintf("policy-%d", i))
		}
		if _, err := resolvePolicy(raw, p.tokenIDs); err != nil {
			return nil, fmt.Errorf("policies[%d] (policy %q): %v", i, name, err)
		}
	}
	for i, app := range p.f.Apps {
		for j, l := range app.Policies {
			if l.Inline != nil {
				if _, err := resolvePolicy(l.Inline, p.tokenIDs); err != nil {
					return nil, fmt.Errorf("apps[%d].policies[%d] (app %q, policy %q): %v", i, j, app.Spec.Name, l.Name, err)
				}
			} else if _, ok := p.policyIDs[l.Name]; !ok {
				where := " or the account"
				if p.f.Prune {
					where = ""
				}
				return nil, fmt.Errorf("apps[%d].policies[%d] (app %q): no reusable policy %q in the file's policies%s", i, j, app.Spec.Name, l.Name, where)
			}
		}
	}

	p.tokens()
	p.policies()
	for i, app := range p.f.Apps {
		p.app(i, app)
	}
	if p.f.Prune {
		p.prune()
	}
	return p.steps, nil
}

func (p *planner) tokens() {
	for i, t := range p.f.ServiceTokens {
		entry := fmt.Sprintf("service_tokens[%d]", i)
		want := t.Duration
		if want == "" {
			want = access.DefaultServiceTokenDuration
		}
		k := slices.IndexFunc(p.cur.ServiceTokens, func(c access.ServiceToken) bool { return c.Name == t.Name })
		if k < 0 {
			p.add(Step{Action: Create, Kind: "service_token", Name: t.Name, Entry: entry,
				Op: Operation{Ref: fmt.Sprintf("token-%d", i), Method: http.MethodPost, Path: "access/service_tokens",
					Body: access.ServiceTokenSpec{Name: t.Name, Duration: t.Duration}}})
			continue
		}
		c := p.cur.ServiceTokens[k]
		if !sameDuration(c.Duration, want) {
			p.add(Step{Action: Update, Kind: "service_token", Name: t.Name, Entry: entry,
				Detail: fmt.Sprintf("duration %s -> %s", c.Duration, want),
				Op:     Operation{Method: http.MethodPut, Path: "access/service_tokens/" + url.PathEscape(c.ID), Body: map[string]string{"duration": want}}})
		}
	}
}

func (p *planner) policies() {
	for i, raw := range p.f.Policies {
		entry := fmt.Sprintf("policies[%d]", i)
		spec, _ := resolvePolicy(raw, p.tokenIDs) // checked in plan
		k := slices.IndexFunc(p.cur.Policies, func(c access.Policy) bool { return c.Name == spec.Name })
		if k < 0 {
			p.add(Step{Action: Create, Kind: "policy", Name: spec.Name, Entry: entry,
				Op: Operation{Ref: fmt.Sprintf("policy-%d", i), Method: http.MethodPost, Path: "access/policies", Body: spec}})
			continue
		}
		c := p.cur.Policies[k]
		if diff := diffViews(policyView(spec), policyView(policySpecOf(c))); len(diff) > 0 {
			p.add(Step{Action: Update, Kind: "policy", Name: spec.Name, Entry: entry, Detail: strings.Join(diff, ", "),
				Op: Operation{Method: http.MethodPut, Path: "access/policies/" + url.PathEscape(c.ID), Body: spec}})
		}
	}
}

// app plans one app of the file: the app, its own policies, and the
// order of its policies.
func (p *planner) app(i int, app App) {
	entry := fmt.Sprintf("apps[%d]", i)
	name := app.Spec.Name
	k := slices.IndexFunc(p.cur.Apps, func(c access.App) bool { return c.Name == name })
	isNew := k < 0
	var cur access.App
	var appID string
	if isNew {
		// Created linked to its reusable policies at their final
		// precedence; its own policies are created next at theirs.
		appID = ref(fmt.Sprintf("app-%d", i))
		spec := app.Spec
		spec.Policies = []access.PolicyLink{}
		for j, l := range app.Policies {
			if l.Inline == nil {
				spec.Policies = append(spec.Policies, access.PolicyLink{ID: p.policyIDs[l.Name], Precedence: j + 1})
			}
		}
		p.add(Step{Action: Create, Kind: "app", Name: name, Entry: entry,
			Op: Operation{Ref: fmt.Sprintf("app-%d", i), Method: http.MethodPost, Path: "access/apps", Body: spec}})
	} else {
		cur = p.cur.Apps[k]
		appID = url.PathEscape(cur.ID)
		if diff := diffViews(appView(app.Spec), appView(appSpecOf(cur))); len(diff) > 0 {
			spec := app.Spec
			spec.Policies = nil // keeps the links; they are set below
			p.add(Step{Action: Update, Kind: "app", Name: name, Entry: entry, Detail: strings.Join(diff, ", "),
				Op: Operation{Method: http.MethodPut, Path: "access/apps/" + appID, Body: spec}})
		}
	}

	// The app's own policies: create, update, and delete those not in the file.
	scopedPath := "access/apps/" + appID + "/policies"
	order := []string{} // the links, as they will be before reordering
	for _, c := range cur.Policies {
		order = append(order, linkKey(c.Reusable, c.Name))
	}
	scopedIDs := map[string]string{}
	wanted := map[string]bool{}
	for j, l := range app.Policies {
		wanted[linkKey(l.Inline == nil, l.Name)] = true
		if l.Inline == nil {
			continue
		}
		pentry := fmt.Sprintf("%s.policies[%d]", entry, j)
		spec, _ := resolvePolicy(l.Inline, p.tokenIDs) // checked in plan
		c := slices.IndexFunc(cur.Policies, func(c access.Policy) bool { return !c.Reusable && c.Name == l.Name })
		if c < 0 {
			if isNew {
				spec.Precedence = j + 1
			} else {
				spec.Precedence = 0 // after the app's last policy; reordered below
				order = append(order, linkKey(false, l.Name))
			}
			r := fmt.Sprintf("app-%d-policy-%d", i, j)
			scopedIDs[l.Name] = ref(r)
			p.add(Step{Action: Create, Kind: "policy", Name: name + "/" + l.Name, Entry: pentry,
				Op: Operation{Ref: r, Method: http.MethodPost, Path: scopedPath, Body: spec}})
			continue
		}
		existing := cur.Policies[c]
		scopedIDs[l.Name] = existing.ID
		spec.Precedence = 0
		if diff := diffViews(policyView(spec), policyView(policySpecOf(existing))); len(diff) > 0 {
			p.add(Step{Action: Update, Kind: "policy", Name: name + "/" + l.Name, Entry: pentry, Detail: strings.Join(diff, ", "),
				Op: Operation{Method: http.MethodPut, Path: scopedPath + "/" + url.PathEscape(existing.ID), Body: spec}})
		}
	}
	for _, c := range cur.Policies {
		if !c.Reusable && !wanted[linkKey(false, c.Name)] {
			order = slices.DeleteFunc(order, func(k string) bool { return k == linkKey(false, c.Name) })
			p.add(Step{Action: Delete, Kind: "policy", Name: name + "/" + c.Name,
				Op: Operation{Method: http.MethodDelete, Path: scopedPath + "/" + url.PathEscape(c.ID)}})
		}
	}
	if isNew {
		return // created in the file's order
	}

	// The links, in the file's order.
	want := make([]string, len(app.Policies))
	for j, l := range app.Policies {
		want[j] = linkKey(l.Inline == nil, l.Name)
	}
	if slices.Equal(order, want) {
		return
	}
	spec := app.Spec
	spec.Policies = make([]access.PolicyLink, len(app.Policies))
	for j, l := range app.Policies {
		id := p.policyIDs[l.Name]
		if l.Inline != nil {
			id = scopedIDs[l.Name]
		}
		spec.Policies[j] = access.PolicyLink{ID: id, Precedence: j + 1}
	}
	p.add(Step{Action: Update, Kind: "app", Name: name, Entry: entry + ".policies",
		Detail: fmt.Sprintf("policies [%s] -> [%s]", linkNames(order), linkNames(want)),
		Op:     Operation{Method: http.MethodPut, Path: "access/apps/" + appID, Body: spec}})
}

// prune deletes what the file does not list, dependants first.
func (p *planner) prune() {
	inFile := map[string]bool{}
	for _, app := range p.f.Apps {
		inFile[app.Spec.Name] = true
	}
	for _, c := range p.cur.Apps {
		if !inFile[c.Name] {
			p.add(Step{Action: Delete, Kind: "app", Name: c.Name, Op: Operation{Method: http.MethodDelete, Path: "access/apps/" + url.PathEscape(c.ID)}})
		}
	}
	inFile = map[string]bool{}
	for _, raw := range p.f.Policies {
		inFile[policyName(raw)] = true
	}
	for _, c := range p.cur.Policies {
		if !inFile[c.Name] {
			p.add(Step{Action: Delete, Kind: "policy", Name: c.Name, Op: Operation{Method: http.MethodDelete, Path: "access/policies/" + url.PathEscape(c.ID)}})
		}
	}
	inFile = map[string]bool{}
	for _, t := range p.f.ServiceTokens {
		inFile[t.Name] = true
	}
	for _, c := range p.cur.ServiceTokens {
		if !inFile[c.Name] {
			p.add(Step{Action: Delete, Kind: "service_token", Name: c.Name, Op: Operation{Method: http.MethodDelete, Path: "access/service_tokens/" + url.PathEscape(c.ID)}})
		}
	}
}

// linkKey tells a reusable policy from an app's own policy of the same name.
func linkKey(reusable bool, name string) string {
	if reusable {
		return "reusable:" + name
	}
	return "app:" + name
}

func linkNames(keys []string) string {
	names := make([]string, len(keys))
	for i, k := range keys {
		_, names[i], _ = strings.Cut(k, ":")
	}
	return strings.Join(names, ", ")
}

// resolvePolicy decodes a policy of the file, replacing service_token
// rules that name a token by token_name with its token_id (an id, or a
// $ref to the step that creates it).
func resolvePolicy(raw json.RawMessage, tokenIDs map[string]string) (access.PolicySpec, error) {
	var spec access.PolicySpec
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return spec, err
	}
	for _, list := range []string{"include", "require", "exclude"} {
		rules, _ := obj[list].([]any)
		for _, r := range rules {
			rule, _ := r.(map[string]any)
			st, _ := rule["service_token"].(map[string]any)
			name, ok := st["token_name"].(string)
			if !ok {
				continue
			}
			id, known := tokenIDs[name]
			if !known {
				return spec, fmt.Errorf("no service token %q in the file or the account", name)
			}
			rule["service_token"] = map[string]any{"token_id": id}
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return spec, err
	}
	if err := strictDecode(b, &spec); err != nil {
		return spec, err
	}
	return spec, nil
}

// policySpecOf is the body that would recreate a stored policy.
func policySpecOf(p access.Policy) access.PolicySpec {
	raws := func(rules []access.Rule) []json.RawMessage {
		out := make([]json.RawMessage, len(rules))
		for i, r := range rules {
			out[i], _ = json.Marshal(r)
		}
		return out
	}
	return access.PolicySpec{Name: p.Name, Decision: p.Decision, Include: raws(p.Include), Require: raws(p.Require),
		Exclude: raws(p.Exclude), SessionDuration: p.SessionDuration, PolicyExtras: p.PolicyExtras}
}

// policyView is a policy body in the server's canonical form, to compare.
func policyView(spec access.PolicySpec) map[string]any {
	rules, _ := spec.Rules()
	spec.Precedence = 0
	if spec.SessionDuration == "" {
		// The API shows a policy without a duration of its own with
		// Cloudflare's default.
		spec.SessionDuration = access.DefaultSessionDuration
	}
	v := struct {
		access.PolicySpec
		Include []access.Rule `json:"include"`
		Require []access.Rule `json:"require"`
		Exclude []access.Rule `json:"exclude"`
	}{spec, rules.Include, rules.Require, rules.Exclude}
	m := toMap(v)
	delete(m, "precedence")
	return m
}

// appSpecOf is the body that would recreate a stored app (without links).
func appSpecOf(a access.App) access.AppSpec {
	return access.AppSpec{Type: a.Type, Name: a.Name, Domain: a.Domain, SelfHostedDomains: a.SelfHostedDomains,
		Destinations: a.Destinations, Origin: a.Origin, SessionDuration: a.SessionDuration, CORSHeaders: a.CORSHeaders,
		OptionsPreflightBypass: a.OptionsPreflightBypass, AppSettings: a.AppSettings}
}

// appView is an app body in the server's canonical form, to compare.
func appView(spec access.AppSpec) map[string]any {
	var c access.AppSpec // a deep copy: Normalize rewrites in place
	b, _ := json.Marshal(spec)
	_ = json.Unmarshal(b, &c)
	c.Policies = nil
	_, _ = c.Normalize()
	m := toMap(c)
	delete(m, "policies")
	// Write-only credentials cannot be compared with what the API shows.
	delete(m, "upstream_service_token")
	return m
}

func toMap(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// diffViews lists the fields that differ, as "path old -> new".
func diffViews(want, have map[string]any) []string {
	var out []string
	diffValues("", want, have, &out)
	return out
}

func diffValues(path string, want, have any, out *[]string) {
	wm, wok := want.(map[string]any)
	hm, hok := have.(map[string]any)
	if wok && hok {
		keys := make([]string, 0, len(wm)+len(hm))
		for k := range wm {
			keys = append(keys, k)
		}
		for k := range hm {
			if _, ok := wm[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			diffValues(p, wm[k], hm[k], out)
		}
		return
	}
	if reflect.DeepEqual(want, have) {
		return
	}
	*out = append(*out, fmt.Sprintf("%s %s -> %s", path, showValue(have), showValue(want)))
}

func showValue(v any) string {
	if v == nil {
		return "(none)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func sameDuration(a, b string) bool {
	da, errA := time.ParseDuration(a)
	db, errB := time.ParseDuration(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return da == db
}
