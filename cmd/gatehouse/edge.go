package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-dev/gatehouse/internal/accesslog"
	"github.com/gatehouse-dev/gatehouse/internal/authdomain"
	"github.com/gatehouse-dev/gatehouse/internal/autotls"
	"github.com/gatehouse-dev/gatehouse/internal/certfile"
	"github.com/gatehouse-dev/gatehouse/internal/edge"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// keyRotationPeriod is how often signing keys rotate, as in Cloudflare.
const keyRotationPeriod = 6 * 7 * 24 * time.Hour

// edgeFlags configure the edge, in both `edge` and `serve`.
type edgeFlags struct {
	addr, tlsCert, tlsKey       string
	masterKey, authDomain       string
	countryHeader               string
	reloadInterval, rotateEvery time.Duration
	smtpAddr, smtpFrom          string
	smtpUser, smtpPassword      string
	logRetention                time.Duration
	logMaxRows                  int64
	stateDir                    string
	publicFlags
}

func (f *edgeFlags) register(fs *pflag.FlagSet, env func(string, string) string) {
	fs.StringVar(&f.addr, "edge-addr", env("GATEHOUSE_EDGE_ADDR", ""), "edge listen address (env GATEHOUSE_EDGE_ADDR; default 127.0.0.1:8443 with TLS, 127.0.0.1:8000 without)")
	fs.StringVar(&f.tlsCert, "tls-cert", env("GATEHOUSE_TLS_CERT", ""), "edge TLS certificate file (PEM); with --tls-key the edge serves HTTPS (env GATEHOUSE_TLS_CERT)")
	fs.StringVar(&f.tlsKey, "tls-key", env("GATEHOUSE_TLS_KEY", ""), "edge TLS private key file (PEM) (env GATEHOUSE_TLS_KEY)")
	fs.StringVar(&f.masterKey, "master-key", env("GATEHOUSE_MASTER_KEY", ""), "base64 32-byte key that encrypts signing keys at rest (env GATEHOUSE_MASTER_KEY; make one with: gatehouse keys generate-master)")
	fs.StringVar(&f.authDomain, "auth-domain", env("GATEHOUSE_AUTH_DOMAIN", ""), "deprecated: --public-url https://HOST (env GATEHOUSE_AUTH_DOMAIN)")
	fs.StringVar(&f.countryHeader, "country-header", env("GATEHOUSE_COUNTRY_HEADER", ""), "trusted request header with the client's ISO country code, e.g. CF-IPCountry (env GATEHOUSE_COUNTRY_HEADER; default none: country unknown)")
	fs.DurationVar(&f.reloadInterval, "reload-interval", envDuration(env, "GATEHOUSE_RELOAD_INTERVAL", 2*time.Second), "safety-net config version check period (env GATEHOUSE_RELOAD_INTERVAL)")
	fs.StringVar(&f.smtpAddr, "smtp-addr", env("GATEHOUSE_SMTP_ADDR", ""), "SMTP server host:port for one-time PIN mail (env GATEHOUSE_SMTP_ADDR; default none: PINs are written to the log)")
	fs.StringVar(&f.smtpFrom, "smtp-from", env("GATEHOUSE_SMTP_FROM", "gatehouse@localhost"), "sender address of PIN mail (env GATEHOUSE_SMTP_FROM)")
	fs.StringVar(&f.smtpUser, "smtp-user", env("GATEHOUSE_SMTP_USER", ""), "SMTP user (env GATEHOUSE_SMTP_USER)")
	fs.StringVar(&f.smtpPassword, "smtp-password", env("GATEHOUSE_SMTP_PASSWORD", ""), "SMTP password (env GATEHOUSE_SMTP_PASSWORD)")
	fs.DurationVar(&f.rotateEvery, "key-rotation", envDuration(env, "GATEHOUSE_KEY_ROTATION", keyRotationPeriod), "rotate signing keys this often (env GATEHOUSE_KEY_ROTATION)")
	fs.DurationVar(&f.logRetention, "log-retention", envDuration(env, "GATEHOUSE_LOG_RETENTION", accesslog.DefaultMaxAge), "delete access log rows older than this; 0 keeps them (env GATEHOUSE_LOG_RETENTION)")
	fs.StringVar(&f.stateDir, "state-dir", env("GATEHOUSE_STATE_DIR", ""), "directory where the edge keeps the last config it applied, sealed with the master key, to start from at once and to serve while the database is unreachable; \"off\" keeps none (env GATEHOUSE_STATE_DIR; default: edge-state beside --local-postgres, else none)")
	f.publicFlags.register(fs, env)
	fs.Int64Var(&f.logMaxRows, "log-max-rows", envInt64(env, "GATEHOUSE_LOG_MAX_ROWS", accesslog.DefaultMaxRows), "keep at most this many access log rows, deleting the oldest; 0: no limit (env GATEHOUSE_LOG_MAX_ROWS)")
}

func envDuration(env func(string, string) string, name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(env(name, "")); err == nil && d > 0 {
		return d
	}
	return def
}

func envInt64(env func(string, string) string, name string, def int64) int64 {
	if n, err := strconv.ParseInt(env(name, ""), 10, 64); err == nil && n >= 0 {
		return n
	}
	return def
}

func (f *edgeFlags) validate() error {
	if f.logRetention < 0 {
		return fmt.Errorf("--log-retention %v: must not be negative (0 keeps rows)", f.logRetention)
	}
	if f.logMaxRows < 0 {
		return fmt.Errorf("--log-max-rows %d: must not be negative (0: no limit)", f.logMaxRows)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if f.addr == "" {
		f.addr = "127.0.0.1:8000"
		if f.tlsCert != "" {
			f.addr = "127.0.0.1:8443"
		}
	}
	if _, _, err := net.SplitHostPort(f.addr); err != nil {
		return fmt.Errorf("--edge-addr %q: must be host:port", f.addr)
	}
	if f.countryHeader != "" && strings.ContainsAny(f.countryHeader, " :\t") {
		return fmt.Errorf("--country-header %q: must be a header name", f.countryHeader)
	}
	return nil
}

// masterKeyFor returns the master key: from the flag, or for a local
// development database from a key file beside it, created on first use.
func masterKeyFor(f edgeFlags, localPG string, stdout io.Writer) ([]byte, error) {
	if f.masterKey != "" {
		return session.ParseMasterKey(f.masterKey)
	}
	if localPG == "" {
		return nil, errors.New("no master key: set GATEHOUSE_MASTER_KEY (make one with `gatehouse keys generate-master`)")
	}
	path := filepath.Join(filepath.Dir(filepath.Clean(localPG)), "master.key")
	if b, err := os.ReadFile(path); err == nil {
		return session.ParseMasterKey(strings.TrimSpace(string(b)))
	}
	key := session.GenerateMasterKey()
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "Created a master key for local development in %s\n", path)
	return session.ParseMasterKey(key)
}

// startEdge starts the edge (from its saved state at once, or from the
// database, which must then answer) and returns the function that serves
// edge traffic until ctx ends and then stops the edge's loops.
func startEdge(ctx context.Context, log *slog.Logger, st *store.Store, f edgeFlags, t httpserver.Timeouts, localPG string, stdout io.Writer, m *metrics.Metrics) (func() error, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	mk, err := masterKeyFor(f, localPG, stdout)
	if err != nil {
		return nil, err
	}
	var cert *certfile.Reloader
	if f.tlsCert != "" {
		if cert, err = certfile.New(f.tlsCert, f.tlsKey, 0, log); err != nil {
			return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", f.tlsCert, f.tlsKey, err)
		}
	}
	pub, err := resolvePublic(&f, localPG, log)
	if err != nil {
		return nil, err
	}
	ln, err := listen(f.addr, "--edge-addr")
	if err != nil {
		return nil, err
	}
	var redirectLn net.Listener
	if f.httpRedirectAddr != "" {
		if redirectLn, err = listen(f.httpRedirectAddr, "--http-redirect-addr"); err != nil {
			ln.Close()
			return nil, err
		}
	}
	closeListeners := func() {
		ln.Close()
		if redirectLn != nil {
			redirectLn.Close()
		}
	}
	if pub.derivedHost != "" {
		// Derived from the edge's address: with the port it listens on
		// (an --edge-addr port 0 is chosen now).
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		pub.url.Host = net.JoinHostPort(pub.derivedHost, port)
	}
	issuer := pub.issuer()
	log.Info("public URL", "url", issuer, "trusted_proxies", f.trustedProxy)
	keys := session.NewKeyStore(st, mk)
	deps := edge.Deps{Store: st, Keys: keys, MasterKey: mk, Log: log}
	if f.smtpAddr != "" {
		deps.Mailer = authdomain.SMTPMailer{Addr: f.smtpAddr, From: f.smtpFrom, Username: f.smtpUser, Password: f.smtpPassword}
	}
	accessLog := accesslog.New(st, accesslog.Config{MaxAge: offIfZero(f.logRetention), MaxRows: offIfZero(f.logMaxRows), Log: log})
	deps.AccessLog = accessLog
	if m != nil {
		deps.OnApply = m.Applied
		deps.Observers = append(deps.Observers, m)
		m.WatchAccessLog(accessLog)
	}
	e, err := edge.Start(ctx, deps, edge.StartConfig{
		Issuer: issuer, CountryHeader: f.countryHeader, Secure: pub.url.Scheme == "https", Proxies: pub.proxies,
		ReloadInterval: f.reloadInterval, KeyRotation: f.rotateEvery,
		HeartbeatInterval: 5 * time.Second, Self: edge.Self(f.addr),
		StateDir: stateDirFor(f, localPG),
	})
	if err != nil {
		closeListeners()
		return nil, err
	}
	var tlsConfig *tls.Config
	var acme *autotls.Manager
	switch {
	case cert != nil:
		// Read again when the files change (a renewal).
		tlsConfig = &tls.Config{GetCertificate: cert.GetCertificate, NextProtos: []string{"h2", "http/1.1"}}
	case pub.acme != nil:
		// Certificates only for the hosts the edge serves (exact app
		// domains in the config in force, and the public URL's host):
		// never for whatever server name a client sends.
		c := *pub.acme
		c.Allowed = func(host string) bool { return e.Server.ServesHost(host, false) }
		if acme, err = autotls.New(c); err != nil {
			closeListeners()
			e.Stop()
			return nil, err
		}
		tlsConfig = acme.TLSConfig()
	}
	if tlsConfig != nil {
		// Client certificates are asked for on the hosts with mutual TLS
		// CAs, chosen per handshake from the config in force.
		tlsConfig = e.Server.TLSConfig(tlsConfig)
	}
	return func() error {
		// Shutdown order: stop accepting and finish in-flight requests
		// (serveOn), then stop the edge: the access log and last-seen
		// times drain (bounded by accesslog.DrainTimeout), the edge's
		// registry row is deleted, and then the caller closes the pool.
		g, gctx := errgroup.WithContext(ctx)
		if redirectLn != nil {
			h := pub.redirectHandler(acme, func(host string) bool { return e.Server.ServesHost(host, true) })
			g.Go(func() error { return serveOn(gctx, log, "http-redirect", redirectLn, h, "", "", nil, t, stdout) })
		}
		g.Go(func() error {
			return serveOn(gctx, log, "edge", ln, e.Server, "", "", tlsConfig, t, stdout)
		})
		err := g.Wait()
		e.Stop()
		return err
	}, nil
}

// stateDirFor is where the edge keeps its saved state: the flag, or with
// a local development database the directory beside it; "off" (or no
// directory) saves none.
func stateDirFor(f edgeFlags, localPG string) string {
	switch {
	case f.stateDir == "off":
		return ""
	case f.stateDir != "":
		return f.stateDir
	case localPG != "":
		return filepath.Join(filepath.Dir(filepath.Clean(localPG)), "edge-state")
	}
	return ""
}

// offIfZero maps a retention flag's 0 ("no limit") to the access log's
// "off" (negative).
func offIfZero[T time.Duration | int64](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

func edgeCommand(ctx context.Context, env func(string, string) string, databaseURL *string, stdout, stderr io.Writer) *cobra.Command {
	var ef edgeFlags
	var mf metricsFlags
	var tf timeoutFlags
	var logFormat string
	cmd := &cobra.Command{
		Use:   "edge",
		Short: "Run only the edge (enforcement), against the control plane's database",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logFormat, stderr)
			if err != nil {
				return err
			}
			if err := mf.validate(); err != nil {
				return err
			}
			if err := tf.validate(); err != nil {
				return err
			}
			if *databaseURL == "" {
				return errors.New("no database: set DATABASE_URL or --database-url")
			}
			mk, err := masterKeyFor(ef, "", stdout)
			if err != nil {
				return err
			}
			storeOpts := []store.Option{store.WithMasterKey(mk), store.WithStatementTimeout(tf.statement)}
			open := openStore
			if stateDirFor(ef, "") != "" {
				// With a saved state the edge serves while the database
				// is unreachable: do not wait for it here.
				open = store.Open
			}
			st, err := open(ctx, *databaseURL, storeOpts...)
			if err != nil {
				return err
			}
			defer st.Close()
			m := mf.newMetrics(st)
			g, gctx := errgroup.WithContext(ctx)
			run, err := startEdge(gctx, log, st, ef, tf.Timeouts, "", stdout, m)
			if err != nil {
				return err
			}
			g.Go(run)
			g.Go(func() error { return serveMetrics(gctx, log, mf, m, stdout) })
			return g.Wait()
		},
	}
	ef.register(cmd.Flags(), env)
	mf.register(cmd.Flags(), env)
	tf.register(cmd.Flags(), env)
	cmd.Flags().StringVar(&logFormat, "log-format", env("GATEHOUSE_LOG_FORMAT", "auto"), "log format: json, text, or auto: text when standard error is a terminal, else json (env GATEHOUSE_LOG_FORMAT)")
	return cmd
}

func keysCommand(ctx context.Context, env func(string, string) string, databaseURL *string, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage token signing keys"}
	cmd.AddCommand(&cobra.Command{Use: "generate-master", Short: "Print a new random master key for GATEHOUSE_MASTER_KEY", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(stdout, session.GenerateMasterKey())
			return nil
		}})
	var localPG string
	rotate := &cobra.Command{Use: "rotate", Short: "Rotate the signing key now (the previous key keeps verifying for 7 days)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := useLocalPostgres(localPG, databaseURL); err != nil {
				return err
			}
			if *databaseURL == "" {
				return errors.New("no database: set DATABASE_URL or --database-url, or --local-postgres DIR for the cluster make run runs")
			}
			var mk []byte
			var err error
			if key := env("GATEHOUSE_MASTER_KEY", ""); key != "" || localPG == "" {
				if mk, err = session.ParseMasterKey(key); err != nil {
					return fmt.Errorf("GATEHOUSE_MASTER_KEY: %w", err)
				}
			} else if mk, err = localMasterKey(localPG); err != nil {
				return err
			}
			st, err := openStore(ctx, *databaseURL)
			if err != nil {
				return err
			}
			defer st.Close()
			kr, err := session.NewKeyStore(st, mk).Rotate(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, kr.CurrentKID())
			return nil
		}}
	rotate.Flags().StringVar(&localPG, "local-postgres", env("GATEHOUSE_LOCAL_POSTGRES", ""), localPostgresUsage+"; the master key is then read from master.key beside DIR")
	cmd.AddCommand(rotate)
	return cmd
}
