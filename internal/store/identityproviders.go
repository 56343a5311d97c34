package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/sealed"
)

// idpColumns never include the sealed secret, only whether there is one:
// nothing read through them can leak it.
const idpColumns = `p.id, p.account_id, p.name, p.type, p.config, p.client_secret IS NOT NULL,
	p.revision, p.created_at, p.updated_at`

func scanIdP(row pgx.Row, extra ...any) (access.IdentityProvider, error) {
	var p access.IdentityProvider
	dest := append([]any{&p.ID, &p.AccountID, &p.Name, &p.Type, &p.Config, &p.Config.ClientSecretSet,
		&p.Revision, &p.CreatedAt, &p.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return access.IdentityProvider{}, err
	}
	p.Config.ClientSecret = ""
	if p.Type == access.IdPTypeOIDC {
		p.SCIMConfig = access.DefaultSCIMConfig()
	}
	return p, nil
}

// errNoMasterKey is the failure to store a secret without a master key: a
// wiring mistake, so an internal error rather than the caller's fault.
var errNoMasterKey = errors.New("no master key: cannot seal a client secret (open the store with WithMasterKey)")

// sealSecret seals a client secret (an identity provider's, or a relay
// app's upstream one) for the row with the given id.
func (s *Store) sealSecret(id, secret string) ([]byte, error) {
	if len(s.masterKey) == 0 {
		return nil, errNoMasterKey
	}
	return sealed.Seal(s.masterKey, id, []byte(secret))
}

// CreateIdentityProvider stores a new identity provider, its client secret
// sealed with the master key. spec must have passed validation and
// Normalize.
func (s *Store) CreateIdentityProvider(ctx context.Context, actor access.Actor, accountID string, spec access.IdentityProviderSpec) (access.IdentityProvider, error) {
	var p access.IdentityProvider
	id := uuid.NewString()
	var secret []byte
	if spec.Config.ClientSecret != "" {
		var err error
		if secret, err = s.sealSecret(id, spec.Config.ClientSecret); err != nil {
			return p, fmt.Errorf("store: create identity provider %q: %w", spec.Name, err)
		}
	}
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO identity_providers (id, account_id, name, type, config, client_secret, revision, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)`,
			id, accountID, spec.Name, spec.Type, spec.Config.Public(), secret, now)
		if err != nil {
			return err
		}
		if p, err = getIdP(ctx, tx, accountID, id); err != nil {
			return err
		}
		if err := count(ctx, tx, accountID, countIdP, 1, now); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "create", resourceType: "identity_provider", resourceID: id, after: p}, idpObject(id))
	})
	return p, wrap("create identity provider", err)
}

// UpdateIdentityProvider replaces an identity provider. An oidc spec with
// an empty client secret keeps the stored one (there must be one); any
// other type drops it. When ifRevision is not zero the provider must
// still be at that revision.
func (s *Store) UpdateIdentityProvider(ctx context.Context, actor access.Actor, accountID, id string, ifRevision int64, spec access.IdentityProviderSpec) (access.IdentityProvider, error) {
	var p access.IdentityProvider
	keep := spec.Type == access.IdPTypeOIDC && spec.Config.ClientSecret == ""
	var secret []byte
	if spec.Config.ClientSecret != "" {
		var err error
		if secret, err = s.sealSecret(id, spec.Config.ClientSecret); err != nil {
			return p, fmt.Errorf("store: update identity provider %s: %w", id, err)
		}
	}
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		before, err := lockIdP(ctx, tx, accountID, id, ifRevision)
		if err != nil {
			return err
		}
		if keep && !before.Config.ClientSecretSet {
			return access.Invalid("config.client_secret", "is required (no secret is stored for this provider)")
		}
		_, err = tx.Exec(ctx, `
			UPDATE identity_providers SET name = $3, type = $4, config = $5,
			       client_secret = CASE WHEN $6 THEN client_secret ELSE $7 END,
			       revision = revision + 1, updated_at = $8
			WHERE account_id = $1 AND id = $2`,
			accountID, id, spec.Name, spec.Type, spec.Config.Public(), keep, secret, now)
		if err != nil {
			return err
		}
		if p, err = getIdP(ctx, tx, accountID, id); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "update", resourceType: "identity_provider", resourceID: id, before: before, after: p}, idpObject(id))
	})
	return p, wrap("update identity provider", err)
}

// DeleteIdentityProvider deletes a provider that no application's
// allowed_idps and no policy's login_method rule names.
func (s *Store) DeleteIdentityProvider(ctx context.Context, actor access.Actor, accountID, id string, ifRevision int64) error {
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		before, err := lockIdP(ctx, tx, accountID, id, ifRevision)
		if err != nil {
			return err
		}
		apps, err := collectStrings(ctx, tx, `
			SELECT a.name FROM apps a
			WHERE a.account_id = $1 AND a.settings->'allowed_idps' @> jsonb_build_array($2::text)
			ORDER BY a.name`, accountID, id)
		if err != nil {
			return err
		}
		// login_method and oidc rules name the provider (a containment
		// test matches an oidc rule by its identity_provider_id alone).
		rule, err := json.Marshal([]access.Rule{{LoginMethod: &access.LoginMethodRule{ID: id}}})
		if err != nil {
			return err
		}
		oidcRule, err := json.Marshal([]map[string]any{{"oidc": map[string]string{"identity_provider_id": id}}})
		if err != nil {
			return err
		}
		policies, err := collectStrings(ctx, tx, `
			SELECT CASE WHEN p.app_id IS NULL THEN p.name ELSE a.name || ' / ' || p.name END
			FROM policies p LEFT JOIN apps a ON a.id = p.app_id
			WHERE p.account_id = $1 AND (p.include @> $2::jsonb OR p.require @> $2::jsonb OR p.exclude @> $2::jsonb
			   OR p.include @> $3::jsonb OR p.require @> $3::jsonb OR p.exclude @> $3::jsonb)
			ORDER BY 1`, accountID, string(rule), string(oidcRule))
		if err != nil {
			return err
		}
		groups, err := collectStrings(ctx, tx, `
			SELECT g.name FROM access_groups g
			WHERE g.account_id = $1 AND (g.include @> $2::jsonb OR g.require @> $2::jsonb OR g.exclude @> $2::jsonb
			   OR g.include @> $3::jsonb OR g.require @> $3::jsonb OR g.exclude @> $3::jsonb)
			ORDER BY 1`, accountID, string(rule), string(oidcRule))
		if err != nil {
			return err
		}
		var uses []string
		if len(apps) > 0 {
			uses = append(uses, fmt.Sprintf("the allowed_idps of %d application(s): %s", len(apps), strings.Join(apps, ", ")))
		}
		if len(policies) > 0 {
			uses = append(uses, fmt.Sprintf("login_method or oidc rules of %d policy(ies): %s", len(policies), strings.Join(policies, ", ")))
		}
		if len(groups) > 0 {
			uses = append(uses, fmt.Sprintf("login_method or oidc rules of %d Access group(s): %s", len(groups), strings.Join(groups, ", ")))
		}
		if len(uses) > 0 {
			return access.Errorf(access.EConflict, "identity provider is used by %s; remove it from them first", strings.Join(uses, " and by "))
		}
		if _, err := tx.Exec(ctx, `DELETE FROM identity_providers WHERE account_id = $1 AND id = $2`, accountID, id); err != nil {
			return err
		}
		if err := count(ctx, tx, accountID, countIdP, -1, time.Time{}); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "delete", resourceType: "identity_provider", resourceID: id, before: before}, idpObject(id))
	})
	return wrap("delete identity provider", err)
}

// GetIdentityProvider returns one identity provider, without its secret.
func (s *Store) GetIdentityProvider(ctx context.Context, accountID, id string) (access.IdentityProvider, error) {
	p, err := getIdP(ctx, s.db(ctx), accountID, id)
	return p, wrap("get identity provider", err)
}

func getIdP(ctx context.Context, q querier, accountID, id string) (access.IdentityProvider, error) {
	p, err := scanIdP(q.QueryRow(ctx, `SELECT `+idpColumns+` FROM identity_providers p WHERE p.account_id = $1 AND p.id = $2`, accountID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return access.IdentityProvider{}, notFound("identity provider")
	}
	return p, err
}

// ListIdentityProviders returns one page of an account's identity
// providers, oldest first, without secrets.
func (s *Store) ListIdentityProviders(ctx context.Context, accountID string, pg access.Page) ([]access.IdentityProvider, access.ListInfo, error) {
	var providers []access.IdentityProvider
	var total int
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		providers, total, err = readPage(ctx, s, tx, list{table: "identity_providers", cols: []string{"created_at", "id"}, accountID: accountID, kind: countIdP}, pg,
			"p", idpColumns, func(r pgx.CollectableRow) (access.IdentityProvider, error) { return scanIdP(r) },
			func(p *access.IdentityProvider) (time.Time, string) { return p.CreatedAt, p.ID })
		return err
	})
	if err != nil {
		return nil, access.ListInfo{}, wrap("list identity providers", err)
	}
	return providers, access.NewListInfo(pg, len(providers), total), nil
}

// lockIdP locks a provider row for a write, checks the precondition, and
// returns the provider as it was.
func lockIdP(ctx context.Context, tx pgx.Tx, accountID, id string, ifRevision int64) (access.IdentityProvider, error) {
	p, err := scanIdP(tx.QueryRow(ctx, `SELECT `+idpColumns+` FROM identity_providers p WHERE p.account_id = $1 AND p.id = $2 FOR UPDATE`, accountID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return access.IdentityProvider{}, notFound("identity provider")
	}
	if err != nil {
		return access.IdentityProvider{}, err
	}
	if ifRevision != 0 && ifRevision != p.Revision {
		return access.IdentityProvider{}, access.Errorf(access.EPreconditionFailed, "the identity provider was changed since it was read (If-Match does not match its ETag)")
	}
	return p, nil
}

// checkAllowedIdPs makes sure every entry of an app's allowed_idps names
// an identity provider of the account, and keeps those providers from
// being deleted until the transaction ends.
func checkAllowedIdPs(ctx context.Context, tx pgx.Tx, accountID string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var valid []string
	for _, id := range ids {
		if u, err := uuid.Parse(id); err == nil && u.String() == id {
			valid = append(valid, id)
		}
	}
	found, err := collectStrings(ctx, tx, `SELECT id::text FROM identity_providers
		WHERE account_id = $1 AND id = ANY($2::uuid[]) FOR KEY SHARE`, accountID, valid)
	if err != nil {
		return err
	}
	exists := make(map[string]bool, len(found))
	for _, id := range found {
		exists[id] = true
	}
	var errs []access.FieldError
	for i, id := range ids {
		if !exists[id] {
			errs = append(errs, access.FieldError{Field: fmt.Sprintf("allowed_idps[%d]", i), Message: "no identity provider with this id exists in the account"})
		}
	}
	return access.InvalidFields(errs)
}

// loadIdentityProviders reads the identity providers matching where (a
// condition on identity_providers p with one parameter, arg) for the edge,
// with their client secrets opened when secrets says so (left empty
// without a master key).
func (s *Store) loadIdentityProviders(ctx context.Context, q querier, where string, arg any, secrets bool) ([]access.IdentityProvider, error) {
	rows, err := q.Query(ctx, `SELECT `+idpColumns+`, p.client_secret FROM identity_providers p
		WHERE `+where+` ORDER BY p.account_id, p.created_at, p.id`, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []access.IdentityProvider
	for rows.Next() {
		var box []byte
		p, err := scanIdP(rows, &box)
		if err != nil {
			return nil, err
		}
		if secrets && box != nil && len(s.masterKey) > 0 {
			secret, err := sealed.Open(s.masterKey, p.ID, box)
			if err != nil {
				return nil, fmt.Errorf("identity provider %s: client secret: %w (wrong GATEHOUSE_MASTER_KEY?)", p.ID, err)
			}
			p.Config.ClientSecret = string(secret)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
