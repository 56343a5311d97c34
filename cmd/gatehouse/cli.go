package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v4"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Exit codes of the API client commands (apps, policies, service-tokens,
// idps, groups, apply). Anything else that fails exits 1.
const (
	exitUsage    = 1 // bad flags, configuration or input file
	exitAPI4xx   = 2 // the API refused the request
	exitAPIOther = 3 // the API failed (5xx) or could not be reached
)

// cliError is an error that carries the process exit code.
type cliError struct {
	code int
	msg  string
}

func (e *cliError) Error() string { return e.msg }

// exitCode is the process exit code for an error returned by run.
func exitCode(err error) int {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitUsage
}

func usageErrorf(format string, args ...any) error {
	return &cliError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

// clientFlags configure how the CLI reaches the API.
// The environment is read when a command runs, not as flag defaults, so
// that --help never prints the token.
type clientFlags struct {
	url, token, account string
	output              string
	env                 func(string, string) string
}

func (f *clientFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "API base URL, e.g. http://127.0.0.1:8080 (env GATEHOUSE_URL; /client/v4 optional)")
	fs.StringVar(&f.token, "api-token", "", "API token (env GATEHOUSE_TOKEN)")
	fs.StringVar(&f.account, "account", "", "account id (env GATEHOUSE_ACCOUNT)")
	fs.StringVarP(&f.output, "output", "o", "table", "output format: table or json (json prints the API's result)")
}

// client returns an API client for the flags, or a usage error naming
// each missing or malformed setting.
func (f *clientFlags) client() (*apiClient, error) {
	for _, v := range []struct {
		p   *string
		env string
	}{{&f.url, "GATEHOUSE_URL"}, {&f.token, "GATEHOUSE_TOKEN"}, {&f.account, "GATEHOUSE_ACCOUNT"}} {
		if *v.p == "" {
			*v.p = f.env(v.env, "")
		}
	}
	var problems []string
	if f.output != "table" && f.output != "json" {
		problems = append(problems, fmt.Sprintf("-o %q: must be table or json", f.output))
	}
	base := strings.TrimSuffix(strings.TrimRight(f.url, "/"), "/client/v4")
	if f.url == "" {
		problems = append(problems, "no API URL: set GATEHOUSE_URL or --url")
	} else if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("--url %q: must be an http:// or https:// URL such as http://127.0.0.1:8080", f.url))
	}
	if f.token == "" {
		problems = append(problems, "no API token: set GATEHOUSE_TOKEN or --api-token")
	}
	if f.account == "" {
		problems = append(problems, "no account: set GATEHOUSE_ACCOUNT or --account")
	}
	if len(problems) > 0 {
		return nil, usageErrorf("%s", strings.Join(problems, "\n"))
	}
	return &apiClient{
		base:  base + "/client/v4/accounts/" + url.PathEscape(f.account) + "/",
		token: f.token,
		http:  &http.Client{Timeout: 60 * time.Second},
	}, nil
}

// apiClient speaks the control-plane REST API.
type apiClient struct {
	base  string // ends with /accounts/{id}/
	token string
	http  *http.Client
}

// apiEnvelope is the API's response wrapper.
type apiEnvelope struct {
	Success bool `json:"success"`
	Errors  []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"errors"`
	Result     json.RawMessage  `json:"result"`
	ResultInfo *access.ListInfo `json:"result_info"`
}

// call sends one request (path relative to the account) and returns the
// envelope of a successful response. Failures come back as *cliError with
// the exit code for 4xx, 5xx and network errors.
func (c *apiClient) call(ctx context.Context, method, path string, query url.Values, body []byte) (*apiEnvelope, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, usageErrorf("%s %s: %v", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &cliError{code: exitAPIOther, msg: fmt.Sprintf("cannot reach the API: %v", err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, &cliError{code: exitAPIOther, msg: fmt.Sprintf("%s %s: reading the response: %v", method, path, err)}
	}
	var env apiEnvelope
	jsonErr := json.Unmarshal(raw, &env)
	if resp.StatusCode < 300 && jsonErr == nil && env.Success {
		return &env, nil
	}
	code := exitAPIOther
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		code = exitAPI4xx
	}
	msg := fmt.Sprintf("%s %s: API answered %s", method, path, resp.Status)
	if jsonErr != nil || len(env.Errors) == 0 {
		snippet := strings.TrimSpace(string(raw))
		if len(snippet) > 200 {
			snippet = snippet[:200] + "…"
		}
		return nil, &cliError{code: code, msg: msg + ": " + snippet}
	}
	for _, e := range env.Errors {
		line := e.Message
		if e.Field != "" && !strings.HasPrefix(line, e.Field) {
			line = e.Field + ": " + line
		}
		msg += "\n  " + line
	}
	return nil, &cliError{code: code, msg: msg}
}

// list fetches a list. Unless page or perPage is set it follows
// result_info to the last page and returns every item.
func (c *apiClient) list(ctx context.Context, path string, query url.Values, page, perPage int) ([]json.RawMessage, error) {
	if query == nil {
		query = url.Values{}
	}
	single := page > 0 || perPage > 0
	if !single {
		page, perPage = 1, 100
	}
	var all []json.RawMessage
	for {
		if page > 0 {
			query.Set("page", strconv.Itoa(page))
		}
		if perPage > 0 {
			query.Set("per_page", strconv.Itoa(perPage))
		}
		env, err := c.call(ctx, http.MethodGet, path, query, nil)
		if err != nil {
			return nil, err
		}
		var items []json.RawMessage
		if err := json.Unmarshal(env.Result, &items); err != nil {
			return nil, &cliError{code: exitAPIOther, msg: fmt.Sprintf("GET %s: result is not a list: %v", path, err)}
		}
		all = append(all, items...)
		if single || env.ResultInfo == nil || len(items) == 0 || page >= env.ResultInfo.TotalPages {
			break
		}
		page++
	}
	if all == nil {
		all = []json.RawMessage{}
	}
	return all, nil
}

// listAll fetches every item of a list and decodes it.
func listAll[T any](ctx context.Context, c *apiClient, path string) ([]T, error) {
	raws, err := c.list(ctx, path, nil, 0, 0)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return nil, &cliError{code: exitAPIOther, msg: fmt.Sprintf("GET %s: %v", path, err)}
		}
	}
	return out, nil
}

// readBody reads a request body from a JSON or YAML file, or stdin for "-",
// and returns it as JSON.
func readBody(cmd *cobra.Command, file string) ([]byte, error) {
	if file == "" {
		return nil, usageErrorf("-f FILE is required (JSON or YAML; - for stdin)")
	}
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(cmd.InOrStdin())
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, usageErrorf("read %s: %v", file, err)
	}
	out, err := yamlToJSON(data)
	if err != nil {
		return nil, usageErrorf("%s: %v", file, err)
	}
	return out, nil
}

// yamlToJSON converts a YAML document (JSON is YAML) to JSON.
func yamlToJSON(data []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	v, err := jsonValue(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// jsonValue turns decoded YAML into values encoding/json can marshal.
func jsonValue(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			jv, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			t[k] = jv
		}
		return t, nil
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("map key %v is not a string", k)
			}
			jv, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			m[ks] = jv
		}
		return m, nil
	case []any:
		for i, e := range t {
			jv, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			t[i] = jv
		}
		return t, nil
	}
	return v, nil
}

// printJSON writes a result as indented JSON, keeping the API's field order.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printTable writes a header and rows, aligned.
func printTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// resource describes one API collection for the generic CRUD commands.
type resource struct {
	use, short  string
	path        func() string // collection path relative to the account
	header      []string
	row         func(json.RawMessage) ([]string, error)
	afterCreate func(w io.Writer, result json.RawMessage) error // extra table output
}

func decodeRow[T any](f func(T) []string) func(json.RawMessage) ([]string, error) {
	return func(raw json.RawMessage) ([]string, error) {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		return f(v), nil
	}
}

// crud holds what every resource command shares.
type crud struct {
	flags  *clientFlags
	stdout io.Writer
}

func (c crud) show(r resource, raws []json.RawMessage) error {
	if c.flags.output == "json" {
		return printJSON(c.stdout, raws)
	}
	rows := make([][]string, 0, len(raws))
	for _, raw := range raws {
		row, err := r.row(raw)
		if err != nil {
			return &cliError{code: exitAPIOther, msg: fmt.Sprintf("unexpected %s in the response: %v", r.use, err)}
		}
		rows = append(rows, row)
	}
	return printTable(c.stdout, r.header, rows)
}

func (c crud) showOne(r resource, raw json.RawMessage) error {
	if c.flags.output == "json" {
		return printJSON(c.stdout, raw)
	}
	return c.show(r, []json.RawMessage{raw})
}

func (c crud) listCmd(r resource) *cobra.Command {
	var page, perPage int
	cmd := &cobra.Command{Use: "list", Short: "List " + r.short + "s (every page unless --page or --per-page is given)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.flags.client()
			if err != nil {
				return err
			}
			raws, err := cl.list(cmd.Context(), r.path(), nil, page, perPage)
			if err != nil {
				return err
			}
			return c.show(r, raws)
		}}
	cmd.Flags().IntVar(&page, "page", 0, "fetch only this page (from 1)")
	cmd.Flags().IntVar(&perPage, "per-page", 0, "fetch only one page of this size (1-1000)")
	return cmd
}

func (c crud) oneCmd(r resource, use, short, method, suffix string, withFile bool) *cobra.Command {
	var file string
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body []byte
			if withFile {
				var err error
				if body, err = readBody(cmd, file); err != nil {
					return err
				}
			}
			cl, err := c.flags.client()
			if err != nil {
				return err
			}
			env, err := cl.call(cmd.Context(), method, r.path()+"/"+url.PathEscape(args[0])+suffix, nil, body)
			if err != nil {
				return err
			}
			if method == http.MethodDelete {
				if c.flags.output == "json" {
					return printJSON(c.stdout, env.Result)
				}
				_, err := fmt.Fprintf(c.stdout, "Deleted %s %s\n", r.short, args[0])
				return err
			}
			if err := c.showOne(r, env.Result); err != nil {
				return err
			}
			if suffix == "/rotate" && c.flags.output != "json" && r.afterCreate != nil {
				return r.afterCreate(c.stdout, env.Result)
			}
			return nil
		}}
	if withFile {
		cmd.Flags().StringVarP(&file, "file", "f", "", "request body: a JSON or YAML file, or - for stdin")
	}
	return cmd
}

func (c crud) createCmd(r resource, body func(cmd *cobra.Command) ([]byte, error)) *cobra.Command {
	return &cobra.Command{Use: "create", Short: "Create one " + r.short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := body(cmd)
			if err != nil {
				return err
			}
			cl, err := c.flags.client()
			if err != nil {
				return err
			}
			env, err := cl.call(cmd.Context(), http.MethodPost, r.path(), nil, b)
			if err != nil {
				return err
			}
			if err := c.showOne(r, env.Result); err != nil {
				return err
			}
			if c.flags.output != "json" && r.afterCreate != nil {
				return r.afterCreate(c.stdout, env.Result)
			}
			return nil
		}}
}

func fileCreateCmd(c crud, r resource) *cobra.Command {
	var file string
	cmd := c.createCmd(r, func(cmd *cobra.Command) ([]byte, error) { return readBody(cmd, file) })
	cmd.Use = "create -f FILE"
	cmd.Flags().StringVarP(&file, "file", "f", "", "request body: a JSON or YAML file, or - for stdin")
	return cmd
}

// addClientCommands registers the commands that manage an account through
// the REST API: apps, policies, service-tokens, idps, groups, certificates
// and apply.
func addClientCommands(root *cobra.Command, env func(string, string) string, stdout io.Writer) {
	flags := &clientFlags{env: env}
	c := crud{flags: flags, stdout: stdout}
	parent := func(use, short string) *cobra.Command {
		cmd := &cobra.Command{Use: use, Short: short}
		flags.register(cmd.PersistentFlags())
		return cmd
	}

	apps := resource{use: "apps", short: "app", path: func() string { return "access/apps" },
		header: []string{"ID", "NAME", "DOMAIN", "CORS", "POLICIES"},
		row: decodeRow(func(a access.App) []string {
			return []string{a.ID, a.Name, a.Domain, corsMode(a), strconv.Itoa(len(a.Policies))}
		})}
	appsCmd := parent("apps", "Manage Access applications through the API")
	appsCmd.AddCommand(c.listCmd(apps),
		c.oneCmd(apps, "get ID", "Show an app", http.MethodGet, "", false),
		fileCreateCmd(c, apps),
		c.oneCmd(apps, "update ID -f FILE", "Replace an app", http.MethodPut, "", true),
		c.oneCmd(apps, "delete ID", "Delete an app and its app-scoped policies", http.MethodDelete, "", false))
	root.AddCommand(appsCmd)

	var appID string
	policies := resource{use: "policies", short: "policy",
		path: func() string {
			if appID != "" {
				return "access/apps/" + url.PathEscape(appID) + "/policies"
			}
			return "access/policies"
		},
		header: []string{"ID", "NAME", "DECISION", "PRECEDENCE"},
		row: decodeRow(func(p access.Policy) []string {
			prec := "-"
			if p.Precedence != 0 {
				prec = strconv.Itoa(p.Precedence)
			}
			return []string{p.ID, p.Name, decisionLabel(p.Decision), prec}
		})}
	policiesCmd := parent("policies", "Manage reusable policies, or an app's policies with --app")
	policiesCmd.PersistentFlags().StringVar(&appID, "app", "", "work on this app's policies instead of the account's reusable ones")
	policiesCmd.AddCommand(c.listCmd(policies),
		c.oneCmd(policies, "get ID", "Show a policy", http.MethodGet, "", false),
		fileCreateCmd(c, policies),
		c.oneCmd(policies, "update ID -f FILE", "Replace a policy", http.MethodPut, "", true),
		c.oneCmd(policies, "delete ID", "Delete a policy (with --app, a reusable one is only unlinked)", http.MethodDelete, "", false))
	root.AddCommand(policiesCmd)

	tokens := resource{use: "service-tokens", short: "service token", path: func() string { return "access/service_tokens" },
		header: []string{"ID", "NAME", "CLIENT ID", "EXPIRES", "LAST SEEN"},
		row: decodeRow(func(t access.ServiceToken) []string {
			seen := "never"
			if t.LastSeenAt != nil {
				seen = t.LastSeenAt.UTC().Format(time.RFC3339)
			}
			return []string{t.ID, t.Name, t.ClientID, t.ExpiresAt.UTC().Format(time.RFC3339), seen}
		}),
		afterCreate: printSecret}
	var tokenName, tokenDuration string
	tokenCreate := c.createCmd(tokens, func(*cobra.Command) ([]byte, error) {
		if tokenName == "" {
			return nil, usageErrorf("service-tokens create: --name is required")
		}
		return json.Marshal(access.ServiceTokenSpec{Name: tokenName, Duration: tokenDuration})
	})
	tokenCreate.Use = "create --name NAME [--duration D]"
	tokenCreate.Short = "Create a service token and print its secret (shown only once)"
	tokenCreate.Flags().StringVar(&tokenName, "name", "", "token name (required)")
	tokenCreate.Flags().StringVar(&tokenDuration, "duration", "", "lifetime such as 8760h (default one year)")
	tokensCmd := parent("service-tokens", "Manage service tokens through the API")
	tokensCmd.AddCommand(c.listCmd(tokens),
		c.oneCmd(tokens, "get ID", "Show a service token", http.MethodGet, "", false),
		tokenCreate,
		c.oneCmd(tokens, "rotate ID", "Give a service token a new secret and print it (the old one stops working)", http.MethodPost, "/rotate", false),
		c.oneCmd(tokens, "refresh ID", "Extend a service token: it expires one duration from now", http.MethodPost, "/refresh", false),
		c.oneCmd(tokens, "delete ID", "Delete a service token", http.MethodDelete, "", false))
	root.AddCommand(tokensCmd)

	idps := resource{use: "idps", short: "identity provider", path: func() string { return "access/identity_providers" },
		header: []string{"ID", "NAME", "TYPE"},
		row: decodeRow(func(p access.IdentityProvider) []string {
			return []string{p.ID, p.Name, p.Type}
		})}
	idpsCmd := parent("idps", "Manage identity providers (login methods) through the API")
	idpsCmd.AddCommand(c.listCmd(idps),
		c.oneCmd(idps, "get ID", "Show an identity provider", http.MethodGet, "", false),
		fileCreateCmd(c, idps),
		c.oneCmd(idps, "update ID -f FILE", "Replace an identity provider", http.MethodPut, "", true),
		c.oneCmd(idps, "delete ID", "Delete an identity provider", http.MethodDelete, "", false))
	root.AddCommand(idpsCmd)

	certs := resource{use: "certificates", short: "mutual TLS certificate", path: func() string { return "access/certificates" },
		header: []string{"ID", "NAME", "FINGERPRINT (SHA-256)", "EXPIRES", "HOSTNAMES"},
		row: decodeRow(func(c access.Certificate) []string {
			return []string{c.ID, c.Name, c.Fingerprint, c.ExpiresOn.UTC().Format(time.RFC3339), strings.Join(c.AssociatedHostnames, ",")}
		})}
	var certName, certFile string
	var certHosts []string
	certCreate := c.createCmd(certs, func(*cobra.Command) ([]byte, error) {
		if certName == "" || certFile == "" {
			return nil, usageErrorf("certificates create: --name and --cert are required")
		}
		pem, err := os.ReadFile(certFile)
		if err != nil {
			return nil, usageErrorf("certificates create: --cert: %v", err)
		}
		return json.Marshal(access.CertificateSpec{Name: certName, Certificate: string(pem), AssociatedHostnames: certHosts})
	})
	certCreate.Use = "create --name NAME --cert CA.pem [--hostname HOST]..."
	certCreate.Short = "Upload a CA whose client certificates satisfy the certificate and common_name rules on its hostnames"
	certCreate.Flags().StringVar(&certName, "name", "", "certificate name (required)")
	certCreate.Flags().StringVar(&certFile, "cert", "", "PEM file holding one CA certificate (required)")
	certCreate.Flags().StringArrayVar(&certHosts, "hostname", nil, "a host (or *.wildcard) whose requests the CA's client certificates may satisfy rules on; repeat for more")
	certsCmd := parent("certificates", "Manage mutual TLS CA certificates through the API")
	certsCmd.AddCommand(c.listCmd(certs),
		c.oneCmd(certs, "get ID", "Show a certificate", http.MethodGet, "", false),
		certCreate,
		c.oneCmd(certs, "delete ID", "Delete a certificate: client certificates it signed stop satisfying any rule", http.MethodDelete, "", false))
	root.AddCommand(certsCmd)
	groups := resource{use: "groups", short: "Access group", path: func() string { return "access/groups" },
		header: []string{"ID", "NAME", "INCLUDE", "REQUIRE", "EXCLUDE"},
		row: decodeRow(func(g access.Group) []string {
			return []string{g.ID, g.Name, strconv.Itoa(len(g.Include)), strconv.Itoa(len(g.Require)), strconv.Itoa(len(g.Exclude))}
		})}
	groupsCmd := parent("groups", "Manage Access groups (rule sets policies use with a group rule) through the API")
	groupsCmd.AddCommand(c.listCmd(groups),
		c.oneCmd(groups, "get ID", "Show an Access group", http.MethodGet, "", false),
		fileCreateCmd(c, groups),
		c.oneCmd(groups, "update ID -f FILE", "Replace an Access group (every policy using it changes)", http.MethodPut, "", true),
		c.oneCmd(groups, "delete ID", "Delete an Access group no policy uses", http.MethodDelete, "", false))
	root.AddCommand(groupsCmd)

	applyCmd := applyCommand(flags, stdout)
	flags.register(applyCmd.PersistentFlags())
	root.AddCommand(applyCmd)
}

// corsMode says how the edge treats an app's CORS preflights.
func corsMode(a access.App) string {
	switch {
	case a.CORSHeaders.Configured():
		return "answered at edge"
	case a.OptionsPreflightBypass:
		return "bypass to origin"
	}
	return "none (preflights get 403)"
}

// decisionLabel is a decision as the dashboard shows it.
func decisionLabel(d access.Decision) string {
	if d == access.DecisionNonIdentity {
		return "Service Auth"
	}
	return string(d)
}

// printSecret shows a new service token secret once, with a warning.
func printSecret(w io.Writer, raw json.RawMessage) error {
	var t access.ServiceToken
	if err := json.Unmarshal(raw, &t); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nclient_id:     %s\nclient_secret: %s\nSave the client secret now: it is shown only once and cannot be retrieved again.\n", t.ClientID, t.ClientSecret)
	return err
}
