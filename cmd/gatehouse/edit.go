package main

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// fieldEdit is one --set PATH=VALUE of an edit command.
type fieldEdit struct {
	path  []pathStep
	value any // JSON-shaped
	raw   string
}

// pathStep is one step of a dotted path: an object member, or an index
// into a list (name[2] is the member name, then index 2).
type pathStep struct {
	key   string
	index int
	list  bool
}

func (s pathStep) String() string {
	if s.list {
		return fmt.Sprintf("[%d]", s.index)
	}
	return s.key
}

// parseSet reads PATH=VALUE: PATH is dotted member names, each optionally
// followed by list indexes (cors_headers.max_age, policies[0].precedence,
// include[1].email.email); VALUE is a YAML (so JSON) value: 900, true,
// [GET, POST], {email: a@example.com}, null, or else a string.
func parseSet(arg string) (fieldEdit, error) {
	p, v, ok := strings.Cut(arg, "=")
	if !ok {
		return fieldEdit{}, usageErrorf("--set %q: must be PATH=VALUE, such as cors_headers.max_age=900", arg)
	}
	steps, err := parsePath(p)
	if err != nil {
		return fieldEdit{}, usageErrorf("--set %q: %v", arg, err)
	}
	var value any
	if strings.TrimSpace(v) != "" {
		if err := yaml.Unmarshal([]byte(v), &value); err != nil {
			return fieldEdit{}, usageErrorf("--set %q: the value is not a YAML or JSON value: %v", arg, err)
		}
		if value, err = jsonValue(value); err != nil {
			return fieldEdit{}, usageErrorf("--set %q: %v", arg, err)
		}
	} else {
		value = "" // PATH= sets the empty string
	}
	return fieldEdit{path: steps, value: value, raw: p}, nil
}

// parsePath splits a dotted path into steps.
func parsePath(p string) ([]pathStep, error) {
	if p == "" {
		return nil, fmt.Errorf("empty path")
	}
	var steps []pathStep
	for _, part := range strings.Split(p, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name == "" {
			return nil, fmt.Errorf("empty member name in %q", p)
		}
		steps = append(steps, pathStep{key: name})
		for rest != "" {
			idx, after, ok := strings.Cut(rest, "]")
			n, err := strconv.Atoi(idx)
			if !ok || err != nil || n < 0 {
				return nil, fmt.Errorf("%q: a list index is [N], N from 0", part)
			}
			steps = append(steps, pathStep{index: n, list: true})
			if after != "" && !strings.HasPrefix(after, "[") {
				return nil, fmt.Errorf("%q: after ] comes . or [", part)
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return steps, nil
}

// apply sets the edit's value in body, a decoded JSON object. Missing
// objects and lists on the way are created; a list index may be one past
// the end, to append.
func (e fieldEdit) apply(body map[string]any) error {
	_, err := setAt(body, e.path, e.value, "")
	return err
}

// setAt returns cur with value set at steps below it; done is the path
// walked so far, for messages.
func setAt(cur any, steps []pathStep, value any, done string) (any, error) {
	if len(steps) == 0 {
		return value, nil
	}
	s := steps[0]
	at := done
	if at == "" {
		at = "the body"
	}
	if s.list {
		var l []any
		switch c := cur.(type) {
		case nil:
		case []any:
			l = c
		default:
			return nil, fmt.Errorf("%s: is %s, not a list", at, jsonKind(cur))
		}
		if s.index > len(l) {
			return nil, fmt.Errorf("%s has %d elements: index %d is out of range (%d appends)", at, len(l), s.index, len(l))
		}
		if s.index == len(l) {
			l = append(l, nil)
		}
		v, err := setAt(l[s.index], steps[1:], value, done+s.String())
		if err != nil {
			return nil, err
		}
		l[s.index] = v
		return l, nil
	}
	var m map[string]any
	switch c := cur.(type) {
	case nil:
		m = map[string]any{}
	case map[string]any:
		m = c
	default:
		return nil, fmt.Errorf("%s: is %s, not an object", at, jsonKind(cur))
	}
	next := s.key
	if done != "" {
		next = done + "." + s.key
	}
	v, err := setAt(m[s.key], steps[1:], value, next)
	if err != nil {
		return nil, err
	}
	m[s.key] = v
	return m, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}
