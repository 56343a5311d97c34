package api

import (
	"bytes"
	"encoding/json"
	"strings"
)

// outputOnly names the fields a resource's responses carry that no request
// can set, as dotted paths into the body ("config.client_secret_set"; a
// "[]" segment goes into every element of a list). A request that sends
// them back (the result of a GET, edited and PUT) has them ignored, as
// Cloudflare does; every other unknown field is still refused.
type outputOnly struct {
	paths []string
	// fix, when set, rewrites what else a read-back body holds that a
	// request means differently.
	fix func(map[string]any) bool
}

// The output-only fields of each resource (Cloudflare's and Gatehouse's).
var (
	appOutputOnly = outputOnly{paths: []string{"id", "uid", "aud", "created_at", "updated_at",
		"upstream_service_token.client_secret_set",
		// An app's policies[] entry read back is a whole policy.
		"policies[].app_count", "policies[].reusable", "policies[].created_at", "policies[].updated_at", "policies[].uid"},
		fix: linkReusablePolicies}
	policyOutputOnly       = outputOnly{paths: []string{"id", "uid", "app_count", "reusable", "created_at", "updated_at"}}
	serviceTokenOutputOnly = outputOnly{paths: []string{"id", "client_id", "expires_at", "last_seen_at", "created_at", "updated_at"}}
	idpOutputOnly          = outputOnly{paths: []string{"id", "created_at", "updated_at", "config.client_secret_set"}}
	groupOutputOnly        = outputOnly{paths: []string{"id", "uid", "created_at", "updated_at"}}
	certificateOutputOnly  = outputOnly{paths: []string{"id", "fingerprint", "expires_on", "created_at", "updated_at"}}
	orgOutputOnly          = outputOnly{paths: []string{"created_at", "updated_at"}}
	keysOutputOnly         = outputOnly{paths: []string{"last_key_rotation_at", "days_until_next_rotation"}}
)

// linkReusablePolicies turns each policies[] entry of an app body that is
// a reusable policy as read back ("reusable": true) into the link it
// stands for, {"id", "precedence"}: a reusable policy changes only
// through its own route, so its rules in an app body say nothing.
func linkReusablePolicies(m map[string]any) bool {
	list, _ := m["policies"].([]any)
	changed := false
	for i, e := range list {
		p, ok := e.(map[string]any)
		if !ok || p["reusable"] != true {
			continue
		}
		link := map[string]any{"id": p["id"]}
		if prec, ok := p["precedence"]; ok {
			link["precedence"] = prec
		}
		list[i], changed = link, true
	}
	return changed
}

// strip returns body without the output-only fields, or body itself when
// it holds none of them (or is not a JSON object: decoding reports that).
func (o outputOnly) strip(body []byte) []byte {
	if len(o.paths) == 0 {
		return body
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || dec.More() {
		return body
	}
	m, ok := v.(map[string]any)
	if !ok {
		return body
	}
	removed := o.fix != nil && o.fix(m)
	for _, p := range o.paths {
		removed = removePath(m, strings.Split(p, ".")) || removed
	}
	if !removed {
		return body
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(m) != nil {
		return body
	}
	return buf.Bytes()
}

// removePath deletes the member at path below m and reports whether it
// was there.
func removePath(m map[string]any, path []string) bool {
	head, list := strings.CutSuffix(path[0], "[]")
	if len(path) == 1 {
		if _, ok := m[head]; ok && !list {
			delete(m, head)
			return true
		}
		return false
	}
	removed := false
	switch child := m[head].(type) {
	case map[string]any:
		if !list {
			removed = removePath(child, path[1:])
		}
	case []any:
		if list {
			for _, e := range child {
				if em, ok := e.(map[string]any); ok {
					removed = removePath(em, path[1:]) || removed
				}
			}
		}
	}
	return removed
}
