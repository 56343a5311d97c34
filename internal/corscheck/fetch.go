// Package corscheck tells whether a browser would let a page read a
// cross-origin response, and why not. It applies the Fetch standard's CORS
// rules (https://fetch.spec.whatwg.org: safelisted methods and headers, the
// preflight, the CORS check) to a live exchange (Check) or to a recorded
// one from a HAR file (Diagnose), and names the Gatehouse app setting that
// fixes each failure. It only observes: who gets through is decided by the
// policy engine at the edge.
package corscheck

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The causes a Problem names. CauseUndetermined is a failure whose
// reason the evidence does not show.
const (
	CausePreflightRefused        = "preflight_refused"    // the preflight got a non-2xx answer
	CausePreflightDisallowed     = "preflight_disallowed" // the edge's cors_headers refuse the origin, method or headers
	CauseMissingAllowOrigin      = "missing_allow_origin"
	CauseOriginNotAllowed        = "origin_not_allowed"
	CauseMethodNotAllowed        = "method_not_allowed"
	CauseHeaderNotAllowed        = "header_not_allowed"
	CauseCredentialsWildcard     = "credentials_wildcard" // Access-Control-Allow-Origin * for a request with credentials
	CauseMissingAllowCredentials = "missing_allow_credentials"
	CauseLoginRedirect           = "login_redirect"
	CauseRedirect                = "redirect"
	CauseNoSession               = "no_session"
	CauseEdgeRefused             = "edge_refused"
	CauseCredentialsNotSent      = "credentials_not_sent"
	CauseSameSiteCookie          = "samesite_cookie"
	CauseUndetermined            = "undetermined"
)

// Problem is one reason a browser blocks an exchange.
type Problem struct {
	// Header is the response header that is missing or wrong, or "" when
	// the status is the problem.
	Header string `json:"header,omitempty"`
	// Cause names the failure in a word (the Cause constants).
	Cause   string `json:"cause,omitempty"`
	Message string `json:"message"`
	// Fix says which setting (of the Gatehouse app or the origin) fixes it.
	Fix string `json:"fix"`
}

func (p Problem) String() string { return p.Message + ": " + p.Fix }

// safelistedMethod reports whether a method needs no preflight.
func safelistedMethod(m string) bool { return m == "GET" || m == "HEAD" || m == "POST" }

// safelistedHeader reports whether a request header name and value are
// CORS-safelisted (Fetch: "CORS-safelisted request-header").
func safelistedHeader(name, value string) bool {
	if len(value) > 128 {
		return false
	}
	switch strings.ToLower(name) {
	case "accept":
		return !hasUnsafeByte(value)
	case "accept-language", "content-language":
		for i := 0; i < len(value); i++ {
			c := value[i]
			if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || strings.IndexByte(" *,-.;=", c) >= 0) {
				return false
			}
		}
		return true
	case "content-type":
		if hasUnsafeByte(value) {
			return false
		}
		essence, _, _ := strings.Cut(value, ";")
		switch strings.ToLower(strings.TrimSpace(essence)) {
		case "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
			return true
		}
		return false
	case "range":
		v, ok := strings.CutPrefix(value, "bytes=")
		if !ok {
			return false
		}
		start, end, ok := strings.Cut(v, "-")
		return ok && start != "" && isDigits(start) && (end == "" || isDigits(end))
	}
	return false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// hasUnsafeByte: Fetch's CORS-unsafe request-header bytes.
func hasUnsafeByte(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 && c != '\t' || c == 0x7f || strings.IndexByte("\"():<>?@[\\]{}", c) >= 0 {
			return true
		}
	}
	return false
}

// unsafeHeaderNames returns the lower-cased, sorted, de-duplicated names
// of the headers that are not CORS-safelisted: the value of
// Access-Control-Request-Headers.
func unsafeHeaderNames(h [][2]string) []string {
	var out []string
	for _, kv := range h {
		if !safelistedHeader(kv[0], kv[1]) {
			out = append(out, strings.ToLower(kv[0]))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// corsCheck is the Fetch standard's CORS check of a response to a
// request from origin.
func corsCheck(origin string, credentials bool, h http.Header, what string) []Problem {
	acao := h.Values("Access-Control-Allow-Origin")
	switch {
	case len(acao) == 0:
		return []Problem{{Header: "Access-Control-Allow-Origin", Cause: CauseMissingAllowOrigin, Message: what + " has no Access-Control-Allow-Origin",
			Fix: fixOrigin(origin)}}
	case len(acao) > 1:
		return []Problem{{Header: "Access-Control-Allow-Origin", Cause: CauseOriginNotAllowed, Message: what + " has several Access-Control-Allow-Origin headers",
			Fix: "send exactly one: an origin that also adds CORS headers doubles them; let either the origin or the edge (cors_headers) answer"}}
	case acao[0] == "*" && credentials:
		return []Problem{{Header: "Access-Control-Allow-Origin", Cause: CauseCredentialsWildcard, Message: what + " has Access-Control-Allow-Origin: * but the request carries credentials",
			Fix: "browsers refuse * with credentials: list " + origin + " in cors_headers.allowed_origins, or keep allow_all_origins and set allow_credentials: true (the edge then echoes the origin)"}}
	case acao[0] != "*" && acao[0] != origin:
		return []Problem{{Header: "Access-Control-Allow-Origin", Cause: CauseOriginNotAllowed, Message: what + " has Access-Control-Allow-Origin: " + acao[0] + ", not the page's origin " + origin,
			Fix: fixOrigin(origin)}}
	}
	if credentials && h.Get("Access-Control-Allow-Credentials") != "true" {
		return []Problem{{Header: "Access-Control-Allow-Credentials", Cause: CauseMissingAllowCredentials, Message: what + " lacks Access-Control-Allow-Credentials: true, and the request carries credentials",
			Fix: "set cors_headers.allow_credentials: true (and have the origin send it on its own responses)"}}
	}
	return nil
}

func fixOrigin(origin string) string {
	return "add " + origin + " to the app's cors_headers.allowed_origins (or set allow_all_origins); responses from the origin server itself must carry it too"
}

// preflightCheck checks a successful preflight's allow lists for the
// actual request's method and unsafe header names.
func preflightCheck(method string, names []string, credentials bool, h http.Header) []Problem {
	var out []Problem
	methods := headerList(h, "Access-Control-Allow-Methods")
	if !safelistedMethod(method) && !slices.Contains(methods, method) && !(slices.Contains(methods, "*") && !credentials) {
		p := Problem{Header: "Access-Control-Allow-Methods", Cause: CauseMethodNotAllowed, Message: "the preflight answer does not allow method " + method,
			Fix: "add " + method + " to cors_headers.allowed_methods (or set allow_all_methods)"}
		if slices.Contains(methods, "*") {
			p.Message += " (* does not count for a request with credentials)"
		}
		out = append(out, p)
	}
	allowed := headerList(h, "Access-Control-Allow-Headers")
	for i := range allowed {
		allowed[i] = strings.ToLower(allowed[i])
	}
	star := slices.Contains(allowed, "*") && !credentials
	for _, n := range names {
		if slices.Contains(allowed, n) || star && n != "authorization" {
			continue
		}
		out = append(out, Problem{Header: "Access-Control-Allow-Headers", Cause: CauseHeaderNotAllowed, Message: "the preflight answer does not allow request header " + n,
			Fix: "add " + n + " to cors_headers.allowed_headers (or set allow_all_headers)"})
	}
	return out
}

func headerList(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// edgeFix explains an error the Gatehouse edge answered with, by its
// reason code ({"error": "<reason>"}), or "" for an unknown one.
func edgeFix(status int, reason string) Problem {
	switch reason {
	case "preflight_no_cors_settings":
		return Problem{Cause: CausePreflightRefused, Message: "preflight got 403: the app has neither CORS settings nor preflight bypass",
			Fix: "set cors_headers (allowed_origins …) or options_preflight_bypass"}
	case "login_required", "session_expired", "session_invalid", "session_revoked", "session_wrong_audience", "session_bad_signature", "session_wrong_issuer":
		return Problem{Cause: CauseNoSession, Message: statusText(status) + " " + reason + ": the request carried no valid CF_Authorization session for this host",
			Fix: "log in to the app first, and send credentials (fetch credentials: 'include'; the app's cookie needs same_site_cookie_attribute: none for a cross-site page)"}
	case "binding_cookie_mismatch":
		return Problem{Cause: CauseEdgeRefused, Message: statusText(status) + " " + reason + ": the app binds sessions to a CF_Binding cookie (SameSite=Strict), which this request did not carry",
			Fix: "binding cookies work only for same-site browser requests: turn enable_binding_cookie off for apps that other sites or scripts call"}
	case "purpose_justification_required":
		return Problem{Cause: CauseEdgeRefused, Message: statusText(status) + " " + reason + ": the app's policy asks for a reason for access, and the session has none",
			Fix: "open the app in the browser and give a reason at login"}
	case "deny_policy", "no_policy_matched":
		return Problem{Cause: CauseEdgeRefused, Message: statusText(status) + " " + reason + ": the policies do not let this identity in",
			Fix: "check the app's policies (POST …/gatehouse/policy_test explains the decision)"}
	case "service_token_no_policy", "service_token_unknown", "service_token_bad_secret", "service_token_expired", "service_token_malformed":
		return Problem{Cause: CauseEdgeRefused, Message: statusText(status) + " " + reason, Fix: "check the service token and the app's Service Auth policies"}
	case "bad_path", "ambiguous_path":
		return Problem{Cause: CauseEdgeRefused, Message: statusText(status) + " " + reason + ": the edge refuses this request path",
			Fix: "request the path in canonical form: lower-case where the app's path is, no ;parameters, trailing dots or spaces, backslashes or encoded slashes (README \"Request paths\")"}
	case "":
		return Problem{}
	}
	return Problem{Cause: CauseEdgeRefused, Message: statusText(status) + " " + reason, Fix: "see the edge's reason codes in the README"}
}

func statusText(code int) string {
	return strings.TrimSpace(strconv.Itoa(code) + " " + http.StatusText(code))
}

// isLoginRedirect reports whether a Location leads to an Access login page.
func isLoginRedirect(location string) bool {
	return strings.Contains(location, "/cdn-cgi/access/login")
}

func redirectProblem(status int, location string) Problem {
	if isLoginRedirect(location) {
		return Problem{Header: "Location", Cause: CauseLoginRedirect, Message: statusText(status) + " redirect to the Access login page answered to a cross-origin request; browsers do not follow it for a fetch",
			Fix: "send the session cookie with the request (credentials: 'include', same_site_cookie_attribute: none), or log in first; configure cors_headers so the edge answers such requests with a readable 401"}
	}
	return Problem{Header: "Location", Cause: CauseRedirect, Message: statusText(status) + " redirect answered to a CORS request (to " + location + ")",
		Fix: "call the final URL directly: a redirect in a CORS request fails unless the target allows the origin too"}
}
