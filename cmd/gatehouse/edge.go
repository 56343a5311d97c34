package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gatehouse-dev/gatehouse/internal/edge"
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
}

func (f *edgeFlags) register(fs *pflag.FlagSet, env func(string, string) string) {
	fs.StringVar(&f.addr, "edge-addr", env("GATEHOUSE_EDGE_ADDR", ""), "edge listen address (env GATEHOUSE_EDGE_ADDR; default 127.0.0.1:8443 with TLS, 127.0.0.1:8000 without)")
	fs.StringVar(&f.tlsCert, "tls-cert", env("GATEHOUSE_TLS_CERT", ""), "edge TLS certificate file (PEM); with --tls-key the edge serves HTTPS (env GATEHOUSE_TLS_CERT)")
	fs.StringVar(&f.tlsKey, "tls-key", env("GATEHOUSE_TLS_KEY", ""), "edge TLS private key file (PEM) (env GATEHOUSE_TLS_KEY)")
	fs.StringVar(&f.masterKey, "master-key", env("GATEHOUSE_MASTER_KEY", ""), "base64 32-byte key that encrypts signing keys at rest (env GATEHOUSE_MASTER_KEY; `gatehouse keys generate-master` makes one)")
	fs.StringVar(&f.authDomain, "auth-domain", env("GATEHOUSE_AUTH_DOMAIN", ""), "host of the login (team) domain; tokens' issuer is https://HOST (env GATEHOUSE_AUTH_DOMAIN; default: the edge's address)")
	fs.StringVar(&f.countryHeader, "country-header", env("GATEHOUSE_COUNTRY_HEADER", ""), "trusted request header with the client's ISO country code, e.g. CF-IPCountry (env GATEHOUSE_COUNTRY_HEADER; default none: country unknown)")
	fs.DurationVar(&f.reloadInterval, "reload-interval", envDuration(env, "GATEHOUSE_RELOAD_INTERVAL", 2*time.Second), "safety-net config version check period (env GATEHOUSE_RELOAD_INTERVAL)")
	fs.StringVar(&f.smtpAddr, "smtp-addr", env("GATEHOUSE_SMTP_ADDR", ""), "SMTP server host:port for one-time PIN mail (env GATEHOUSE_SMTP_ADDR; default none: PINs are written to the log)")
	fs.StringVar(&f.smtpFrom, "smtp-from", env("GATEHOUSE_SMTP_FROM", "gatehouse@localhost"), "sender address of PIN mail (env GATEHOUSE_SMTP_FROM)")
	fs.StringVar(&f.smtpUser, "smtp-user", env("GATEHOUSE_SMTP_USER", ""), "SMTP user (env GATEHOUSE_SMTP_USER)")
	fs.StringVar(&f.smtpPassword, "smtp-password", env("GATEHOUSE_SMTP_PASSWORD", ""), "SMTP password (env GATEHOUSE_SMTP_PASSWORD)")
	fs.DurationVar(&f.rotateEvery, "key-rotation", envDuration(env, "GATEHOUSE_KEY_ROTATION", keyRotationPeriod), "rotate signing keys this often (env GATEHOUSE_KEY_ROTATION)")
}

func envDuration(env func(string, string) string, name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(env(name, "")); err == nil && d > 0 {
		return d
	}
	return def
}

func (f *edgeFlags) validate() error {
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

// startEdge loads the edge's configuration (which must succeed) and starts
// following changes; it returns the function that serves edge traffic.
func startEdge(ctx context.Context, log *slog.Logger, st *store.Store, f edgeFlags, localPG string, stdout io.Writer) (func() error, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	mk, err := masterKeyFor(f, localPG, stdout)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if f.tlsCert != "" {
		scheme = "https"
	}
	issuer := scheme + "://" + f.addr
	if f.authDomain != "" {
		issuer = "https://" + f.authDomain
	}
	keys := session.NewKeyStore(st.Pool(), mk)
	if _, err := keys.RotateIfDue(ctx, f.rotateEvery); err != nil {
		return nil, err
	}
	loader := edge.NewLoader(st, keys, log, f.reloadInterval)
	if err := loader.Load(ctx); err != nil {
		return nil, err
	}
	lastSeen := edge.NewLastSeen(st, log)
	var mailer edge.Mailer
	if f.smtpAddr != "" {
		mailer = edge.SMTPMailer{Addr: f.smtpAddr, From: f.smtpFrom, Username: f.smtpUser, Password: f.smtpPassword}
	}
	srv := edge.New(edge.Config{Issuer: issuer, CountryHeader: f.countryHeader, Secure: f.tlsCert != "", Log: log,
		MasterKey: mk, Mailer: mailer}, loader, lastSeen)
	return func() error {
		go loader.Run(ctx)
		go lastSeen.Run(ctx, 5*time.Second)
		go func() {
			t := time.NewTicker(time.Hour)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if rotated, err := keys.RotateIfDue(ctx, f.rotateEvery); err != nil {
						log.Error("signing key rotation", "err", err)
					} else if rotated {
						log.Info("signing keys rotated")
					}
				}
			}
		}()
		return serveHTTP(ctx, log, "edge", f.addr, srv, f.tlsCert, f.tlsKey, stdout)
	}, nil
}

func edgeCommand(ctx context.Context, env func(string, string) string, databaseURL *string, stdout, stderr io.Writer) *cobra.Command {
	var ef edgeFlags
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
			if *databaseURL == "" {
				return errors.New("no database: set DATABASE_URL or --database-url")
			}
			mk, err := masterKeyFor(ef, "", stdout)
			if err != nil {
				return err
			}
			st, err := openStore(ctx, *databaseURL, store.WithMasterKey(mk))
			if err != nil {
				return err
			}
			defer st.Close()
			run, err := startEdge(ctx, log, st, ef, "", stdout)
			if err != nil {
				return err
			}
			return run()
		},
	}
	ef.register(cmd.Flags(), env)
	cmd.Flags().StringVar(&logFormat, "log-format", env("GATEHOUSE_LOG_FORMAT", "json"), "log format: json or text (env GATEHOUSE_LOG_FORMAT)")
	return cmd
}

func keysCommand(ctx context.Context, env func(string, string) string, databaseURL *string, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage token signing keys"}
	cmd.AddCommand(&cobra.Command{Use: "generate-master", Short: "Print a new random master key for GATEHOUSE_MASTER_KEY", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(stdout, session.GenerateMasterKey())
			return nil
		}})
	cmd.AddCommand(&cobra.Command{Use: "rotate", Short: "Rotate the signing key now (the previous key keeps verifying for 7 days)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if *databaseURL == "" {
				return errors.New("no database: set DATABASE_URL or --database-url")
			}
			mk, err := session.ParseMasterKey(env("GATEHOUSE_MASTER_KEY", ""))
			if err != nil {
				return fmt.Errorf("GATEHOUSE_MASTER_KEY: %w", err)
			}
			st, err := openStore(ctx, *databaseURL)
			if err != nil {
				return err
			}
			defer st.Close()
			kr, err := session.NewKeyStore(st.Pool(), mk).Rotate(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, kr.CurrentKID())
			return nil
		}})
	return cmd
}
