package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v4"

	"github.com/gatehouse-dev/gatehouse/client"
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
	profile             string // a saved profile (gatehouse login); see fill
	output              string
	env                 func(string, string) string
}

func (f *clientFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "API base URL, e.g. http://127.0.0.1:8080 (env GATEHOUSE_URL; /client/v4 optional)")
	fs.StringVar(&f.token, "api-token", "", "API token (env GATEHOUSE_TOKEN)")
	fs.StringVar(&f.account, "account", "", "account id (env GATEHOUSE_ACCOUNT; default: the token's account when it has one)")
	fs.StringVar(&f.profile, "profile", "", "saved profile for what no flag or environment variable sets (env GATEHOUSE_PROFILE; default \"default\"; see gatehouse login)")
	fs.StringVarP(&f.output, "output", "o", "table", "output format: table or json (json prints the API's result)")
}

// client returns the API client for the flags' account, or a usage error
// naming each missing or malformed setting. Without an account it uses
// the token's, when the token can use exactly one.
func (f *clientFlags) client() (*client.Account, error) {
	if err := f.fill(); err != nil {
		return nil, err
	}
	var problems []string
	if f.output != "table" && f.output != "json" {
		problems = append(problems, fmt.Sprintf("-o %q: must be table or json", f.output))
	}
	base := strings.TrimSuffix(strings.TrimRight(f.url, "/"), "/client/v4")
	if f.url == "" {
		problems = append(problems, "no API URL: set GATEHOUSE_URL or --url, or save a profile with gatehouse login")
	} else if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("--url %q: must be an http:// or https:// URL such as http://127.0.0.1:8080", f.url))
	}
	if f.token == "" {
		problems = append(problems, "no API token: set GATEHOUSE_TOKEN or --api-token, or save a profile with gatehouse login")
	}
	if len(problems) > 0 {
		return nil, usageErrorf("%s", strings.Join(problems, "\n"))
	}
	c, err := client.New(base, f.token)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	if f.account == "" {
		if f.account, err = inferAccount(context.Background(), c); err != nil {
			return nil, err
		}
	}
	return c.Account(f.account), nil
}

// cliFailure gives an error from the client package its exit code and
// the CLI's wording: a refusal (4xx) exits 2; a failure (5xx, an answer
// that is not the API's) or no answer exits 3. Other errors pass through.
func cliFailure(err error) error {
	var ae *client.APIError
	var ne *client.NetworkError
	var de *client.DecodeError
	switch {
	case errors.As(err, &ae):
		code := exitAPIOther
		if ae.Refused() {
			code = exitAPI4xx
		}
		msg := fmt.Sprintf("%s %s: API answered %s", ae.Method, accountPath(ae.Path), ae.Status)
		if len(ae.Errors) == 0 {
			return &cliError{code: code, msg: msg + ": " + ae.Body}
		}
		for _, e := range ae.Errors {
			msg += "\n  " + e.Text()
		}
		return &cliError{code: code, msg: msg}
	case errors.As(err, &ne):
		return &cliError{code: exitAPIOther, msg: fmt.Sprintf("cannot reach the API: %v", ne.Err)}
	case errors.As(err, &de):
		return &cliError{code: exitAPIOther, msg: fmt.Sprintf("%s %s: unexpected result: %v", de.Method, accountPath(de.Path), de.Err)}
	}
	return err
}

// accountPath is a path below /client/v4 as the CLI shows it: below the
// account (access/apps) when it is an account's.
func accountPath(p string) string {
	rest, ok := strings.CutPrefix(p, "accounts/")
	if !ok {
		return p
	}
	if _, below, ok := strings.Cut(rest, "/"); ok {
		return below
	}
	return p
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
	col         func(*client.Account) client.Collection
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
	cmd := &cobra.Command{Use: "list", Short: "List " + plural(r.short) + " (every page unless --page or --per-page is given)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			acct, err := c.flags.client()
			if err != nil {
				return err
			}
			if perPage > 0 && page == 0 {
				page = 1 // --per-page alone: one page of that size
			}
			raws, err := r.col(acct).List(cmd.Context(), &client.ListOptions{Page: page, PerPage: perPage})
			if err != nil {
				return err
			}
			return c.show(r, raws)
		}}
	cmd.Flags().IntVar(&page, "page", 0, "fetch only this page (from 1)")
	cmd.Flags().IntVar(&perPage, "per-page", 0, "fetch only one page of this size (1-1000)")
	return cmd
}

// itemOp is what a command does to one item of a collection.
type itemOp struct {
	do      func(ctx context.Context, col client.Collection, id string, body json.RawMessage) (*client.Response, error)
	deletes bool // prints "Deleted ..."
	secret  bool // prints the new secret (afterCreate) in table output
}

var (
	opGet = itemOp{do: func(ctx context.Context, col client.Collection, id string, _ json.RawMessage) (*client.Response, error) {
		return col.Get(ctx, id)
	}}
	opUpdate = itemOp{do: func(ctx context.Context, col client.Collection, id string, body json.RawMessage) (*client.Response, error) {
		return col.Update(ctx, id, body)
	}}
	opDelete = itemOp{deletes: true, do: func(ctx context.Context, col client.Collection, id string, _ json.RawMessage) (*client.Response, error) {
		return col.Delete(ctx, id)
	}}
	opRotate = itemOp{secret: true, do: func(ctx context.Context, col client.Collection, id string, _ json.RawMessage) (*client.Response, error) {
		return col.Action(ctx, id, "rotate", nil)
	}}
	opRefresh = itemOp{do: func(ctx context.Context, col client.Collection, id string, _ json.RawMessage) (*client.Response, error) {
		return col.Action(ctx, id, "refresh", nil)
	}}
)

func (c crud) oneCmd(r resource, use, short string, op itemOp, withFile bool) *cobra.Command {
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
			acct, err := c.flags.client()
			if err != nil {
				return err
			}
			res, err := op.do(cmd.Context(), r.col(acct), args[0], body)
			if err != nil {
				return err
			}
			if op.deletes {
				if c.flags.output == "json" {
					return printJSON(c.stdout, res.Result)
				}
				_, err := fmt.Fprintf(c.stdout, "Deleted %s %s\n", r.short, args[0])
				return err
			}
			if err := c.showOne(r, res.Result); err != nil {
				return err
			}
			if op.secret && c.flags.output != "json" && r.afterCreate != nil {
				return r.afterCreate(c.stdout, res.Result)
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
			acct, err := c.flags.client()
			if err != nil {
				return err
			}
			res, err := r.col(acct).Create(cmd.Context(), json.RawMessage(b))
			if err != nil {
				return err
			}
			if err := c.showOne(r, res.Result); err != nil {
				return err
			}
			if c.flags.output != "json" && r.afterCreate != nil {
				return r.afterCreate(c.stdout, res.Result)
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

	apps := resource{use: "apps", short: "app", col: (*client.Account).Apps,
		header: []string{"ID", "NAME", "DOMAIN", "CORS", "POLICIES"},
		row: decodeRow(func(a access.App) []string {
			return []string{a.ID, a.Name, a.Domain, corsMode(a), strconv.Itoa(len(a.Policies))}
		})}
	appsCmd := parent("apps", "Manage Access applications through the API")
	appsCmd.AddCommand(c.listCmd(apps),
		c.oneCmd(apps, "get ID", "Show an app", opGet, false),
		fileCreateCmd(c, apps),
		c.oneCmd(apps, "update ID -f FILE", "Replace an app", opUpdate, true),
		c.oneCmd(apps, "delete ID", "Delete an app and its app-scoped policies", opDelete, false),
		c.editCmd(apps, appByNameOrDomain))
	root.AddCommand(appsCmd)

	var appID string
	policies := resource{use: "policies", short: "policy",
		col: func(a *client.Account) client.Collection {
			if appID != "" {
				return a.AppPolicies(appID)
			}
			return a.Policies()
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
	policiesCmd.PersistentFlags().StringVar(&appID, "app", "", "work on this app's policies instead of the account's reusable ones (its id, name or domain)")
	policiesCmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return resolveAppFlag(cmd.Context(), flags, &appID) }
	policiesCmd.AddCommand(c.editCmd(policies, byName("policy")), policyTestCommand(flags, &appID, stdout))
	policiesCmd.AddCommand(c.listCmd(policies),
		c.oneCmd(policies, "get ID", "Show a policy", opGet, false),
		fileCreateCmd(c, policies),
		c.oneCmd(policies, "update ID -f FILE", "Replace a policy", opUpdate, true),
		c.oneCmd(policies, "delete ID", "Delete a policy (with --app, a reusable one is only unlinked)", opDelete, false))
	root.AddCommand(policiesCmd)

	tokens := resource{use: "service-tokens", short: "service token", col: func(a *client.Account) client.Collection { return a.ServiceTokens().Collection },
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
		c.oneCmd(tokens, "get ID", "Show a service token", opGet, false),
		tokenCreate,
		c.oneCmd(tokens, "rotate ID", "Give a service token a new secret and print it (the old one stops working)", opRotate, false),
		c.oneCmd(tokens, "refresh ID", "Extend a service token: it expires one duration from now", opRefresh, false),
		c.oneCmd(tokens, "delete ID", "Delete a service token", opDelete, false),
		c.editCmd(tokens, byName("service token")))
	root.AddCommand(tokensCmd)

	idps := resource{use: "idps", short: "identity provider", col: (*client.Account).IdentityProviders,
		header: []string{"ID", "NAME", "TYPE"},
		row: decodeRow(func(p access.IdentityProvider) []string {
			return []string{p.ID, p.Name, p.Type}
		})}
	idpsCmd := parent("idps", "Manage identity providers (login methods) through the API")
	idpsCmd.AddCommand(c.listCmd(idps),
		c.oneCmd(idps, "get ID", "Show an identity provider", opGet, false),
		fileCreateCmd(c, idps),
		c.oneCmd(idps, "update ID -f FILE", "Replace an identity provider", opUpdate, true),
		c.oneCmd(idps, "delete ID", "Delete an identity provider", opDelete, false))
	root.AddCommand(idpsCmd)

	certs := resource{use: "certificates", short: "mutual TLS certificate", col: (*client.Account).Certificates,
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
		c.oneCmd(certs, "get ID", "Show a certificate", opGet, false),
		certCreate,
		c.oneCmd(certs, "delete ID", "Delete a certificate: client certificates it signed stop satisfying any rule", opDelete, false))
	root.AddCommand(certsCmd)
	groups := resource{use: "groups", short: "Access group", col: (*client.Account).Groups,
		header: []string{"ID", "NAME", "INCLUDE", "REQUIRE", "EXCLUDE"},
		row: decodeRow(func(g access.Group) []string {
			return []string{g.ID, g.Name, strconv.Itoa(len(g.Include)), strconv.Itoa(len(g.Require)), strconv.Itoa(len(g.Exclude))}
		})}
	groupsCmd := parent("groups", "Manage Access groups (rule sets policies use with a group rule) through the API")
	groupsCmd.AddCommand(c.listCmd(groups),
		c.oneCmd(groups, "get ID", "Show an Access group", opGet, false),
		fileCreateCmd(c, groups),
		c.oneCmd(groups, "update ID -f FILE", "Replace an Access group (every policy using it changes)", opUpdate, true),
		c.oneCmd(groups, "delete ID", "Delete an Access group no policy uses", opDelete, false))
	root.AddCommand(groupsCmd)

	root.AddCommand(loginCommands(env, stdout)...)

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
