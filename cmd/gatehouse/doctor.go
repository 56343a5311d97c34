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
	var output string
	har := &cobra.Command{
		Use:   "har FILE.har",
		Short: "Explain the failed cross-origin requests recorded in a HAR file, and how to fix them",
		Long: `Reads a HAR file exported from the browser's developer tools, finds the
cross-origin exchanges (a request whose Origin header differs from its URL's
origin) and, for each one a browser blocked or the edge refused, says why and
which setting fixes it: a preflight refused with 403, a login redirect
answered to a fetch, Access-Control-Allow-Origin * with credentials, missing
Access-Control-Allow-* headers, and cookies not sent (credentials mode or
SameSite).

Exit status: 0 no failed exchange, 1 failures found (or the file is unreadable).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageErrorf("doctor har: -o must be text or json")
			}
			f, err := os.Open(args[0])
			if err != nil {
				return usageErrorf("doctor har: %v", err)
			}
			defer f.Close()
			h, err := corscheck.ParseHAR(f)
			if err != nil {
				return usageErrorf("doctor har: %s: %v", args[0], err)
			}
			d := corscheck.Diagnose(h)
			if output == "json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(d); err != nil {
					return err
				}
			} else {
				printDiagnosis(stdout, d)
			}
			if len(d.Findings) > 0 {
				return &cliError{code: exitBrowserBlocks, msg: fmt.Sprintf("doctor har: %d failed cross-origin exchange(s)", len(d.Findings))}
			}
			return nil
		},
	}
	har.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd := &cobra.Command{Use: "doctor", Short: "Diagnose problems from recorded traffic"}
	cmd.AddCommand(har)
	return cmd
}

func printDiagnosis(w io.Writer, d *corscheck.Diagnosis) {
	fmt.Fprintf(w, "%d entries, %d cross-origin, %d failed\n", d.Entries, d.CrossOrigin, len(d.Findings))
	for _, f := range d.Findings {
		fmt.Fprintf(w, "\nentry %d: %s %s (from %s) -> %d\n", f.Entry, f.Method, f.URL, f.Origin, f.Status)
		for _, p := range f.Problems {
			fmt.Fprintf(w, "  cause: %s\n  fix:   %s\n", p.Message, p.Fix)
		}
	}
}
