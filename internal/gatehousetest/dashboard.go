package gatehousetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
)

// NewDashboardAPI is NewAPI with the web dashboard mounted in front of
// the API handler, as gatehouse serve mounts it, so a browser can open
// URL + "/dashboard/" and call the API on the same origin.
func NewDashboardAPI(tb testing.TB, opts ...api.Option) *API {
	tb.Helper()
	return serveAPI(tb, Store(tb), dashboard.Mount, opts...)
}

// Run runs chromedp actions in the tab, bounded by ActionTimeout, and
// fails the test if one fails.
func (b *Browser) Run(tb testing.TB, what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	run(tb, b, what, chromedp.Steps(steps...))
}

// SetViewport sets the tab's window size in CSS pixels.
func (b *Browser) SetViewport(tb testing.TB, width, height int64) {
	tb.Helper()
	run(tb, b, "set viewport", chromedp.EmulateViewport(width, height))
}

var screenshotName = regexp.MustCompile(`[^a-z0-9_-]+`)

// Screenshot saves a PNG of the viewport as <name>.png in the directory
// named by GATEHOUSE_SCREENSHOTS, and does nothing when that is unset.
func (b *Browser) Screenshot(tb testing.TB, name string) {
	tb.Helper()
	dir := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := run(tb, b, "screenshot "+name, chromedp.CaptureScreenshot())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	file := filepath.Join(dir, screenshotName.ReplaceAllString(name, "-")+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("screenshot %s", file)
}

// WaitJS polls a JavaScript expression until it is truthy, up to
// ActionTimeout, and fails the test with what otherwise.
func (b *Browser) WaitJS(tb testing.TB, what, js string) {
	tb.Helper()
	run(tb, b, "wait for "+what, chromedp.Poll[bool](fmt.Sprintf("Boolean(%s)", js), chromedp.WithPollingTimeout(ActionTimeout-ActionTimeout/10)))
}

// PreferColorScheme makes the page see prefers-color-scheme: scheme
// ("dark" or "light"; "" restores the system's).
func (b *Browser) PreferColorScheme(tb testing.TB, scheme string) {
	tb.Helper()
	var features []*emulation.MediaFeature
	if scheme != "" {
		features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	run(tb, b, "prefer color scheme "+scheme, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features})
		return err
	}))
}

// SetJavaScript turns the page's scripts off in the tab (as for a user
// who turned JavaScript off) or back on. With scripts off, Eval of a
// plain expression still works, but Axe, which waits on timers, does not.
func (b *Browser) SetJavaScript(tb testing.TB, enabled bool) {
	tb.Helper()
	run(tb, b, "set JavaScript", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !enabled})
		return err
	}))
}
