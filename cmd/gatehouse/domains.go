package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// accountIDRe is the form of an account id (the accounts table's check).
var accountIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// operator is the audit log's actor for operator commands.
var operator = access.Actor{Name: "operator (gatehouse cli)"}

// accountDomainsCommand is "gatehouse account domains add|remove|list":
// the domains an account's apps must lie inside, which no other account
// may claim.
func accountDomainsCommand(ctx context.Context, needDB func() error, databaseURL *string, stdout io.Writer) *cobra.Command {
	withStore := func(fn func(st *store.Store, args []string) error) func(*cobra.Command, []string) error {
		return func(_ *cobra.Command, args []string) error {
			if err := needDB(); err != nil {
				return err
			}
			if !accountIDRe.MatchString(args[0]) {
				return fmt.Errorf("account domains: %q is not an account id (32 hex digits, as account create prints)", args[0])
			}
			st, err := openStore(ctx, *databaseURL)
			if err != nil {
				return err
			}
			defer st.Close()
			return fn(st, args)
		}
	}
	parse := func(s string) (access.HostClaim, error) {
		d, err := access.ParseAccountDomain(s)
		if err != nil {
			return d, fmt.Errorf("account domains: %w", err)
		}
		return d, nil
	}
	cmd := &cobra.Command{Use: "domains", Short: "Manage the domains an account's applications must lie inside",
		Long: `An account with a domain list may protect only hosts inside it: an entry
example.com admits exactly that host (any path), *.example.com every host
under example.com and wildcards under it. No other account may claim a host
a list entry covers. Without a list, the first account to claim a host owns
it.`}
	cmd.AddCommand(
		&cobra.Command{Use: "add ACCOUNT DOMAIN", Short: "Add a domain (example.com or *.example.com) to an account's list", Args: cobra.ExactArgs(2),
			RunE: withStore(func(st *store.Store, args []string) error {
				d, err := parse(args[1])
				if err != nil {
					return err
				}
				if err := st.AddAccountDomain(ctx, operator, args[0], d); err != nil {
					if access.KindOf(err) == access.EConflict {
						return fmt.Errorf("account domains add: %s is already used by another account (its applications or its domain list); remove it there first: %w", d, err)
					}
					return fmt.Errorf("account domains add: %w", err)
				}
				fmt.Fprintln(stdout, d)
				return nil
			})},
		&cobra.Command{Use: "remove ACCOUNT DOMAIN", Short: "Remove a domain from an account's list (its apps stay)", Args: cobra.ExactArgs(2),
			RunE: withStore(func(st *store.Store, args []string) error {
				d, err := parse(args[1])
				if err != nil {
					return err
				}
				if err := st.RemoveAccountDomain(ctx, operator, args[0], d); err != nil {
					return fmt.Errorf("account domains remove: %w", err)
				}
				return nil
			})},
		&cobra.Command{Use: "list ACCOUNT", Short: "Print an account's domain list, one a line", Args: cobra.ExactArgs(1),
			RunE: withStore(func(st *store.Store, args []string) error {
				ds, err := st.ListAccountDomains(ctx, args[0])
				if err != nil {
					return fmt.Errorf("account domains list: %w", err)
				}
				for _, d := range ds {
					fmt.Fprintln(stdout, d)
				}
				return nil
			})},
	)
	return cmd
}

// reportHostOverlaps logs, once at startup, every pair of app domains of
// different accounts that claim a common host: rows written before host
// ownership was enforced, which the API now refuses to extend and an
// operator should resolve.
func reportHostOverlaps(ctx context.Context, st *store.Store, log *slog.Logger) error {
	overlaps, err := st.HostOverlaps(ctx)
	if err != nil {
		return fmt.Errorf("check host ownership: %w", err)
	}
	for _, o := range overlaps {
		log.Warn("two accounts' applications claim a common host; the edge routes it by the longest match, so one account may receive the other's traffic: remove or change one of them",
			slog.Group("app", "account_id", o.AccountID, "id", o.AppID, "name", o.AppName, "domain", o.Domain),
			slog.Group("other_app", "account_id", o.OtherAccountID, "id", o.OtherAppID, "name", o.OtherAppName, "domain", o.OtherDomain))
	}
	return nil
}
