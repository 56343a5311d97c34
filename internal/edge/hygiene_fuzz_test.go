package edge

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzIsIdentityHeader checks the header-name comparison against its
// definition: a name is an identity header exactly when, lower-cased and
// with "_" read as "-", it equals one.
func FuzzIsIdentityHeader(f *testing.F) {
	for _, s := range []string{"Cf-Access-Jwt-Assertion", "cf_access_jwt_assertion", "CF_ACCESS_CLIENT_SECRET", "Cf-Access-Client_Id",
		"cf-access-token", "Cf-Access-Authenticated-User-Email", "Cf-Access-Jwt-Assertio", "X-Cf-Access-Token", "Cookie", "", "Cf-Acceſs-Token"} {
		f.Add(s, "")
		f.Add(s, "X-Service_Token")
	}
	f.Fuzz(func(t *testing.T, name, tokenField string) {
		norm := func(s string) string { return strings.ReplaceAll(asciiLower(s), "_", "-") }
		want := false
		for _, id := range identityHeaders {
			if norm(name) == norm(id) {
				want = true
			}
		}
		if tokenField != "" && norm(name) == norm(tokenField) {
			want = true
		}
		if got := isIdentityHeader(name, tokenField); got != want {
			t.Fatalf("isIdentityHeader(%q, %q) = %v, want %v", name, tokenField, got, want)
		}
	})
}

// asciiLower lower-cases ASCII letters only, as header names compare.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// FuzzStripSessionCookie checks that no cookie an origin could read as
// CF_Authorization survives, that every other cookie does, in order, and
// that a line without one is left byte for byte.
func FuzzStripSessionCookie(f *testing.F) {
	for _, s := range []string{"CF_Authorization=abc", "a=1; CF_Authorization=x; b=2", "cf_authorization=x", "CF.Authorization=x",
		"CF%5FAuthorization=x", "%20CF_Authorization=x", "a=1;b=2", ";;; ;", "CF_Authorization", "x=CF_Authorization=y", "CF_Authorization=\"q;\"", "a=%zz"} {
		f.Add(s, "theme=dark")
	}
	f.Fuzz(func(t *testing.T, line1, line2 string) {
		h := http.Header{"Cookie": {line1, line2}}
		stripSessionCookie(h)
		var wantParts []string
		hadSession := false
		for _, line := range []string{line1, line2} {
			for _, p := range strings.Split(line, ";") {
				p = strings.Trim(p, " \t")
				if p == "" {
					continue
				}
				name, _, _ := strings.Cut(p, "=")
				if isSessionCookieName(name) {
					hadSession = true
					continue
				}
				wantParts = append(wantParts, p)
			}
		}
		var gotParts []string
		for _, line := range h["Cookie"] {
			for _, p := range strings.Split(line, ";") {
				p = strings.Trim(p, " \t")
				if p == "" {
					continue
				}
				name, _, _ := strings.Cut(p, "=")
				if isSessionCookieName(name) {
					t.Fatalf("session cookie %q survived in %q", p, h["Cookie"])
				}
				gotParts = append(gotParts, p)
			}
		}
		if strings.Join(gotParts, "\x00") != strings.Join(wantParts, "\x00") {
			t.Fatalf("kept %q, want %q", gotParts, wantParts)
		}
		if !hadSession && (len(h["Cookie"]) != 2 || h["Cookie"][0] != line1 || h["Cookie"][1] != line2) {
			t.Fatalf("lines without a session cookie changed: %q", h["Cookie"])
		}
	})
}

// FuzzIsSessionCookieName checks the cookie-name rule against its
// definition: percent-decoded, trimmed, lower-cased, with " ", ".", "["
// and "-" read as "_".
func FuzzIsSessionCookieName(f *testing.F) {
	for _, s := range []string{"CF_Authorization", "cf_authorization", "CF.Authorization", "CF[Authorization", "CF%5FAuthorization",
		"+CF_Authorization", " CF_Authorization\t", "CF_Authorizatio", "CF_Authorizationn", "%", "CF_Authoriza%74ion"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n := name
		if strings.ContainsAny(n, "%+") {
			if dec, err := url.QueryUnescape(n); err == nil {
				n = dec
			}
		}
		n = strings.NewReplacer(" ", "_", ".", "_", "[", "_", "-", "_").Replace(asciiLower(strings.Trim(n, " \t")))
		if want := n == "cf_authorization"; isSessionCookieName(name) != want {
			t.Fatalf("isSessionCookieName(%q) = %v, want %v", name, !want, want)
		}
	})
}
