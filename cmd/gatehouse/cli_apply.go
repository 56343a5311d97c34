package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/apply"
)

// exitChanges is apply --dry-run's exit code when the plan has changes
// (terraform plan -detailed-exitcode's).
const exitChanges = 2

func applyCommand(flags *clientFlags, stdout io.Writer) *cobra.Command {
	var file, secretsOut string
	var dryRun, prune bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--dry-run] [--prune] [--secrets-out FILE]",
		Short: "Make the account's service tokens, reusable policies and apps match a YAML or JSON file, all or nothing",
		Long: `Make the account's service tokens, reusable policies and apps match a YAML or
JSON file. The plan is validated by the API (a dry-run batch) and then sent as
one batch, which the API applies all or nothing.

--dry-run prints the plan, has the API validate it, changes nothing and exits
0 when there is nothing to change, 2 when there is, 1 when the file or the
plan is refused (3 when the API failed or could not be reached). The secrets of service
tokens the run creates are printed, or written to --secrets-out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := readBody(cmd, file)
			if err != nil {
				return err
			}
			f, err := apply.Parse(body)
			if err != nil {
				return usageErrorf("%s: %v", file, err)
			}
			f.Prune = f.Prune || prune
			cl, err := flags.client()
			if err != nil {
				return err
			}
			var secrets *secretsFile
			if secretsOut != "" && !dryRun {
				// Opened first, so that a path that cannot be written
				// fails before anything changes.
				if secrets, err = openSecretsFile(secretsOut); err != nil {
					return usageErrorf("--secrets-out: %v", err)
				}
				defer secrets.close()
			}
			res, err := apply.Run(cmd.Context(), batchClient{cl}, f, dryRun)
			if err != nil {
				return applyError(file, dryRun, res.Sent, err)
			}
			if secrets != nil && len(res.Created) > 0 {
				if err := secrets.write(res.Created); err != nil {
					// The tokens exist: their secrets must not be lost.
					fmt.Fprintf(cmd.ErrOrStderr(), "gatehouse: --secrets-out %s: %v; printing the secrets instead\n", secretsOut, err)
					secrets = nil
				}
			}
			if err := printApply(stdout, flags.output == "table", file, res, secrets); err != nil {
				return err
			}
			if dryRun && len(res.Steps) > 0 {
				return &cliError{code: exitChanges, msg: fmt.Sprintf("dry run: %d change(s) planned", len(res.Steps))}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "configuration file (YAML or JSON; - for stdin)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan, validate it with the API and change nothing; exit 2 when changes are planned, 0 when none")
	cmd.Flags().BoolVar(&prune, "prune", false, "also delete apps, reusable policies and service tokens that are not in the file")
	cmd.Flags().StringVar(&secretsOut, "secrets-out", "", "write new service tokens' secrets to this file (JSON, mode 0600) instead of printing them")
	return cmd
}

// applyError says what a failed apply did: nothing, or, when the real
// batch got no answer, perhaps everything.
func applyError(file string, dryRun, sent bool, err error) error {
	var pe *apply.PlanError
	if errors.As(err, &pe) {
		return usageErrorf("%s: %v", file, pe.Err)
	}
	code := exitAPIOther
	var ce *cliError
	if errors.As(err, &ce) {
		code = ce.code
	}
	msg := err.Error()
	var se *apply.StepError
	if errors.As(err, &se) {
		msg = fmt.Sprintf("%s: %s", file, se.Error())
	}
	var na *noAnswer
	switch {
	case dryRun:
		// Exit 2 means "changes planned" in a dry run (terraform plan
		// -detailed-exitcode); a plan the API refuses is an error, 1.
		if code == exitAPI4xx {
			code = exitUsage
		}
		return &cliError{code: code, msg: msg + "\nNothing was changed (dry run)."}
	case sent && errors.As(err, &na):
		return &cliError{code: code, msg: msg + "\nThe batch was sent but no answer came: it was applied entirely or not at all. Run apply --dry-run to see which; new service tokens' secrets, if any, are lost (rotate those tokens)."}
	}
	return &cliError{code: code, msg: msg + "\nNothing was applied: the API applies the plan all or nothing."}
}

func printApply(out io.Writer, text bool, file string, res apply.Result, secrets *secretsFile) error {
	changes := make([]string, len(res.Steps))
	for i, s := range res.Steps {
		changes[i] = s.String()
	}
	created := res.Created
	if created == nil || secrets != nil {
		created = []access.ServiceToken{}
	}
	if !text {
		v := map[string]any{"dry_run": res.DryRun, "changes": changes, "created_service_tokens": created}
		if secrets != nil {
			v["secrets_out"] = secrets.path
		}
		return printJSON(out, v)
	}
	for _, c := range changes {
		fmt.Fprintln(out, c)
	}
	switch {
	case len(changes) == 0:
		fmt.Fprintf(out, "No changes: the account matches %s.\n", file)
	case res.DryRun:
		fmt.Fprintf(out, "Dry run: %d change(s) planned and validated by the API, nothing changed.\n", len(changes))
	default:
		fmt.Fprintf(out, "Applied %d change(s).\n", len(changes))
	}
	if secrets != nil && len(res.Created) > 0 {
		fmt.Fprintf(out, "\nSecrets of %d new service token(s) written to %s.\n", len(res.Created), secrets.path)
		return nil
	}
	if len(created) > 0 {
		fmt.Fprintln(out, "\nNew service token secrets. Save them now: they are shown only once and cannot be retrieved again.")
		for _, t := range created {
			fmt.Fprintf(out, "  %s\n    client_id:     %s\n    client_secret: %s\n", t.Name, t.ClientID, t.ClientSecret)
		}
	}
	return nil
}

// secretsFile is --secrets-out: a regular file, mode 0600, created if
// missing (and removed again if the run creates no token), else
// truncated when the secrets are written.
type secretsFile struct {
	path    string
	f       *os.File
	created bool
	written bool
}

func openSecretsFile(path string) (*secretsFile, error) {
	s := &secretsFile{path: path}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err == nil {
		s.created = true
	} else if errors.Is(err, os.ErrExist) {
		f, err = os.OpenFile(path, os.O_WRONLY|syscall.O_NOFOLLOW, 0)
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	s.f = f
	return s, nil
}

func (s *secretsFile) write(tokens []access.ServiceToken) error {
	type secret struct {
		Name         string `json:"name"`
		ID           string `json:"id"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	out := make([]secret, len(tokens))
	for i, t := range tokens {
		out[i] = secret{t.Name, t.ID, t.ClientID, t.ClientSecret}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := s.f.Truncate(0); err != nil {
		return err
	}
	if _, err := s.f.WriteAt(append(b, '\n'), 0); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	s.written = true
	return nil
}

// close closes the file, removing it if this run created it and wrote
// nothing (an existing file keeps its contents).
func (s *secretsFile) close() {
	s.f.Close()
	if s.created && !s.written {
		os.Remove(s.path)
	}
}

// batchClient is the API as internal/apply needs it, over the client package.
type batchClient struct{ acct *client.Account }

func (b batchClient) Current(ctx context.Context) (apply.Current, error) {
	var cur apply.Current
	var err error
	if cur.ServiceTokens, err = client.ListAs[access.ServiceToken](ctx, b.acct.ServiceTokens().Collection, nil); err != nil {
		return cur, cliFailure(err)
	}
	if cur.Policies, err = client.ListAs[access.Policy](ctx, b.acct.Policies(), nil); err != nil {
		return cur, cliFailure(err)
	}
	if cur.Apps, err = client.ListAs[access.App](ctx, b.acct.Apps(), nil); err != nil {
		return cur, cliFailure(err)
	}
	return cur, nil
}

// noAnswer is a batch that got no answer: it may have been applied.
type noAnswer struct{ err error }

func (e *noAnswer) Error() string { return e.err.Error() }
func (e *noAnswer) Unwrap() error { return e.err }

// batchError is a batch the API refused because of one operation.
type batchError struct {
	index int
	err   *cliError
}

func (e *batchError) Error() string        { return e.err.Error() }
func (e *batchError) Unwrap() error        { return e.err }
func (e *batchError) FailedOperation() int { return e.index }

// opPrefix is how the batch prefixes each error of the failed operation.
var opPrefix = regexp.MustCompile(`^operations\[\d+\]( \(ref "[^"]*"\))?: `)

func (b batchClient) Batch(ctx context.Context, dryRun bool, ops []apply.Operation) ([]json.RawMessage, error) {
	bops := make([]client.BatchOperation, len(ops))
	for i, o := range ops {
		bops[i] = client.BatchOperation{Ref: o.Ref, Method: o.Method, Path: o.Path, Body: o.Body}
	}
	res, err := b.acct.Batch(ctx, dryRun, bops)
	var be *client.BatchError
	if errors.As(err, &be) {
		code := exitAPIOther
		if be.Refused() {
			code = exitAPI4xx
		}
		msgs := make([]string, len(be.Errors))
		for i, e := range be.Errors {
			msgs[i] = opPrefix.ReplaceAllString(e.Message, "")
		}
		return nil, &batchError{index: be.Index, err: &cliError{code: code, msg: fmt.Sprintf("API answered %s: %s", be.Status, strings.Join(msgs, "; "))}}
	}
	var ne *client.NetworkError
	if errors.As(err, &ne) {
		return nil, &noAnswer{cliFailure(err)}
	}
	if err != nil {
		return nil, cliFailure(err)
	}
	out := make([]json.RawMessage, len(res.Operations))
	for i, o := range res.Operations {
		out[i] = o.Result
	}
	return out, nil
}
