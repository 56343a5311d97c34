package policy

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// The edge's request-path rules. A request path is first put in canonical
// form (access.CanonicalPath: RFC 3986 normalisation, the form matched and
// forwarded) or refused. Origins then read that path in ways the edge
// cannot know, so Route also matches every reading an origin may make of
// it, each a combination of:
//
//   - decoding: none, once, or twice (a double-decoding origin), a decoded
//     NUL ending the path as in C and a decoded "?" or "#" ending it as
//     for an origin that parses the decoded URL again;
//   - backslash as slash (Windows, some proxies): "\" once decoded;
//   - path parameters: each segment's ";..." dropped (servlet containers);
//   - Windows names: each segment's ":stream" and trailing dots and spaces
//     dropped, a segment of dots read as "..";
//   - case folding: NFKC, then upper- then lower-case (case-insensitive
//     file systems, IIS best-fit mapping of full-width letters);
//
// each followed by dot-segment resolution and merged slashes. A request
// goes to the app that every reading matching some app agrees on; when two
// readings match different apps it is refused (ReasonAmbiguousPath), so no
// origin ever receives a path it reads as another app's.

// readingFlag is one way an origin may read a path.
type readingFlag uint8

const (
	readBackslash readingFlag = 1 << iota
	readParams
	readWindows
	readFold
	readFlags = 4
)

// Route returns the app for a request to host (lower-case, no port) and a
// path in canonical form (access.CanonicalPath), or nil and the reason:
// ReasonAppNotFound when no reading of the path has an app,
// ReasonAmbiguousPath when two readings have different apps, or
// ReasonDomainInvalid when a stored domain on the host could not be
// parsed (the host is closed rather than served without it).
func (s *Snapshot) Route(host, path string) (*App, Reason) {
	if len(s.invalidHosts) > 0 && s.hostInvalid(host) {
		return nil, ReasonDomainInvalid
	}
	if h, _ := s.exact.get(host); len(h.served) == 1 && h.served[0].Path == "" {
		apps := h.served
		// One app on the whole host and no other: every reading is its.
		return apps[0], ""
	}
	app := s.Match(host, path)
	flags, levels := applicableReadings(path)
	if flags == 0 && levels == 0 {
		if app == nil {
			return nil, ReasonAppNotFound
		}
		return app, ""
	}
	return s.routeReadings(host, path, app, flags, levels)
}

// routeReadings is Route's slow path: it matches each distinct reading of
// path and returns the app they agree on.
func (s *Snapshot) routeReadings(host, path string, app *App, flags readingFlag, levels int) (*App, Reason) {
	var seen [1 << readFlags * 3]string
	n := 0
	decoded := path
	for level := 0; level <= levels; level++ {
		if level > 0 {
			decoded = access.DecodeLenient(decoded)
		}
		for f := readingFlag(0); f < 1<<readFlags; f++ {
			if f&^flags != 0 || level == 0 && f&readBackslash != 0 {
				continue
			}
			r := reading(decoded, level > 0, f)
			if r == path || contains(seen[:n], r) {
				continue
			}
			seen[n] = r
			n++
			other := s.Match(host, r)
			switch {
			case other == nil:
			case app == nil:
				app = other
			case other.ID != app.ID:
				return nil, ReasonAmbiguousPath
			}
		}
	}
	if app == nil {
		return nil, ReasonAppNotFound
	}
	return app, ""
}

// RouteURLPath is Route for an escaped URL path not yet in canonical form,
// such as a login's redirect_url: it canonicalises it first, refusing what
// the edge refuses (ReasonBadPath).
func (s *Snapshot) RouteURLPath(host, escapedPath string) (*App, Reason) {
	p, err := access.CanonicalPath(escapedPath)
	if err != nil {
		return nil, ReasonBadPath
	}
	return s.Route(host, p)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// applicableReadings returns which readings can change path, and how many
// decodings: for an ordinary lower-case path with no "%", ";", ":" or
// segment ending in a dot, none, and Route is a single Match.
func applicableReadings(path string) (readingFlag, int) {
	var flags readingFlag
	levels := 0
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '%':
			// Any encoding may decode to anything the readings act on.
			levels = 1
			flags = 1<<readFlags - 1
			if strings.Contains(path[i:], "%25") {
				return flags, 2
			}
			return flags, levels
		case 'A' <= c && c <= 'Z':
			flags |= readFold
		case c == ';':
			flags |= readParams
		case c == ':':
			flags |= readWindows
		case c == '.' && (i+1 == len(path) || path[i+1] == '/' || path[i+1] == ';'):
			// A dot that ends a segment, or will once ";..." is dropped.
			flags |= readWindows
		}
	}
	return flags, levels
}

// reading is a path (decoded once or twice when decoded is true) as an
// origin reading it with flags would see it.
func reading(p string, decoded bool, flags readingFlag) string {
	if decoded {
		// A decoded NUL ends a C string; a decoded "?" or "#" ends the
		// path for an origin that parses the decoded URL again.
		if i := strings.IndexAny(p, "\x00?#"); i >= 0 {
			p = p[:i]
		}
	}
	if flags&readBackslash != 0 {
		p = strings.ReplaceAll(p, `\`, "/")
	}
	if flags&(readParams|readWindows) != 0 {
		segs := strings.Split(p, "/")
		for i, seg := range segs {
			if flags&readParams != 0 {
				seg, _, _ = strings.Cut(seg, ";")
			}
			if flags&readWindows != 0 {
				seg = windowsName(seg)
			}
			segs[i] = seg
		}
		p = strings.Join(segs, "/")
	}
	if flags&readFold != 0 {
		// The whole path at once: folding never removes a "/" (and full-
		// width "／" becoming one is a reading too).
		p = fold(p)
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return access.RemoveDotSegments(p)
}

// windowsName is a path segment as Windows reads a file name: without an
// alternate data stream (":stream", "::$DATA") and trailing dots and
// spaces, a name of only dots and spaces being "." (one dot) or ".."
// (anything else).
func windowsName(seg string) string {
	if i := strings.IndexByte(seg, ':'); i >= 0 {
		seg = seg[:i]
	}
	t := strings.TrimRight(seg, ". ")
	if t != "" || seg == "" {
		return t
	}
	// One dot is ".". Anything else (two or more dots, or spaces only,
	// which Windows may drop to nothing) is read as "..", the reading that
	// climbs: when in doubt, read the path as leaving its segment.
	if strings.Count(seg, ".") == 1 {
		return "."
	}
	return ".."
}

// fold is a path as a case-insensitive file system compares it.
func fold(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] >= utf8.RuneSelf {
			return strings.ToLower(strings.ToUpper(norm.NFKC.String(p)))
		}
	}
	return strings.ToLower(p)
}
