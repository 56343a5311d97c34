package access

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

func TestParseDomain(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // canonical form; "" when refused
		errHas   string // part of the refusal
	}{
		{"ok/host", "app.example.test", "app.example.test", ""},
		{"ok/host is lower-cased", "App.Example.TEST", "app.example.test", ""},
		{"ok/trailing dot dropped", "app.example.test.", "app.example.test", ""},
		{"ok/single label", "localhost", "localhost", ""},
		{"ok/wildcard", "*.Example.test", "*.example.test", ""},
		{"ok/IDNA to punycode", "Bücher.test", "xn--bcher-kva.test", ""},
		{"ok/punycode kept", "xn--bcher-kva.test/kb", "xn--bcher-kva.test/kb", ""},
		{"ok/path", "example.test/admin", "example.test/admin", ""},
		{"ok/path is lower-cased", "example.test/Admin/Users", "example.test/admin/users", ""},
		{"ok/trailing slash dropped", "example.test/admin/", "example.test/admin", ""},
		{"ok/bare slash", "example.test/", "example.test", ""},
		{"ok/unreserved escapes decoded", "example.test/%61dmin/%7Euser", "example.test/admin/~user", ""},
		{"ok/upper-case escape of a letter", "example.test/%41PI", "example.test/api", ""},
		{"ok/sub-delims", "example.test/a!$&'()+,=@b", "example.test/a!$&'()+,=@b", ""},
		{"ok/inner dots", "example.test/a..b/.c/v1.2", "example.test/a..b/.c/v1.2", ""},
		{"ok/wildcard with path", "*.example.test/admin", "*.example.test/admin", ""},

		{"fail/empty", "", "", "required"},
		{"fail/scheme", "https://example.test", "", "scheme"},
		{"fail/port", "example.test:8443", "", "port"},
		{"fail/user info", "user@example.test", "", "user info"},
		{"fail/query", "example.test/a?b=c", "", "query"},
		{"fail/fragment", "example.test/a#b", "", "fragment"},
		{"fail/space in host", "bad host.test", "", "host"},
		{"fail/underscore in host", "bad_host.test", "", "host"},
		{"fail/inner wildcard", "a.*.example.test", "", "wildcard"},
		{"fail/partial wildcard", "*a.example.test", "", "wildcard"},
		{"fail/wildcard alone", "*.", "", "host"},
		{"fail/empty label", "a..test", "", "host"},
		{"fail/label with leading hyphen", "-a.test", "", "host"},
		{"fail/dot-dot segment", "example.test/../admin", "", `".."`},
		{"fail/dot segment", "example.test/./admin", "", `"."`},
		{"fail/encoded dot-dot", "example.test/%2e%2e/admin", "", `".."`},
		{"fail/empty segment", "example.test//admin", "", "empty"},
		{"fail/double trailing slash", "example.test/admin//", "", "empty"},
		{"fail/semicolon", "example.test/admin;x", "", "parameters"},
		{"fail/encoded semicolon", "example.test/admin%3bx", "", "parameters"},
		{"fail/colon", "example.test/admin:x", "", "stream"},
		{"fail/backslash", `example.test/a\admin`, "", "backslash"},
		{"fail/encoded slash", "example.test/a%2fadmin", "", "encoded slash"},
		{"fail/encoded backslash", "example.test/a%5Cadmin", "", "encoded slash"},
		{"fail/NUL", "example.test/admin%00", "", "control"},
		{"fail/raw control", "example.test/admin\x01", "", "control"},
		{"fail/space", "example.test/ad min", "", "whitespace"},
		{"fail/encoded space", "example.test/admin%20", "", "whitespace"},
		{"fail/trailing dot in a segment", "example.test/admin.", "", "dot"},
		{"fail/encoded trailing dot", "example.test/admin%2e", "", "dot"},
		{"fail/star in path", "example.test/api/*", "", "wildcard"},
		{"fail/non-ASCII path", "example.test/café", "", "non-ASCII"},
		{"fail/bad escape", "example.test/%zz", "", "percent-encoding"},
		{"fail/overlong UTF-8", "example.test/%c0%ae", "", "UTF-8"},
		{"fail/too long", "example.test/" + strings.Repeat("a", 300), "", "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDomain(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ParseDomain(%q) = %q, want a refusal", tc.in, d)
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("ParseDomain(%q): %q, want it to mention %q", tc.in, err, tc.errHas)
				}
				return
			}
			if err != nil || d.String() != tc.want {
				t.Fatalf("ParseDomain(%q) = %q, %v; want %q", tc.in, d, err, tc.want)
			}
		})
	}
}

// FuzzParseDomain: a parsed domain is its own canonical form, within the
// canonical alphabet, and what CanonicalPath leaves unchanged.
func FuzzParseDomain(f *testing.F) {
	for _, s := range []string{"a.test/Admin/", "*.a.test/x", "a.test/%61", "Bücher.test/kb", "a.test/a..b", "a.test/../x",
		"a.test/x;y", "a.test/%2e", "a.test./x", "xn--bcher-kva.test", "a.test/%7E", "a.test//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDomain(s)
		if err != nil {
			if d != (Domain{}) {
				t.Fatalf("ParseDomain(%q) refused but returned %q", s, d)
			}
			return
		}
		c := d.String()
		if again, err := ParseDomain(c); err != nil || again != d {
			t.Fatalf("ParseDomain(%q) = %q, which parses to %q, %v", s, c, again, err)
		}
		if len(c) > MaxDomainLen || d.IsZero() || !utf8.ValidString(c) {
			t.Fatalf("ParseDomain(%q) = %q", s, c)
		}
		host := strings.TrimPrefix(d.Host(), "*.")
		if strings.Contains(host, "*") || strings.ToLower(host) != host || !strings.HasPrefix(d.Path()+"/", "/") {
			t.Fatalf("ParseDomain(%q) = host %q path %q", s, d.Host(), d.Path())
		}
		if p := d.Path(); p != "" {
			if cp, err := CanonicalPath(p); err != nil || cp != p {
				t.Fatalf("domain path %q is not canonical: %q %v", p, cp, err)
			}
			for i := 0; i < len(p); i++ {
				if c := p[i]; c != '/' && !domainPathChar(c) || c >= 'A' && c <= 'Z' {
					t.Fatalf("domain path %q has %q", p, c)
				}
			}
			if strings.HasSuffix(p, "/") || strings.Contains(p, "//") || strings.Contains(p+"/", "./") {
				t.Fatalf("domain path %q has an empty segment or a segment ending in a dot", p)
			}
		}
	})
}

func TestCanonicalPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/a/b", "/a/b"},
		{"/a/b/", "/a/b/"},
		{"//a///b", "/a/b"},
		{"/a/./b/../c", "/a/c"},
		{"/../a", "/a"},
		{"/a/..", "/"},
		{"/a/b/..", "/a/"},
		{"/%61%2e%2E", "/a.."},
		{"/%2e%2e/a", "/a"},
		{"/a%2fb", "/a%2Fb"},
		{"/a%3bb;c", "/a%3Bb;c"},
		{`/a\b`, "/a%5Cb"},
		{"/café", "/caf%C3%A9"},
		{"/a b", "/a%20b"},
		{`/"<>^{|}` + "`", "/%22%3C%3E%5E%7B%7C%7D%60"},
	}
	for _, tc := range tests {
		if got, err := CanonicalPath(tc.in); err != nil || got != tc.want {
			t.Errorf("CanonicalPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"a", "*", "/%", "/%4", "/%zz", "/a%00", "/a\x00", "/a\n", "/%7f", "/%c0%ae", "/%ff", "/\xff", "/" + strings.Repeat("a", MaxPathLen), "/" + strings.Repeat("}", MaxPathLen/3+1)} {
		if got, err := CanonicalPath(bad); err == nil {
			t.Errorf("CanonicalPath(%q) = %q, want a refusal", bad, got)
		}
	}
}

// FuzzCanonicalPath: the canonical form is a fixed point, holds only path
// characters and upper-case escapes, and has no segment left to resolve.
func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/a/../b", "//x", "/%2e%2E/", "/a%2f", `/\`, "/café", "/%c0%ae", "/a;b:c", "/%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := CanonicalPath(s)
		if err != nil {
			return
		}
		if again, err := CanonicalPath(p); err != nil || again != p {
			t.Fatalf("CanonicalPath(%q) = %q, then %q %v", s, p, again, err)
		}
		if needsDotRemoval(p) || p[0] != '/' {
			t.Fatalf("CanonicalPath(%q) = %q has a segment to resolve", s, p)
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			switch {
			case c == '%':
				if i+2 >= len(p) || !strings.ContainsRune("0123456789ABCDEF", rune(p[i+1])) || !strings.ContainsRune("0123456789ABCDEF", rune(p[i+2])) {
					t.Fatalf("CanonicalPath(%q) = %q: bad escape at %d", s, p, i)
				}
				if d := unhex(p[i+1])<<4 | unhex(p[i+2]); isUnreserved(d) {
					t.Fatalf("CanonicalPath(%q) = %q: escaped unreserved %q", s, p, d)
				}
			case c != '/' && !isPathChar(c):
				t.Fatalf("CanonicalPath(%q) = %q: raw %q", s, p, c)
			}
		}
	})
}

// The fast path for plain host names gives what IDNA gives.
func TestPlainHostNamesAreTheirIDNAForm(t *testing.T) {
	for _, h := range []string{"a.test", "app1.example.com", "a-b.c-d.e", "1.2.3.4", "x", "ab--c.test", "xn--nxasmq6b.test",
		"a.xn--p1ai", "r3--a.test", "-a.test", "a-.test", "a..test", "A.test", "a_b.test", strings.Repeat("a", 64) + ".test",
		strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 127) + "a"} {
		ascii, err := idna.Lookup.ToASCII(h)
		idnaSame := err == nil && ascii == h && validHostName(h) && len(h) <= 253
		if plainHostName(h) && !idnaSame {
			t.Errorf("%q: plain, but IDNA gives %q, %v", h, ascii, err)
		}
	}
}

func FuzzPlainHostName(f *testing.F) {
	f.Add("app1.example.com")
	f.Add("ab--c.test")
	f.Fuzz(func(t *testing.T, h string) {
		if !plainHostName(h) {
			return
		}
		if ascii, err := idna.Lookup.ToASCII(h); err != nil || ascii != h {
			t.Errorf("%q: plain, but IDNA gives %q, %v", h, ascii, err)
		}
	})
}
