package input

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

func TestNulStringNamesTheField(t *testing.T) {
	tests := []struct {
		body, field string
	}{
		{`{"name":"a\u0000b"}`, "name"},
		{`{"name":"ok","include":[{"email":{"email":"x"}},{"email":{"email":"\u0000"}}]}`, "include[1].email.email"},
		{`{"a":[1,true,null,{"b":[["x","y\u0000"]]}]}`, "a[3].b[0][1]"},
		{`{"cors_headers":{"allowed_origins":["https://a.test","\u0000"]}}`, "cors_headers.allowed_origins[1]"},
		{`{"x\u0000y":1}`, `x\u0000y`},
		{`{"o":{"k\u0000":"v"}}`, `o.k\u0000`},
	}
	for _, tc := range tests {
		field, ok := NULString([]byte(tc.body))
		if !ok || field != tc.field {
			t.Errorf("%s: %q %v, want %q", tc.body, field, ok, tc.field)
		}
	}
	for _, body := range []string{`{"name":"a\\u0000"}`, `{"a":[1,{"b":"c"}]}`, `"\u0000"`, `{"a":`, `{} {"a":"\u0000"}`} {
		if field, ok := NULString([]byte(body)); ok {
			t.Errorf("%s: found %q", body, field)
		}
	}
}

// hasNUL reports whether a decoded JSON value below the root holds a NUL
// in a string or a member name.
func hasNUL(v any, root bool) bool {
	switch v := v.(type) {
	case string:
		return !root && strings.IndexByte(v, 0) >= 0
	case []any:
		for _, e := range v {
			if hasNUL(e, false) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(e, false) {
				return true
			}
		}
	}
	return false
}

// FuzzNulString checks that the body scan finds a NUL exactly when the
// decoded document holds one below its root.
func FuzzNulString(f *testing.F) {
	for _, s := range []string{`{"a":"\u0000"}`, `{"a":[{"b\u0000":1}]}`, `[1,"x"]`, `{"a":"b"}`, `{"a":{"b":[null,"\u0000"]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v any
		if json.Unmarshal(body, &v) != nil {
			NULString(body) // must not panic
			return
		}
		field, found := NULString(body)
		if want := hasNUL(v, true); found != want {
			t.Fatalf("%q: found %v (%q), want %v", body, found, field, want)
		}
	})
}

func TestCheckQuery(t *testing.T) {
	tests := []struct {
		raw, field string // field "" for accepted
	}{
		{"search=abc&page=2", ""},
		{"search=%25&x=%5F", ""},
		{"search=caf%C3%A9", ""},
		{"a&&b=", ""},
		{"search=a%00b", "search"},
		{"name=%00", "name"},
		{"domain=%FF", "domain"},
		{"email=%C3", "email"},
		{"search=%zz", "search"},
		{"search=a;b", "search"},
		{"a;b=c", "query"},
		{"%00=x", "query"},
		{"%ff=x", "query"},
		{"%=x", "query"},
	}
	for _, tc := range tests {
		err := CheckQuery(tc.raw)
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%q refused: %v", tc.raw, err)
		case tc.field != "" && (err == nil || !strings.Contains(err.Error(), ": "+tc.field+": ")):
			t.Errorf("%q: %v, want a field error for %q", tc.raw, err, tc.field)
		}
	}
}

// FuzzCheckQuery checks that a query string is accepted exactly when
// url.ParseQuery reads all of it and every name and value is NUL-free
// UTF-8.
func FuzzCheckQuery(f *testing.F) {
	for _, s := range []string{"a=b&c=d", "search=%00", "x=%ff", "a;b", "%zz=1", "a=%2", "=&=", "a=b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := CheckQuery(raw)
		q, perr := url.ParseQuery(raw)
		clean := perr == nil
		for k, vs := range q {
			clean = clean && CleanText(k)
			for _, v := range vs {
				clean = clean && CleanText(v)
			}
		}
		if (err == nil) != clean {
			t.Fatalf("%q: checkQuery %v, ParseQuery %v clean %v", raw, err, perr, clean)
		}
	})
}
