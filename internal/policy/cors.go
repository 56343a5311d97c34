package policy

import (
	"net/http"
	"strings"
)

// PreflightOutcome is what the edge does with a CORS preflight.
type PreflightOutcome uint8

// Preflight outcomes.
const (
	PreflightRefuse  PreflightOutcome = iota // 403: neither CORS settings nor bypass
	PreflightForward                         // send to the origin untouched, unauthenticated
	PreflightAnswer                          // answer at the edge with Headers
)

// Preflight is the engine's answer to a CORS preflight.
type Preflight struct {
	Outcome PreflightOutcome
	Reason  Reason
	// Headers to send with a 204 when Outcome is PreflightAnswer. When the
	// origin, method or a header is not allowed they hold no allow
	// headers, so the browser blocks the request. The map is the caller's
	// to change with Set, Add and Del; its values are prepared when the
	// snapshot is built and shared, so never write into a value slice.
	Headers http.Header
}

// IsPreflight reports whether r is a CORS preflight: OPTIONS with Origin
// and Access-Control-Request-Method.
func IsPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// varyPreflight is the Vary value of every answered preflight: the answer
// depends on all three request headers.
const varyPreflight = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

// Prepared header values, shared by every answer. Each has len == cap, so
// a caller's Add copies instead of writing into the shared array.
var (
	varyValue = []string{varyPreflight}
	starValue = []string{"*"}
	trueValue = []string{"true"}
)

// Preflight decides a CORS preflight from the app's settings, as the CORS
// guide describes: bypass forwards it, CORS settings answer it, neither
// refuses it. Every value was prepared at compile time except what echoes
// the request (a credentialed allow-all origin, allow-all methods and
// headers), so an answer costs one small map.
func (a *App) Preflight(origin, method, requestHeaders string) Preflight {
	if a.PreflightBypass {
		return Preflight{Outcome: PreflightForward, Reason: ReasonPreflightBypassed}
	}
	c := a.CORS
	if c == nil {
		return Preflight{Outcome: PreflightRefuse, Reason: ReasonPreflightNoCORSSettings}
	}
	allowOrigin, ok := c.allowOrigin(origin)
	if !ok {
		return Preflight{Outcome: PreflightAnswer, Reason: ReasonPreflightOriginForbidden, Headers: http.Header{"Vary": varyValue}}
	}
	if !c.allowAllMethods && !c.methods[method] && !safelistedMethod(method) {
		return Preflight{Outcome: PreflightAnswer, Reason: ReasonPreflightMethodForbidden, Headers: http.Header{"Vary": varyValue}}
	}
	if !c.allowAllHeaders && !c.headersAllowed(requestHeaders) {
		return Preflight{Outcome: PreflightAnswer, Reason: ReasonPreflightHeaderForbidden, Headers: http.Header{"Vary": varyValue}}
	}
	h := make(http.Header, 6) // Vary and at most five Access-Control-* headers
	h["Vary"] = varyValue
	h["Access-Control-Allow-Origin"] = allowOrigin
	switch {
	case c.allowAllMethods:
		h["Access-Control-Allow-Methods"] = []string{method}
	case c.methodsValue != nil:
		h["Access-Control-Allow-Methods"] = c.methodsValue
	}
	switch {
	case c.allowAllHeaders && requestHeaders != "":
		h["Access-Control-Allow-Headers"] = []string{requestHeaders}
	case !c.allowAllHeaders && c.headersValue != nil:
		h["Access-Control-Allow-Headers"] = c.headersValue
	}
	if c.credentials {
		h["Access-Control-Allow-Credentials"] = trueValue
	}
	if c.maxAgeValue != nil {
		h["Access-Control-Max-Age"] = c.maxAgeValue
	}
	return Preflight{Outcome: PreflightAnswer, Reason: ReasonPreflightAnswered, Headers: h}
}

// safelistedMethod reports whether browsers allow method without it being
// listed in Access-Control-Allow-Methods (the Fetch standard's
// CORS-safelisted methods), so the edge does not refuse it either.
func safelistedMethod(m string) bool { return m == "GET" || m == "HEAD" || m == "POST" }

// allowOrigin returns the Access-Control-Allow-Origin value for origin, if
// it is allowed. "*" is used only for allow-all without credentials:
// browsers refuse "*" on credentialed requests, so then the origin is
// echoed. A listed origin's value is prepared; an echo of anything else
// allocates.
func (c *CORS) allowOrigin(origin string) ([]string, bool) {
	if c.allowAllOrigins {
		if c.credentials {
			return []string{origin}, true
		}
		return starValue, true
	}
	if v, ok := c.origins[origin]; ok {
		return v, true
	}
	// Browsers serialise the origin lower-case already; accept a client
	// that does not.
	if lower := strings.ToLower(origin); lower != origin {
		if _, ok := c.origins[lower]; ok {
			return []string{origin}, true
		}
	}
	return nil, false
}

func (c *CORS) headersAllowed(list string) bool {
	for list != "" {
		var name string
		name, list, _ = strings.Cut(list, ",")
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !c.headers[strings.ToLower(name)] {
			return false
		}
	}
	return true
}

// ResponseCORS returns the headers that let a page at origin read a
// response the edge itself makes (a 401 or 403), or nil when the app's CORS
// settings do not allow that origin.
func (a *App) ResponseCORS(origin string) http.Header {
	if a.CORS == nil || origin == "" {
		return nil
	}
	allow, ok := a.CORS.allowOrigin(origin)
	if !ok {
		return nil
	}
	h := http.Header{"Access-Control-Allow-Origin": allow, "Vary": {"Origin"}}
	if a.CORS.credentials {
		h["Access-Control-Allow-Credentials"] = trueValue
	}
	return h
}
