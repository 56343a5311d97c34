package access

import (
	"net/url"
	"testing"
)

func TestValidRedirectURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://deny.example.test/", true},
		{"https://deny.example.test", true},
		{"http://deny.example.test:8080/why?app=1#top", true},
		{"https://[2001:db8::1]/x", true},
		{"https://deny.example.test/a%20b", true},
		{"", false},
		{"/relative", false},
		{"//evil.test/", false},
		{"https:evil.test", false},
		{"https:/evil.test", false},
		{"https:\\\\evil.test", false},
		{"https://evil.test\\@good.test/", false},
		{"https://user:pass@good.test/", false},
		{"https://good.test@evil.test/", false},
		{"javascript:alert(1)", false},
		{"data:text/html,x", false},
		{"ftp://good.test/", false},
		{"HTTPS://good.test/", false},
		{"https://good.test/ a", false},
		{"https://good.test/\ta", false},
		{"https://good.test/\r\nSet-Cookie: x=1", false},
		{"https://good.test/\x00", false},
		{"https://göod.test/", false},
		{"https://good.test:/", false},
		{"https://good.test:99999999999/", false},
		{"https://", false},
		{"https:///path", false},
		{"https://good.test/a b", false},
		{"https://good.test/%zz", false},
	}
	for _, tt := range tests {
		if got := ValidRedirectURL(tt.url); got != tt.ok {
			t.Errorf("ValidRedirectURL(%q) = %v, want %v", tt.url, got, tt.ok)
		}
	}
}

// FuzzValidRedirectURL checks that an accepted deny URL, resolved the
// way a browser resolves a Location (RFC 3986, against the request's
// URL), lands on the host it names, and that Go writes it back unchanged.
func FuzzValidRedirectURL(f *testing.F) {
	for _, s := range []string{"https://deny.test/", "//evil.test", "https:\\\\evil.test", "https://a@b.test", "http://x.test:1/%2f?q#f"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://app.example.test/some/path?x=1")
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidRedirectURL(s) {
			return
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", s, err)
		}
		if u.String() != s {
			t.Fatalf("accepted %q, which is written back as %q", s, u.String())
		}
		r := base.ResolveReference(u)
		if r.Host != u.Host || r.Scheme != u.Scheme || u.Host == "" {
			t.Fatalf("accepted %q, which resolves to host %q", s, r.Host)
		}
		if u.User != nil || (u.Scheme != "http" && u.Scheme != "https") {
			t.Fatalf("accepted %q with credentials or scheme %q", s, u.Scheme)
		}
	})
}
