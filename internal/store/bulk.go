package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Bulk is a synthetic configuration for load tests and benchmarks, which
// SeedBulk writes in one transaction with COPY: far faster than one API
// call per object, and the same rows the API would write.
type Bulk struct {
	// Apps is how many applications to write. App i (from 0) is App with
	// its Name and Domain used as formats of i, e.g. "bulk-%d" and
	// "app%d.scale.test". The hosts must be free (no account holds them):
	// SeedBulk does not check host ownership.
	Apps int
	App  access.AppSpec
	// SharedPolicyID, if set, is a reusable policy of the account that
	// the first SharedApps apps link at precedence 1, and only it.
	SharedPolicyID string
	SharedApps     int
	// AppPolicy and AppPolicyRules are the policy each of the other apps
	// gets as its own (app-scoped), at precedence 1. Its rules must not
	// name service tokens.
	AppPolicy      access.PolicySpec
	AppPolicyRules access.PolicyRules
	// ServiceTokens is how many service tokens to write, token i named
	// TokenName formatted with i; they all have the secret whose hash is
	// TokenSecretHash (access.HashSecret), or an unknown one if it is nil.
	ServiceTokens   int
	TokenName       string
	TokenSecretHash []byte
}

// BulkCounts are the rows SeedBulk wrote.
type BulkCounts struct {
	Apps, AppPolicies, Links, ServiceTokens int
	Version                                 int64 // the config version the seed committed
}

// SeedBulk writes b into an account in one transaction, with COPY into
// the base tables (so that statement-level triggers see every row), and
// bumps the config version once. The change feed does not list the
// seeded objects, so an edge behind the seed must load the whole config
// (Changes answers ErrFeedGap). It is for benchmarks: it does not write
// the audit log, and skips the checks the API makes of hosts and
// identity providers.
func (s *Store) SeedBulk(ctx context.Context, accountID string, b Bulk) (BulkCounts, error) {
	var counts BulkCounts
	if err := b.check(); err != nil {
		return counts, fmt.Errorf("store: seed bulk: %w", err)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	// Created one microsecond apart and before now, so that lists have an
	// order and objects created later through the API come last.
	created := func(i, n int) time.Time { return now.Add(time.Duration(i-n) * time.Microsecond) }
	// Ids ascending (UUIDv7) and audience tags sorted, like the created_at
	// times: each index then grows at its end instead of splitting pages
	// all over, which halves the time of a large seed.
	appIDs, err := ascendingIDs(b.Apps)
	if err != nil {
		return counts, fmt.Errorf("store: seed bulk: %w", err)
	}
	auds := make([]string, b.Apps)
	for i := range auds {
		auds[i] = access.NewAUD()
	}
	slices.Sort(auds)
	err = s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		// A COPY of a million rows is one statement: longer than the
		// statement timeout meant for the API's queries.
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			return err
		}
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		var sharedID uuid.UUID
		if b.SharedPolicyID != "" {
			var err error
			if sharedID, err = uuid.Parse(b.SharedPolicyID); err != nil {
				return access.Errorf(access.EInvalid, "shared policy id %q: %v", b.SharedPolicyID, err)
			}
			if _, err := getPolicy(ctx, tx, PolicyScope{AccountID: accountID}, b.SharedPolicyID); err != nil {
				return fmt.Errorf("shared policy %s: %w", b.SharedPolicyID, err)
			}
		}
		domains := make([]string, b.Apps)
		i := 0
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"apps"}, []string{"id", "account_id", "aud", "type", "name", "domain", "origin",
			"session_duration", "cors_headers", "options_preflight_bypass", "settings", "revision", "created_at", "updated_at"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == b.Apps {
					return nil, nil
				}
				spec := b.App
				spec.Name = fmt.Sprintf(b.App.Name, i)
				spec.Domain = fmt.Sprintf(b.App.Domain, i)
				v, err := spec.Normalize()
				if err != nil {
					return nil, fmt.Errorf("app %d: %w", i, err)
				}
				spec = v.Spec()
				names := v.DomainNames()
				if len(names) != 1 {
					return nil, fmt.Errorf("app %d: %d domains, want one", i, len(names))
				}
				domains[i] = names[0]
				t := created(i, b.Apps)
				row := []any{appIDs[i], accountID, auds[i], spec.Type, spec.Name, spec.Domain, spec.Origin,
					spec.SessionDuration, spec.CORSHeaders, spec.OptionsPreflightBypass, spec.AppSettings, 1, t, t}
				i++
				return row, nil
			}))
		if err != nil {
			return fmt.Errorf("copy apps: %w", err)
		}
		counts.Apps = int(n)
		i = 0
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"app_domains"}, []string{"app_id", "position", "domain"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == b.Apps {
					return nil, nil
				}
				i++
				return []any{appIDs[i-1], 0, domains[i-1]}, nil
			})); err != nil {
			return fmt.Errorf("copy app domains: %w", err)
		}
		shared := 0
		if b.SharedPolicyID != "" {
			shared = min(b.SharedApps, b.Apps)
		}
		policyIDs, err := ascendingIDs(b.Apps - shared)
		if err != nil {
			return err
		}
		i = 0
		n, err = tx.CopyFrom(ctx, pgx.Identifier{"policies"}, []string{"id", "account_id", "app_id", "name", "decision", "include",
			"require", "exclude", "session_duration", "extras", "revision", "created_at", "updated_at"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == len(policyIDs) {
					return nil, nil
				}
				t := created(shared+i, b.Apps)
				p, r := b.AppPolicy, b.AppPolicyRules
				row := []any{policyIDs[i], accountID, appIDs[shared+i], p.Name, p.Decision, orEmpty(r.Include), orEmpty(r.Require),
					orEmpty(r.Exclude), p.SessionDuration, p.PolicyExtras, 1, t, t}
				i++
				return row, nil
			}))
		if err != nil {
			return fmt.Errorf("copy policies: %w", err)
		}
		counts.AppPolicies = int(n)
		i = 0
		n, err = tx.CopyFrom(ctx, pgx.Identifier{"app_policies"}, []string{"account_id", "app_id", "policy_id", "precedence"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == b.Apps {
					return nil, nil
				}
				policy := sharedID
				if i >= shared {
					policy = policyIDs[i-shared]
				}
				i++
				return []any{accountID, appIDs[i-1], policy, 1}, nil
			}))
		if err != nil {
			return fmt.Errorf("copy app policies: %w", err)
		}
		counts.Links = int(n)
		hash := b.TokenSecretHash
		if hash == nil {
			hash = access.HashSecret(access.NewSecret())
		}
		duration := access.DefaultServiceTokenDuration
		d, err := time.ParseDuration(duration)
		if err != nil {
			return err
		}
		// In the order of every index too: client ids sorted, and names
		// when TokenName pads the number.
		clientIDs := make([]string, b.ServiceTokens)
		for i := range clientIDs {
			clientIDs[i] = access.NewClientID()
		}
		slices.Sort(clientIDs)
		i = 0
		n, err = tx.CopyFrom(ctx, pgx.Identifier{"service_tokens"}, []string{"id", "account_id", "name", "client_id", "secret_hash",
			"client_secret_version", "duration", "expires_at", "revision", "created_at", "updated_at"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == b.ServiceTokens {
					return nil, nil
				}
				t := created(i, b.ServiceTokens)
				id, err := uuid.NewV7()
				if err != nil {
					return nil, err
				}
				row := []any{id, accountID, fmt.Sprintf(b.TokenName, i), clientIDs[i], hash, 1, duration, t.Add(d), 1, t, t}
				i++
				return row, nil
			}))
		if err != nil {
			return fmt.Errorf("copy service tokens: %w", err)
		}
		counts.ServiceTokens = int(n)
		if err := count(ctx, tx, accountID, countApp, counts.Apps, time.Time{}); err != nil {
			return err
		}
		if err := count(ctx, tx, accountID, countServiceToken, counts.ServiceTokens, time.Time{}); err != nil {
			return err
		}
		// Too many objects to list in the change feed: an edge behind
		// this version loads the whole config.
		counts.Version, err = bumpVersionPastFeed(ctx, tx, now)
		return err
	})
	if err != nil {
		return BulkCounts{}, wrap("seed bulk", err)
	}
	// Fresh statistics, so that the planner does not take the tables for
	// the empty ones it last saw.
	if _, err := s.pool.Exec(ctx, `ANALYZE apps, app_domains, policies, app_policies, service_tokens`); err != nil {
		return counts, wrap("seed bulk: analyze", err)
	}
	return counts, nil
}

func (b Bulk) check() error {
	var errs []error
	if b.Apps < 0 || b.ServiceTokens < 0 || b.SharedApps < 0 {
		errs = append(errs, errors.New("negative count"))
	}
	if b.Apps > 0 && b.App.UpstreamServiceToken.Token != nil {
		errs = append(errs, errors.New("the app template has an upstream service token (bulk apps cannot carry secrets)"))
	}
	if b.Apps > 0 && len(b.App.Policies) > 0 {
		errs = append(errs, errors.New("the app template links policies (SeedBulk links them)"))
	}
	if b.Apps > 0 && (b.Apps > b.SharedApps || b.SharedPolicyID == "") {
		if b.AppPolicy.Name == "" || len(b.AppPolicyRules.Include) == 0 {
			errs = append(errs, errors.New("apps without the shared policy need an AppPolicy with a name and include rules"))
		}
		if len(b.AppPolicyRules.ServiceTokenIDs()) > 0 {
			errs = append(errs, errors.New("AppPolicyRules name service tokens"))
		}
	}
	if b.ServiceTokens > 0 && b.TokenName == "" {
		errs = append(errs, errors.New("no TokenName"))
	}
	return errors.Join(errs...)
}

// ascendingIDs returns n UUIDv7s, each greater than the one before.
func ascendingIDs(n int) ([]uuid.UUID, error) {
	ids := make([]uuid.UUID, n)
	for i := range ids {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

// orEmpty stores a nil rule list as [], as the API does.
func orEmpty(rules []access.Rule) []access.Rule {
	if rules == nil {
		return []access.Rule{}
	}
	return rules
}
