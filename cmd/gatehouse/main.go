// Command gatehouse runs Gatehouse: the control-plane API (serve), schema
// migrations (migrate) and the operator bootstrap commands (account,
// token). It only wires packages together.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/pgcluster"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(exitCode(err))
	}
}

// run executes one gatehouse command. Configuration comes from flags whose
// defaults are read from the environment through getenv.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	root := newRootCommand(ctx, getenv, stdout, stderr)
	root.SetArgs(args)
	return cliFailure(root.ExecuteContext(ctx))
}

// newRootCommand returns the gatehouse command with every subcommand.
func newRootCommand(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Gatehouse: a self-hosted access gateway with a Cloudflare Access compatible API",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Get().String(),
	}
	root.SetVersionTemplate("{{.Version}}")
	root.SetOut(stdout)
	root.SetErr(stderr)
	var databaseURL string
	root.PersistentFlags().StringVar(&databaseURL, "database-url", env("DATABASE_URL", ""), "PostgreSQL URL (env DATABASE_URL)")
	var localPG string // --local-postgres of the operator commands
	needDB := func() error {
		if err := useLocalPostgres(localPG, &databaseURL); err != nil {
			return err
		}
		if databaseURL == "" {
			return errors.New("no database: set DATABASE_URL or --database-url, or --local-postgres DIR for the cluster make run runs")
		}
		return nil
	}

	root.AddCommand(withConfigFile(serveCommand(ctx, env, &databaseURL, stdout, stderr), getenv))
	root.AddCommand(withConfigFile(edgeCommand(ctx, env, &databaseURL, stdout, stderr), getenv))
	root.AddCommand(versionCommand(stdout), healthcheckCommand(ctx, stdout))
	keysCmd := keysCommand(ctx, env, &databaseURL, stdout)
	root.AddCommand(keysCmd)
	root.AddCommand(corsCommand(ctx, stdout), doctorCommand(stdout))
	addClientCommands(root, env, stdout)
	addOrgCommands(root, keysCmd, env, stdout)
	root.AddCommand(statusCommand(env, stdout))
	root.AddCommand(logsCommand(env, stdout))

	migrateCmd := &cobra.Command{Use: "migrate", Short: "Apply or revert schema migrations"}
	migrateCmd.AddCommand(
		&cobra.Command{Use: "up", Short: "Apply all pending migrations", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := needDB(); err != nil {
					return err
				}
				return store.MigrateUp(databaseURL)
			}},
		&cobra.Command{Use: "down [N]", Short: "Revert the last N migrations (default 1; 'all' for every one)", Args: cobra.MaximumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := needDB(); err != nil {
					return err
				}
				steps := 1
				if len(args) == 1 {
					if args[0] == "all" {
						steps = 0
					} else if n, err := strconv.Atoi(args[0]); err == nil && n > 0 {
						steps = n
					} else {
						return fmt.Errorf("migrate down: N must be a positive number or 'all'")
					}
				}
				return store.MigrateDown(databaseURL, steps)
			}},
		&cobra.Command{Use: "version", Short: "Print the applied schema version", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := needDB(); err != nil {
					return err
				}
				v, dirty, err := store.MigrationVersion(databaseURL)
				if err != nil {
					return err
				}
				suffix := ""
				if dirty {
					suffix = " (dirty: a migration failed part-way; fix it, then force the version)"
				}
				fmt.Fprintf(stdout, "%d%s\n", v, suffix)
				return nil
			}},
	)
	localPostgresFlag(migrateCmd, env, &localPG)
	root.AddCommand(migrateCmd)

	accountCmd := &cobra.Command{Use: "account", Short: "Manage accounts"}
	accountCmd.AddCommand(&cobra.Command{Use: "create NAME", Short: "Create an account and print its id", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needDB(); err != nil {
				return err
			}
			st, err := openStore(ctx, databaseURL)
			if err != nil {
				return err
			}
			defer st.Close()
			a, err := st.CreateAccount(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, a.ID)
			return nil
		}})
	accountCmd.AddCommand(accountDomainsCommand(ctx, needDB, &databaseURL, stdout))
	localPostgresFlag(accountCmd, env, &localPG)
	root.AddCommand(accountCmd)

	tokenCmd := &cobra.Command{Use: "token", Short: "Manage API tokens"}
	var tokenAccount, tokenName string
	var readOnly bool
	create := &cobra.Command{Use: "create", Short: "Create an API token and print it (shown only once)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needDB(); err != nil {
				return err
			}
			if tokenAccount == "" {
				return errors.New("token create: --account is required")
			}
			st, err := openStore(ctx, databaseURL)
			if err != nil {
				return err
			}
			defer st.Close()
			_, value, err := st.CreateAPIToken(ctx, tokenAccount, tokenName, readOnly)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, value)
			return nil
		}}
	create.Flags().StringVar(&tokenAccount, "account", "", "account id (required)")
	create.Flags().StringVar(&tokenName, "name", "cli", "a name for the token")
	create.Flags().BoolVar(&readOnly, "read-only", false, "the token may only read")
	tokenCmd.AddCommand(create)
	localPostgresFlag(tokenCmd, env, &localPG)
	root.AddCommand(tokenCmd)

	hideSecretDefaults(root)
	return root
}

// secretFlags take secrets, whose values --help must not print as
// defaults when their environment variable holds them.
var secretFlags = []string{"database-url", "master-key", "smtp-password"}

// hideSecretDefaults blanks the shown default of every secret flag of
// cmd and its subcommands.
func hideSecretDefaults(cmd *cobra.Command) {
	for _, fs := range []*pflag.FlagSet{cmd.LocalFlags(), cmd.PersistentFlags()} {
		for _, name := range secretFlags {
			if f := fs.Lookup(name); f != nil && f.DefValue != "" {
				f.DefValue = ""
			}
		}
	}
	for _, sub := range cmd.Commands() {
		hideSecretDefaults(sub)
	}
}

func openStore(ctx context.Context, url string, opts ...store.Option) (*store.Store, error) {
	st, err := store.Open(ctx, url, opts...)
	if err != nil {
		return nil, err
	}
	if err := st.Ping(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("database unreachable: %w", err)
	}
	return st, nil
}

func serveCommand(ctx context.Context, env func(string, string) string, databaseURL *string, stdout, stderr io.Writer) *cobra.Command {
	var apiAddr, localPG, logFormat string
	var bootstrap, migrate, noEdge bool
	var ef edgeFlags
	var mf metricsFlags
	var tf timeoutFlags
	var af apiTLSFlags
	var dbTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control-plane API and the edge",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logFormat, stderr)
			if err != nil {
				return err
			}
			if _, _, err := net.SplitHostPort(apiAddr); err != nil {
				return fmt.Errorf("--api-addr %q: must be host:port", apiAddr)
			}
			if err := mf.validate(); err != nil {
				return err
			}
			if err := tf.validate(); err != nil {
				return err
			}
			if dbTimeout <= 0 {
				return fmt.Errorf("--db-timeout %v: must be positive", dbTimeout)
			}
			apiTLS, err := af.tlsConfig(log)
			if err != nil {
				return err
			}
			// The API and dashboard trust the edge's proxies: they
			// usually stand behind the same one.
			proxies, err := ef.proxies()
			if err != nil {
				return err
			}
			url := *databaseURL
			if url == "" {
				if localPG == "" {
					return errors.New("no database: set DATABASE_URL, --database-url, or --local-postgres DIR to run a local PostgreSQL")
				}
				cluster, dbURL, err := startLocalPostgres(ctx, localPG, log)
				if err != nil {
					return err
				}
				defer func() {
					if err := cluster.Stop(); err != nil {
						log.Error("stop local postgres", "err", err)
					}
				}()
				url = dbURL
			}
			if migrate {
				if err := store.MigrateUp(url); err != nil {
					return err
				}
			}
			// The master key seals identity provider secrets (API) and
			// signing keys (edge). Only an API-only process may run without.
			storeOpts := []store.Option{store.WithStatementTimeout(tf.statement)}
			mk, err := masterKeyFor(ef, localPG, stdout)
			switch {
			case err == nil:
				storeOpts = append(storeOpts, store.WithMasterKey(mk))
			case !noEdge:
				return err
			default:
				log.Warn("no master key: identity providers with secrets cannot be created", "err", err)
			}
			st, err := openStore(ctx, url, storeOpts...)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := reportHostOverlaps(ctx, st, log); err != nil {
				return err
			}
			if bootstrap {
				scheme := "http"
				if apiTLS != nil {
					scheme = "https"
				}
				if err := bootstrapAccount(ctx, st, localAPIURL(scheme, apiAddr), stdout); err != nil {
					return err
				}
			}
			m := mf.newMetrics(st)
			apiOpts := []api.Option{api.WithDBTimeout(dbTimeout)}
			if mk != nil {
				apiOpts = append(apiOpts, api.WithKeyStore(session.NewKeyStore(st, mk), ef.rotateEvery))
			}
			if m != nil {
				apiOpts = append(apiOpts, api.WithObserver(m))
			}
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return serveMetrics(gctx, log, mf, m, stdout) })
			if !noEdge {
				runEdgeServer, err := startEdge(gctx, log, st, ef, tf.Timeouts, localPG, stdout, m)
				if err != nil {
					return err
				}
				g.Go(runEdgeServer)
			}
			g.Go(func() error {
				// The dashboard shares the API's listener (and so its origin).
				return serveHTTP(gctx, log, "api", apiAddr, proxies.Handler(dashboard.Mount(api.New(st, log, apiOpts...).Handler())), "", "", apiTLS, tf.Timeouts, stdout)
			})
			return g.Wait()
		},
	}
	f := cmd.Flags()
	ef.register(f, env)
	mf.register(f, env)
	tf.register(f, env)
	af.register(f, env)
	f.DurationVar(&dbTimeout, "db-timeout", envDuration(env, "GATEHOUSE_DB_TIMEOUT", api.DefaultDBTimeout), "bound on one API request's database work (waiting for a connection, and its statements); past it the API answers 503 with Retry-After (env GATEHOUSE_DB_TIMEOUT)")
	f.BoolVar(&noEdge, "no-edge", env("GATEHOUSE_NO_EDGE", "") == "true", "run only the API (env GATEHOUSE_NO_EDGE=true)")
	f.StringVar(&apiAddr, "api-addr", env("GATEHOUSE_API_ADDR", "127.0.0.1:8080"), "API listen address (env GATEHOUSE_API_ADDR)")
	f.StringVar(&localPG, "local-postgres", env("GATEHOUSE_LOCAL_POSTGRES", ""), "when no database URL is set, run a local PostgreSQL with its data in this directory (env GATEHOUSE_LOCAL_POSTGRES)")
	f.StringVar(&logFormat, "log-format", env("GATEHOUSE_LOG_FORMAT", "auto"), "log format: json, text, or auto: text when standard error is a terminal, else json (env GATEHOUSE_LOG_FORMAT)")
	f.BoolVar(&bootstrap, "bootstrap", env("GATEHOUSE_BOOTSTRAP", "") == "true", "on an empty database, create a default account and print its id and an admin token (env GATEHOUSE_BOOTSTRAP=true)")
	f.BoolVar(&migrate, "migrate", env("GATEHOUSE_MIGRATE", "true") == "true", "apply pending migrations at start (env GATEHOUSE_MIGRATE)")
	return cmd
}

// newLogger returns the logger for --log-format: json, text, or auto
// (text when w is a terminal, json otherwise).
func newLogger(format string, w io.Writer) (*slog.Logger, error) {
	switch logFormatFor(format, isTerminal(w)) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("--log-format %q: must be auto, json or text", format)
}

// logFormatFor resolves "auto": text for a person at a terminal (durations
// read 1.2ms), json for a log collector (durations in nanoseconds).
func logFormatFor(format string, terminal bool) string {
	if format != "auto" {
		return format
	}
	if terminal {
		return "text"
	}
	return "json"
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startLocalPostgres starts (or restarts) a PostgreSQL cluster in dir and
// returns the URL of its "gatehouse" database, creating it if needed.
func startLocalPostgres(ctx context.Context, dir string, log *slog.Logger) (*pgcluster.Cluster, string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", err
	}
	log.Info("starting local postgres", "dir", abs)
	c, err := pgcluster.Start(ctx, abs, io.Discard)
	if err != nil {
		return nil, "", err
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		_ = c.Stop()
		return nil, "", err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'gatehouse')`).Scan(&exists); err != nil {
		_ = c.Stop()
		return nil, "", err
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE DATABASE gatehouse`); err != nil {
			_ = c.Stop()
			return nil, "", err
		}
	}
	log.Info("local postgres ready", "port", c.Port)
	return c, c.URL("gatehouse"), nil
}

// bootstrapAccount creates a default account and an admin token when the
// database has no account yet, and prints both once, with the lines that
// point the CLI at apiURL.
func bootstrapAccount(ctx context.Context, st *store.Store, apiURL string, stdout io.Writer) error {
	n, err := st.CountAccounts(ctx)
	if err != nil || n > 0 {
		return err
	}
	a, err := st.CreateAccount(ctx, "default")
	if err != nil {
		return err
	}
	_, token, err := st.CreateAPIToken(ctx, a.ID, "admin", false)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created the default account.\n  account id: %s\n  admin token: %s\n(The token is shown only now; keep it. Sign in to the dashboard with it.)\n", a.ID, token)
	printFirstRun(stdout, apiURL, a.ID, token)
	return nil
}

// serveHTTP serves h on addr until ctx ends, then shuts down gracefully
// (serveOn). A failure to listen names the flag that sets addr.
func serveHTTP(ctx context.Context, log *slog.Logger, name, addr string, h http.Handler, certFile, keyFile string, tlsConfig *tls.Config, t httpserver.Timeouts, stdout io.Writer) error {
	ln, err := listen(addr, listenerFlags[name])
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return serveOn(ctx, log, name, ln, h, certFile, keyFile, tlsConfig, t, stdout)
}

// serveOn serves h on ln until ctx ends, then shuts down gracefully: it
// stops accepting and waits (at most t.Shutdown) for in-flight requests.
// It serves HTTPS with certFile and keyFile, or with tlsConfig alone when
// that has its certificates, else plain HTTP.
func serveOn(ctx context.Context, log *slog.Logger, name string, ln net.Listener, h http.Handler, certFile, keyFile string, tlsConfig *tls.Config, t httpserver.Timeouts, stdout io.Writer) error {
	t = t.WithDefaults()
	srv := httpserver.New(h, t)
	srv.TLSConfig = tlsConfig
	scheme := "http"
	if certFile != "" || tlsConfig != nil {
		scheme = "https"
	}
	log.Info(name+" listening", "addr", ln.Addr().String(), "scheme", scheme)
	switch name {
	case "api":
		fmt.Fprintf(stdout, "Gatehouse API on %s://%s/client/v4\n", scheme, ln.Addr())
		fmt.Fprintf(stdout, "Gatehouse dashboard on %s://%s%s\n", scheme, ln.Addr(), dashboard.Prefix)
	case "metrics":
		fmt.Fprintf(stdout, "Gatehouse metrics on %s://%s/metrics\n", scheme, ln.Addr())
	case "http-redirect":
		fmt.Fprintf(stdout, "Gatehouse HTTP redirect on %s://%s\n", scheme, ln.Addr())
	default:
		fmt.Fprintf(stdout, "Gatehouse edge on %s://%s\n", scheme, ln.Addr())
	}
	go func() {
		<-ctx.Done()
		log.Info(name + " shutting down")
	}()
	return httpserver.Serve(ctx, srv, ln, certFile, keyFile, t.Shutdown)
}

// timeoutFlags bound what slow and hung peers can hold, for every
// listener of a command.
type timeoutFlags struct {
	httpserver.Timeouts
	statement time.Duration
}

func (f *timeoutFlags) register(fs *pflag.FlagSet, env func(string, string) string) {
	fs.DurationVar(&f.ReadHeader, "read-header-timeout", envDuration(env, "GATEHOUSE_READ_HEADER_TIMEOUT", httpserver.DefaultReadHeaderTimeout), "time a client has to send a request's line and headers (env GATEHOUSE_READ_HEADER_TIMEOUT)")
	fs.DurationVar(&f.Idle, "idle-timeout", envDuration(env, "GATEHOUSE_IDLE_TIMEOUT", httpserver.DefaultIdleTimeout), "time a kept-alive connection may wait for its next request (env GATEHOUSE_IDLE_TIMEOUT)")
	fs.DurationVar(&f.BodyRead, "body-read-timeout", envDuration(env, "GATEHOUSE_BODY_READ_TIMEOUT", httpserver.DefaultBodyReadTimeout), "time a client may take to send the next bytes of a request body; the whole upload is not limited (env GATEHOUSE_BODY_READ_TIMEOUT)")
	fs.DurationVar(&f.statement, "db-statement-timeout", envDuration(env, "GATEHOUSE_DB_STATEMENT_TIMEOUT", store.DefaultStatementTimeout), "PostgreSQL statement_timeout of every database connection (env GATEHOUSE_DB_STATEMENT_TIMEOUT)")
	fs.DurationVar(&f.Shutdown, "shutdown-timeout", envDuration(env, "GATEHOUSE_SHUTDOWN_TIMEOUT", httpserver.DefaultShutdownTimeout), "at shutdown, time in-flight requests have to finish (env GATEHOUSE_SHUTDOWN_TIMEOUT)")
}

func (f *timeoutFlags) validate() error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--read-header-timeout", f.ReadHeader}, {"--idle-timeout", f.Idle}, {"--body-read-timeout", f.BodyRead}, {"--shutdown-timeout", f.Shutdown}, {"--db-statement-timeout", f.statement}} {
		if d.v <= 0 {
			return fmt.Errorf("%s %v: must be positive", d.flag, d.v)
		}
	}
	return nil
}
