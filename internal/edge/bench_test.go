package edge

import (
	"net/http"
	"net/url"
	"testing"
)

// BenchmarkCanonicalPath measures canonicalPath, run on every edge
// request, for a plain path (nearly every request) and one it rewrites.
func BenchmarkCanonicalPath(b *testing.B) {
	for _, p := range []string{"/api/v1/users", "/public/./a//b%7e"} {
		b.Run(p, func(b *testing.B) {
			u, err := url.ParseRequestURI(p)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				r := &http.Request{URL: &url.URL{Path: u.Path, RawPath: u.RawPath}}
				if !canonicalPath(r) {
					b.Fatal("refused")
				}
			}
		})
	}
}

// BenchmarkStripSessionCookie measures the Cookie rewrite of every
// forwarded request: a browser's cookies with and without the session
// cookie among them.
func BenchmarkStripSessionCookie(b *testing.B) {
	for name, line := range map[string]string{
		"without": "_ga=GA1.2.3; theme=dark; csrftoken=abcdef0123456789; lang=en",
		"with":    "_ga=GA1.2.3; CF_Authorization=eyJhbGciOi.x.y; theme=dark; lang=en",
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h := http.Header{"Cookie": {line}}
				stripSessionCookie(h)
			}
		})
	}
}
