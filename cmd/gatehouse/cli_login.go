package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/client"
)

// fill completes the connection settings: each of URL, token and account
// comes from its flag, else its environment variable, else the selected
// profile (--profile, GATEHOUSE_PROFILE, else "default" if it exists).
func (f *clientFlags) fill() error {
	for _, v := range []struct {
		p   *string
		env string
	}{{&f.url, "GATEHOUSE_URL"}, {&f.token, "GATEHOUSE_TOKEN"}, {&f.account, "GATEHOUSE_ACCOUNT"}} {
		if *v.p == "" {
			*v.p = f.env(v.env, "")
		}
	}
	if _, explicit := selectedProfile(f.profile, f.env); !explicit && f.url != "" && f.token != "" && f.account != "" {
		return nil // the profile file is not even read
	}
	p, _, err := lookupProfile(f.profile, f.env)
	if err != nil || p == nil {
		return err
	}
	// A profile's account belongs to its token: take it only with it.
	sameToken := f.token == "" || f.token == p.Token
	for _, v := range []struct {
		dst *string
		val string
	}{{&f.url, p.URL}, {&f.token, p.Token}} {
		if *v.dst == "" {
			*v.dst = v.val
		}
	}
	if f.account == "" && sameToken {
		f.account = p.Account
	}
	return nil
}

// accountRef is an account as GET /accounts lists it.
type accountRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// inferAccount returns the one account the client's token can use, or a
// usage error listing them when there are several.
func inferAccount(ctx context.Context, c *client.Client) (string, error) {
	raws, err := c.Accounts(ctx)
	if err != nil {
		return "", err
	}
	accounts := make([]accountRef, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &accounts[i]); err != nil {
			return "", &cliError{code: exitAPIOther, msg: fmt.Sprintf("GET accounts: unexpected account: %v", err)}
		}
	}
	switch len(accounts) {
	case 1:
		return accounts[0].ID, nil
	case 0:
		return "", usageErrorf("no account: the token can use none; set GATEHOUSE_ACCOUNT or --account")
	}
	return "", usageErrorf("the token can use %d accounts; choose one with --account or GATEHOUSE_ACCOUNT:\n%s", len(accounts), listAccounts(accounts))
}

func listAccounts(accounts []accountRef) string {
	lines := make([]string, len(accounts))
	for i, a := range accounts {
		lines[i] = fmt.Sprintf("  %s  %s", a.ID, a.Name)
	}
	return strings.Join(lines, "\n")
}

// loginCommands are login, logout and profiles: the saved profiles the
// API commands fall back to.
func loginCommands(env func(string, string) string, stdout io.Writer) []*cobra.Command {
	var url, token, account, name string
	login := &cobra.Command{
		Use:   "login --url URL --token TOKEN [--account ID] [--profile NAME]",
		Short: "Check an API token and save it, with the API's URL, as a profile the API commands use",
		Long: `Verifies the token against the API (GET /user/tokens/verify and
/accounts) and saves URL, token and account as a named profile (default
"default") in $XDG_CONFIG_HOME/gatehouse/config.yaml, else
~/.config/gatehouse/config.yaml: the directory is made 0700, the file
0600. The API commands use the profile named by --profile or
GATEHOUSE_PROFILE, else "default"; a flag or environment variable for a
setting wins over the profile. --account is needed only when the token can
use more than one account. --token - reads the token from stdin (so it
stays out of the shell's history).`,
		Example: `  gatehouse login --url http://127.0.0.1:8080 --token ghat_...
  gatehouse login --profile prod --url https://gatehouse.example.com --token - < token.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				name, _ = selectedProfile("", env)
			}
			if err := checkProfileName(name); err != nil {
				return err
			}
			if url == "" {
				return usageErrorf("login: --url is required, such as --url http://127.0.0.1:8080")
			}
			if token == "-" {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 4096))
				if err != nil {
					return usageErrorf("login: read the token from stdin: %v", err)
				}
				token = strings.TrimSpace(string(b))
			}
			if token == "" {
				return usageErrorf("login: --token is required (- reads it from stdin)")
			}
			c, err := client.New(url, token)
			if err != nil {
				return usageErrorf("login: %v", err)
			}
			ctx := cmd.Context()
			res, err := c.VerifyToken(ctx)
			if err != nil {
				return err
			}
			var verified struct{ ID, Status string }
			if err := res.Decode(&verified); err != nil {
				return err
			}
			if verified.Status != "active" {
				return &cliError{code: exitAPI4xx, msg: fmt.Sprintf("login: the token is %s", verified.Status)}
			}
			if account == "" {
				if account, err = inferAccount(ctx, c); err != nil {
					return err
				}
			} else if err := checkAccount(ctx, c, account); err != nil {
				return err
			}
			path, err := configPath(env)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			if cfg.Profiles == nil {
				cfg.Profiles = map[string]profile{}
			}
			cfg.Profiles[name] = profile{URL: strings.TrimSuffix(strings.TrimRight(url, "/"), "/client/v4"), Token: token, Account: account}
			if err := cfg.save(path); err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdout, "Logged in to %s with token %s, account %s.\nSaved as profile %q in %s.\n", cfg.Profiles[name].URL, verified.ID, account, name, path)
			return err
		},
	}
	login.Flags().StringVar(&url, "url", "", "API base URL, e.g. http://127.0.0.1:8080 (/client/v4 optional)")
	login.Flags().StringVar(&token, "token", "", "API token; - reads it from stdin")
	login.Flags().StringVar(&account, "account", "", "account id (needed only when the token can use several)")
	login.Flags().StringVar(&name, "profile", "", "profile name (default: GATEHOUSE_PROFILE, else \"default\")")

	var logoutName string
	logout := &cobra.Command{
		Use:   "logout [--profile NAME]",
		Short: "Forget a saved profile and its token (the token itself stays valid)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name, _ := selectedProfile(logoutName, env)
			path, err := configPath(env)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			if _, ok := cfg.Profiles[name]; !ok {
				return usageErrorf("logout: no profile %q in %s (profiles: %v)", name, path, cfg.names())
			}
			delete(cfg.Profiles, name)
			if err := cfg.save(path); err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdout, "Removed profile %q from %s.\n", name, path)
			return err
		},
	}
	logout.Flags().StringVar(&logoutName, "profile", "", "profile name (default: GATEHOUSE_PROFILE, else \"default\")")

	var listName string
	profiles := &cobra.Command{
		Use:   "profiles",
		Short: "List the saved profiles (never their tokens); * marks the one the API commands use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := configPath(env)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			if len(cfg.Profiles) == 0 {
				_, err := fmt.Fprintf(stdout, "No profiles in %s: create one with gatehouse login --url URL --token TOKEN\n", path)
				return err
			}
			current, _ := selectedProfile(listName, env)
			rows := make([][]string, 0, len(cfg.Profiles))
			for _, n := range cfg.names() {
				rows = append(rows, describeProfile(n, cfg.Profiles[n], n == current))
			}
			return printTable(stdout, []string{"", "NAME", "URL", "ACCOUNT"}, rows)
		},
	}
	profiles.Flags().StringVar(&listName, "profile", "", "mark this profile as the one in use (default: GATEHOUSE_PROFILE, else \"default\")")
	return []*cobra.Command{login, logout, profiles}
}

// checkAccount refuses an account the token cannot use.
func checkAccount(ctx context.Context, c *client.Client, id string) error {
	raws, err := c.Accounts(ctx)
	if err != nil {
		return err
	}
	var accounts []accountRef
	for _, r := range raws {
		var a accountRef
		if json.Unmarshal(r, &a) == nil {
			accounts = append(accounts, a)
		}
	}
	if slices.ContainsFunc(accounts, func(a accountRef) bool { return a.ID == id }) {
		return nil
	}
	return usageErrorf("login: --account %s: the token cannot use it; its accounts:\n%s", id, listAccounts(accounts))
}
