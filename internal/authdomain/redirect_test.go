package authdomain

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseRedirectKeepsOnlyUnambiguousURLs(t *testing.T) {
	cases := []struct {
		raw, want string // want "" for refused
	}{
		{"http://svc.test/", "http://svc.test/"},
		{"HTTPS://SVC.test.:8443/a?b=c#frag", "https://svc.test:8443/a?b=c"},
		{"http://svc.test", "http://svc.test/"},
		{"http://svc.test?x", "http://svc.test/?x"},
		{"http://svc.test//evil.test/", "http://svc.test//evil.test/"},
		{"http://svc.test/%2f%2fevil.test", "http://svc.test/%2f%2fevil.test"},
		{"http://svc.test/;@evil.test", "http://svc.test/;@evil.test"},
		{"//evil.test/", ""},
		{"/\\evil.test", ""},
		{"http://svc.test\\@evil.test/", ""},
		{"http://user@svc.test/", ""},
		{"http://[::1]/", ""},
		{"http://svc.test:0/", ""},
		{"http://svc.test:065/", ""},
		{"http://svc.test:65536/", ""},
		{"http://svc%2etest/", ""},
		{"http://svc..test/", ""},
		{"http://svc.test/\t", ""},
		{"http://svc.test/%zz", ""},
		{"http://svc.test/%4", ""},
		{"javascript:alert(1)", ""},
		{"http:svc.test", ""},
		{"http://sv\u00e9.test/", ""},
		{"", ""},
		{"http://svc.test/" + strings.Repeat("a", maxRedirectLen), ""},
	}
	for _, c := range cases {
		r, err := ParseRedirect(c.raw)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("ParseRedirect(%q) = %q, want refused", c.raw, r)
		case c.want != "" && err != nil:
			t.Errorf("ParseRedirect(%q): %v, want %q", c.raw, err, c.want)
		case c.want != "" && r.String() != c.want:
			t.Errorf("ParseRedirect(%q) = %q, want %q", c.raw, r, c.want)
		}
	}
}

// FuzzParseRedirect checks that whatever ParseRedirect accepts becomes a
// Location that resolves, against any request URL, to the redirect's own
// host, and that the hop URL built from it does too.
func FuzzParseRedirect(f *testing.F) {
	for _, s := range []string{"http://svc.test/", "//evil.test/", "http://svc.test//evil.test/", "http://svc.test\\@evil.test/",
		"HTTP://SVC.TEST.:80/a/../b?c#d", "http://[::1]/", "http://a@b/", "http:evil", "/\\evil", "http://svc.test/%2f%2f"} {
		f.Add(s)
	}
	bases := []*url.URL{
		mustParse("http://auth.test/cdn-cgi/access/login/svc.test?redirect_url=x"),
		mustParse("https://svc.test:8443/cdn-cgi/access/authorized?token=t"),
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := ParseRedirect(raw)
		if err != nil {
			return
		}
		if r.Host == "" || (r.Scheme != "http" && r.Scheme != "https") {
			t.Fatalf("accepted %q as %+v", raw, r)
		}
		for _, loc := range []string{r.String(), r.With(authorizedPath, url.Values{"token": {"t"}, "redirect_url": {r.String()}})} {
			if strings.ContainsAny(loc, "\\ \t\r\n") {
				t.Fatalf("Location %q (from %q) has a character browsers read differently", loc, raw)
			}
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatalf("Location %q (from %q) does not parse: %v", loc, raw, err)
			}
			if u.User != nil {
				t.Fatalf("Location %q (from %q) has user info", loc, raw)
			}
			for _, base := range bases {
				got := base.ResolveReference(u)
				if h := strings.TrimSuffix(strings.ToLower(got.Hostname()), "."); h != r.Host {
					t.Fatalf("Location %q (from %q) resolves against %s to host %q, want %q", loc, raw, base, h, r.Host)
				}
			}
		}
		again, err := ParseRedirect(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRedirect(%q) = %+v, %v; not a fixed point of %+v", r.String(), again, err, r)
		}
	})
}

func mustParse(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
