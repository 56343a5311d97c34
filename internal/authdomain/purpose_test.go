package authdomain_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/authdomain"
)

func TestParsePurpose(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"incident 42", "incident 42", true},
		{"  trimmed\t", "trimmed", true},
		{"Ticket ✓ 7", "Ticket ✓ 7", true},
		{strings.Repeat("a", 1024), strings.Repeat("a", 1024), true},
		{"", "", false},
		{" \t\n ", "", false},
		{strings.Repeat("a", 1025), "", false},
		{"a\nb", "", false},
		{"a\rX-Admin: 1", "", false},
		{"a\x00b", "", false},
		{"a\x7fb", "", false},
		{"a\u2028b", "", false},
		{"a\u0085b", "", false},
		{"bad \xff utf-8", "", false},
	}
	for _, tt := range tests {
		got, err := authdomain.ParsePurpose(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParsePurpose(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzParsePurpose: an accepted reason is what goes into a signed token,
// a request header (the assertion) and the access log, so it is trimmed,
// bounded, valid UTF-8 and one line without control characters.
func FuzzParsePurpose(f *testing.F) {
	for _, s := range []string{"incident 42", " x ", "a\nb", "\xff", strings.Repeat("é", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := authdomain.ParsePurpose(s)
		if err != nil {
			if got != "" {
				t.Fatalf("refused %q but returned %q", s, got)
			}
			return
		}
		if got == "" || len(got) > authdomain.MaxPurposeLen || got != strings.TrimSpace(got) || !utf8.ValidString(got) {
			t.Fatalf("accepted %q as %q", s, got)
		}
		for _, c := range got {
			if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
				t.Fatalf("accepted %q with control character %U", s, c)
			}
		}
		if !strings.Contains(s, got) {
			t.Fatalf("accepted %q as %q, which it does not contain", s, got)
		}
	})
}
