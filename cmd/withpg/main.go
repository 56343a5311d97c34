// Command withpg runs a command against a throwaway PostgreSQL cluster: it
// starts one, runs the command with DATABASE_URL pointing at the cluster's
// postgres database, then stops the cluster and deletes it. When
// DATABASE_URL is already set, it runs the command without a cluster.
//
// Usage:
//
//	withpg -- go test ./...
//
// withpg exits with the command's exit status (128+N if signal N killed it).
// SIGINT and SIGTERM are passed on to the command; the cluster is removed
// once the command has exited.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/gatehouse-dev/gatehouse/internal/pgcluster"
)

func main() {
	code, err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "withpg: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// run runs the command in args[1:] (after an optional "--") and returns its
// exit code. Cancelling ctx sends the command SIGTERM.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (code int, err error) {
	var command []string
	if len(args) > 1 {
		command = args[1:]
	}
	if len(command) > 0 && command[0] == "--" {
		command = command[1:]
	}
	if len(command) == 0 {
		return 2, errors.New("usage: withpg -- COMMAND [ARG...]")
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	env := os.Environ()
	if getenv("DATABASE_URL") == "" {
		cluster, err := startCluster(ctx, sigs, stderr)
		if err != nil {
			return 1, err
		}
		defer func() {
			if stopErr := cluster.Stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}()
		env = append(env, "DATABASE_URL="+cluster.URL("postgres"))
	}
	return runCommand(ctx, command, env, sigs, stdout, stderr)
}

// startCluster starts a temporary cluster, giving up if a signal arrives
// first.
func startCluster(ctx context.Context, sigs <-chan os.Signal, logw io.Writer) (*pgcluster.Cluster, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		cluster *pgcluster.Cluster
		err     error
	}
	started := make(chan result, 1)
	go func() {
		c, err := pgcluster.StartTemp(ctx, logw)
		started <- result{c, err}
	}()
	select {
	case r := <-started:
		return r.cluster, r.err
	case sig := <-sigs:
		cancel()
		r := <-started
		err := fmt.Errorf("%v while starting PostgreSQL", sig)
		if r.cluster != nil {
			err = errors.Join(err, r.cluster.Stop())
		}
		return nil, err
	}
}

// runCommand runs command with env and the given output, passing on
// signals, and returns its exit code.
func runCommand(ctx context.Context, command, env []string, sigs <-chan os.Signal, stdout, stderr io.Writer) (int, error) {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env = env
	cmd.Stdin = os.Stdin
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return 127, fmt.Errorf("start %s: %w", command[0], err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	ctxDone := ctx.Done()
	for {
		select {
		case sig := <-sigs:
			// The command may have exited already; Wait reports that.
			_ = cmd.Process.Signal(sig)
		case <-ctxDone:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			ctxDone = nil
		case err := <-waited:
			return exitCode(command[0], err)
		}
	}
}

func exitCode(name string, waitErr error) (int, error) {
	if waitErr == nil {
		return 0, nil
	}
	var exitErr *exec.ExitError
	if !errors.As(waitErr, &exitErr) {
		return 1, fmt.Errorf("wait for %s: %w", name, waitErr)
	}
	if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.Signaled() {
		return 128 + int(status.Signal()), nil
	}
	return exitErr.ExitCode(), nil
}
