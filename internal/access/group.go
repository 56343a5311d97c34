package access

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Group is an Access group: a named set of rules that policies (and
// nothing else) use through a group rule, {"group": {"id": "…"}}.
type Group struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Include   []Rule    `json:"include"`
	Require   []Rule    `json:"require"`
	Exclude   []Rule    `json:"exclude"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	Revision int64 `json:"-"`
}

// GroupSpec is what a caller sends to create or replace an Access group.
type GroupSpec struct {
	Name    string            `json:"name" validate:"required,max=350"`
	Include []json.RawMessage `json:"include" validate:"required,min=1,max=500"`
	Require []json.RawMessage `json:"require" validate:"max=500"`
	Exclude []json.RawMessage `json:"exclude" validate:"max=500"`
	// IsDefault would make the group the account's default; only false
	// is accepted (see Inventory).
	IsDefault bool `json:"is_default"`
}

// Rules parses and checks the spec's rule lists. A group's rules are a
// policy's rules, except that they cannot name another group: groups do
// not nest, so a group's meaning is its own rules, with no cycle to
// refuse and no chain to follow.
func (s *GroupSpec) Rules() (GroupRules, error) {
	var errs []FieldError
	parse := func(name string, raws []json.RawMessage) []Rule {
		rules := make([]Rule, 0, len(raws))
		for i, raw := range raws {
			field := fmt.Sprintf("%s[%d]", name, i)
			r, fe := ParseRule(field, raw)
			errs = append(errs, fe...)
			if r.Group != nil {
				errs = append(errs, FieldError{Field: field + ".group",
					Message: "an Access group cannot use another group (groups do not nest); copy that group's rules here instead"})
			}
			rules = append(rules, r)
		}
		return rules
	}
	gr := GroupRules{Include: parse("include", s.Include), Require: parse("require", s.Require), Exclude: parse("exclude", s.Exclude)}
	slices.SortStableFunc(errs, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
	return gr, InvalidFields(errs)
}

// ServiceTokenIDs returns every service token the group's rules name,
// once each.
func (g GroupRules) ServiceTokenIDs() []string {
	return PolicyRules(g).ServiceTokenIDs()
}

// IdentityRules returns the fields ("include[0].email") of the include
// and require rules that are about a logged-in user: a Service Auth policy
// cannot use a group that has any.
func (g GroupRules) IdentityRules() []string {
	var out []string
	for _, l := range []struct {
		name  string
		rules []Rule
	}{{"include", g.Include}, {"require", g.Require}} {
		for i, r := range l.rules {
			if r.IdentityRule() {
				out = append(out, fmt.Sprintf("%s[%d].%s", l.name, i, r.Type()))
			}
		}
	}
	return out
}
