// Command edgebench measures the Gatehouse edge on loopback: its
// throughput and latency when proxying authenticated requests, compared
// with a bare httputil.ReverseProxy in front of the same origin, and how
// long a change made through the control-plane API takes to be enforced.
//
// It builds everything in one process on a fresh database created in
// DATABASE_URL's cluster, and drops that database when done:
//
//	go run ./cmd/withpg -- go run ./cmd/edgebench -duration 5s
//
// With -scale it is the scale harness instead (make bench-scale): it
// builds a small and a large configuration, each in a database of its own
// (the bulk with store.SeedBulk), runs `gatehouse edge` against each as a
// separate process, and prints the propagation, CPU, memory, start, API
// list and throughput figures of both side by side.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgebench:", err)
		os.Exit(1)
	}
}

// config is the harness's configuration, from flags.
type config struct {
	databaseURL string
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	rounds      int
	writes      int
	targets     []string
	cpuProfile  string
	scale       scaleConfig
}

// targetNames are the load targets, in the order they run; all run by
// default. bare-cookie is the bare proxy sent the session target's exact
// request, to tell the cost of carrying the cookie from the edge's own.
var (
	targetNames    = []string{"bare", "bare-cookie", "session", "session-log", "token", "preflight"}
	defaultTargets = targetNames
)

func parseFlags(args []string, getenv func(string) string, out io.Writer) (config, error) {
	var c config
	var targets string
	fs := flag.NewFlagSet("edgebench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.databaseURL, "database-url", getenv("DATABASE_URL"), "PostgreSQL cluster to create the benchmark's database in (env DATABASE_URL)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time per load target")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured warm-up before each load target")
	fs.IntVar(&c.concurrency, "concurrency", 32, "concurrent keep-alive clients per load target")
	fs.IntVar(&c.rounds, "rounds", 5, "split each target's duration into this many slices, taken in turn with the other targets' (1: each target in one go)")
	fs.IntVar(&c.writes, "writes", 200, "API writes for the propagation measurement (0 skips it)")
	fs.StringVar(&targets, "targets", strings.Join(defaultTargets, ","), "comma-separated load targets to run, of "+strings.Join(targetNames, ", "))
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the load runs to this file")
	c.scale.register(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.targets = strings.Split(targets, ",")
	return c, c.validate()
}

func (c config) validate() error {
	var errs []error
	if c.databaseURL == "" {
		errs = append(errs, errors.New("no database: set DATABASE_URL or -database-url (make bench-edge starts a throwaway cluster)"))
	}
	if c.duration <= 0 {
		errs = append(errs, fmt.Errorf("-duration %v: must be positive", c.duration))
	}
	if c.warmup < 0 {
		errs = append(errs, fmt.Errorf("-warmup %v: must not be negative", c.warmup))
	}
	if c.concurrency < 1 || c.concurrency > 4096 {
		errs = append(errs, fmt.Errorf("-concurrency %d: must be between 1 and 4096", c.concurrency))
	}
	if c.rounds < 1 || c.duration/time.Duration(max(c.rounds, 1)) < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("-rounds %d: must be at least 1, with slices of -duration of at least 100ms", c.rounds))
	}
	if c.writes < 0 {
		errs = append(errs, fmt.Errorf("-writes %d: must not be negative", c.writes))
	}
	for _, t := range c.targets {
		if !slices.Contains(targetNames, t) {
			errs = append(errs, fmt.Errorf("-targets: unknown target %q (want some of %s)", t, strings.Join(targetNames, ", ")))
		}
	}
	if c.scale.on {
		errs = append(errs, c.scale.validate())
	}
	return errors.Join(errs...)
}

// run sets up the stack, runs the load targets and the propagation
// measurement, and prints the results to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if cfg.scale.on {
		return runScale(ctx, cfg, log, stdout)
	}

	s, err := startStack(ctx, cfg.databaseURL, log)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	defer s.close()

	printConfig(stdout, cfg, s)
	results, err := runLoad(ctx, cfg, s)
	if err != nil {
		return err
	}
	printResults(stdout, results)

	if cfg.writes > 0 {
		fmt.Fprintf(stdout, "\nmeasuring propagation over %d API writes...\n", cfg.writes)
		p, err := measurePropagation(ctx, s, cfg.writes)
		if err != nil {
			return fmt.Errorf("propagation: %w", err)
		}
		printPropagation(stdout, p)
	}
	for _, r := range results {
		if r.errors > 0 {
			return fmt.Errorf("%s: %d requests failed (first: %s)", r.name, r.errors, r.firstError)
		}
	}
	return nil
}

// runLoad checks each selected target, then measures them in turn, round
// after round, so that a change in what else runs on the machine affects
// them alike. Each target warms up before its first slice only; its
// connections stay open between slices.
func runLoad(ctx context.Context, cfg config, s *stack) ([]result, error) {
	targets, err := s.targets(cfg.targets)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	loads := make([]*load, len(targets))
	for i, t := range targets {
		if err := t.probe(ctx); err != nil {
			return nil, fmt.Errorf("setup: %s does not answer as expected: %w", t.name, err)
		}
		if loads[i], err = newLoad(ctx, t, cfg.concurrency); err != nil {
			return nil, fmt.Errorf("setup: %s: %w", t.name, err)
		}
		defer loads[i].close()
	}
	if cfg.cpuProfile != "" {
		stop, err := startCPUProfile(cfg.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	slice := cfg.duration / time.Duration(cfg.rounds)
	for round := range cfg.rounds {
		warmup := time.Duration(0)
		if round == 0 {
			warmup = cfg.warmup
		}
		for _, l := range loads {
			if err := l.run(ctx, warmup, slice); err != nil {
				return nil, err
			}
		}
	}
	results := make([]result, len(loads))
	for i, l := range loads {
		results[i] = l.result()
	}
	return results, nil
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func printConfig(w io.Writer, cfg config, s *stack) {
	fmt.Fprintf(w, "edgebench: %s %s/%s, GOMAXPROCS=%d (NumCPU=%d)\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Fprintf(w, "concurrency %d, %v measured per target in %d interleaved slices after %v warm-up; loopback HTTP/1.1 keep-alive\n",
		cfg.concurrency, cfg.duration, cfg.rounds, cfg.warmup)
	fmt.Fprintf(w, "origin body %d bytes; session token (cookie, and assertion to the origin) %d bytes\n", len(originBody), len(s.session))
	fmt.Fprintln(w, "note: the load generator runs in this process and shares the CPUs with the servers; every target is measured the same way.")
	fmt.Fprintf(w, "cpu: CPUs this process kept busy (%d%% = all of GOMAXPROCS; less: other processes competed, or the servers idled).\n", 100*runtime.GOMAXPROCS(0))
	fmt.Fprintln(w, "cpu/req: this process's CPU time per request (client + servers + origin); it moves less than req/s when other")
	fmt.Fprintln(w, "  processes compete. \"cpu ratio\" = bare cpu/req / target cpu/req.")
	fmt.Fprintln(w)
}

func printResults(w io.Writer, results []result) {
	fmt.Fprintf(w, "%-38s %8s %9s %9s %7s %6s %9s\n", "target", "req/s", "p50", "p99", "errors", "cpu", "cpu/req")
	var bare, bareCookie, session *result
	for i := range results {
		switch results[i].name {
		case bareName:
			bare = &results[i]
		case bareName + " + cookie":
			bareCookie = &results[i]
		case sessionName:
			session = &results[i]
		}
	}
	for _, r := range results {
		line := fmt.Sprintf("%-38s %8.0f %9s %9s %7d %5.0f%% %7.0fµs", r.name, r.rate(), ms(r.p50), ms(r.p99), r.errors,
			100*r.cpus(), float64(r.cpuPerRequest())/float64(time.Microsecond))
		if bare != nil && r.name != bareName && r.proxied {
			line += fmt.Sprintf("   ratio %.2fx", r.rate()/bare.rate())
			if r.cpuTime > 0 {
				line += fmt.Sprintf(" (cpu ratio %.2fx)", float64(bare.cpuPerRequest())/float64(r.cpuPerRequest()))
			}
		}
		if session != nil && r.name == sessionLogName {
			line += fmt.Sprintf(", %.2fx of the edge without the log", r.rate()/session.rate())
		}
		if bareCookie != nil && r.name == sessionName {
			// The same request, byte for byte: what Gatehouse itself adds.
			line += fmt.Sprintf(", %.2fx of bare + cookie", r.rate()/bareCookie.rate())
		}
		if r.errors > 0 {
			line += "   FLAGGED: " + r.firstError
		}
		fmt.Fprintln(w, line)
	}
	for _, r := range results {
		if r.logs {
			fmt.Fprintf(w, "access log: %.0f rows/s written while %s was measured (%d rows); %d dropped, %d waiting at the end\n",
				float64(r.logged)/r.window.Seconds(), r.name, r.logged, r.dropped, r.waiting)
		}
	}
}

func printPropagation(w io.Writer, p propagation) {
	fmt.Fprintf(w, "propagation (API write -> edge enforces), %d writes: p50 %s p99 %s max %s\n",
		p.writes, ms(p.afterAnswer.p50), ms(p.afterAnswer.p99), ms(p.afterAnswer.max))
	fmt.Fprintln(w, "  measured from the API's 200 answer to the PUT (the change is committed) to the first edge preflight carrying the new Access-Control-Max-Age")
	fmt.Fprintf(w, "  including the PUT itself (request sent -> enforced): p50 %s p99 %s max %s\n",
		ms(p.total.p50), ms(p.total.p99), ms(p.total.max))
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
