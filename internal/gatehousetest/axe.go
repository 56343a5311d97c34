package gatehousetest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// AxePath is the path of axe-core's axe.min.js in the source tree: the
// test-only npm dependency declared in e2e/a11y, installed by make test.
func AxePath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "e2e", "a11y", "node_modules", "axe-core", "axe.min.js")
}

// AxeTags are the rule sets an audit runs: WCAG 2.0 and 2.1, levels A
// and AA.
var AxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// Violation is one axe-core rule that a page breaks, with the elements
// that break it.
type Violation struct {
	// Context says which page or state was audited, as given to Axe.
	Context string `json:"-"`
	// ID is the rule, such as color-contrast or label.
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	// HelpURL explains the rule and how to meet it.
	HelpURL string          `json:"helpUrl"`
	Nodes   []ViolationNode `json:"nodes"`
}

// ViolationNode is one element that breaks a rule.
type ViolationNode struct {
	// Target is the CSS selector of the element (one per frame or
	// shadow root on the way to it).
	Target []string `json:"target"`
	// HTML is the element's start, as axe prints it.
	HTML string `json:"html"`
	// Summary says what to fix, such as the contrast measured.
	Summary string `json:"failureSummary"`
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s (%s): %s", v.Context, v.ID, v.Impact, v.Help)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n\t%s  %s\n\t\t%s", strings.Join(n.Target, " >> "), n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n\t\t"))
	}
	return b.String()
}

var axeSource struct {
	once sync.Once
	js   string
	err  error
}

// axeRunJS runs axe on the whole document with the rule sets of tags and
// returns its violations, each node reduced to its target, HTML and
// failure summary.
const axeRunJS = `(async (tags) => {
	const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
	return r.violations.map((v) => ({id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map((n) => ({target: n.target.map((t) => Array.isArray(t) ? t.join(' ') : String(t)),
			html: n.html, failureSummary: n.failureSummary || ''}))}));
})(%s)`

// Axe audits the current page with axe-core against WCAG 2.0 and 2.1 A
// and AA (AxeTags) and returns the violations, each marked with context
// (which page or state this is). axe.min.js is evaluated through DevTools,
// which the page's Content Security Policy does not govern, once per
// loaded document. Without axe.min.js the test fails, telling how to
// install it.
func (b *Browser) Axe(tb testing.TB, context string) []Violation {
	tb.Helper()
	axeSource.once.Do(func() {
		src, err := os.ReadFile(AxePath())
		axeSource.js, axeSource.err = string(src), err
	})
	if axeSource.err != nil {
		tb.Fatalf("axe-core is not installed (%v): run make test, or npm ci in e2e/a11y", axeSource.err)
	}
	var loaded bool
	b.Eval(tb, `typeof window.axe === 'object' && typeof window.axe.run === 'function'`, &loaded)
	if !loaded {
		// Not through Eval, which would print the whole source on failure.
		run(tb, b, "inject axe-core", chromedp.Evaluate[chromedp.Void](axeSource.js+"\n;true"))
	}
	tags, _ := json.Marshal(AxeTags)
	var vs []Violation
	b.Eval(tb, fmt.Sprintf(axeRunJS, tags), &vs)
	for i := range vs {
		vs[i].Context = context
	}
	return vs
}
