// Package apply makes an account's service tokens, reusable policies and
// apps match a declarative file. Plan compares the file with the
// account's current state, without I/O, and lists the writes; Run sends
// them as one batch of the API, validated by a dry run first, so that an
// apply changes everything or nothing.
package apply

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// File is the declarative configuration, decoded from its JSON form (the
// CLI converts YAML to it).
type File struct {
	// Prune also deletes the apps, reusable policies and service tokens
	// that are not in the file.
	Prune         bool
	ServiceTokens []Token
	Policies      []json.RawMessage // reusable policies: PolicySpec bodies with token_name in service_token rules
	Apps          []App
}

// Token is a service token of the file.
type Token struct {
	Name     string `json:"name"`
	Duration string `json:"duration"`
}

// App is an app of the file.
type App struct {
	Spec     access.AppSpec // without its policies
	Policies []Link         // in precedence order
}

// Link is an entry of an app's policies: a reusable policy by name, or an
// inline app-scoped policy.
type Link struct {
	Name   string
	Inline json.RawMessage // nil for a reusable policy
}

// fileJSON is the file's wire form.
type fileJSON struct {
	Prune         bool              `json:"prune"`
	ServiceTokens []Token           `json:"service_tokens"`
	Policies      []json.RawMessage `json:"policies"`
	Apps          []json.RawMessage `json:"apps"`
}

// Parse decodes a file from JSON, refusing unknown fields, entries
// without a name and names listed twice. Errors name the file entry.
func Parse(body []byte) (File, error) {
	var raw fileJSON
	if err := strictDecode(body, &raw); err != nil {
		return File{}, err
	}
	f := File{Prune: raw.Prune, ServiceTokens: raw.ServiceTokens, Policies: raw.Policies}
	seen := map[string]bool{}
	for i, t := range f.ServiceTokens {
		if t.Name == "" {
			return File{}, fmt.Errorf("service_tokens[%d]: name is required", i)
		}
		if seen[t.Name] {
			return File{}, fmt.Errorf("service_tokens[%d]: service token %q is listed twice", i, t.Name)
		}
		seen[t.Name] = true
	}
	seen = map[string]bool{}
	for i, p := range f.Policies {
		name := policyName(p)
		if name == "" {
			return File{}, fmt.Errorf("policies[%d]: name is required", i)
		}
		if seen[name] {
			return File{}, fmt.Errorf("policies[%d]: policy %q is listed twice", i, name)
		}
		seen[name] = true
	}
	seen = map[string]bool{}
	for i, r := range raw.Apps {
		app, err := parseApp(r)
		if err != nil {
			return File{}, fmt.Errorf("apps[%d]%v", i, err)
		}
		if seen[app.Spec.Name] {
			return File{}, fmt.Errorf("apps[%d]: app %q is listed twice", i, app.Spec.Name)
		}
		seen[app.Spec.Name] = true
		f.Apps = append(f.Apps, app)
	}
	return f, nil
}

// parseApp decodes an app; its errors start with ": " or the sub-path.
func parseApp(raw json.RawMessage) (App, error) {
	var app App
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return app, fmt.Errorf(": must be an object")
	}
	var links []json.RawMessage
	if p, ok := fields["policies"]; ok {
		if err := json.Unmarshal(p, &links); err != nil {
			return app, fmt.Errorf(".policies: must be a list of policy names or inline policies")
		}
		delete(fields, "policies")
	}
	if _, ok := fields["type"]; !ok {
		fields["type"], _ = json.Marshal(access.AppTypeSelfHosted)
	}
	rest, _ := json.Marshal(fields)
	if err := strictDecode(rest, &app.Spec); err != nil {
		return app, fmt.Errorf(": %v", err)
	}
	if app.Spec.Name == "" {
		return app, fmt.Errorf(": name is required")
	}
	names := map[string]bool{}
	for j, l := range links {
		var link Link
		if err := json.Unmarshal(l, &link.Name); err != nil {
			link.Name, link.Inline = policyName(l), l
			if link.Name == "" {
				return app, fmt.Errorf(".policies[%d]: a policy name or an inline policy with a name", j)
			}
		}
		if names[link.Name] {
			return app, fmt.Errorf(".policies[%d]: policy %q is listed twice", j, link.Name)
		}
		names[link.Name] = true
		app.Policies = append(app.Policies, link)
	}
	return app, nil
}

// strictDecode decodes JSON, refusing unknown fields.
func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func policyName(raw json.RawMessage) string {
	var p struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(raw, &p)
	return p.Name
}
