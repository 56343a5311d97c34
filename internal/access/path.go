package access

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Errors of CanonicalPath: each is a path the edge refuses with 400.
var (
	ErrPathNotAbsolute = errors.New("the path must start with /")
	ErrPathBadEscape   = errors.New("the path has an invalid percent-encoding")
	ErrPathControl     = errors.New("the path has a control character (such as %00)")
	ErrPathNotUTF8     = errors.New("the path does not decode to UTF-8 (overlong or invalid byte sequences)")
	ErrPathTooLong     = errors.New("the path is longer than 8192 bytes")
)

// MaxPathLen bounds an escaped request path (nginx's default buffer is
// 8 KiB): matching every reading of a path costs a few passes over it.
const MaxPathLen = 8192

// CanonicalPath returns the canonical form of an escaped URL path, the
// form the edge matches and forwards, or an error for a path it refuses.
//
// The canonical form follows RFC 3986 normalisation: percent-encoded
// unreserved characters (letters, digits, "-._~") are decoded, every other
// percent-encoding is kept with upper-case hex (so %2F stays an encoded
// slash, not a separator), bytes that may not appear raw in a path
// (backslash, non-ASCII, quotes, braces...) are percent-encoded, "." and
// ".." segments are resolved and repeated slashes merged. A trailing slash
// is kept. Control characters (raw or encoded, NUL included), invalid
// percent-encodings, paths that do not decode to UTF-8 (overlong
// encodings such as %C0%AE) and paths longer than MaxPathLen, as given or
// once escaped, are refused.
func CanonicalPath(escaped string) (string, error) {
	if escaped == "" {
		return "/", nil
	}
	if escaped[0] != '/' {
		return "", ErrPathNotAbsolute
	}
	if len(escaped) > MaxPathLen {
		return "", ErrPathTooLong
	}
	if plainPath(escaped) {
		return escaped, nil
	}
	p, err := canonicalEscapes(escaped)
	if err != nil {
		return "", err
	}
	// Escaping can triple a path: the form the origin receives is bounded
	// too (and so stays a fixed point).
	if len(p) > MaxPathLen {
		return "", ErrPathTooLong
	}
	return RemoveDotSegments(p), nil
}

// canonicalEscapes is CanonicalPath without resolving dot segments.
func canonicalEscapes(escaped string) (string, error) {
	// Check the fully decoded bytes first: no control characters, UTF-8.
	decoded := make([]byte, 0, len(escaped))
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		if c == '%' {
			if i+2 >= len(escaped) || !isHex(escaped[i+1]) || !isHex(escaped[i+2]) {
				return "", ErrPathBadEscape
			}
			c = unhex(escaped[i+1])<<4 | unhex(escaped[i+2])
			i += 2
		}
		if c < 0x20 || c == 0x7f {
			return "", ErrPathControl
		}
		decoded = append(decoded, c)
	}
	if !utf8.Valid(decoded) {
		return "", ErrPathNotUTF8
	}
	var b strings.Builder
	b.Grow(len(escaped) + 8)
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		switch {
		case c == '%':
			d := unhex(escaped[i+1])<<4 | unhex(escaped[i+2])
			i += 2
			if isUnreserved(d) {
				b.WriteByte(d)
			} else {
				writeEscaped(&b, d)
			}
		case c == '/' || isPathChar(c):
			b.WriteByte(c)
		default:
			writeEscaped(&b, c)
		}
	}
	return b.String(), nil
}

// RemoveDotSegments resolves "." and ".." segments (RFC 3986 §5.2.4) and
// merges repeated slashes in an absolute path; ".." at the root stays at
// the root. A trailing slash, or a final "." or "..", leaves a trailing
// slash.
func RemoveDotSegments(p string) string {
	if !needsDotRemoval(p) {
		return p
	}
	segs := make([]string, 0, strings.Count(p, "/"))
	trailing := false
	for seg := range strings.SplitSeq(p[1:], "/") {
		trailing = false
		switch seg {
		case "":
			trailing = true
		case ".":
			trailing = true
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
			trailing = true
		default:
			segs = append(segs, seg)
		}
	}
	if len(segs) == 0 {
		return "/"
	}
	out := "/" + strings.Join(segs, "/")
	if trailing {
		out += "/"
	}
	return out
}

// needsDotRemoval reports whether p has an empty, "." or ".." segment
// other than a single trailing slash.
func needsDotRemoval(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		rest := p[i+1:]
		switch {
		case rest == "":
			// A trailing slash is kept as it is.
		case rest[0] == '/':
			return true
		case rest[0] == '.':
			if len(rest) == 1 || rest[1] == '/' {
				return true
			}
			if rest[1] == '.' && (len(rest) == 2 || rest[2] == '/') {
				return true
			}
		}
	}
	return false
}

// plainPath reports whether p is already canonical because it holds only
// characters that stay as they are and no segment to resolve: the common
// case, checked without allocating.
func plainPath(p string) bool {
	prev, dotLed := byte(0), false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/':
			if prev == '/' {
				return false
			}
		case c == '.':
			dotLed = dotLed || prev == '/'
		case !pathChar[c]:
			return false
		}
		prev = c
	}
	// A segment starting with a dot may be "." or "..".
	return !dotLed || !needsDotRemoval(p)
}

// Byte classes: unreserved (RFC 3986 §2.3) and pchar without
// pct-encoded (unreserved, sub-delims, ":" and "@").
var unreserved, pathChar [256]bool

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		unreserved[c] = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			b == '-' || b == '.' || b == '_' || b == '~'
		pathChar[c] = unreserved[c] || strings.IndexByte("!$&'()*+,;=:@", b) >= 0
	}
}

// isPathChar reports whether c may appear unencoded in a path segment.
func isPathChar(c byte) bool { return pathChar[c] }

func isUnreserved(c byte) bool { return unreserved[c] }

// DecodeLenient percent-decodes s, leaving invalid escapes as they are: a
// path as an origin that decodes without checking reads it.
func DecodeLenient(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func writeEscaped(b *strings.Builder, c byte) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&15])
}
