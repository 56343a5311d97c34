package api_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/zero_trust"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// sdkField is one member of a Cloudflare SDK request type, as its JSON
// path ("cors_headers.max_age", "destinations.uri") and the Go kind of
// its value.
type sdkField struct {
	path string
	kind reflect.Kind
	list bool // a list of kind
}

// sdkFields walks a request type of Cloudflare's Go SDK (the contract its
// clients encode) and lists its JSON members. It goes into nested objects
// and lists of objects, except below a path whole reports true for: a
// field classified as a whole (an unsupported settings object, or the
// policies of an app, which have a walk of their own).
func sdkFields(t reflect.Type, prefix string, whole func(string) bool) []sdkField {
	var out []sdkField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue // path parameters (account_id) and internal fields
		}
		path := prefix + name
		ft, list := unwrapSDK(f.Type)
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() && !whole(path) && hasJSONFields(ft) {
			out = append(out, sdkFields(ft, path+".", whole)...)
			continue
		}
		out = append(out, sdkField{path, ft.Kind(), list})
	}
	return out
}

// unwrapSDK is the value type of param.Field[T], or the element type of
// a list (list is then true).
func unwrapSDK(t reflect.Type) (_ reflect.Type, list bool) {
	for {
		switch {
		case t.Kind() == reflect.Struct && strings.HasPrefix(t.Name(), "Field[") && strings.HasSuffix(t.PkgPath(), "/param"):
			v, _ := t.FieldByName("Value")
			t = v.Type
		case t.Kind() == reflect.Slice:
			t, list = t.Elem(), true
		case t.Kind() == reflect.Pointer:
			t = t.Elem()
		default:
			return t, list
		}
	}
}

func hasJSONFields(t reflect.Type) bool {
	for i := range t.NumField() {
		if n, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); n != "" && n != "-" {
			return true
		}
	}
	return false
}

// inventory is the classification of one resource by field path.
func inventory(t *testing.T, name string) map[string]access.Setting {
	for _, r := range access.Inventory {
		if r.Name == name {
			m := map[string]access.Setting{}
			for _, s := range r.Settings {
				m[s.Field] = s
			}
			return m
		}
	}
	t.Fatalf("no inventory resource %q", name)
	return nil
}

// sdkResource is a body type of the SDK and the inventory that must
// classify every one of its fields.
type sdkResource struct {
	name      string       // inventory resource
	sdk       reflect.Type // the SDK's request body type
	prefix    string       // where its fields sit in the inventory's body
	structure []string     // fields that select the shape, not settings
}

var sdkResources = []sdkResource{
	{"application", reflect.TypeFor[zero_trust.AccessApplicationNewParamsBodySelfHostedApplication](), "", []string{"destinations"}},
	// destinations is a union in the SDK; this is every member's fields.
	{"application", reflect.TypeFor[zero_trust.AccessApplicationNewParamsBodySelfHostedApplicationDestination](), "destinations.", nil},
	{"policy (reusable and app-scoped)", reflect.TypeFor[zero_trust.AccessPolicyNewParams](), "", nil},
	// An app's inline (legacy) policy: a policy body with the link's id
	// and precedence.
	{"policy (reusable and app-scoped)", reflect.TypeFor[zero_trust.AccessApplicationNewParamsBodySelfHostedApplicationPolicy](), "", []string{"id"}},
	{"service token (create)", reflect.TypeFor[zero_trust.AccessServiceTokenNewParams](), "", nil},
	{"service token (update)", reflect.TypeFor[zero_trust.AccessServiceTokenUpdateParams](), "", nil},
	{"identity provider", reflect.TypeFor[zero_trust.IdentityProviderAccessOIDCParam](), "", nil},
	{"identity provider", reflect.TypeFor[zero_trust.IdentityProviderAccessOnetimepinParam](), "", []string{"config"}}, // {}
	{"Access group", reflect.TypeFor[zero_trust.AccessGroupNewParams](), "", nil},
	{"organization", reflect.TypeFor[zero_trust.OrganizationNewParams](), "", nil},
	{"organization", reflect.TypeFor[zero_trust.OrganizationUpdateParams](), "", nil},
	{"signing keys", reflect.TypeFor[zero_trust.AccessKeyUpdateParams](), "", nil},
	{"certificate (create)", reflect.TypeFor[zero_trust.AccessCertificateNewParams](), "", nil},
	{"certificate (update)", reflect.TypeFor[zero_trust.AccessCertificateUpdateParams](), "", nil},
}

// TestEverySDKFieldIsClassified walks Cloudflare's Go SDK request types
// and checks that Gatehouse classifies every field they define (README's
// "Enforced and refused settings" is that classification): a new SDK
// field fails here until it is round-tripped or refused with a reason.
func TestEverySDKFieldIsClassified(t *testing.T) {
	for _, r := range sdkResources {
		inv := inventory(t, r.name)
		whole := func(path string) bool {
			s, ok := inv[path]
			return ok && (s.Class == access.Unsupported || path == "policies")
		}
		fields := sdkFields(r.sdk, r.prefix, whole)
		if len(fields) == 0 {
			t.Fatalf("%s: walked only %v", r.sdk, fields)
		}
		for _, f := range fields {
			if slices.Contains(r.structure, f.path) {
				continue
			}
			if s, ok := inv[f.path]; !ok {
				t.Errorf("%s (%s): Cloudflare's field %q is not classified in access.Inventory", r.name, r.sdk.Name(), f.path)
			} else if s.Note == "" {
				t.Errorf("%s: %q has no documented reason", r.name, f.path)
			}
		}
	}
}

// sample is a value that is not the default for an SDK field.
func sample(f sdkField) any {
	if f.list {
		return []any{sample(sdkField{kind: f.kind})}
	}
	switch f.kind {
	case reflect.Bool:
		return true
	case reflect.String:
		return "x"
	case reflect.Slice:
		return []string{"x"}
	case reflect.Float64, reflect.Int64, reflect.Int:
		return 1
	}
	return map[string]any{"enabled": true}
}

// zero is the default for an SDK field.
func zero(f sdkField) any {
	if f.list {
		return []any{}
	}
	switch f.kind {
	case reflect.Bool:
		return false
	case reflect.String:
		return ""
	case reflect.Slice:
		return []string{}
	case reflect.Float64, reflect.Int64, reflect.Int:
		return 0
	}
	return map[string]any{}
}

// set puts v at a dotted path of body, creating objects on the way; a
// path into a list of objects sets the member of its first element.
func set(body map[string]any, path string, v any) {
	head, rest, nested := strings.Cut(path, ".")
	if !nested {
		body[head] = v
		return
	}
	switch child := body[head].(type) {
	case map[string]any:
		set(child, rest, v)
	case []any:
		set(child[0].(map[string]any), rest, v)
	case []map[string]any:
		set(child[0], rest, v)
	default:
		m := map[string]any{}
		body[head] = m
		set(m, rest, v)
	}
}

// clone copies a JSON-shaped body deeply.
func clone(t *testing.T, v map[string]any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUnsupportedSDKFieldsAreRefusedAtAnyOtherValue sends, over HTTP,
// every SDK field Gatehouse classifies as unsupported: at its default it
// is accepted (a Cloudflare client sending defaults keeps working), at any
// other value it is a 400 naming the field, and nothing is stored.
func TestUnsupportedSDKFieldsAreRefusedAtAnyOtherValue(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	var n int
	base := map[string]func() (string, map[string]any){
		"application": func() (string, map[string]any) {
			n++
			return "access/apps", map[string]any{"type": "self_hosted", "name": fmt.Sprintf("walk %d", n), "domain": uniq(t, fmt.Sprintf("walk%d.test", n)),
				"destinations": []any{map[string]any{"type": "public", "uri": uniq(t, fmt.Sprintf("walk%d.test", n))}}}
		},
		"policy (reusable and app-scoped)": func() (string, map[string]any) {
			n++
			return "access/policies", map[string]any{"name": fmt.Sprintf("walk %d", n), "decision": "allow", "include": []any{map[string]any{"everyone": map[string]any{}}}}
		},
		"identity provider": func() (string, map[string]any) {
			n++
			return "access/identity_providers", map[string]any{"name": fmt.Sprintf("walk %d", n), "type": "oidc",
				"config": map[string]any{"client_id": "c", "client_secret": "s", "issuer_url": "https://idp.walk.test"}}
		},
	}
	checked := 0
	for _, r := range sdkResources {
		mk, ok := base[r.name]
		if !ok || r.sdk.Name() == "AccessApplicationNewParamsBodySelfHostedApplicationPolicy" {
			continue
		}
		inv := inventory(t, r.name)
		whole := func(path string) bool {
			s, ok := inv[path]
			return ok && (s.Class == access.Unsupported || path == "policies")
		}
		for _, f := range sdkFields(r.sdk, r.prefix, whole) {
			s, ok := inv[f.path]
			if !ok || s.Class != access.Unsupported {
				continue
			}
			checked++
			route, body := mk()
			set(body, f.path, sample(f))
			resp := a.Call(t, "POST", route, body)
			if resp.Status != 400 || !slices.Contains(resp.Fields(), f.path) {
				t.Errorf("%s: %s=%v: %d %s, want 400 naming the field", r.name, f.path, sample(f), resp.Status, resp.Body)
			}
			route, body = mk()
			set(body, f.path, zero(f))
			if resp := a.Call(t, "POST", route, clone(t, body)); resp.Status != 200 {
				t.Errorf("%s: %s at its default %v: %d %s", r.name, f.path, zero(f), resp.Status, resp.Body)
			}
		}
	}
	if checked < 15 {
		t.Errorf("checked only %d unsupported fields", checked)
	}
}

// TestCloudflareShapedBodiesRoundTrip stores full Cloudflare-shaped
// bodies, every settable SDK field that Gatehouse stores at a value that
// is not its default, and reads each field back unchanged.
func TestCloudflareShapedBodiesRoundTrip(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	var idp struct{ ID string }
	a.MustCall(t, "POST", "access/identity_providers", map[string]any{"name": "SSO", "type": "oidc",
		"config": map[string]any{"client_id": "c", "client_secret": "s", "auth_url": "https://sso.test/a", "token_url": "https://sso.test/t",
			"certs_url": "https://sso.test/k", "scopes": []string{"openid", "email"},
			"email_claim_name": "mail", "pkce_enabled": false}}, &idp)
	var pol struct{ ID string }
	a.MustCall(t, "POST", "access/policies", map[string]any{"name": "staff", "decision": "allow",
		"include": []any{map[string]any{"email_domain": map[string]any{"domain": "example.com"}}}}, &pol)
	host, host2, host3 := uniq(t, "full.test"), uniq(t, "full2.test"), uniq(t, "full3.test")
	bodies := map[string][]map[string]any{
		"application": {
			{"type": "self_hosted", "name": "full", "domain": host, "self_hosted_domains": []any{host, host + "/admin"},
				"destinations":     []any{map[string]any{"type": "public", "uri": host}, map[string]any{"type": "public", "uri": host + "/admin"}},
				"session_duration": "6h", "allowed_idps": []any{idp.ID}, "auto_redirect_to_identity": true,
				"cors_headers": map[string]any{"allowed_origins": []any{"https://web.example.com"}, "allowed_methods": []any{"GET", "PUT"},
					"allowed_headers": []any{"content-type"}, "allow_credentials": true, "max_age": 600.0},
				"http_only_cookie_attribute": false, "same_site_cookie_attribute": "strict", "path_cookie_attribute": true,
				"enable_binding_cookie": true, "service_auth_401_redirect": true, "read_service_tokens_from_header": "Authorization",
				"custom_deny_message": "no", "custom_deny_url": "https://deny.example.com/", "custom_non_identity_deny_url": "https://deny.example.com/svc",
				"app_launcher_visible": false, "logo_url": "https://logo.example.com/l.png", "tags": []any{"engineering"},
				"policies": []any{map[string]any{"id": pol.ID, "precedence": 1.0}}},
			{"type": "self_hosted", "name": "full2", "domain": host2, "options_preflight_bypass": true,
				"policies": []any{map[string]any{"name": "inline", "decision": "allow", "precedence": 1.0,
					"include": []any{map[string]any{"email": map[string]any{"email": "a@example.com"}}}}}},
			{"type": "self_hosted", "name": "full3", "domain": host3,
				"cors_headers": map[string]any{"allow_all_origins": true, "allow_all_methods": true, "allow_all_headers": true}},
		},
	}
	for name, list := range bodies {
		inv := inventory(t, name)
		covered := map[string]bool{}
		for _, body := range list {
			var created map[string]any
			a.MustCall(t, "POST", "access/apps", body, &created)
			var got map[string]any
			a.MustCall(t, "GET", "access/apps/"+created["id"].(string), nil, &got)
			for path, s := range inv {
				if s.Class == access.Unsupported {
					continue
				}
				sent, ok := lookup(body, path)
				if !ok {
					continue
				}
				covered[path] = true
				back, _ := lookup(got, path)
				if path == "policies" {
					sent, back = policyKeys(sent, nil), policyKeys(back, sent)
				}
				if !jsonEqual(sent, back) {
					t.Errorf("%s.%s: sent %v, read back %v", name, path, sent, back)
				}
			}
		}
		for path, s := range inv {
			if s.Class != access.Unsupported && !covered[path] && !extension[path] {
				t.Errorf("%s: no body sets %q: add it to a full body", name, path)
			}
		}
	}
}

// extension marks Gatehouse's own fields, which Cloudflare's bodies never
// hold (tested elsewhere).
var extension = map[string]bool{"origin": true, "upstream_service_token": true, "preserve_host_header": true, "http_host_header": true}

// lookup reads a dotted path; through a list it gives the list of each
// element's member.
func lookup(v any, path string) (any, bool) {
	head, rest, nested := strings.Cut(path, ".")
	switch v := v.(type) {
	case map[string]any:
		x, ok := v[head]
		if !ok {
			return nil, false
		}
		if !nested {
			return x, true
		}
		return lookup(x, rest)
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			x, ok := lookup(e, path)
			if !ok {
				return nil, false
			}
			out = append(out, x)
		}
		return out, true
	}
	return nil, false
}

// policyKeys reduces an app's policies to what a body sets: the id of a
// link, or the inline policy's name, and the precedence. Read back, an
// entry is keyed as the sent entry at its place was.
func policyKeys(v, like any) any {
	list, _ := v.([]any)
	sent, _ := like.([]any)
	out := []string{}
	for i, e := range list {
		m, _ := e.(map[string]any)
		ref := m
		if i < len(sent) {
			ref, _ = sent[i].(map[string]any)
		}
		key := m["id"]
		if _, inline := ref["decision"]; inline {
			key = m["name"]
		}
		out = append(out, fmt.Sprintf("%v@%v", key, m["precedence"]))
	}
	return out
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
