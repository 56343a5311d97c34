package main

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// addOrgCommands registers org get|set and users list|get, and adds the
// API's get, set and rotate to the keys command (rotate goes through the
// API when an API URL is configured, else to the database as before).
func addOrgCommands(root, keys *cobra.Command, env func(string, string) string, stdout io.Writer) {
	flags := &clientFlags{env: env}
	c := crud{flags: flags, stdout: stdout}

	org := resource{use: "org", short: "organization",
		header: []string{"NAME", "AUTH DOMAIN", "SESSION DURATION"},
		row: decodeRow(func(o access.OrganizationSpec) []string {
			return []string{dash(o.Name), dash(o.AuthDomain), dash(o.SessionDuration)}
		})}
	orgCmd := &cobra.Command{Use: "org", Short: "Show or change the account's organization through the API"}
	flags.register(orgCmd.PersistentFlags())
	orgCmd.AddCommand(&cobra.Command{Use: "get", Short: "Show the organization", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := flags.client()
			if err != nil {
				return err
			}
			res, err := cl.Organization(cmd.Context())
			if err != nil {
				return err
			}
			return c.showOne(org, res.Result)
		}})
	var file string
	strs := map[string]*string{}
	set := &cobra.Command{Use: "set [--name N] [--auth-domain D] [--session-duration D] [-f FILE]",
		Short: "Change the fields given (creating the organization if there is none); the others keep their values", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := map[string]any{}
			if file != "" {
				raw, err := readBody(cmd, file)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(raw, &body); err != nil {
					return usageErrorf("%s: must hold a JSON or YAML object: %v", file, err)
				}
			}
			for field, v := range strs {
				if cmd.Flags().Changed(flagName(field)) {
					body[field] = *v
				}
			}
			if len(body) == 0 {
				return usageErrorf("org set: give at least one of --name, --auth-domain, --session-duration or -f FILE")
			}
			cl, err := flags.client()
			if err != nil {
				return err
			}
			res, err := cl.SetOrganization(cmd.Context(), body)
			if err != nil {
				return err
			}
			return c.showOne(org, res.Result)
		}}
	for _, f := range []struct{ field, usage string }{
		{"name", "the organization's name"},
		{"auth_domain", "the team domain, a host name such as team.example.com"},
		{"session_duration", "how long a login session on the auth domain lasts, such as 24h"},
	} {
		strs[f.field] = set.Flags().String(flagName(f.field), "", f.usage)
	}
	set.Flags().StringVarP(&file, "file", "f", "", "fields to set: a JSON or YAML object, or - for stdin (null removes a field)")
	orgCmd.AddCommand(set)
	root.AddCommand(orgCmd)

	users := resource{use: "users", short: "user", col: (*client.Account).Users,
		header: []string{"ID", "EMAIL", "LAST SUCCESSFUL LOGIN", "FIRST SEEN"},
		row: decodeRow(func(u struct {
			ID                  string     `json:"id"`
			Email               string     `json:"email"`
			LastSuccessfulLogin *time.Time `json:"last_successful_login"`
			CreatedAt           time.Time  `json:"created_at"`
		}) []string {
			last := "never"
			if u.LastSuccessfulLogin != nil {
				last = u.LastSuccessfulLogin.UTC().Format(time.RFC3339)
			}
			return []string{u.ID, u.Email, last, u.CreatedAt.UTC().Format(time.RFC3339)}
		})}
	usersCmd := &cobra.Command{Use: "users", Short: "List the users who signed in (from the access log) through the API"}
	flags.register(usersCmd.PersistentFlags())
	usersCmd.AddCommand(c.listCmd(users), c.oneCmd(users, "get ID", "Show a user", opGet, false))
	root.AddCommand(usersCmd)

	keyRes := resource{use: "keys", short: "signing keys",
		header: []string{"ROTATION INTERVAL (DAYS)", "LAST ROTATION", "DAYS UNTIL NEXT"},
		row: decodeRow(func(k access.KeyStatus) []string {
			return []string{strconv.FormatFloat(k.KeyRotationIntervalDays, 'f', -1, 64), k.LastKeyRotationAt.UTC().Format(time.RFC3339),
				strconv.FormatFloat(k.DaysUntilNextRotation, 'f', 2, 64)}
		})}
	keysCall := func(call func(ctx context.Context, cl *client.Account) (*client.Response, error), check func() error) func(cmd *cobra.Command, _ []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			if check != nil {
				if err := check(); err != nil {
					return err
				}
			}
			cl, err := flags.client()
			if err != nil {
				return err
			}
			res, err := call(cmd.Context(), cl)
			if err != nil {
				return err
			}
			return c.showOne(keyRes, res.Result)
		}
	}
	get := &cobra.Command{Use: "get", Short: "Show the account's rotation period and the keyring's schedule (API)", Args: cobra.NoArgs,
		RunE: keysCall(func(ctx context.Context, cl *client.Account) (*client.Response, error) { return cl.Keys(ctx) }, nil)}
	var days int
	setKeys := &cobra.Command{Use: "set --interval-days N", Short: "Set the account's rotation period, 21 to 365 days (API)", Args: cobra.NoArgs,
		RunE: keysCall(func(ctx context.Context, cl *client.Account) (*client.Response, error) {
			return cl.SetKeyRotationInterval(ctx, days)
		}, func() error {
			if days == 0 {
				return usageErrorf("keys set: --interval-days is required")
			}
			return nil
		})}
	setKeys.Flags().IntVar(&days, "interval-days", 0, "rotation period in days (21-365)")
	for _, cmd := range []*cobra.Command{get, setKeys} {
		flags.register(cmd.Flags())
		keys.AddCommand(cmd)
	}
	// rotate: through the API when an API URL is given, else (as before)
	// straight in the database with the master key.
	for _, cmd := range keys.Commands() {
		if cmd.Name() != "rotate" {
			continue
		}
		local := cmd.RunE
		flags.register(cmd.Flags())
		cmd.Short = "Rotate the signing key now (through the API with --url, GATEHOUSE_URL or a saved profile, else in the database); the previous key keeps verifying for 7 days"
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			if flags.url == "" && env("GATEHOUSE_URL", "") == "" {
				if p, _, err := lookupProfile(flags.profile, env); err != nil {
					return err
				} else if p == nil {
					return local(cmd, args)
				}
			}
			return keysCall(func(ctx context.Context, cl *client.Account) (*client.Response, error) { return cl.RotateKeys(ctx) }, nil)(cmd, args)
		}
	}
}

// flagName is a JSON field's flag name: auth_domain is --auth-domain.
func flagName(field string) string {
	b := []byte(field)
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	return string(b)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
