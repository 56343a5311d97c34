package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/corscheck"
)

// doctorCommand is "gatehouse doctor": offline diagnostics.
func doctorCommand(stdout io.Writer) *cobra.Command {
	var output, consoleFile string
	har := &cobra.Command{
		Use:   "har FILE.har [--console CONSOLE.txt]",
		Short: "Explain the failed cross-origin requests recorded in a HAR file, and how to fix them",
		Long: `Reads a HAR file exported from the browser's developer tools (Chrome, also
its sanitized export, Firefox, Safari), Playwright's recordHar, the chrome-har
library or a proxy, finds the cross-origin exchanges (a request whose Origin
header, or for a request never answered its Referer, differs from its URL's
origin) and, for each one a browser blocked or the edge refused, names the
cause and which setting fixes it: a preflight refused with 403 or by the
app's cors_headers, a login redirect, Access-Control-Allow-Origin * with
credentials (also inferred when the request was never sent), missing
Access-Control-Allow-* headers, and cookies not sent (credentials mode or
SameSite). It says what the file cannot show for its producer (no
preflights, no failed requests, no cookies) and prints the gatehouse cors
check command that probes the live app. --console adds the browser's console
log of the same failure, whose CORS messages explain what the HAR cannot.

Exit status: 0 no failed exchange, 1 failures found (or the file is unreadable).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageErrorf("doctor har: -o must be text or json")
			}
			h, err := readInput(cmd, args[0], func(r io.Reader) (*corscheck.HAR, error) { return corscheck.ParseHAR(r) })
			if err != nil {
				return usageErrorf("doctor har: %v", err)
			}
			d := corscheck.Diagnose(h)
			if consoleFile != "" {
				c, err := readInput(cmd, consoleFile, corscheck.ParseConsole)
				if err != nil {
					return usageErrorf("doctor har: --console: %v", err)
				}
				d.WithConsole(c)
			}
			return report(stdout, output, "doctor har", d)
		},
	}
	har.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	har.Flags().StringVar(&consoleFile, "console", "", "the browser's console log of the same failure (a file, or - for stdin)")

	var consoleOutput string
	console := &cobra.Command{
		Use:   "console FILE|-",
		Short: "Explain the CORS errors of a browser console log pasted into a file (or stdin)",
		Long: `Reads a console log copied from Chrome's or Firefox's developer tools and
explains each CORS error in it ("Access to fetch at … has been blocked by CORS
policy: …", "Cross-Origin Request Blocked: … (Reason: …)"), with the gatehouse
cors check command that probes the live app. A console log does not show
status codes, headers or cookies: some messages fit more than one cause, and
the doctor says so.

Exit status: 0 no CORS error, 1 errors found (or the file is unreadable).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if consoleOutput != "text" && consoleOutput != "json" {
				return usageErrorf("doctor console: -o must be text or json")
			}
			c, err := readInput(cmd, args[0], corscheck.ParseConsole)
			if err != nil {
				return usageErrorf("doctor console: %v", err)
			}
			return report(stdout, consoleOutput, "doctor console", corscheck.DiagnoseConsole(c))
		},
	}
	console.Flags().StringVarP(&consoleOutput, "output", "o", "text", "output format: text or json")

	cmd := &cobra.Command{Use: "doctor", Short: "Diagnose problems from recorded traffic"}
	cmd.AddCommand(har, console)
	return cmd
}

// readInput parses the file name, or stdin for "-".
func readInput[T any](cmd *cobra.Command, name string, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	r := cmd.InOrStdin()
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return zero, err
		}
		defer f.Close()
		r = f
	}
	v, err := parse(r)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}

func report(w io.Writer, output, what string, d *corscheck.Diagnosis) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return err
		}
	} else {
		printDiagnosis(w, d)
	}
	if len(d.Findings) > 0 {
		return &cliError{code: exitBrowserBlocks, msg: fmt.Sprintf("%s: %d failed cross-origin exchange(s)", what, len(d.Findings))}
	}
	return nil
}

func printDiagnosis(w io.Writer, d *corscheck.Diagnosis) {
	if d.Producer.Kind == "console" {
		fmt.Fprintf(w, "%s: %d CORS error(s)\n", d.Producer.Name, len(d.Findings))
	} else {
		if d.Producer.Name == "" {
			fmt.Fprintf(w, "producer: unknown (no log.creator)\n")
		} else {
			fmt.Fprintf(w, "producer: %s (%s %s)\n", d.Producer.Label(), d.Producer.Name, d.Producer.Version)
		}
		fmt.Fprintf(w, "%d entries, %d cross-origin, %d failed, %d diagnosed\n", d.Entries, d.CrossOrigin, d.Failed, len(d.Findings))
	}
	for _, f := range d.Findings {
		if f.Entry >= 0 {
			fmt.Fprintf(w, "\nentry %d: %s %s (from %s) -> %d\n", f.Entry, f.Method, f.URL, f.Origin, f.Status)
		} else {
			fmt.Fprintf(w, "\nconsole: %s %s (from %s)\n", f.Method, f.URL, f.Origin)
		}
		fmt.Fprintf(w, "  diagnosis: %s\n", f.Cause)
		for _, p := range f.Problems {
			fmt.Fprintf(w, "  cause: %s\n  fix:   %s\n", p.Message, p.Fix)
		}
		fmt.Fprintf(w, "  probe: %s\n", f.Probe)
	}
	if len(d.Limits) > 0 {
		fmt.Fprintf(w, "\nwhat this input cannot show:\n")
		for _, l := range d.Limits {
			fmt.Fprintf(w, "  - %s\n", l)
		}
	}
}
