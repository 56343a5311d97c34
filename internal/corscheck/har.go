package corscheck

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// HAR is the part of an HTTP Archive 1.2 file (as Chromium and Firefox
// export it) that Diagnose reads.
type HAR struct {
	Log struct {
		Version string     `json:"version"`
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
		Status  int         `json:"status"`
		Headers []HARHeader `json:"headers"`
		Cookies []HARCookie `json:"cookies"`
		Content struct {
			MimeType string `json:"mimeType"`
			Text     string `json:"text"`
			Encoding string `json:"encoding"`
		} `json:"content"`
		RedirectURL string `json:"redirectURL"`
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
	Entry    int       `json:"entry"` // index in log.entries
	Method   string    `json:"method"`
	URL      string    `json:"url"`
	Origin   string    `json:"origin"`
	Status   int       `json:"status"`
	Problems []Problem `json:"problems"`
}

// Diagnosis is what Diagnose found.
type Diagnosis struct {
	Entries     int       `json:"entries"`
	CrossOrigin int       `json:"cross_origin"`
	Findings    []Finding `json:"findings"`
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

// Diagnose finds the cross-origin exchanges of a HAR file (a request whose
// Origin header differs from its URL's origin) and explains each one a browser
// blocked or that the edge refused. A HAR does not record fetch's
// credentials mode: a request counts as credentialed when it carries a
// Cookie header. Cookie checks are simple: a request without cookies to a
// host that some response in the file set a cookie for (the Access
// session) is reported as "credentials not sent", or as SameSite when the
// cookie was set earlier without SameSite=None and the request is
// cross-site.
func Diagnose(h *HAR) *Diagnosis {
	d := &Diagnosis{Entries: len(h.Log.Entries), Findings: []Finding{}}
	entries := make([]entry, len(h.Log.Entries))
	var cookies []setCookie
	for i := range h.Log.Entries {
		e := &h.Log.Entries[i]
		en := entry{HAREntry: e, reqH: headerOf(e.Request.Headers), respH: headerOf(e.Response.Headers)}
		en.u, _ = url.Parse(e.Request.URL)
		en.origin = en.reqH.Get("Origin")
		en.edgeErr = edgeError(e.Response.Content.MimeType, contentBytes(e))
		entries[i] = en
		if en.u == nil {
			continue
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
	for i := range entries {
		e := &entries[i]
		if e.u == nil || !e.crossOrigin() {
			continue
		}
		d.CrossOrigin++
		var problems []Problem
		if e.Request.Method == http.MethodOptions && e.reqH.Get("Access-Control-Request-Method") != "" {
			problems = e.preflightProblems(entries[i+1:])
		} else {
			problems = e.requestProblems(i, cookies)
		}
		if len(problems) > 0 {
			d.Findings = append(d.Findings, Finding{Entry: i, Method: e.Request.Method, URL: e.Request.URL, Origin: e.origin,
				Status: e.Response.Status, Problems: problems})
		}
	}
	return d
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

func (e *entry) preflightProblems(later []entry) []Problem {
	status := e.Response.Status
	method := e.reqH.Get("Access-Control-Request-Method")
	if status >= 300 && status < 400 || isLoginRedirect(e.location()) {
		return []Problem{redirectProblem(status, e.location())}
	}
	if status == 0 {
		return nil // not answered (cancelled); nothing to judge
	}
	if status < 200 || status > 299 {
		p := edgeFix(status, e.edgeErr)
		if p.Message == "" {
			p = Problem{Message: "preflight got " + statusText(status) + "; browsers need a 2xx answer",
				Fix: "answer OPTIONS with 2xx: set the app's cors_headers so the edge answers, or options_preflight_bypass with an origin that answers preflights"}
			if status == http.StatusForbidden {
				p.Message = "preflight got 403: the app has neither CORS settings nor preflight bypass"
				p.Fix = "set cors_headers (allowed_origins …) or options_preflight_bypass"
			}
		}
		return []Problem{p}
	}
	// The request the preflight was for tells whether it carries
	// credentials.
	credentials := false
	for _, l := range later {
		if l.Request.URL == e.Request.URL && l.Request.Method == method {
			credentials = l.reqH.Get("Cookie") != ""
			break
		}
	}
	if p := corsCheck(e.origin, credentials, e.respH, "the preflight answer"); len(p) > 0 {
		return p
	}
	var names []string
	for _, n := range headerList(e.reqH, "Access-Control-Request-Headers") {
		names = append(names, strings.ToLower(n))
	}
	return preflightCheck(method, names, credentials, e.respH)
}

func (e *entry) requestProblems(i int, cookies []setCookie) []Problem {
	status := e.Response.Status
	if status == 0 {
		return nil
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
	for _, c := range cookies {
		if c.entry == i || !c.sentTo(host) {
			continue
		}
		if c.entry < i && c.sameSite != "none" && e.crossSite() {
			ss := "no SameSite (browsers default to Lax)"
			if c.sameSite != "" {
				ss = "SameSite=" + strings.ToUpper(c.sameSite[:1]) + c.sameSite[1:]
			}
			out = append(out, Problem{Header: "Cookie", Message: fmt.Sprintf("cookie %s for %s (set by entry %d with %s) was not sent on this cross-site request", c.name, host, c.entry, ss),
				Fix: "set the app's same_site_cookie_attribute: none (cookies are then Secure: serve the app over HTTPS), log in again, and send credentials: 'include'"})
		} else {
			out = append(out, Problem{Header: "Cookie", Message: fmt.Sprintf("credentials not sent: the request has no Cookie although entry %d set %s for %s", c.entry, c.name, host),
				Fix: "send credentials from the page: fetch(url, {credentials: 'include'}) or xhr.withCredentials = true; the app's cors_headers then need allow_credentials: true"})
		}
		return out
	}
	return out
}
