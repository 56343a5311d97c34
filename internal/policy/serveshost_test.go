package policy_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// TestServesHost: the hosts certificates may be ordered for (exact app
// hosts, apps on a path included) and, with wildcards, the hosts a "*."
// domain covers; never a host closed for an invalid stored domain.
func TestServesHost(t *testing.T) {
	s := compile(t, access.Config{Version: 1, Apps: []access.App{
		newApp("pub", "pub.test"), newApp("admin", "path.test/admin"),
		newApp("wild", "*.wild.test"), newApp("bad", "bad.test/../x"),
	}})
	for _, tc := range []struct {
		host      string
		wildcards bool
		want      bool
	}{
		{"pub.test", false, true},
		{"path.test", false, true},
		{"other.test", false, false},
		{"sub.pub.test", true, false},
		{"a.wild.test", false, false},
		{"a.wild.test", true, true},
		{"a.b.wild.test", true, true},
		{"wild.test", true, false},
		{"bad.test", true, false},
		{"", true, false},
	} {
		if got := s.ServesHost(tc.host, tc.wildcards); got != tc.want {
			t.Errorf("ServesHost(%q, %v) = %v, want %v", tc.host, tc.wildcards, got, tc.want)
		}
	}
}
