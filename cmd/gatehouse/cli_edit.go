package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// plural is a resource's name for many: "policy" -> "policies".
func plural(s string) string {
	if n := len(s); n >= 2 && s[n-1] == 'y' && !strings.ContainsRune("aeiou", rune(s[n-2])) {
		return s[:n-1] + "ies"
	}
	return s + "s"
}

// resolver turns what a user typed for an item (its id, or a name, or
// for an app a domain) into its id.
type resolver func(ctx context.Context, col client.Collection, ref string) (string, error)

// named is an item as resolvers list it.
type named struct {
	ID                string   `json:"id"`
	Name              string   `json:"name"`
	Domain            string   `json:"domain"`
	SelfHostedDomains []string `json:"self_hosted_domains"`
}

// byName resolves an id as itself and anything else as the name of one
// item of the collection; what names the kind of item in messages.
func byName(what string) resolver {
	return func(ctx context.Context, col client.Collection, ref string) (string, error) {
		return resolve(ctx, col, ref, what, func(n named) bool { return n.Name == ref })
	}
}

// appByNameOrDomain resolves an app's id, name, or one of its domains
// (in any spelling the API would store the same way).
func appByNameOrDomain(ctx context.Context, col client.Collection, ref string) (string, error) {
	domain := strings.ToLower(ref)
	if d, err := access.ParseDomain(ref); err == nil {
		domain = d.String()
	}
	return resolve(ctx, col, ref, "app", func(n named) bool {
		return n.Name == ref || n.Domain == domain || slices.Contains(n.SelfHostedDomains, domain)
	})
}

func resolve(ctx context.Context, col client.Collection, ref, what string, match func(named) bool) (string, error) {
	if ref == "" {
		return "", usageErrorf("no %s given", what)
	}
	if id, err := uuid.Parse(ref); err == nil {
		return id.String(), nil
	}
	items, err := client.ListAs[named](ctx, col, nil)
	if err != nil {
		return "", err
	}
	var found []named
	for _, n := range items {
		if match(n) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 1:
		return found[0].ID, nil
	case 0:
		how := "named"
		if what == "app" {
			how = "named, or with the domain,"
		}
		return "", &cliError{code: exitAPI4xx, msg: fmt.Sprintf("no %s %s %q", what, how, ref)}
	}
	lines := make([]string, len(found))
	for i, n := range found {
		lines[i] = fmt.Sprintf("  %s  %s  %s", n.ID, n.Name, n.Domain)
	}
	return "", usageErrorf("%q names %d %s; give one's id:\n%s", ref, len(found), plural(what), strings.Join(lines, "\n"))
}

// editCmd is "RESOURCE edit REF --set PATH=VALUE...": read the item with
// its ETag, change the fields, and replace it only if nobody changed it
// in between (If-Match).
func (c crud) editCmd(r resource, find resolver) *cobra.Command {
	var sets []string
	cmd := &cobra.Command{
		Use:   "edit NAME|ID --set PATH=VALUE...",
		Short: "Change fields of one " + r.short + " (read, edit, replace if unchanged meanwhile)",
		Long: `Reads the ` + r.short + `, sets each PATH to VALUE and sends it back with
If-Match, so that a change someone made in between is not overwritten
(exit 2, "changed by someone else": run it again). PATH is dotted member
names with [N] list indexes (an index one past the end appends); VALUE is
YAML or JSON: 900, true, [GET, POST], {email: a@example.com}, null, or
else a string.`,
		Example: "  gatehouse " + r.use + " edit NAME --set name=new-name",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(sets) == 0 {
				return usageErrorf("edit: give at least one --set PATH=VALUE")
			}
			edits := make([]fieldEdit, len(sets))
			for i, s := range sets {
				var err error
				if edits[i], err = parseSet(s); err != nil {
					return err
				}
			}
			acct, err := c.flags.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			col := r.col(acct)
			id, err := find(ctx, col, args[0])
			if err != nil {
				return err
			}
			res, err := col.Get(ctx, id)
			if err != nil {
				return err
			}
			etag := res.ETag()
			if etag == "" {
				return &cliError{code: exitAPIOther, msg: fmt.Sprintf("the API sent the %s without an ETag: cannot edit it safely", r.short)}
			}
			dec := json.NewDecoder(bytes.NewReader(res.Result))
			dec.UseNumber()
			var body map[string]any
			if err := dec.Decode(&body); err != nil {
				return &cliError{code: exitAPIOther, msg: fmt.Sprintf("unexpected %s in the response: %v", r.short, err)}
			}
			for _, e := range edits {
				if err := e.apply(body); err != nil {
					return usageErrorf("--set %s: %v", e.raw, err)
				}
			}
			res, err = col.Update(ctx, id, body, client.IfMatch(etag))
			if errors.Is(err, client.ErrPreconditionFailed) {
				return &cliError{code: exitAPI4xx, msg: fmt.Sprintf("%s %s was changed by someone else since it was read; nothing was written: retry", r.short, args[0])}
			}
			if err != nil {
				return err
			}
			return c.showOne(r, res.Result)
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "PATH=VALUE to change, such as cors_headers.max_age=900; repeat for more")
	return cmd
}

// resolveAppFlag turns an --app value (id, name or domain) into the app's
// id, in place.
func resolveAppFlag(ctx context.Context, flags *clientFlags, app *string) error {
	if *app == "" {
		return nil
	}
	acct, err := flags.client()
	if err != nil {
		return err
	}
	id, err := appByNameOrDomain(ctx, acct.Apps(), *app)
	if err != nil {
		return fmt.Errorf("--app: %w", err)
	}
	*app = id
	return nil
}

// policyTestCommand is "policies test": the policy tester (POST
// gatehouse/policy_test) from the command line.
func policyTestCommand(flags *clientFlags, app *string, stdout io.Writer) *cobra.Command {
	var path, email, loginMethod, ip, country, token, certCN, origin, method string
	var claims, headers []string
	cmd := &cobra.Command{
		Use:   "test --app APP [--email E | --service-token T] [--path P] [--ip IP] [--country CC] [--origin O --method M]",
		Short: "Ask the edge's engine what it would decide for a described request, and why",
		Long: `Runs the policy tester (README "Policy tester") on the app's saved
configuration: the decision, its reason, the policy and rule that decided,
every policy in evaluation order, and with --origin and --method the CORS
preflight's outcome. --email stands for a valid session (--login-method
and --claim name=value for an identity provider login), --service-token
(a token's name or id) for a request that presented it, neither for an
anonymous request. Nothing is changed; read-only tokens may use it.`,
		Example: `  gatehouse policies test --app api.example.com --email ann@example.com --ip 192.0.2.7 --country DE
  gatehouse policies test --app API --service-token ci --path /hooks
  gatehouse policies test --app API --origin https://web.example.com --method PUT --header X-Custom`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if *app == "" {
				return usageErrorf("policies test: --app is required (its id, name or domain)")
			}
			acct, err := flags.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			body := map[string]any{"app_id": *app}
			for k, v := range map[string]string{"path": path, "email": email, "login_method": loginMethod, "ip": ip,
				"country": country, "origin": origin, "method": method} {
				if v != "" {
					body[k] = v
				}
			}
			if certCN != "" {
				body["client_certificate_common_name"] = certCN
			}
			if len(headers) > 0 {
				body["request_headers"] = headers
			}
			if len(claims) > 0 {
				m := map[string][]string{}
				for _, c := range claims {
					k, v, ok := strings.Cut(c, "=")
					if !ok || k == "" {
						return usageErrorf("--claim %q: must be NAME=VALUE, such as groups=eng", c)
					}
					m[k] = append(m[k], v)
				}
				body["oidc_claims"] = m
			}
			if token != "" {
				id, err := byName("service token")(ctx, acct.ServiceTokens().Collection, token)
				if err != nil {
					return fmt.Errorf("--service-token: %w", err)
				}
				body["service_token_id"] = id
			}
			res, err := acct.TestPolicy(ctx, body)
			if err != nil {
				return err
			}
			if flags.output == "json" {
				return printJSON(stdout, res.Result)
			}
			var out policyTestOutput
			if err := res.Decode(&out); err != nil {
				return err
			}
			return out.print(stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&path, "path", "", "request path (default /)")
	f.StringVar(&email, "email", "", "the user of a valid session")
	f.StringVar(&loginMethod, "login-method", "", "the identity provider id the user logged in with (with --email)")
	f.StringArrayVar(&claims, "claim", nil, "an OIDC claim of the login, NAME=VALUE (with --login-method); repeat for more")
	f.StringVar(&token, "service-token", "", "a service token (name or id) the request presented")
	f.StringVar(&ip, "ip", "", "the client's IP address")
	f.StringVar(&country, "country", "", "the client's country (ISO 3166 code such as DE)")
	f.StringVar(&certCN, "cert-cn", "", "the common name of a client certificate the edge verified")
	f.StringVar(&origin, "origin", "", "a CORS preflight's Origin (with --method)")
	f.StringVar(&method, "method", "", "a CORS preflight's Access-Control-Request-Method")
	f.StringArrayVar(&headers, "header", nil, "a header the preflight asks for; repeat for more")
	return cmd
}

// policyTestOutput is the part of the tester's answer the table shows.
type policyTestOutput struct {
	Path       string `json:"path"`
	Decision   string `json:"decision"`
	Reason     string `json:"reason"`
	ReasonText string `json:"reason_text"`
	Policy     *struct {
		Name, Decision string
	} `json:"policy"`
	Rule     *testRule `json:"rule"`
	Policies []struct {
		Name        string    `json:"name"`
		Decision    string    `json:"decision"`
		Evaluated   bool      `json:"evaluated"`
		Matched     bool      `json:"matched"`
		Include     *testRule `json:"matched_include"`
		Require     *testRule `json:"failed_require"`
		Exclude     *testRule `json:"matched_exclude"`
		Explanation string    `json:"explanation"`
	} `json:"policies"`
	Preflight *struct {
		Outcome    string `json:"outcome"`
		Reason     string `json:"reason"`
		ReasonText string `json:"reason_text"`
		Status     any    `json:"status"`
	} `json:"preflight"`
}

type testRule struct {
	List  string `json:"list"`
	Index int    `json:"index"`
	Type  string `json:"type"`
}

func (r *testRule) String() string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%s[%d] %s", r.List, r.Index, r.Type)
}

func (o policyTestOutput) print(w io.Writer) error {
	fmt.Fprintf(w, "Decision:  %s (%s: %s)\n", o.Decision, o.Reason, o.ReasonText)
	if o.Policy != nil {
		fmt.Fprintf(w, "Policy:    %s (%s)", o.Policy.Name, decisionLabel(access.Decision(o.Policy.Decision)))
		if o.Rule != nil {
			fmt.Fprintf(w, ", rule %s", o.Rule)
		}
		fmt.Fprintln(w)
	}
	if o.Preflight != nil {
		fmt.Fprintf(w, "Preflight: %s, status %v (%s: %s)\n", o.Preflight.Outcome, o.Preflight.Status, o.Preflight.Reason, o.Preflight.ReasonText)
	}
	if len(o.Policies) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	rows := make([][]string, len(o.Policies))
	for i, p := range o.Policies {
		result := "not evaluated"
		switch {
		case p.Matched:
			result = "matched"
		case p.Evaluated:
			result = "no match"
		}
		rows[i] = []string{p.Name, decisionLabel(access.Decision(p.Decision)), result, p.Explanation}
	}
	return printTable(w, []string{"POLICY", "DECISION", "RESULT", "EXPLANATION"}, rows)
}
