package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"
)

// scaleConfig configures the scale harness (-scale): one run builds a
// small configuration and a large one, measures the same figures on both
// and prints them side by side.
type scaleConfig struct {
	on              bool
	apps, tokens    int
	shared, idps    int
	baseApps        int
	changes, burst  int
	budget, timeout time.Duration
	load            time.Duration
	listSamples     int
	gatehouse       string
	startTimeout    time.Duration
	settle          time.Duration
	stateDir, keep  bool
}

func (c *scaleConfig) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.on, "scale", false, "run the scale harness instead of the load targets: a small and a large configuration, side by side")
	fs.IntVar(&c.apps, "scale-apps", 100_000, "apps in the large configuration")
	fs.IntVar(&c.tokens, "scale-tokens", 1_000_000, "service tokens in the large configuration")
	fs.IntVar(&c.shared, "scale-shared", 0, "apps linked to the one shared reusable policy (0: a tenth of -scale-apps); each other app has a policy of its own")
	fs.IntVar(&c.idps, "scale-idps", 3, "identity providers in each configuration")
	fs.IntVar(&c.baseApps, "scale-base-apps", 10, "apps in the small configuration (tokens and shared apps in the same proportion as the large one)")
	fs.IntVar(&c.changes, "scale-changes", 100, "single changes whose propagation is measured (app updates, token creates, shared policy updates, revocations in turn)")
	fs.IntVar(&c.burst, "scale-burst", 200, "API writes in the burst")
	fs.DurationVar(&c.budget, "scale-budget", 2*time.Minute, "time after which the single-change measurement stops early (and says so)")
	fs.DurationVar(&c.timeout, "scale-timeout", time.Minute, "longest wait for one change, or the whole burst, to be enforced")
	fs.DurationVar(&c.startTimeout, "scale-start-timeout", time.Minute, "longest wait for a starting edge to serve")
	fs.DurationVar(&c.load, "scale-load", 3*time.Second, "measured time of each throughput figure (after -warmup)")
	fs.IntVar(&c.listSamples, "scale-list-samples", 20, "requests per API list page measured")
	fs.DurationVar(&c.settle, "scale-settle", time.Second, "pause between measurements, before waiting until the edge is quiet, so that one's trailing work does not count in the next")
	fs.BoolVar(&c.stateDir, "scale-state-dir", true, "give the edge a --state-dir, when it has the flag (false: measure it without)")
	fs.BoolVar(&c.keep, "scale-keep", false, "keep each configuration's directory (the edge's log and state) and say where")
	fs.StringVar(&c.gatehouse, "gatehouse", "", "gatehouse binary to run as the edge (default: go build ./cmd/gatehouse into a temporary directory)")
}

func (c scaleConfig) validate() error {
	var errs []error
	if c.baseApps < 2 || c.apps < c.baseApps {
		errs = append(errs, fmt.Errorf("-scale-base-apps %d, -scale-apps %d: want 2 <= base apps <= apps", c.baseApps, c.apps))
	}
	if c.tokens < 0 || c.idps < 1 {
		errs = append(errs, fmt.Errorf("-scale-tokens %d, -scale-idps %d: want tokens >= 0 and at least one identity provider", c.tokens, c.idps))
	}
	if c.shared < 0 || c.shared >= c.apps {
		errs = append(errs, fmt.Errorf("-scale-shared %d: must be between 1 and -scale-apps - 1 (0: a tenth of the apps)", c.shared))
	}
	if c.changes < int(numChangeKinds) || c.burst < 2 || c.listSamples < 1 {
		errs = append(errs, fmt.Errorf("-scale-changes %d, -scale-burst %d, -scale-list-samples %d: want at least %d, 2 and 1",
			c.changes, c.burst, c.listSamples, numChangeKinds))
	}
	if c.budget <= 0 || c.timeout <= 0 || c.startTimeout <= 0 || c.settle < 0 || c.load < 100*time.Millisecond {
		errs = append(errs, errors.New("-scale-budget, -scale-timeout and -scale-start-timeout must be positive, -scale-settle not negative, -scale-load at least 100ms"))
	}
	return errors.Join(errs...)
}

// sizes are the small and the large configuration.
func (c scaleConfig) sizes() (small, large scaleSize) {
	shared := c.shared
	if shared == 0 {
		shared = max(c.apps/10, 1)
	}
	large = scaleSize{apps: c.apps, tokens: c.tokens, shared: shared, idps: c.idps}
	small = scaleSize{apps: c.baseApps, tokens: c.tokens * c.baseApps / c.apps, shared: max(shared*c.baseApps/c.apps, 1), idps: c.idps}
	return small, large
}

// scaleFigures are everything measured on one configuration.
type scaleFigures struct {
	size    scaleSize
	seed    time.Duration
	startDB time.Duration
	// peakDB and peakState are the peak RSS (VmHWM) over the life of the
	// edge started from the database (the load, the state's first base,
	// every measurement) and of the one restarted from its state.
	peakDB, peakState int64
	startState        time.Duration // 0: not measured (see stateNote)
	startNoDB         time.Duration
	stateNote         string
	changes           changesFigures
	burst             burstFigures
	lists             listFigures
	rate              float64 // edge service-token req/s
	rateWrites        float64 // the same while changes are applied
	writes            int     // changes applied during rateWrites
	errs              []error
}

// runScale builds the gatehouse binary, then measures the small and the
// large configuration in turn and prints them side by side.
func runScale(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) error {
	sc := cfg.scale
	progress := func(format string, args ...any) {
		fmt.Fprintf(stdout, "%s  %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	bin := sc.gatehouse
	if bin == "" {
		dir, err := os.MkdirTemp("", "edgebench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		progress("building %s...", gatehousePackage)
		if bin, err = buildGatehouse(ctx, dir); err != nil {
			return err
		}
	}
	o := scaleOptions{adminURL: cfg.databaseURL, bin: bin, keep: sc.keep}
	stateDirs := supportsFlag(bin, "state-dir")
	o.stateDirs = stateDirs && sc.stateDir
	small, large := sc.sizes()
	fmt.Fprintf(stdout, "edgebench -scale: %s %s/%s, NumCPU=%d; `gatehouse edge` as a process of its own, API and origin in this process, loopback\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintf(stdout, "small: %s\nlarge: %s\n", small, large)
	switch {
	case !stateDirs:
		fmt.Fprintln(stdout, "note: this gatehouse edge has no --state-dir: starts from a snapshot are not measured")
	case !o.stateDirs:
		fmt.Fprintln(stdout, "note: -scale-state-dir=false: the edge runs without a state directory")
	}
	began := time.Now()
	var figs []scaleFigures
	for _, size := range []scaleSize{small, large} {
		f, err := measureScale(ctx, cfg, o, size, log, func(format string, args ...any) {
			progress("[%d apps] "+format, append([]any{size.apps}, args...)...)
		})
		if err != nil {
			return fmt.Errorf("%d apps: %w", size.apps, err)
		}
		figs = append(figs, f)
	}
	printScale(stdout, sc, figs[0], figs[1])
	fmt.Fprintf(stdout, "(the whole run, setup included, took %v)\n", time.Since(began).Round(time.Second))
	var errs []error
	for _, f := range figs {
		for _, err := range f.errs {
			errs = append(errs, fmt.Errorf("%d apps: %w", f.size.apps, err))
		}
	}
	return errors.Join(errs...)
}

// measureScale builds one configuration and measures it. An error in
// setting it up ends the run; one in a measurement is recorded in the
// figures and the other measurements go on.
func measureScale(ctx context.Context, cfg config, o scaleOptions, size scaleSize, log *slog.Logger, progress func(string, ...any)) (scaleFigures, error) {
	sc := cfg.scale
	f := scaleFigures{size: size}
	s, err := startScaleStack(ctx, o, size, log, progress)
	if err != nil {
		return f, err
	}
	defer s.close()
	defer s.stopEdge()
	f.seed = s.seedTime
	progress("seeded in %v; starting gatehouse edge...", s.seedTime.Round(time.Millisecond))
	if f.startDB, err = s.startEdge(ctx, true, sc.startTimeout); err != nil {
		return f, fmt.Errorf("edge start: %w", err)
	}
	if err := s.loadKeys(ctx); err != nil {
		return f, err
	}
	rss := startRSSSampler(s.edge.pid())
	closeRSS := sync1(rss.close)
	defer closeRSS()
	// Between measurements: a pause, then until the edge is quiet.
	settle := func(ctx context.Context) {
		sleepUntil(ctx, time.Now().Add(sc.settle))
		if s.edge == nil {
			return
		}
		if waited, err := waitQuiet(ctx, s.edge.pid(), sc.timeout); err != nil {
			progress("warning: %v", err)
		} else if waited > 2*quietWindow {
			progress("waited %v for the edge to be quiet", waited.Round(time.Millisecond))
		}
	}
	record := func(what string, err error) {
		if err != nil {
			progress("%s: FAILED: %v", what, err)
			f.errs = append(f.errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	progress("edge serves after %v", f.startDB.Round(time.Millisecond))
	settle(ctx)
	progress("measuring %d single changes...", sc.changes)
	f.changes, err = s.measureChanges(ctx, rss, sc.changes, sc.budget, sc.timeout)
	record("single changes", err)

	settle(ctx)
	progress("measuring a burst of %d writes...", sc.burst)
	f.burst, err = s.measureBurst(ctx, rss, sc.burst, sc.timeout)
	record("burst", err)

	settle(ctx)
	progress("measuring API list pages...")
	f.lists, err = s.measureLists(ctx, sc.listSamples)
	record("lists", err)

	progress("measuring edge throughput (%v, then %v while changes are applied)...", sc.load, sc.load)
	var r result
	r, _, err = s.measureThroughput(ctx, cfg.concurrency, cfg.warmup, sc.load, false)
	record("throughput", errors.Join(err, loadErr(r)))
	f.rate = r.rate()
	r, f.writes, err = s.measureThroughput(ctx, cfg.concurrency, cfg.warmup, sc.load, true)
	record("throughput while changing", errors.Join(err, loadErr(r)))
	f.rateWrites = r.rate()

	closeRSS()
	if !o.stateDirs {
		f.stateNote = "no --state-dir"
		return f, nil
	}
	// Let the edge write its state for the last changes.
	settle(ctx)
	progress("restarting the edge from its state directory...")
	f.peakDB, err = peakRSS(s.edge.pid())
	record("peak RSS", err)
	s.stopEdge()
	f.startState, err = s.startEdge(ctx, true, sc.startTimeout)
	record("start from the state directory", err)
	if err == nil {
		// Until its state is read, compiled and collected.
		settle(ctx)
		f.peakState, err = peakRSS(s.edge.pid())
		record("peak RSS", err)
	}
	progress("restarting the edge from its state directory, with the database unreachable...")
	s.stopEdge()
	f.startNoDB, err = s.startEdge(ctx, false, sc.startTimeout)
	record("start without the database", err)
	return f, nil
}

// sync1 returns f made safe to call more than once.
func sync1(f func()) func() {
	done := false
	return func() {
		if !done {
			done = true
			f()
		}
	}
}

func loadErr(r result) error {
	if r.errors > 0 {
		return fmt.Errorf("%d of %d requests failed (first: %s)", r.errors, r.requests, r.firstError)
	}
	return nil
}

// printScale prints each figure of the small and the large configuration
// side by side, with their ratio and the target.
func printScale(w io.Writer, sc scaleConfig, small, large scaleFigures) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-48s %14s %14s %10s  %s\n", "figure", fmt.Sprintf("%d apps", small.size.apps), fmt.Sprintf("%d apps", large.size.apps), "ratio", "target (large)")
	row := func(name, a, b, ratio, target string) {
		fmt.Fprintf(w, "%-48s %14s %14s %10s  %s\n", name, a, b, ratio, target)
	}
	dur := func(name string, a, b time.Duration, target string) {
		if a == 0 && b == 0 {
			row(name, "-", "-", "", target)
			return
		}
		row(name, ms(a), ms(b), ratio(float64(b), float64(a)), target)
	}
	mib := func(v int64) string { return fmt.Sprintf("%.0f MiB", float64(v)/(1<<20)) }
	pct := func(peak, steady int64) string {
		if steady == 0 {
			return "-"
		}
		return fmt.Sprintf("%+.1f %%", 100*(float64(peak)/float64(steady)-1))
	}

	row("bulk seed (setup, not a target)", secs(small.seed), secs(large.seed), "", "< 2 min")
	n := fmt.Sprintf("propagation, %d/%d single changes", small.changes.n, large.changes.n)
	if large.changes.budgetSpent || small.changes.budgetSpent {
		n += " (budget spent)"
	}
	dur(n+": p50", small.changes.all.p50, large.changes.all.p50, "")
	dur("  p99", small.changes.all.p99, large.changes.all.p99, "< 50 ms, <= 3x")
	for k := range numChangeKinds {
		dur(fmt.Sprintf("  %s: p50", k), small.changes.byKind[k].p50, large.changes.byKind[k].p50, "")
		dur(fmt.Sprintf("  %s: max", k), small.changes.byKind[k].max, large.changes.byKind[k].max, "")
	}
	dur("  API write during them: p99", small.changes.apiWrite.p99, large.changes.apiWrite.p99, "")
	row(fmt.Sprintf("burst of %d writes: edge CPU", sc.burst), secs(small.burst.edgeCPU), secs(large.burst.edgeCPU),
		ratio(float64(large.burst.edgeCPU), float64(small.burst.edgeCPU)), "< 0.5 s")
	dur("  propagation p50", small.burst.propagation.p50, large.burst.propagation.p50, "")
	dur("  propagation p99", small.burst.propagation.p99, large.burst.propagation.p99, "< 100 ms")
	dur("  first write to last enforced", small.burst.took, large.burst.took, "")
	dur("  API write p99 (edge catching up)", small.burst.apiWrite.p99, large.burst.apiWrite.p99, "unchanged")
	row("edge RSS steady", mib(small.changes.rssSteady), mib(large.changes.rssSteady),
		ratio(float64(large.changes.rssSteady), float64(small.changes.rssSteady)), "<= 1 GiB")
	row("  peak while applying single changes", pct(small.changes.rssPeak, small.changes.rssSteady), pct(large.changes.rssPeak, large.changes.rssSteady), "", "<= +10 %")
	row("  peak during the burst", pct(small.burst.rssPeak, small.burst.rssBefore), pct(large.burst.rssPeak, large.burst.rssBefore), "", "")
	row("  peak over the life of the edge started from the database", mib(small.peakDB), mib(large.peakDB), ratio(float64(large.peakDB), float64(small.peakDB)), "")
	row("  peak of the edge restarted from its state, once serving", mib(small.peakState), mib(large.peakState), ratio(float64(large.peakState), float64(small.peakState)), "")
	dur("edge start, from the database", small.startDB, large.startDB, "< 2 s")
	if small.stateNote != "" {
		row("edge start, from its state directory", small.stateNote, large.stateNote, "", "< 1 s")
		row("  with the database unreachable", small.stateNote, large.stateNote, "", "serves")
	} else {
		dur("edge start, from its state directory", small.startState, large.startState, "< 1 s")
		dur("  with the database unreachable", small.startNoDB, large.startNoDB, "serves")
	}
	dur("API list service tokens, page 1: p50", small.lists.tokensFirst, large.lists.tokensFirst, "< 20 ms")
	dur(fmt.Sprintf("  middle page (%d / %d): p50", small.lists.tokensMidPage, large.lists.tokensMidPage), small.lists.tokensMid, large.lists.tokensMid, "< 20 ms")
	dur("    its first read", small.lists.tokensMidCold, large.lists.tokensMidCold, "")
	dur(fmt.Sprintf("  last page (%d / %d): p50", small.lists.tokensDeepPage, large.lists.tokensDeepPage), small.lists.tokensDeep, large.lists.tokensDeep, "< 20 ms")
	dur("API list apps, page 1: p50", small.lists.appsFirst, large.lists.appsFirst, "< 20 ms")
	dur(fmt.Sprintf("  middle page (%d / %d): p50", small.lists.appsMidPage, large.lists.appsMidPage), small.lists.appsMid, large.lists.appsMid, "< 20 ms")
	dur("    its first read", small.lists.appsMidCold, large.lists.appsMidCold, "")
	dur(fmt.Sprintf("  last page (%d / %d): p50", small.lists.appsDeepPage, large.lists.appsDeepPage), small.lists.appsDeep, large.lists.appsDeep, "< 20 ms")
	row("edge throughput, service token (req/s)", fmt.Sprintf("%.0f", small.rate), fmt.Sprintf("%.0f", large.rate), ratio(large.rate, small.rate), ">= 0.9x")
	row(fmt.Sprintf("  while changes are applied (%d / %d)", small.writes, large.writes), fmt.Sprintf("%.0f", small.rateWrites), fmt.Sprintf("%.0f", large.rateWrites),
		ratio(large.rateWrites, small.rate), ">= 0.9x of small idle")
	fmt.Fprintln(w, "ratio: large / small. Propagation: from the API's answer to the first edge answer that shows the change (polled every", pollGap.String()+").")
	fmt.Fprintln(w, "Edge CPU: utime+stime of the edge process from the burst's first write to", burstSettle, "after its last was enforced, with a probe every 2ms.")
	var failed []string
	for _, f := range []scaleFigures{small, large} {
		for _, err := range f.errs {
			failed = append(failed, fmt.Sprintf("  %d apps: %v", f.size.apps, err))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "FAILED measurements (their figures are missing or partial):\n%s\n", strings.Join(failed, "\n"))
	}
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
