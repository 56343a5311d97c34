package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/corscheck"
)

// Exit codes of cors check and doctor har.
const (
	exitBrowserAllows = 0
	exitBrowserBlocks = 1
	exitNetwork       = 3
)

// corsCommand is "gatehouse cors check": would a browser let a page at
// --origin read URL?
func corsCommand(ctx context.Context, stdout io.Writer) *cobra.Command {
	var req corscheck.Request
	var resolve []string
	var output string
	check := &cobra.Command{
		Use:   "check URL --origin ORIGIN",
		Short: "Send a cross-origin request the way a browser does and say whether the browser would allow it, and why not",
		Long: `Sends the CORS preflight (when the Fetch standard requires one) and then the
request itself, without following redirects, applies the browser's CORS checks
to each answer, and names the header that is missing or wrong and the app
setting that fixes it.

Exit status: 0 a browser would allow it, 1 it would block it, 3 network error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.URL = args[0]
			if req.Origin == "" {
				return usageErrorf("cors check: --origin is required")
			}
			if output != "text" && output != "json" {
				return usageErrorf("cors check: -o must be text or json")
			}
			if _, _, err := corscheck.ParseRequest(req); err != nil {
				return usageErrorf("cors check: %v", err)
			}
			client, err := resolvingClient(resolve)
			if err != nil {
				return usageErrorf("cors check: %v", err)
			}
			rep, err := corscheck.Check(ctx, client, req)
			if err != nil {
				return &cliError{code: exitNetwork, msg: "cors check: " + err.Error()}
			}
			if output == "json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printCORSReport(stdout, rep)
			}
			if !rep.Allowed {
				return &cliError{code: exitBrowserBlocks, msg: "cors check: a browser would block this request"}
			}
			return nil
		},
	}
	f := check.Flags()
	f.StringVar(&req.Origin, "origin", "", "the page's origin, e.g. https://app.example.com (required)")
	f.StringVarP(&req.Method, "method", "X", "GET", "request method")
	f.StringArrayVarP(&req.Headers, "header", "H", nil, "request header the page sets, 'Name: value' (repeatable)")
	f.BoolVar(&req.Credentials, "credentials", false, "the page sends credentials (fetch credentials: 'include')")
	f.StringVar(&req.Cookie, "cookie", "", "Cookie header sent with --credentials, e.g. 'CF_Authorization=…'")
	f.StringArrayVar(&resolve, "host-resolve", nil, "connect to HOST at IP instead of resolving it: HOST:IP (repeatable)")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd := &cobra.Command{Use: "cors", Short: "CORS diagnostics"}
	cmd.AddCommand(check)
	return cmd
}

// resolvingClient is an HTTP client that connects to the given hosts at
// fixed addresses (the URL's port is kept), like curl --resolve.
func resolvingClient(resolve []string) (*http.Client, error) {
	addrs := map[string]string{}
	for _, r := range resolve {
		i := strings.LastIndexByte(r, ':')
		if i <= 0 || i == len(r)-1 {
			return nil, fmt.Errorf("--host-resolve %q: must be HOST:IP", r)
		}
		host, ip := strings.ToLower(r[:i]), strings.Trim(r[i+1:], "[]")
		if net.ParseIP(ip) == nil {
			// HOST:IP where IP is IPv6 without brackets has several colons.
			if j := strings.IndexByte(r, ':'); j > 0 && net.ParseIP(r[j+1:]) != nil {
				host, ip = strings.ToLower(r[:j]), r[j+1:]
			} else {
				return nil, fmt.Errorf("--host-resolve %q: %q is not an IP address", r, ip)
			}
		}
		addrs[host] = ip
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err == nil {
				if ip, ok := addrs[strings.ToLower(host)]; ok {
					addr = net.JoinHostPort(ip, port)
				}
			}
			return dialer.DialContext(ctx, network, addr)
		},
		TLSHandshakeTimeout: 10 * time.Second,
	}
	if len(addrs) > 0 {
		tr.Proxy = nil
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

func printCORSReport(w io.Writer, rep *corscheck.Report) {
	cred := ""
	if rep.Credentials {
		cred = " with credentials"
	}
	fmt.Fprintf(w, "%s %s from origin %s%s\n", rep.Method, rep.URL, rep.Origin, cred)
	if len(rep.PreflightReasons) == 0 {
		fmt.Fprintln(w, "no preflight: a simple request (safelisted method and headers)")
	} else {
		fmt.Fprintf(w, "preflight needed: %s\n", strings.Join(rep.PreflightReasons, "; "))
	}
	for _, ex := range rep.Exchanges {
		fmt.Fprintf(w, "\n%s: %s %s\n", ex.Step, ex.Method, ex.URL)
		for _, k := range sortedKeys(ex.RequestHeaders) {
			v := ex.RequestHeaders[k]
			if k == "Cookie" {
				v = redactCookie(v)
			}
			fmt.Fprintf(w, "  > %s: %s\n", k, v)
		}
		fmt.Fprintf(w, "  < %d %s\n", ex.Status, http.StatusText(ex.Status))
		for _, k := range sortedKeys(ex.ResponseHeaders) {
			fmt.Fprintf(w, "  < %s: %s\n", k, ex.ResponseHeaders[k])
		}
		if ex.EdgeError != "" {
			fmt.Fprintf(w, "  < edge error: %s\n", ex.EdgeError)
		}
		for _, p := range ex.Problems {
			fmt.Fprintf(w, "  FAIL %s\n       fix: %s\n", p.Message, p.Fix)
		}
		if len(ex.Problems) == 0 {
			fmt.Fprintln(w, "  ok: passes the browser's CORS checks")
		}
	}
	fmt.Fprintln(w)
	if rep.Allowed {
		fmt.Fprintln(w, "ALLOWED: a browser lets the page read the response")
		if rep.Note != "" {
			fmt.Fprintf(w, "note: %s\n", rep.Note)
		}
		return
	}
	fmt.Fprintln(w, "BLOCKED: a browser would block this request")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// redactCookie shows cookie names only: a report may be pasted into a
// ticket.
func redactCookie(v string) string {
	var out []string
	for _, c := range strings.Split(v, ";") {
		name, _, _ := strings.Cut(strings.TrimSpace(c), "=")
		out = append(out, name+"=…")
	}
	return strings.Join(out, "; ")
}
