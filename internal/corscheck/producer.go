package corscheck

import "strings"

// Producer kinds: the tools whose HAR files the doctor knows.
const (
	ProducerChrome     = "chrome"     // Chromium's DevTools ("WebInspector")
	ProducerFirefox    = "firefox"    // Firefox's network panel
	ProducerSafari     = "safari"     // Safari's Web Inspector
	ProducerPlaywright = "playwright" // Playwright's recordHar
	ProducerChromeHAR  = "chrome-har" // the chrome-har library (DevTools events)
	ProducerProxy      = "proxy"      // an HTTP proxy (Charles, mitmproxy, Fiddler)
	ProducerUnknown    = "unknown"
)

// Producer is the tool that wrote a HAR file, from log.creator, and what
// its files record.
type Producer struct {
	Name    string `json:"name"` // log.creator.name
	Version string `json:"version"`
	Kind    string `json:"kind"`
	// RecordsPreflights: CORS preflights are entries of their own.
	RecordsPreflights bool `json:"records_preflights"`
	// RecordsFailed: a request that failed is an entry (with status 0 or
	// -1 and the error).
	RecordsFailed bool `json:"records_failed"`
	// RecordsUnsent: a request the browser blocked before sending it (after
	// a failed preflight) is an entry.
	RecordsUnsent bool `json:"records_unsent"`
}

// Label names the producer in a sentence.
func (p Producer) Label() string {
	switch p.Kind {
	case ProducerChrome:
		return "Chrome's DevTools export"
	case ProducerFirefox:
		return "Firefox's export"
	case ProducerSafari:
		return "Safari's export"
	case ProducerPlaywright:
		return "Playwright's recordHar"
	case ProducerChromeHAR:
		return "chrome-har"
	case ProducerProxy:
		return "a proxy (" + p.Name + ")"
	}
	if p.Name != "" {
		return p.Name
	}
	return "this file's producer"
}

// DetectProducer tells which tool wrote h, from log.creator.name. What
// each records was observed on real exports (internal/corscheck/testdata/har)
// for Chromium, Playwright and chrome-har; for the others it is what a
// browser panel or a proxy can see.
func DetectProducer(h *HAR) Producer {
	name := h.Log.Creator.Name
	p := Producer{Name: name, Version: h.Log.Creator.Version, Kind: ProducerUnknown, RecordsPreflights: true, RecordsFailed: true, RecordsUnsent: true}
	n := strings.ToLower(name)
	switch {
	case n == "webinspector":
		p.Kind = ProducerChrome
	case strings.Contains(n, "firefox"):
		p.Kind = ProducerFirefox
	case strings.Contains(n, "webkit") || strings.Contains(n, "safari"):
		p.Kind = ProducerSafari
	case strings.Contains(n, "playwright"):
		p.Kind = ProducerPlaywright
		// Playwright records the request the page made, as status -1 with
		// _failureText when it failed, and never the preflight.
		p.RecordsPreflights = false
	case n == "chrome-har":
		p.Kind = ProducerChromeHAR
		// chrome-har drops every request that ends in Network.loadingFailed.
		p.RecordsFailed = false
		p.RecordsUnsent = false
	case strings.Contains(n, "charles") || strings.Contains(n, "mitmproxy") || strings.Contains(n, "fiddler"):
		p.Kind = ProducerProxy
		p.RecordsFailed = false
		p.RecordsUnsent = false
	}
	return p
}
