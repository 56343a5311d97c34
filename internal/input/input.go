// Package input finds request input that no field may hold: the
// PostgreSQL text type cannot store a NUL character, and a query
// parameter that is not valid UTF-8 (or not validly percent-encoded)
// cannot mean anything a filter could match. The API refuses both as the
// caller's mistake (400 naming the field) rather than failing in the
// database (500).
package input

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// CheckQuery checks a raw query string: every name and value must be
// validly percent-encoded, valid UTF-8 and free of NUL, and parameters
// are separated by "&" only. When it returns nil, url.ParseQuery (and so
// r.URL.Query()) reads every parameter without dropping any.
func CheckQuery(raw string) error {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil || strings.Contains(rawName, ";") || !CleanText(name) {
			return access.Invalid("query", "a query parameter name is malformed: it must be percent-encoded UTF-8 without NUL characters or semicolons")
		}
		value, err := url.QueryUnescape(rawValue)
		switch {
		case err != nil || strings.Contains(rawValue, ";"):
			return access.Invalid(name, "is malformed: query parameters must be percent-encoded and separated by &")
		case !utf8.ValidString(value):
			return access.Invalid(name, "must be valid UTF-8")
		case strings.IndexByte(value, 0) >= 0:
			return access.Invalid(name, "must not contain a NUL character")
		}
	}
	return nil
}

// CleanText reports whether s is valid UTF-8 without NUL characters.
func CleanText(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// NULString finds the first string in a JSON document, at any depth,
// that holds a NUL character (\u0000), and returns its field path
// ("name", "include[0].email.email"). An object member name with a NUL
// is reported as the member's path with the NUL written as \u0000. It
// reports false for a document without one, and for invalid JSON (which
// the decoder then refuses).
func NULString(body []byte) (string, bool) {
	type frame struct {
		array   bool
		index   int
		key     string
		wantKey bool
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.array {
				fmt.Fprintf(&b, "[%d]", f.index)
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(strings.ReplaceAll(f.key, "\x00", `\u0000`))
		}
		return b.String()
	}
	// valueDone moves the innermost container past a value.
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].wantKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, frame{array: t == '[', wantKey: t == '{'})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			n := len(stack)
			if n > 0 && !stack[n-1].array && stack[n-1].wantKey {
				stack[n-1].key, stack[n-1].wantKey = t, false
				if strings.IndexByte(t, 0) >= 0 {
					return path(), true
				}
				continue
			}
			if n > 0 && strings.IndexByte(t, 0) >= 0 {
				return path(), true
			}
			valueDone()
		default:
			valueDone()
		}
		if len(stack) == 0 {
			return "", false
		}
	}
}
