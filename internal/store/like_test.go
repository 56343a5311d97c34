package store

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// likeMatch is PostgreSQL's LIKE with the default escape character, on
// runes: % matches any sequence, _ any one character, \x the character x.
func likeMatch(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	var match func(i, j int) bool
	match = func(i, j int) bool {
		for i < len(p) {
			switch p[i] {
			case '%':
				for k := j; k <= len(t); k++ {
					if match(i+1, k) {
						return true
					}
				}
				return false
			case '_':
				if j == len(t) {
					return false
				}
			case '\\':
				i++
				if i == len(p) || j == len(t) || p[i] != t[j] {
					return false
				}
			default:
				if j == len(t) || p[i] != t[j] {
					return false
				}
			}
			i, j = i+1, j+1
		}
		return j == len(t)
	}
	return match(0, 0)
}

func TestContainsPatternMatchesLiterally(t *testing.T) {
	tests := []struct {
		search, s string
		want      bool
	}{
		{"%", "100%", true}, {"%", "abc", false},
		{"_", "a_b", true}, {"_", "ab", false},
		{`\`, `a\b`, true}, {`\`, "ab", false},
		{`\%`, `50\%`, true}, {`\%`, "50%", false},
		{"a%b", "xa%by", true}, {"a%b", "axxb", false},
	}
	for _, tc := range tests {
		if got := likeMatch(containsPattern(tc.search), tc.s); got != tc.want {
			t.Errorf("search %q in %q: %v, want %v", tc.search, tc.s, got, tc.want)
		}
	}
}

// FuzzContainsPattern checks that the LIKE pattern built for a search
// matches exactly the texts that contain it, whatever it holds.
func FuzzContainsPattern(f *testing.F) {
	for _, s := range []string{"%", "_", `\`, `\\%`, "a_%b", "é%"} {
		f.Add(s, "xx"+s+"yy")
	}
	f.Fuzz(func(t *testing.T, search, s string) {
		if search == "" || !utf8.ValidString(search) || !utf8.ValidString(s) || len(s) > 64 || len(search) > 16 {
			return
		}
		if got, want := likeMatch(containsPattern(search), s), strings.Contains(s, search); got != want {
			t.Fatalf("search %q in %q: pattern %q matches %v, want %v", search, s, containsPattern(search), got, want)
		}
	})
}
