package corscheck

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// HAR is the part of an HTTP Archive 1.2 file (as Chromium and Firefox
// export it) that Diagnose reads.
type HAR struct {
	Log struct {
		Version string `json:"version"`
		Creator struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"creator"`
		Entries []HAREntry `json:"entries"`
	} `json:"log"`
}

// HAREntry is one recorded exchange.
type HAREntry struct {
	StartedDateTime string `json:"startedDateTime"`
	Request         struct {
		Method  string      `json:"method"`
		URL     string      `json:"url"`
		Headers []HARHeader `json:"headers"`
	} `json:"request"`
	Response struct {
		// Status is 0 (Chromium, Firefox) or -1 (Playwright) for a
		// request that got no response.
		Status  int         `json:"status"`
		Headers []HARHeader `json:"headers"`
		Cookies []HARCookie `json:"cookies"`
		Content struct {
			MimeType string `json:"mimeType"`
			Text     string `json:"text"`
			Encoding string `json:"encoding"`
		} `json:"content"`
		RedirectURL string `json:"redirectURL"`
		// Error is Chromium DevTools' net error (net::ERR_FAILED…),
		// FailureText Playwright's.
		Error       string `json:"_error"`
		FailureText string `json:"_failureText"`
	} `json:"response"`
}

// HARHeader is a name and value.
type HARHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// HARCookie is a cookie as a HAR lists it.
type HARCookie struct {
	Name     string `json:"name"`
	Domain   string `json:"domain"`
	SameSite string `json:"sameSite"`
}

// ParseHAR reads a HAR file.
func ParseHAR(r io.Reader) (*HAR, error) {
	var h HAR
	if err := json.NewDecoder(r).Decode(&h); err != nil {
		return nil, fmt.Errorf("har: %w", err)
	}
	if h.Log.Version == "" && h.Log.Entries == nil {
		return nil, fmt.Errorf("har: no log.entries: not a HAR file")
	}
	return &h, nil
}

// Finding is one failed cross-origin exchange of a HAR file.
type Finding struct {
	Entry  int    `json:"entry"` // index in log.entries
	Method string `json:"method"`
	URL    string `json:"url"`
	Origin string `json:"origin"`
	Status int    `json:"status"`
	// Cause is the first problem's cause.
	Cause    string    `json:"cause"`
	Problems []Problem `json:"problems"`
	// Probe is the gatehouse cors check command that repeats this
	// exchange against the live app.
	Probe string `json:"probe"`
}

// Diagnosis is what Diagnose found.
type Diagnosis struct {
	Producer    Producer `json:"producer"`
	Entries     int      `json:"entries"`
	CrossOrigin int      `json:"cross_origin"`
	// Failed counts the requests that got no usable response, whatever
	// the producer's convention (status 0 or -1, _error, _failureText, no
	// response).
	Failed   int       `json:"failed"`
	Findings []Finding `json:"findings"`
	// Cause is the first finding's cause, "" when nothing failed.
	Cause string `json:"cause"`
	// Limits say what this file cannot show.
	Limits []string `json:"limits"`
}

// setCookie is a cookie some response of the HAR set.
type setCookie struct {
	entry    int
	name     string
	host     string // the setting response's host
	domain   string // Domain attribute, "" for a host-only cookie
	sameSite string // "lax", "strict", "none" or "" (browsers treat it as lax)
}

func (c setCookie) sentTo(host string) bool {
	if c.domain == "" {
		return host == c.host
	}
	return host == c.domain || strings.HasSuffix(host, "."+c.domain)
}

type entry struct {
	*HAREntry
	u       *url.URL
	reqH    http.Header
	respH   http.Header
	origin  string
	edgeErr string
}

// noResponse reports whether the request got no response at all: the
// browser failed it before one came (a failed preflight, a network
// error), whatever the producer's convention.
func (e *entry) noResponse() bool { return e.Response.Status <= 0 }

// failed reports whether the browser failed the request: no response,
// or a response it refused to hand to the page (DevTools' _error).
func (e *entry) failed() bool {
	return e.noResponse() || e.Response.Error != "" || e.Response.FailureText != ""
}

func (e *entry) isPreflight() bool {
	return e.Request.Method == http.MethodOptions && e.reqH.Get("Access-Control-Request-Method") != ""
}

// Diagnose finds the cross-origin exchanges of a HAR file (a request whose
// Origin header differs from its URL's origin; for a request that got no
// response, whose Referer's origin does, as producers record no Origin
// on a request the browser never sent) and explains each one a browser
// blocked or that the edge refused. A HAR does not record fetch's
// credentials mode: a request counts as credentialed when it carries a
// Cookie header, or when the only reason left for its failure is
// credentials. Cookie checks are simple: a request without cookies to a
// host that some response in the file set a cookie for (the Access
// session) is reported as "credentials not sent", or as SameSite when the
// cookie was set earlier without SameSite=None and the request is
// cross-site. The producer (log.creator) decides what the file cannot
// show: Diagnosis.Limits says it, and a failure whose reason is not in
// the file is CauseUndetermined with the command that probes the app.
func Diagnose(h *HAR) *Diagnosis {
	prod := DetectProducer(h)
	d := &Diagnosis{Producer: prod, Entries: len(h.Log.Entries), Findings: []Finding{}, Limits: []string{}}
	entries := make([]entry, len(h.Log.Entries))
	var cookies []setCookie
	sawCookies, sawPreflight := false, false
	for i := range h.Log.Entries {
		e := &h.Log.Entries[i]
		en := entry{HAREntry: e, reqH: headerOf(e.Request.Headers), respH: headerOf(e.Response.Headers)}
		en.u, _ = url.Parse(e.Request.URL)
		en.origin = en.reqH.Get("Origin")
		if en.origin == "" && en.noResponse() {
			if ref, err := url.Parse(en.reqH.Get("Referer")); err == nil && ref.Scheme != "" && ref.Host != "" {
				en.origin = ref.Scheme + "://" + ref.Host
			}
		}
		en.edgeErr = edgeError(e.Response.Content.MimeType, contentBytes(e))
		entries[i] = en
		if en.reqH.Get("Cookie") != "" || len(en.respH.Values("Set-Cookie")) > 0 || en.reqH.Get("Authorization") != "" {
			sawCookies = true
		}
		if en.failed() {
			d.Failed++
		}
		if en.u == nil {
			continue
		}
		if en.isPreflight() {
			sawPreflight = true
		}
		for _, line := range en.respH.Values("Set-Cookie") {
			c, err := http.ParseSetCookie(line)
			if err != nil {
				continue
			}
			sc := setCookie{entry: i, name: c.Name, host: en.u.Hostname(), domain: strings.TrimPrefix(strings.ToLower(c.Domain), ".")}
			switch c.SameSite {
			case http.SameSiteLaxMode:
				sc.sameSite = "lax"
			case http.SameSiteStrictMode:
				sc.sameSite = "strict"
			case http.SameSiteNoneMode:
				sc.sameSite = "none"
			}
			cookies = append(cookies, sc)
		}
	}
	dg := &diagnoser{entries: entries, cookies: cookies, prod: prod, cookiesVisible: sawCookies}
	// Preflights first: a request whose preflight failed is reported
	// there, wherever the producer put it in the file.
	preflight := map[int][]Problem{}
	reported := map[int]bool{} // actual requests whose preflight has a finding
	for i := range entries {
		if e := &entries[i]; e.u != nil && e.crossOrigin() && e.isPreflight() {
			problems, actual := dg.preflightProblems(i)
			preflight[i] = problems
			if len(problems) > 0 && actual >= 0 {
				reported[actual] = true
			}
		}
	}
	for i := range entries {
		e := &entries[i]
		if e.u == nil || !e.crossOrigin() {
			continue
		}
		d.CrossOrigin++
		if reported[i] {
			continue
		}
		var problems []Problem
		if e.isPreflight() {
			problems = preflight[i]
		} else {
			problems = dg.requestProblems(i)
		}
		if len(problems) > 0 {
			d.Findings = append(d.Findings, Finding{Entry: i, Method: e.Request.Method, URL: e.Request.URL, Origin: e.origin,
				Status: e.Response.Status, Cause: problems[0].Cause, Problems: problems, Probe: dg.probe(i)})
		}
	}
	for _, f := range d.Findings {
		if !entries[f.Entry].failed() {
			d.Failed++ // a response the browser refused the page, recorded as if it were fine (Firefox)
		}
	}
	if len(d.Findings) > 0 {
		d.Cause = d.Findings[0].Cause
	}
	// What the file cannot show.
	if !prod.RecordsPreflights {
		d.Limits = append(d.Limits, prod.Label()+" does not record preflight (OPTIONS) requests: a request that needed one and failed shows no reason")
	} else if !sawPreflight && dg.needsPreflight() {
		d.Limits = append(d.Limits, "a request here needed a preflight, and none is recorded in this file")
	}
	if !prod.RecordsFailed {
		d.Limits = append(d.Limits, prod.Label()+" leaves out requests that failed: a request the browser blocked is not in the file, so an empty diagnosis does not mean nothing failed")
	}
	if !prod.RecordsUnsent && prod.RecordsFailed {
		d.Limits = append(d.Limits, prod.Label()+" sees only what reached the network: a request the browser blocked before sending it is not in the file")
	}
	if !sawCookies && d.Entries > 0 {
		if prod.Kind == ProducerChrome {
			d.Limits = append(d.Limits, "this export removes cookies: no Cookie, Set-Cookie or Authorization header is in it (Chrome's default \"Export HAR (sanitized)\"), so whether credentials were sent is not visible")
		} else {
			d.Limits = append(d.Limits, "no Cookie, Set-Cookie or Authorization header is in this file: whether credentials were sent is not visible")
		}
	}
	if d.Failed > 0 && d.CrossOrigin == 0 {
		d.Limits = append(d.Limits, "requests failed but none records the page's origin (no Origin or Referer header)")
	}
	return d
}

// diagnoser holds a HAR's entries while Diagnose explains them.
type diagnoser struct {
	entries []entry
	cookies []setCookie
	prod    Producer
	// cookiesVisible: the file records Cookie or Set-Cookie somewhere.
	cookiesVisible bool
}

// needsPreflight reports whether a cross-origin request of the file
// needed a preflight.
func (dg *diagnoser) needsPreflight() bool {
	for i := range dg.entries {
		if e := &dg.entries[i]; e.u != nil && e.crossOrigin() && !e.isPreflight() && e.needsPreflight() != "" {
			return true
		}
	}
	return false
}

// actualFor returns the index of the request a preflight was for (same
// URL, the requested method), or -1.
func (dg *diagnoser) actualFor(i int) int {
	p := &dg.entries[i]
	method := p.reqH.Get("Access-Control-Request-Method")
	for j := range dg.entries {
		if l := &dg.entries[j]; j != i && !l.isPreflight() && l.Request.URL == p.Request.URL && l.Request.Method == method {
			return j
		}
	}
	return -1
}

// preflightFor returns the index of the preflight of request i, or -1.
func (dg *diagnoser) preflightFor(i int) int {
	r := &dg.entries[i]
	for j := range dg.entries {
		if p := &dg.entries[j]; j != i && p.isPreflight() && p.Request.URL == r.Request.URL && p.reqH.Get("Access-Control-Request-Method") == r.Request.Method {
			return j
		}
	}
	return -1
}

func (e *entry) urlOrigin() string { return e.u.Scheme + "://" + e.u.Host }

// crossOrigin reports whether the page's origin differs from the URL's.
// Browsers send Origin on every cross-origin CORS request, so a request
// without one (Sec-Fetch-Mode cors or not) has nothing to check against.
func (e *entry) crossOrigin() bool {
	return e.origin != "" && e.origin != e.urlOrigin()
}

// crossSite reports whether the request goes to another site than the
// page's: Sec-Fetch-Site when recorded, else the last two labels of each
// host (an approximation without the public suffix list).
func (e *entry) crossSite() bool {
	switch e.reqH.Get("Sec-Fetch-Site") {
	case "cross-site":
		return true
	case "same-site", "same-origin", "none":
		return false
	}
	o, err := url.Parse(e.origin)
	return err == nil && site(o.Hostname()) != site(e.u.Hostname())
}

func site(host string) string {
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	if len(labels) <= 2 {
		return host
	}
	return strings.Join(labels[len(labels)-2:], ".")
}

func (e *entry) location() string {
	if l := e.respH.Get("Location"); l != "" {
		return l
	}
	return e.Response.RedirectURL
}

// preflightProblems explains preflight i, and returns the index of the
// request it was for (-1 when the file does not have it).
func (dg *diagnoser) preflightProblems(i int) ([]Problem, int) {
	e := &dg.entries[i]
	status := e.Response.Status
	method := e.reqH.Get("Access-Control-Request-Method")
	actual := dg.actualFor(i)
	if status >= 300 && status < 400 || isLoginRedirect(e.location()) {
		return []Problem{redirectProblem(status, e.location())}, actual
	}
	if e.noResponse() {
		return []Problem{{Cause: CauseUndetermined, Message: "the preflight got no response (" + e.failure() + ")",
			Fix: "probe the app with the command below; a network error (DNS, TLS, connection) is not a CORS setting"}}, actual
	}
	if status < 200 || status > 299 {
		p := edgeFix(status, e.edgeErr)
		if p.Message == "" {
			p = Problem{Cause: CausePreflightRefused, Message: "preflight got " + statusText(status) + "; browsers need a 2xx answer",
				Fix: "answer OPTIONS with 2xx: set the app's cors_headers so the edge answers, or options_preflight_bypass with an origin that answers preflights"}
			if status == http.StatusForbidden {
				p.Message = "preflight got 403: the app has neither CORS settings nor preflight bypass"
				p.Fix = "set cors_headers (allowed_origins …) or options_preflight_bypass"
			}
		}
		p.Cause = CausePreflightRefused
		return []Problem{p}, actual
	}
	var names []string
	for _, n := range headerList(e.reqH, "Access-Control-Request-Headers") {
		names = append(names, strings.ToLower(n))
	}
	check := func(credentials bool) []Problem {
		if p := corsCheck(e.origin, credentials, e.respH, "the preflight answer"); len(p) > 0 {
			if p[0].Cause == CauseMissingAllowOrigin && e.respH.Get("Vary") == edgePreflightVary {
				// The edge answers a preflight its cors_headers refuse
				// with no allow headers at all, whichever part it refused.
				p[0].Cause = CausePreflightDisallowed
				p[0].Message = "the edge refused this preflight: its answer has no Access-Control-Allow-* headers"
				p[0].Fix = "the app's cors_headers refuse this preflight: check that " + e.origin + " is in allowed_origins, " +
					method + " in allowed_methods and " + orNone(names) + " in allowed_headers (or the allow_all_ settings)"
			}
			return p
		}
		return preflightCheck(method, names, credentials, e.respH)
	}
	// The request the preflight was for tells whether it carries
	// credentials.
	credentials := actual >= 0 && dg.entries[actual].reqH.Get("Cookie") != ""
	if p := check(credentials); len(p) > 0 || credentials {
		return p, actual
	}
	// The preflight passes for a request without credentials, yet the
	// request was never answered (or, from a producer that leaves out
	// failed requests, is missing): the browser refused the preflight for
	// a request with credentials (fetch credentials: 'include').
	blocked := actual >= 0 && dg.entries[actual].noResponse() || actual < 0 && !dg.prod.RecordsFailed
	if !blocked {
		return nil, actual
	}
	p := check(true)
	for k := range p {
		p[k].Message += " (inferred: the request was not sent after this preflight, which passes only for a request without credentials, so the page sent credentials)"
	}
	return p, actual
}

// failure is how the producer recorded a request that failed.
func (e *entry) failure() string {
	var parts []string
	if e.Response.Status <= 0 {
		parts = append(parts, "status "+strconv.Itoa(e.Response.Status))
	}
	if e.Response.Error != "" {
		parts = append(parts, e.Response.Error)
	}
	if e.Response.FailureText != "" {
		parts = append(parts, e.Response.FailureText)
	}
	return strings.Join(parts, ", ")
}

// needsPreflight says why request i needs a preflight, from its method
// and the request headers recorded; "" when it is simple.
func (e *entry) needsPreflight() string {
	var hs [][2]string
	for k, vs := range e.reqH {
		for _, v := range vs {
			hs = append(hs, [2]string{k, v})
		}
	}
	var unsafe []string
	for _, n := range unsafeHeaderNames(hs) {
		if !browserSet(n) {
			unsafe = append(unsafe, n)
		}
	}
	return strings.Join(preflightReasons(e.Request.Method, unsafe), "; ")
}

func (dg *diagnoser) requestProblems(i int) []Problem {
	e := &dg.entries[i]
	status := e.Response.Status
	if e.noResponse() {
		return dg.unansweredProblems(i)
	}
	var out []Problem
	if status >= 300 && status < 400 || isLoginRedirect(e.location()) {
		out = append(out, redirectProblem(status, e.location()))
	} else {
		out = append(out, corsCheck(e.origin, e.reqH.Get("Cookie") != "", e.respH, "the response")...)
		if p := edgeFix(status, e.edgeErr); p.Message != "" && status >= 400 {
			out = append(out, p)
		}
	}
	if len(out) == 0 || e.reqH.Get("Cookie") != "" {
		return out
	}
	// No cookie on a failed request: was there one to send?
	host := e.u.Hostname()
	for _, c := range dg.cookies {
		if c.entry == i || !c.sentTo(host) {
			continue
		}
		if c.entry < i && c.sameSite != "none" && e.crossSite() {
			ss := "no SameSite (browsers default to Lax)"
			if c.sameSite != "" {
				ss = "SameSite=" + strings.ToUpper(c.sameSite[:1]) + c.sameSite[1:]
			}
			out = append(out, Problem{Header: "Cookie", Cause: CauseSameSiteCookie, Message: fmt.Sprintf("cookie %s for %s (set by entry %d with %s) was not sent on this cross-site request", c.name, host, c.entry, ss),
				Fix: "set the app's same_site_cookie_attribute: none (cookies are then Secure: serve the app over HTTPS), log in again, and send credentials: 'include'"})
		} else {
			out = append(out, Problem{Header: "Cookie", Cause: CauseCredentialsNotSent, Message: fmt.Sprintf("credentials not sent: the request has no Cookie although entry %d set %s for %s", c.entry, c.name, host),
				Fix: "send credentials from the page: fetch(url, {credentials: 'include'}) or xhr.withCredentials = true; the app's cors_headers then need allow_credentials: true"})
		}
		return out
	}
	return out
}

// unansweredProblems explains a cross-origin request that got no
// response, from what else the file holds.
func (dg *diagnoser) unansweredProblems(i int) []Problem {
	e := &dg.entries[i]
	how := e.failure()
	if pf := dg.preflightFor(i); pf >= 0 {
		// Its preflight has no problem, even for a request with
		// credentials (else it would have been reported).
		return []Problem{{Cause: CauseUndetermined, Message: "the request got no response (" + how + ") after a preflight that allows it (entry " + strconv.Itoa(pf) + ")",
			Fix: "the browser's console names the reason: run the doctor on the console log too, or probe the app with the command below"}}
	}
	if why := e.needsPreflight(); why != "" {
		p := Problem{Cause: CauseUndetermined, Message: "the request got no response (" + how + "); it needed a preflight (" + why + ")"}
		if !dg.prod.RecordsPreflights {
			p.Message += ", which " + dg.prod.Label() + " does not record: the preflight most likely failed"
		} else {
			p.Message += ", and none is recorded"
		}
		p.Fix = "probe the app with the command below (it sends the preflight), or run the doctor on the browser's console log"
		return []Problem{p}
	}
	return []Problem{{Cause: CauseUndetermined, Message: "the request got no response (" + how + "): the browser blocked it or the network failed, and the file does not say which",
		Fix: "probe the app with the command below, or run the doctor on the browser's console log"}}
}

// browserSet reports whether the browser itself sets a request header
// (lower-case name): such a header never makes a request need a preflight,
// and a page cannot set it.
func browserSet(name string) bool {
	switch name {
	case "origin", "referer", "user-agent", "cookie", "host", "connection", "accept-encoding", "content-length",
		"priority", "pragma", "cache-control", "upgrade-insecure-requests", "dnt", "te", "keep-alive", "authority":
		return true
	}
	return strings.HasPrefix(name, "sec-") || strings.HasPrefix(name, "proxy-")
}

// probe is the gatehouse cors check command that repeats exchange i (or
// the request its preflight was for) against the live app.
func (dg *diagnoser) probe(i int) string {
	e := &dg.entries[i]
	method, target := e.Request.Method, e.Request.URL
	credentials := e.reqH.Get("Cookie") != ""
	var headers []string
	if e.isPreflight() {
		method = e.reqH.Get("Access-Control-Request-Method")
		for _, n := range headerList(e.reqH, "Access-Control-Request-Headers") {
			headers = append(headers, n+": 1")
		}
		if a := dg.actualFor(i); a >= 0 {
			credentials = dg.entries[a].reqH.Get("Cookie") != ""
		}
	} else {
		var hs [][2]string
		for k, vs := range e.reqH {
			for _, v := range vs {
				hs = append(hs, [2]string{k, v})
			}
		}
		for _, n := range unsafeHeaderNames(hs) {
			if !browserSet(n) {
				headers = append(headers, n+": "+e.reqH.Get(n))
			}
		}
	}
	sort.Strings(headers)
	var b strings.Builder
	b.WriteString("gatehouse cors check " + shellQuote(target) + " --origin " + shellQuote(e.origin))
	if method != http.MethodGet {
		b.WriteString(" -X " + method)
	}
	for _, h := range headers {
		b.WriteString(" -H " + shellQuote(h))
	}
	// An Access app needs the session to get past the edge: with the
	// cookie the browser holds (or when the file cannot show it), probe
	// with credentials.
	if credentials || !dg.cookiesVisible {
		b.WriteString(" --credentials --cookie \"CF_Authorization=$TOKEN\"")
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func headerOf(hs []HARHeader) http.Header {
	h := http.Header{}
	for _, kv := range hs {
		if strings.HasPrefix(kv.Name, ":") {
			continue // HTTP/2 pseudo-headers
		}
		h.Add(kv.Name, kv.Value)
	}
	return h
}

func contentBytes(e *HAREntry) []byte {
	c := e.Response.Content
	if c.Encoding == "base64" {
		b, _ := base64.StdEncoding.DecodeString(c.Text)
		return b
	}
	return []byte(c.Text)
}
