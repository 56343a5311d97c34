package corscheck

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// ConsoleError is one CORS error a browser's console printed.
type ConsoleError struct {
	Line    int    `json:"line"` // 1-based, in the pasted log
	Browser string `json:"browser"`
	URL     string `json:"url"`
	Origin  string `json:"origin,omitempty"` // Chrome names it, Firefox does not
	// Preflight: the browser says the preflight failed.
	Preflight bool   `json:"preflight"`
	Reason    string `json:"reason"`
	Status    int    `json:"status,omitempty"` // Firefox's "Status code: N"
}

// ConsoleLog is the CORS errors of a pasted console log, and the method
// of each failed request it names ("PUT https://… net::ERR_FAILED").
type ConsoleLog struct {
	Errors  []ConsoleError    `json:"errors"`
	Methods map[string]string `json:"-"`
}

var quotes = strings.NewReplacer("\u2018", "'", "\u2019", "'")

var (
	// Chrome: Access to fetch at 'URL' from origin 'O' has been blocked by CORS policy: REASON
	chromeCORS = regexp.MustCompile(`Access to (?:fetch|XMLHttpRequest|[a-zA-Z ]+) at '([^']+)' from origin '([^']+)' has been blocked by CORS policy: (.*)$`)
	// Chrome: PUT https://… net::ERR_FAILED (the failed request, with its method)
	chromeFailed = regexp.MustCompile(`\b([A-Z]+) (https?://\S+) net::ERR_[A-Z_]+`)
	// Firefox: Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote resource at URL. (Reason: REASON). Status code: N.
	firefoxCORS = regexp.MustCompile(`Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote resource at (\S+?)\.? \(Reason: (.*)\)\.?(?: Status code: (\d+)\.?)?\s*$`)
)

// ParseConsole reads a console log pasted from Chrome's or Firefox's
// developer tools (one message a line, with or without the source
// location before it) and keeps the CORS errors. A log without any is
// not an error: it says nothing failed there.
func ParseConsole(r io.Reader) (*ConsoleLog, error) {
	c := &ConsoleLog{Errors: []ConsoleError{}, Methods: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		// Firefox quotes names with ‘ ’; a copy may keep or flatten them.
		line := strings.TrimSpace(quotes.Replace(sc.Text()))
		if m := chromeCORS.FindStringSubmatch(line); m != nil {
			reason := m[3]
			pre := false
			if r, ok := strings.CutPrefix(reason, "Response to preflight request doesn't pass access control check: "); ok {
				reason, pre = r, true
			}
			if strings.Contains(reason, "in preflight response") {
				pre = true
			}
			c.Errors = append(c.Errors, ConsoleError{Line: n, Browser: "chrome", URL: m[1], Origin: m[2], Preflight: pre, Reason: reason})
			continue
		}
		if m := firefoxCORS.FindStringSubmatch(line); m != nil {
			e := ConsoleError{Line: n, Browser: "firefox", URL: m[1], Reason: m[2]}
			e.Status, _ = strconv.Atoi(m[3])
			e.Preflight = strings.Contains(e.Reason, "preflight")
			c.Errors = append(c.Errors, e)
			continue
		}
		if m := chromeFailed.FindStringSubmatch(line); m != nil {
			c.Methods[m[2]] = m[1]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("console log: %w", err)
	}
	return c, nil
}

var (
	chromeMethod = regexp.MustCompile(`^Method (\S+) is not allowed by Access-Control-Allow-Methods`)
	chromeHeader = regexp.MustCompile(`^Request header field (\S+) is not allowed by Access-Control-Allow-Headers`)
	firefoxToken = regexp.MustCompile(`missing token '([^']+)' in CORS header 'Access-Control-Allow-Headers'`)
)

// problem explains one console error; method and header are what the
// message names of the request (for the probe).
func (e ConsoleError) problem() (p Problem, method, header string) {
	r := e.Reason
	origin := e.Origin
	if origin == "" {
		origin = "the page's origin"
	}
	switch {
	case strings.Contains(r, "Redirect is not allowed for a preflight request"),
		strings.Contains(r, "CORS request external redirect not allowed"):
		p = redirectProblem(302, "")
		p.Cause = CauseLoginRedirect
		p.Message = "the preflight was answered with a redirect, which browsers never follow for a preflight; behind Access it is the redirect to the login page"
		if !e.Preflight && e.Browser == "firefox" {
			p.Message = "a redirect answered a CORS request; behind Access it is the redirect to the login page"
		}
	case strings.Contains(r, "It does not have HTTP ok status"), strings.Contains(r, "CORS preflight response did not succeed"):
		p = Problem{Cause: CausePreflightRefused, Message: "the preflight got a non-2xx answer (403 from the edge when the app has neither CORS settings nor preflight bypass)",
			Fix: "set cors_headers (allowed_origins …) or options_preflight_bypass"}
	case strings.Contains(r, "No 'Access-Control-Allow-Origin' header is present"), strings.Contains(r, "CORS header 'Access-Control-Allow-Origin' missing"):
		if e.Preflight {
			// Chrome says this of a 403 preflight and of a 204 the edge's
			// cors_headers refuse alike.
			p = Problem{Cause: CauseUndetermined, Header: "Access-Control-Allow-Origin",
				Message: "the preflight answer has no Access-Control-Allow-Origin: either the edge refused the preflight (403: the app has neither CORS settings nor preflight bypass) or its cors_headers do not allow this origin, method or header; the console does not say which",
				Fix:     "probe the app with the command below, or add a HAR export of the same failure"}
		} else {
			p = Problem{Cause: CauseMissingAllowOrigin, Header: "Access-Control-Allow-Origin", Message: "the response has no Access-Control-Allow-Origin", Fix: fixOrigin(origin)}
		}
	case strings.Contains(r, "must not be the wildcard '*' when the request's credentials mode is 'include'"),
		strings.Contains(r, "Credential is not supported if the CORS header 'Access-Control-Allow-Origin' is '*'"):
		p = corsCheck(origin, true, httpHeader("Access-Control-Allow-Origin", "*"), "the answer")[0]
	case strings.Contains(r, "'Access-Control-Allow-Origin' header has a value"), strings.Contains(r, "does not match"),
		strings.Contains(r, "contains multiple values"), strings.Contains(r, "multiple CORS header 'Access-Control-Allow-Origin'"):
		p = Problem{Cause: CauseOriginNotAllowed, Header: "Access-Control-Allow-Origin", Message: "the answer's Access-Control-Allow-Origin is not the page's origin (" + r + ")", Fix: fixOrigin(origin)}
	case strings.Contains(r, "'Access-Control-Allow-Credentials'"):
		p = Problem{Cause: CauseMissingAllowCredentials, Header: "Access-Control-Allow-Credentials", Message: "the answer lacks Access-Control-Allow-Credentials: true, and the request carries credentials",
			Fix: "set cors_headers.allow_credentials: true (and have the origin send it on its own responses)"}
	case chromeMethod.MatchString(r):
		method = chromeMethod.FindStringSubmatch(r)[1]
		p = preflightCheck(method, nil, false, nil)[0]
	case strings.Contains(r, "Did not find method in CORS header 'Access-Control-Allow-Methods'"):
		p = Problem{Cause: CauseMethodNotAllowed, Header: "Access-Control-Allow-Methods", Message: "the preflight answer does not allow the request's method",
			Fix: "add the method to cors_headers.allowed_methods (or set allow_all_methods)"}
	case chromeHeader.MatchString(r) || firefoxToken.MatchString(r):
		m := chromeHeader.FindStringSubmatch(r)
		if m == nil {
			m = firefoxToken.FindStringSubmatch(r)
		}
		header = strings.ToLower(m[1])
		p = preflightCheck("GET", []string{header}, false, nil)[0]
	default:
		p = Problem{Cause: CauseUndetermined, Message: "the browser blocked the request: " + r, Fix: "probe the app with the command below"}
	}
	p.Message = "console line " + strconv.Itoa(e.Line) + ": " + p.Message
	return p, method, header
}

func httpHeader(name, value string) map[string][]string {
	return map[string][]string{name: {value}}
}

// DiagnoseConsole explains the CORS errors of a console log alone.
func DiagnoseConsole(c *ConsoleLog) *Diagnosis {
	d := &Diagnosis{Producer: Producer{Name: "console", Kind: "console"}, Findings: []Finding{},
		Limits: []string{"a console log names what the browser refused, not the answers: status codes, headers and cookies are not in it"}}
	if len(c.Errors) > 0 && c.Errors[0].Browser == "firefox" {
		d.Producer.Name = "Firefox console"
		d.Limits = append(d.Limits, "Firefox's messages do not name the page's origin")
	} else if len(c.Errors) > 0 {
		d.Producer.Name = "Chrome console"
	}
	for _, e := range c.Errors {
		d.Failed++
		d.Findings = append(d.Findings, c.finding(e))
	}
	if len(d.Findings) > 0 {
		d.Cause = d.Findings[0].Cause
	}
	return d
}

func (c *ConsoleLog) finding(e ConsoleError) Finding {
	p, method, header := e.problem()
	if method == "" {
		method = c.Methods[e.URL]
	}
	origin := e.Origin
	if origin == "" {
		origin = "https://PAGE-ORIGIN"
	}
	var b strings.Builder
	b.WriteString("gatehouse cors check " + shellQuote(e.URL) + " --origin " + shellQuote(origin))
	if method != "" && method != "GET" {
		b.WriteString(" -X " + method)
	}
	if header != "" {
		b.WriteString(" -H " + shellQuote(header+": 1"))
	}
	b.WriteString(" --credentials --cookie \"CF_Authorization=$TOKEN\"")
	switch {
	case method == "":
		b.WriteString("  # add -X and -H as the page's request has them")
	case e.Preflight && header == "":
		b.WriteString("  # add -H for each header the page's request sets")
	}
	return Finding{Entry: -1, Method: method, URL: e.URL, Origin: e.Origin, Status: e.Status, Cause: p.Cause, Problems: []Problem{p}, Probe: b.String()}
}

// WithConsole completes a HAR's diagnosis with a console log of the same
// failures: a finding the HAR could not explain takes the console's
// cause for its URL, and a console error for a URL no finding has (a
// producer that leaves failed requests out) becomes a finding.
func (d *Diagnosis) WithConsole(c *ConsoleLog) {
	used := map[int]bool{}
	for i := range d.Findings {
		f := &d.Findings[i]
		for k, e := range c.Errors {
			if used[k] || e.URL != f.URL || (e.Origin != "" && f.Origin != "" && e.Origin != f.Origin) {
				continue
			}
			used[k] = true
			if f.Cause == CauseUndetermined {
				p, _, _ := e.problem()
				f.Cause = p.Cause
				f.Problems = append([]Problem{p}, f.Problems...)
			}
			break
		}
	}
	for k, e := range c.Errors {
		if !used[k] {
			d.Findings = append(d.Findings, c.finding(e))
		}
	}
	d.Cause = ""
	if len(d.Findings) > 0 {
		d.Cause = d.Findings[0].Cause
	}
}
