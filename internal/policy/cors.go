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
	// headers, so the browser blocks the request.
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

// Preflight decides a CORS preflight from the app's settings, as the CORS
// guide describes: bypass forwards it, CORS settings answer it, neither
// refuses it.
func (a *App) Preflight(origin, method, requestHeaders string) Preflight {
	if a.PreflightBypass {
		return Preflight{Outcome: PreflightForward, Reason: ReasonPreflightBypassed}
	}
	c := a.CORS
	if c == nil {
		return Preflight{Outcome: PreflightRefuse, Reason: ReasonPreflightNoCORSSettings}
	}
	h := http.Header{"Vary": {varyPreflight}}
	allowOrigin, ok := c.allowOrigin(origin)
	if !ok {
		return Preflight{Outcome: PreflightAnswer, Reason: ReasonPreflightOriginForbidden, Headers: h}
	}
	if !c.allowAllMethods && !c.methods[method] && !safelistedMethod(method) {
		return Preflight{Outcome: PreflightAnswer, Reason: ReasonPreflightMethodForbidden, Headers: h}
	}
	if !c.allowAllHeaders && !c.headersAllowed(requestHeaders) {
		return Preflight{Outcome: PreflightAnswer, Reason: ReasonPreflightHeaderForbidden, Headers: h}
	}
	h["Access-Control-Allow-Origin"] = []string{allowOrigin}
	switch {
	case c.allowAllMethods:
		h["Access-Control-Allow-Methods"] = []string{method}
	case c.methodsValue != "":
		h["Access-Control-Allow-Methods"] = []string{c.methodsValue}
	}
	switch {
	case c.allowAllHeaders && requestHeaders != "":
		h["Access-Control-Allow-Headers"] = []string{requestHeaders}
	case !c.allowAllHeaders && c.headersValue != "":
		h["Access-Control-Allow-Headers"] = []string{c.headersValue}
	}
	if c.credentials {
		h["Access-Control-Allow-Credentials"] = []string{"true"}
	}
	if c.maxAgeValue != "" {
		h["Access-Control-Max-Age"] = []string{c.maxAgeValue}
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
// echoed.
func (c *CORS) allowOrigin(origin string) (string, bool) {
	if c.allowAllOrigins {
		if c.credentials {
			return origin, true
		}
		return "*", true
	}
	if c.origins[origin] {
		return origin, true
	}
	// Browsers serialise the origin lower-case already; accept a client
	// that does not.
	if lower := strings.ToLower(origin); lower != origin && c.origins[lower] {
		return origin, true
	}
	return "", false
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
	h := http.Header{"Access-Control-Allow-Origin": {allow}, "Vary": {"Origin"}}
	if a.CORS.credentials {
		h["Access-Control-Allow-Credentials"] = []string{"true"}
	}
	return h
}
