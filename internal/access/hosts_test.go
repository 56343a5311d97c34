package access

import (
	"slices"
	"strings"
	"testing"
)

func TestHostClaimsOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"svc.test", "svc.test", true},
		{"svc.test", "svc.test/x", true},
		{"svc.test/admin", "svc.test/admin/sub", true},
		{"svc.test", "SVC.Test.", true},
		{"svc.test", "svc.test:8443/x", true},
		{"svc.test", "*.test", true},
		{"svc.test", "*.svc.test", true},
		{"a.b.svc.test", "*.svc.test/api", true},
		{"*.svc.test", "*.svc.test", true},
		{"*.svc.test", "*.a.svc.test", true},
		{"*.a.svc.test", "*.test", true},
		{"svc.test", "svc.testing", false},
		{"svc.test", "xsvc.test", false},
		{"svc.test", "svc.test.evil", false},
		{"svc.test", "a.svc.test", false},
		{"*.svc.test", "xsvc.test", false},
		{"*.svc.test", "*.xsvc.test", false},
		{"*.a.test", "*.b.test", false},
	}
	for _, tc := range tests {
		a, okA := ClaimOf(tc.a)
		b, okB := ClaimOf(tc.b)
		if !okA || !okB {
			t.Fatalf("ClaimOf(%q, %q) failed", tc.a, tc.b)
		}
		if a.Overlaps(b) != tc.want || b.Overlaps(a) != tc.want {
			t.Errorf("%q and %q: overlap %v, want %v", tc.a, tc.b, a.Overlaps(b), tc.want)
		}
		if keyOverlap(a, b) != tc.want || keyOverlap(b, a) != tc.want {
			t.Errorf("%q and %q: the store's key lookup says %v, want %v", tc.a, tc.b, keyOverlap(a, b), tc.want)
		}
	}
}

func TestAccountDomainEntriesCover(t *testing.T) {
	tests := []struct {
		entry, domain string
		want          bool
	}{
		{"example.com", "example.com", true},
		{"example.com", "example.com/admin", true},
		{"example.com", "a.example.com", false},
		{"example.com", "*.example.com", false},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com/x", true},
		{"*.example.com", "*.example.com", true},
		{"*.example.com", "*.a.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "xexample.com", false},
		{"*.example.com", "*.com", false},
	}
	for _, tc := range tests {
		e, err := ParseAccountDomain(tc.entry)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := ClaimOf(tc.domain)
		if e.Covers(d) != tc.want {
			t.Errorf("%q covers %q: %v, want %v", tc.entry, tc.domain, e.Covers(d), tc.want)
		}
	}
}

func TestParseAccountDomain(t *testing.T) {
	for in, want := range map[string]string{"Example.COM.": "example.com", "*.Example.com": "*.example.com", "a-b.c": "a-b.c"} {
		if c, err := ParseAccountDomain(in); err != nil || c.String() != want {
			t.Errorf("%q: %v %v, want %q", in, c, err, want)
		}
	}
	for _, in := range []string{"", "*", "*.", ".", "a..b", "-a.b", "a.b/x", "a.b:1", "*.*.a", "a.*.b", "a b.c", "a\x00.b", "ä.b", strings.Repeat("a", 64) + ".b"} {
		if c, err := ParseAccountDomain(in); err == nil {
			t.Errorf("%q accepted as %v", in, c)
		}
	}
}

// keyOverlap is the store's lookup (hostTaken) for a stored claim row,
// in Go: the same key, a wildcard row at one of c's ancestor keys, or,
// for a wildcard c, a row keyed under c's key.
func keyOverlap(c, row HostClaim) bool {
	k, rk := c.Key(), row.Key()
	return rk == k ||
		row.Wildcard && slices.Contains(c.AncestorKeys(), rk) ||
		c.Wildcard && rk >= k+"." && rk < k+"/"
}

// FuzzHostClaim checks that the store's key-based lookup finds exactly
// the overlaps the label-based definition gives, that overlap is
// symmetric, and that parsed domain list entries are canonical.
func FuzzHostClaim(f *testing.F) {
	for _, s := range [][2]string{{"svc.test", "*.test"}, {"*.a.b", "*.b"}, {"a.b/x", "A.B."}, {"xsvc.test", "*.svc.test"}, {"a..b", "*..b"}, {"b:80", "*.b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, x, y string) {
		a, okA := ClaimOf(x)
		b, okB := ClaimOf(y)
		if okA && okB {
			if a.Overlaps(b) != b.Overlaps(a) {
				t.Fatalf("overlap of %q and %q is not symmetric", x, y)
			}
			if keyOverlap(a, b) != a.Overlaps(b) {
				t.Fatalf("%q vs %q: key lookup %v, definition %v", x, y, keyOverlap(a, b), a.Overlaps(b))
			}
			if b.Covers(a) && !b.Overlaps(a) {
				t.Fatalf("entry %q covers %q without overlapping it", y, x)
			}
		}
		if e, err := ParseAccountDomain(x); err == nil {
			again, err := ParseAccountDomain(e.String())
			if err != nil || again != e || e.Zone != strings.ToLower(e.Zone) {
				t.Fatalf("%q parsed to %v, which reparses to %v %v", x, e, again, err)
			}
		}
	})
}
