package corscheck

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Request describes the cross-origin request a page would make.
type Request struct {
	URL    string
	Origin string // the page's origin, such as https://app.example.com
	Method string // default GET
	// Headers the page sets, as "Name: value" (a bare "Name" gets the
	// value "1").
	Headers []string
	// Credentials is fetch's credentials: 'include'.
	Credentials bool
	// Cookie is the Cookie header a browser would send with credentials.
	Cookie string
}

// Exchange is one request the browser sends and what came back.
type Exchange struct {
	Step            string            `json:"step"` // "preflight" or "request"
	Method          string            `json:"method"`
	URL             string            `json:"url"`
	RequestHeaders  map[string]string `json:"request_headers"`
	Status          int               `json:"status"`
	ResponseHeaders map[string]string `json:"response_headers"`
	// EdgeError is the reason code of a response the Gatehouse edge made
	// itself ({"error": "<reason>"}).
	EdgeError string    `json:"edge_error,omitempty"`
	Problems  []Problem `json:"problems"`
}

// Report is the outcome of Check.
type Report struct {
	URL         string `json:"url"`
	Origin      string `json:"origin"`
	Method      string `json:"method"`
	Credentials bool   `json:"credentials"`
	// PreflightReasons say why a preflight is needed; empty when the
	// request is simple.
	PreflightReasons []string   `json:"preflight_reasons"`
	Exchanges        []Exchange `json:"exchanges"`
	// Allowed is true when a browser lets the page read the response.
	Allowed bool `json:"allowed"`
	// Note adds what is worth knowing about an allowed response (an
	// error status the page can read).
	Note string `json:"note,omitempty"`
}

// Problems returns every problem found, in order.
func (r *Report) Problems() []Problem {
	var out []Problem
	for _, e := range r.Exchanges {
		out = append(out, e.Problems...)
	}
	return out
}

// edgePreflightVary is the Vary of every preflight the edge answers.
const edgePreflightVary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

func orNone(names []string) string {
	if len(names) == 0 {
		return "no header"
	}
	return strings.Join(names, ", ")
}

// shownHeaders are the response headers a report shows.
var shownHeaders = []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods",
	"Access-Control-Allow-Headers", "Access-Control-Max-Age", "Access-Control-Expose-Headers", "Vary", "Location", "Content-Type"}

// ParseRequest checks a Request and fills in its defaults.
func ParseRequest(r Request) (Request, [][2]string, error) {
	if r.Method == "" {
		r.Method = "GET"
	}
	r.Method = strings.ToUpper(r.Method)
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return r, nil, fmt.Errorf("URL %q: must be an absolute http:// or https:// URL", r.URL)
	}
	o, err := url.Parse(r.Origin)
	if err != nil || o.Scheme == "" || o.Host == "" || (o.Path != "" && o.Path != "/") || o.RawQuery != "" {
		return r, nil, fmt.Errorf("origin %q: must be an origin such as https://app.example.com", r.Origin)
	}
	r.Origin = o.Scheme + "://" + o.Host
	var headers [][2]string
	for _, h := range r.Headers {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok {
			value = "1"
		}
		if name == "" || strings.ContainsAny(name, " \t") {
			return r, nil, fmt.Errorf("header %q: must be Name or Name: value", h)
		}
		headers = append(headers, [2]string{name, value})
	}
	return r, headers, nil
}

// PreflightReasons says why the Fetch standard requires a preflight for
// req; it is empty for a simple request (or a malformed one).
func PreflightReasons(req Request) []string {
	req, headers, err := ParseRequest(req)
	if err != nil {
		return nil
	}
	return preflightReasons(req.Method, unsafeHeaderNames(headers))
}

func preflightReasons(method string, unsafe []string) []string {
	out := []string{}
	if !safelistedMethod(method) {
		out = append(out, "method "+method+" is not CORS-safelisted")
	}
	for _, n := range unsafe {
		out = append(out, "header "+n+" is not CORS-safelisted")
	}
	return out
}

// Check performs the request the way a browser would: a preflight when
// the Fetch standard requires one, then the request itself, each followed
// by the browser's CORS checks. client must not follow redirects (Check
// sets CheckRedirect on a copy). The error is a network failure only; a
// blocked request is a Report with Allowed false.
func Check(ctx context.Context, client *http.Client, req Request) (*Report, error) {
	req, headers, err := ParseRequest(req)
	if err != nil {
		return nil, err
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	rep := &Report{URL: req.URL, Origin: req.Origin, Method: req.Method, Credentials: req.Credentials}
	unsafe := unsafeHeaderNames(headers)
	rep.PreflightReasons = preflightReasons(req.Method, unsafe)

	if len(rep.PreflightReasons) > 0 {
		// Browsers never send credentials on a preflight.
		h := [][2]string{{"Origin", req.Origin}, {"Access-Control-Request-Method", req.Method}}
		if len(unsafe) > 0 {
			h = append(h, [2]string{"Access-Control-Request-Headers", strings.Join(unsafe, ",")})
		}
		h = append(h, [2]string{"Sec-Fetch-Mode", "cors"})
		ex, resp, err := send(ctx, &c, "preflight", http.MethodOptions, req.URL, h)
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			ex.Problems = append(ex.Problems, redirectProblem(resp.StatusCode, resp.Header.Get("Location")))
		case resp.StatusCode < 200 || resp.StatusCode > 299:
			p := edgeFix(resp.StatusCode, ex.EdgeError)
			if p.Message == "" {
				p = Problem{Cause: CausePreflightRefused, Message: "preflight got " + statusText(resp.StatusCode) + "; browsers need a 2xx answer",
					Fix: "answer OPTIONS with 2xx: set the app's cors_headers so the edge answers, or options_preflight_bypass with an origin that answers preflights"}
			}
			ex.Problems = append(ex.Problems, p)
		default:
			ex.Problems = append(ex.Problems, corsCheck(req.Origin, req.Credentials, resp.Header, "the preflight answer")...)
			if len(ex.Problems) > 0 && resp.Header.Get("Access-Control-Allow-Origin") == "" && resp.Header.Get("Vary") == edgePreflightVary {
				// The edge's answer to a disallowed preflight carries no
				// allow headers at all, whichever part was refused.
				ex.Problems[0].Cause = CausePreflightDisallowed
				ex.Problems[0].Fix = "the edge's cors_headers refuse this preflight: check that " + req.Origin + " is in allowed_origins, " +
					req.Method + " in allowed_methods and " + orNone(unsafe) + " in allowed_headers (or the allow_all_ settings)"
			}
			if len(ex.Problems) == 0 {
				ex.Problems = append(ex.Problems, preflightCheck(req.Method, unsafe, req.Credentials, resp.Header)...)
			}
		}
		rep.Exchanges = append(rep.Exchanges, ex)
		if len(ex.Problems) > 0 {
			return rep, nil
		}
	}

	h := [][2]string{{"Origin", req.Origin}, {"Sec-Fetch-Mode", "cors"}}
	h = append(h, headers...)
	if req.Credentials && req.Cookie != "" {
		h = append(h, [2]string{"Cookie", req.Cookie})
	}
	ex, resp, err := send(ctx, &c, "request", req.Method, req.URL, h)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "" {
		ex.Problems = append(ex.Problems, redirectProblem(resp.StatusCode, resp.Header.Get("Location")))
	} else {
		ex.Problems = append(ex.Problems, corsCheck(req.Origin, req.Credentials, resp.Header, "the response")...)
		if len(ex.Problems) > 0 && ex.EdgeError != "" {
			// The edge made this response: say why it refused, too.
			if p := edgeFix(resp.StatusCode, ex.EdgeError); p.Message != "" {
				ex.Problems = append(ex.Problems, p)
			}
		}
	}
	rep.Exchanges = append(rep.Exchanges, ex)
	rep.Allowed = len(ex.Problems) == 0
	if rep.Allowed && resp.StatusCode >= 400 {
		rep.Note = "the page can read the response, but it is " + statusText(resp.StatusCode)
		if p := edgeFix(resp.StatusCode, ex.EdgeError); p.Message != "" {
			rep.Note = p.String()
		}
	}
	return rep, nil
}

func send(ctx context.Context, c *http.Client, step, method, target string, h [][2]string) (Exchange, *http.Response, error) {
	ex := Exchange{Step: step, Method: method, URL: target, RequestHeaders: map[string]string{}, ResponseHeaders: map[string]string{}, Problems: []Problem{}}
	r, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return ex, nil, err
	}
	for _, kv := range h {
		r.Header.Add(kv[0], kv[1])
		ex.RequestHeaders[http.CanonicalHeaderKey(kv[0])] = r.Header.Get(kv[0])
	}
	resp, err := c.Do(r)
	if err != nil {
		return ex, nil, fmt.Errorf("%s %s: %w", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	ex.Status = resp.StatusCode
	for _, name := range shownHeaders {
		if v := resp.Header.Values(name); len(v) > 0 {
			ex.ResponseHeaders[name] = strings.Join(v, ", ")
		}
	}
	ex.EdgeError = edgeError(resp.Header.Get("Content-Type"), body)
	return ex, resp, nil
}

// edgeError returns the reason code of a Gatehouse edge error body.
func edgeError(contentType string, body []byte) string {
	if !strings.HasPrefix(contentType, "application/json") {
		return ""
	}
	var b struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	return b.Error
}
