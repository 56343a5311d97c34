package access

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestValidHostHeader(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"app.internal", true},
		{"app.internal:8080", true},
		{"localhost", true},
		{"10.0.0.5", true},
		{"10.0.0.5:80", true},
		{"[2001:db8::1]", true},
		{"[2001:db8::1]:443", true},
		{"", false},
		{"App.Internal", false}, // stored lower-case: HostHeaderErrors lower-cases first
		{"app.internal:", false},
		{"app.internal:0", false},
		{"app.internal:65536", false},
		{"app.internal:08080", false},
		{"app.internal/x", false},
		{"user@app.internal", false},
		{"a b", false},
		{"2001:db8::1", false},
		{"[10.0.0.5]", false},
		{"[0]:10", false},
		{"[::ffff:10.0.0.5]:80", true},
		{"-app.internal", false},
		{"app_internal", false},
		{strings.Repeat("a", 64) + ".internal", false},
	} {
		if got := ValidHostHeader(tt.in); got != tt.ok {
			t.Errorf("ValidHostHeader(%q) = %v, want %v", tt.in, got, tt.ok)
		}
	}
}

func TestHostHeaderSettingsAreExclusive(t *testing.T) {
	s := AppSettings{PreserveHostHeader: true, HTTPHostHeader: "Wiki.Internal"}
	errs := s.HostHeaderErrors()
	if len(errs) != 1 || errs[0].Field != "preserve_host_header" || s.HTTPHostHeader != "wiki.internal" {
		t.Errorf("errors %v, http_host_header %q", errs, s.HTTPHostHeader)
	}
}

// FuzzValidHostHeader: an accepted value is sent as the Host of a request
// to the origin unchanged: a URL's whole host, lower-case, printable.
func FuzzValidHostHeader(f *testing.F) {
	for _, s := range []string{"app.internal:8080", "10.0.0.5", "[::1]:80", "a b", "x/y", "a@b", "[::1", "a.b:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidHostHeader(s) {
			return
		}
		u, err := url.Parse("http://" + s + "/")
		if err != nil {
			t.Fatalf("accepted %q, which is no URL host: %v", s, err)
		}
		if u.Host != s || u.User != nil || u.Path != "/" {
			t.Fatalf("accepted %q, which a URL reads as host %q", s, u.Host)
		}
		if strings.ToLower(s) != s || !printableASCII(s) || strings.ContainsAny(s, " /?#@\\") {
			t.Fatalf("accepted %q", s)
		}
	})
}

// FuzzParseCACertificate: whatever is uploaded, the parser does not panic,
// and what it accepts is a CA certificate valid at the time given.
func FuzzParseCACertificate(f *testing.F) {
	f.Add("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	f.Add("not a certificate")
	f.Add("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		ca, err := ParseCACertificate("certificate", s, now)
		if err != nil {
			return
		}
		if !ca.Cert.IsCA || len(ca.Fingerprint) != 64 || now.After(ca.Cert.NotAfter) || CertificateDER(s) == nil {
			t.Fatalf("accepted %q: %+v", s, ca)
		}
	})
}
