package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// applyFile is the declarative configuration `gatehouse apply` reads.
type applyFile struct {
	ServiceTokens []applyToken      `json:"service_tokens"`
	Policies      []json.RawMessage `json:"policies"` // reusable PolicySpec bodies
	Apps          []json.RawMessage `json:"apps"`     // AppSpec bodies whose policies are names or inline policies
}

type applyToken struct {
	Name     string `json:"name"`
	Duration string `json:"duration"`
}

// applyApp is one app of the file.
type applyApp struct {
	spec     access.AppSpec
	policies []applyLink // in precedence order
}

// applyLink is an entry of an app's policies: a reusable policy by name,
// or an inline app-scoped policy.
type applyLink struct {
	name   string
	inline json.RawMessage // nil for a reusable policy
}

// placeholderID stands for the id of a resource a dry run would create.
const placeholderID = "00000000-0000-4000-8000-000000000000"

func applyCommand(flags *clientFlags, stdout io.Writer) *cobra.Command {
	var file string
	var dryRun, prune bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--dry-run] [--prune]",
		Short: "Make the account's service tokens, reusable policies and apps match a YAML or JSON file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := readBody(cmd, file)
			if err != nil {
				return err
			}
			desired, apps, err := parseApplyFile(body)
			if err != nil {
				return usageErrorf("%s: %v", file, err)
			}
			cl, err := flags.client()
			if err != nil {
				return err
			}
			a := &applier{ctx: cmd.Context(), cl: cl, dryRun: dryRun, prune: prune, text: flags.output == "table", out: stdout}
			if err := a.run(desired, apps); err != nil {
				return err
			}
			return a.report(file)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "configuration file (YAML or JSON; - for stdin)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	cmd.Flags().BoolVar(&prune, "prune", false, "also delete apps, reusable policies and service tokens that are not in the file")
	return cmd
}

// strictDecode decodes JSON, refusing unknown fields.
func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func parseApplyFile(body []byte) (applyFile, []applyApp, error) {
	var f applyFile
	if err := strictDecode(body, &f); err != nil {
		return f, nil, err
	}
	seen := map[string]bool{}
	for i, t := range f.ServiceTokens {
		if t.Name == "" {
			return f, nil, fmt.Errorf("service_tokens[%d]: name is required", i)
		}
		if seen[t.Name] {
			return f, nil, fmt.Errorf("service_tokens[%d]: service token %q is listed twice", i, t.Name)
		}
		seen[t.Name] = true
	}
	seen = map[string]bool{}
	for i, raw := range f.Policies {
		name := policyName(raw)
		if name == "" {
			return f, nil, fmt.Errorf("policies[%d]: name is required", i)
		}
		if seen[name] {
			return f, nil, fmt.Errorf("policies[%d]: policy %q is listed twice", i, name)
		}
		seen[name] = true
	}
	var apps []applyApp
	seen = map[string]bool{}
	for i, raw := range f.Apps {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
			return f, nil, fmt.Errorf("apps[%d]: must be an object", i)
		}
		var links []json.RawMessage
		if p, ok := fields["policies"]; ok {
			if err := json.Unmarshal(p, &links); err != nil {
				return f, nil, fmt.Errorf("apps[%d].policies: must be a list of policy names or inline policies", i)
			}
			delete(fields, "policies")
		}
		if _, ok := fields["type"]; !ok {
			fields["type"], _ = json.Marshal(access.AppTypeSelfHosted)
		}
		rest, _ := json.Marshal(fields)
		var app applyApp
		if err := strictDecode(rest, &app.spec); err != nil {
			return f, nil, fmt.Errorf("apps[%d]: %v", i, err)
		}
		if app.spec.Name == "" {
			return f, nil, fmt.Errorf("apps[%d]: name is required", i)
		}
		if seen[app.spec.Name] {
			return f, nil, fmt.Errorf("apps[%d]: app %q is listed twice", i, app.spec.Name)
		}
		seen[app.spec.Name] = true
		names := map[string]bool{}
		for j, l := range links {
			var link applyLink
			if err := json.Unmarshal(l, &link.name); err != nil {
				link.name, link.inline = policyName(l), l
				if link.name == "" {
					return f, nil, fmt.Errorf("apps[%d].policies[%d]: a policy name or an inline policy with a name", i, j)
				}
			}
			if names[link.name] {
				return f, nil, fmt.Errorf("apps[%d].policies[%d]: policy %q is listed twice", i, j, link.name)
			}
			names[link.name] = true
			app.policies = append(app.policies, link)
		}
		apps = append(apps, app)
	}
	return f, apps, nil
}

func policyName(raw json.RawMessage) string {
	var p struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(raw, &p)
	return p.Name
}

// applier carries out (or, in a dry run, only prints) the plan.
type applier struct {
	ctx           context.Context
	cl            *client.Account
	dryRun, prune bool
	text          bool
	out           io.Writer

	changes []string
	created []json.RawMessage // new service tokens, with their secrets
}

// step records a change, prints it and, unless this is a dry run, makes it.
func (a *applier) step(line string, do func() error) error {
	a.changes = append(a.changes, line)
	if a.text {
		fmt.Fprintln(a.out, line)
	}
	if a.dryRun {
		return nil
	}
	return do()
}

func (a *applier) send(method, path string, body any) (json.RawMessage, error) {
	res, err := a.cl.Do(a.ctx, method, path, nil, body)
	if err != nil {
		return nil, err
	}
	return res.Result, nil
}

func (a *applier) create(path string, body any) (string, error) {
	res, err := a.send(http.MethodPost, path, body)
	if err != nil {
		return "", err
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(res, &v); err != nil {
		return "", err
	}
	return v.ID, nil
}

func (a *applier) run(f applyFile, apps []applyApp) error {
	curTokens, err := client.ListAs[access.ServiceToken](a.ctx, a.cl.ServiceTokens().Collection, nil)
	if err != nil {
		return err
	}
	curPolicies, err := client.ListAs[access.Policy](a.ctx, a.cl.Policies(), nil)
	if err != nil {
		return err
	}
	curApps, err := client.ListAs[access.App](a.ctx, a.cl.Apps(), nil)
	if err != nil {
		return err
	}

	// Check every reference before changing anything.
	tokenIDs := map[string]string{}
	for _, t := range curTokens {
		tokenIDs[t.Name] = t.ID
	}
	for _, t := range f.ServiceTokens {
		if _, ok := tokenIDs[t.Name]; !ok {
			tokenIDs[t.Name] = placeholderID
		}
	}
	policyIDs := map[string]string{}
	if !a.prune {
		for _, p := range curPolicies {
			policyIDs[p.Name] = p.ID
		}
	}
	for _, raw := range f.Policies {
		if _, ok := policyIDs[policyName(raw)]; !ok {
			policyIDs[policyName(raw)] = placeholderID
		}
		if _, err := resolvePolicy(raw, tokenIDs); err != nil {
			return usageErrorf("policy %q: %v", policyName(raw), err)
		}
	}
	for _, app := range apps {
		for _, l := range app.policies {
			if l.inline != nil {
				if _, err := resolvePolicy(l.inline, tokenIDs); err != nil {
					return usageErrorf("app %q: policy %q: %v", app.spec.Name, l.name, err)
				}
			} else if _, ok := policyIDs[l.name]; !ok {
				return usageErrorf("app %q: no reusable policy %q in the file's policies%s", app.spec.Name, l.name,
					map[bool]string{true: "", false: " or the account"}[a.prune])
			}
		}
	}

	// 1. Service tokens.
	byName := func(name string) func(access.ServiceToken) bool {
		return func(t access.ServiceToken) bool { return t.Name == name }
	}
	for _, t := range f.ServiceTokens {
		want := t.Duration
		if want == "" {
			want = access.DefaultServiceTokenDuration
		}
		if i := slices.IndexFunc(curTokens, byName(t.Name)); i >= 0 {
			cur := curTokens[i]
			if !sameDuration(cur.Duration, want) {
				err := a.step(fmt.Sprintf("~ update service_token %s: duration %s -> %s", t.Name, cur.Duration, want), func() error {
					_, err := a.send(http.MethodPut, "access/service_tokens/"+cur.ID, map[string]string{"duration": want})
					return err
				})
				if err != nil {
					return err
				}
			}
			continue
		}
		err := a.step("+ create service_token "+t.Name, func() error {
			res, err := a.send(http.MethodPost, "access/service_tokens", access.ServiceTokenSpec{Name: t.Name, Duration: t.Duration})
			if err != nil {
				return err
			}
			var tok access.ServiceToken
			if err := json.Unmarshal(res, &tok); err != nil {
				return err
			}
			tokenIDs[t.Name] = tok.ID
			a.created = append(a.created, res)
			return nil
		})
		if err != nil {
			return err
		}
	}

	// 2. Reusable policies.
	for _, raw := range f.Policies {
		spec, _ := resolvePolicy(raw, tokenIDs)
		i := slices.IndexFunc(curPolicies, func(p access.Policy) bool { return p.Name == spec.Name })
		if i < 0 {
			err := a.step("+ create policy "+spec.Name, func() error {
				id, err := a.create("access/policies", spec)
				policyIDs[spec.Name] = id
				return err
			})
			if err != nil {
				return err
			}
			continue
		}
		cur := curPolicies[i]
		policyIDs[spec.Name] = cur.ID
		if diff := diffViews(policyView(spec), policyView(policySpecOf(cur))); len(diff) > 0 {
			err := a.step("~ update policy "+spec.Name+": "+strings.Join(diff, ", "), func() error {
				_, err := a.send(http.MethodPut, "access/policies/"+cur.ID, spec)
				return err
			})
			if err != nil {
				return err
			}
		}
	}

	// 3. Apps, and 4. their app-scoped policies and policy order.
	for _, app := range apps {
		if err := a.applyApp(app, curApps, policyIDs, tokenIDs); err != nil {
			return err
		}
	}

	// 5. Deletions, dependants first.
	if !a.prune {
		return nil
	}
	inFile := map[string]bool{}
	for _, app := range apps {
		inFile[app.spec.Name] = true
	}
	for _, cur := range curApps {
		if !inFile[cur.Name] {
			if err := a.step("- delete app "+cur.Name, func() error {
				_, err := a.send(http.MethodDelete, "access/apps/"+cur.ID, nil)
				return err
			}); err != nil {
				return err
			}
		}
	}
	inFile = map[string]bool{}
	for _, raw := range f.Policies {
		inFile[policyName(raw)] = true
	}
	for _, cur := range curPolicies {
		if !inFile[cur.Name] {
			if err := a.step("- delete policy "+cur.Name, func() error {
				_, err := a.send(http.MethodDelete, "access/policies/"+cur.ID, nil)
				return err
			}); err != nil {
				return err
			}
		}
	}
	inFile = map[string]bool{}
	for _, t := range f.ServiceTokens {
		inFile[t.Name] = true
	}
	for _, cur := range curTokens {
		if !inFile[cur.Name] {
			if err := a.step("- delete service_token "+cur.Name, func() error {
				_, err := a.send(http.MethodDelete, "access/service_tokens/"+cur.ID, nil)
				return err
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *applier) applyApp(app applyApp, curApps []access.App, policyIDs, tokenIDs map[string]string) error {
	name := app.spec.Name
	i := slices.IndexFunc(curApps, func(c access.App) bool { return c.Name == name })
	isNew := i < 0
	var cur access.App
	appID := placeholderID
	if isNew {
		// Create the app linked to its reusable policies at their final
		// precedence; its own policies are created next at theirs.
		spec := app.spec
		spec.Policies = []access.PolicyLink{}
		for j, l := range app.policies {
			if l.inline == nil {
				spec.Policies = append(spec.Policies, access.PolicyLink{ID: policyIDs[l.name], Precedence: j + 1})
			}
		}
		err := a.step("+ create app "+name, func() error {
			id, err := a.create("access/apps", spec)
			appID = id
			return err
		})
		if err != nil {
			return err
		}
	} else {
		cur = curApps[i]
		appID = cur.ID
		if diff := diffViews(appView(app.spec), appView(appSpecOf(cur))); len(diff) > 0 {
			err := a.step("~ update app "+name+": "+strings.Join(diff, ", "), func() error {
				spec := app.spec
				spec.Policies = nil // keep the links; they are set below
				_, err := a.send(http.MethodPut, "access/apps/"+cur.ID, spec)
				return err
			})
			if err != nil {
				return err
			}
		}
	}

	// App-scoped policies: create, update, and delete those not in the file.
	scopedPath := "access/apps/" + url.PathEscape(appID) + "/policies"
	order := []string{} // the links' names in order, as they will be
	for _, p := range cur.Policies {
		order = append(order, linkKey(p.Reusable, p.Name))
	}
	wanted := map[string]bool{}
	for j, l := range app.policies {
		wanted[linkKey(l.inline == nil, l.name)] = true
		if l.inline == nil {
			continue
		}
		spec, _ := resolvePolicy(l.inline, tokenIDs)
		k := slices.IndexFunc(cur.Policies, func(p access.Policy) bool { return !p.Reusable && p.Name == l.name })
		if k < 0 {
			if isNew {
				spec.Precedence = j + 1
			} else {
				spec.Precedence = 0 // after the app's last policy; reordered below
				order = append(order, linkKey(false, l.name))
			}
			if err := a.step("+ create policy "+name+"/"+l.name, func() error {
				_, err := a.create(scopedPath, spec)
				return err
			}); err != nil {
				return err
			}
			continue
		}
		p := cur.Policies[k]
		spec.Precedence = 0
		if diff := diffViews(policyView(spec), policyView(policySpecOf(p))); len(diff) > 0 {
			if err := a.step("~ update policy "+name+"/"+l.name+": "+strings.Join(diff, ", "), func() error {
				_, err := a.send(http.MethodPut, scopedPath+"/"+p.ID, spec)
				return err
			}); err != nil {
				return err
			}
		}
	}
	for _, p := range cur.Policies {
		if !p.Reusable && !wanted[linkKey(false, p.Name)] {
			order = slices.DeleteFunc(order, func(k string) bool { return k == linkKey(false, p.Name) })
			if err := a.step("- delete policy "+name+"/"+p.Name, func() error {
				_, err := a.send(http.MethodDelete, scopedPath+"/"+p.ID, nil)
				return err
			}); err != nil {
				return err
			}
		}
	}
	if isNew {
		return nil // created in the file's order
	}

	// The links, in the file's order.
	want := make([]string, len(app.policies))
	for j, l := range app.policies {
		want[j] = linkKey(l.inline == nil, l.name)
	}
	scopedIDs := map[string]string{}
	if !a.dryRun {
		res, err := a.send(http.MethodGet, "access/apps/"+appID, nil)
		if err != nil {
			return err
		}
		var now access.App
		if err := json.Unmarshal(res, &now); err != nil {
			return err
		}
		order = order[:0]
		for _, p := range now.Policies {
			order = append(order, linkKey(p.Reusable, p.Name))
			if !p.Reusable {
				scopedIDs[p.Name] = p.ID
			}
		}
	}
	if slices.Equal(order, want) {
		return nil
	}
	return a.step(fmt.Sprintf("~ update app %s: policies [%s] -> [%s]", name, linkNames(order), linkNames(want)), func() error {
		spec := app.spec
		spec.Policies = make([]access.PolicyLink, len(app.policies))
		for j, l := range app.policies {
			id := policyIDs[l.name]
			if l.inline != nil {
				id = scopedIDs[l.name]
			}
			spec.Policies[j] = access.PolicyLink{ID: id, Precedence: j + 1}
		}
		_, err := a.send(http.MethodPut, "access/apps/"+appID, spec)
		return err
	})
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

func (a *applier) report(file string) error {
	if !a.text {
		created := a.created
		if created == nil {
			created = []json.RawMessage{}
		}
		return printJSON(a.out, map[string]any{"dry_run": a.dryRun, "changes": append([]string{}, a.changes...), "created_service_tokens": created})
	}
	switch {
	case len(a.changes) == 0:
		fmt.Fprintf(a.out, "No changes: the account matches %s.\n", file)
	case a.dryRun:
		fmt.Fprintf(a.out, "Dry run: %d change(s) planned, nothing changed.\n", len(a.changes))
	default:
		fmt.Fprintf(a.out, "Applied %d change(s).\n", len(a.changes))
	}
	if len(a.created) > 0 {
		fmt.Fprintln(a.out, "\nNew service token secrets. Save them now: they are shown only once and cannot be retrieved again.")
		for _, raw := range a.created {
			var t access.ServiceToken
			if err := json.Unmarshal(raw, &t); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "  %s\n    client_id:     %s\n    client_secret: %s\n", t.Name, t.ClientID, t.ClientSecret)
		}
	}
	return nil
}

// resolvePolicy decodes a policy of the file, replacing service_token
// rules that name a token by token_name with its token_id.
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
