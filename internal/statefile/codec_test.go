package statefile

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/session"
)

// fill sets every field of v, recursively, to a value that is not its
// zero value, so that a field the codec forgets fails the round trip. A
// struct inside one of its own type (a rule in a group rule's group) is
// left zero.
func fill(v reflect.Value, n *int, outer ...reflect.Type) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), n, outer...)
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), n, outer...)
		v.Set(p)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(int64(*n)*1000, int64(*n)).UTC()))
			return
		}
		if slices.Contains(outer, v.Type()) {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n, append(outer, v.Type())...)
			}
		}
	default:
		panic(fmt.Sprintf("fill: %s", v.Type()))
	}
}

func filled[T any]() T {
	var v T
	n := 0
	fill(reflect.ValueOf(&v).Elem(), &n)
	return v
}

func TestEveryFieldRoundTrips(t *testing.T) {
	app := filled[access.App]()
	// A JSON field holds JSON.
	for i := range app.Policies {
		app.Policies[i].ApprovalGroups = []byte(`[{"email_addresses":["a@example.test"]}]`)
	}
	// A link's inline policy is a request body's, never an edge's.
	for i := range app.PolicyLinks {
		app.PolicyLinks[i].Inline, app.PolicyLinks[i].Rules = nil, access.PolicyRules{}
	}
	pol := filled[access.Policy]()
	pol.ApprovalGroups = []byte(`[]`)
	delta := filled[access.Delta]()
	delta.Apps = []access.App{app}
	delta.Policies = []access.Policy{pol}
	revs := filled[[]access.SessionRevocation]()
	for i := range revs {
		revs[i].ExpiresAt = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	for _, p := range []part{
		{typ: recApps, apps: []access.App{app, {}}},
		{typ: recPolicies, policies: []access.Policy{pol, {}}},
		{typ: recTokens, tokens: append(filled[[]access.ServiceTokenCredential](), access.ServiceTokenCredential{})},
		{typ: recIdPs, idps: filled[[]access.IdentityProvider]()},
		{typ: recRevocations, revs: revs},
		{typ: recKeys, keys: filled[[]session.ExportedKey]()},
		{typ: recDelta, delta: delta},
		{typ: recHeader, version: 7, counts: [5]int64{1, 2, 3, 4, 5}},
	} {
		e := enc{}
		if err := encodePart(&e, &p); err != nil {
			t.Fatalf("%c: %v", p.typ, err)
		}
		got, err := decodePart(e.record())
		if err != nil {
			t.Fatalf("%c: %v", p.typ, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("record %c does not round-trip:\n got %+v\nwant %+v", p.typ, got, p)
		}
	}
}
