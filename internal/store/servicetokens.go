package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

const tokenColumns = `t.id, t.name, t.client_id, t.client_secret_version, t.previous_secret_expires_at,
	t.duration, t.expires_at, t.last_seen_at, t.revision, t.created_at, t.updated_at`

func scanToken(row pgx.Row, extra ...any) (access.ServiceToken, error) {
	var t access.ServiceToken
	dest := append([]any{&t.ID, &t.Name, &t.ClientID, &t.ClientSecretVersion, &t.PreviousClientSecretExpiresAt,
		&t.Duration, &t.ExpiresAt, &t.LastSeenAt, &t.Revision, &t.CreatedAt, &t.UpdatedAt}, extra...)
	err := row.Scan(dest...)
	return t, err
}

// CreateServiceToken creates a service token. The result carries the
// client secret; it is the only time the secret is available.
func (s *Store) CreateServiceToken(ctx context.Context, actor access.Actor, accountID string, spec access.ServiceTokenSpec) (access.ServiceToken, error) {
	var t access.ServiceToken
	secret := access.NewSecret()
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		duration := spec.Duration
		if duration == "" {
			duration = access.DefaultServiceTokenDuration
		}
		d, err := time.ParseDuration(duration)
		if err != nil {
			return access.Invalid("duration", "must be a duration such as 8760h")
		}
		version := spec.ClientSecretVersion
		if version == 0 {
			version = 1
		}
		id := uuid.NewString()
		_, err = tx.Exec(ctx, `
			INSERT INTO service_tokens (id, account_id, name, client_id, secret_hash, client_secret_version,
			                            duration, expires_at, revision, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)`,
			id, accountID, spec.Name, access.NewClientID(), access.HashSecret(secret), version, duration, now.Add(d), now)
		if err != nil {
			return err
		}
		if t, err = getToken(ctx, tx, accountID, id); err != nil {
			return err
		}
		if err := count(ctx, tx, accountID, countServiceToken, 1, now); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "create", resourceType: "service_token", resourceID: id, after: t}, tokenObject(t.ClientID))
	})
	if err != nil {
		return access.ServiceToken{}, wrap("create service token", err)
	}
	t.ClientSecret = secret
	return t, nil
}

// GetServiceToken returns one service token, without its secret.
func (s *Store) GetServiceToken(ctx context.Context, accountID, id string) (access.ServiceToken, error) {
	t, err := getToken(ctx, s.db(ctx), accountID, id)
	return t, wrap("get service token", err)
}

func getToken(ctx context.Context, q querier, accountID, id string) (access.ServiceToken, error) {
	t, err := scanToken(q.QueryRow(ctx, `SELECT `+tokenColumns+` FROM service_tokens t WHERE t.account_id = $1 AND t.id = $2`, accountID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return access.ServiceToken{}, notFound("service token")
	}
	return t, err
}

// ListServiceTokens returns one page of an account's service tokens,
// oldest first; name filters by exact name, search by substring.
func (s *Store) ListServiceTokens(ctx context.Context, accountID, name, search string, pg access.Page) ([]access.ServiceToken, access.ListInfo, error) {
	if name != "" || search != "" {
		return s.searchServiceTokens(ctx, accountID, name, search, pg)
	}
	var tokens []access.ServiceToken
	var total int
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		tokens, total, err = readPage(ctx, s, tx, list{table: "service_tokens", cols: []string{"created_at", "id"}, accountID: accountID, kind: countServiceToken}, pg,
			"t", tokenColumns, func(r pgx.CollectableRow) (access.ServiceToken, error) { return scanToken(r) },
			func(t *access.ServiceToken) (time.Time, string) { return t.CreatedAt, t.ID })
		return err
	})
	if err != nil {
		return nil, access.ListInfo{}, wrap("list service tokens", err)
	}
	return tokens, access.NewListInfo(pg, len(tokens), total), nil
}

// searchServiceTokens is ListServiceTokens with a filter.
func (s *Store) searchServiceTokens(ctx context.Context, accountID, name, search string, pg access.Page) ([]access.ServiceToken, access.ListInfo, error) {
	const where = `t.account_id = $1 AND ($2 = '' OR t.name = $2) AND ($3 = '' OR t.name ILIKE $3 OR t.client_id ILIKE $3)`
	args := []any{accountID, name, containsPattern(search)}
	rows, err := s.db(ctx).Query(ctx, `SELECT `+tokenColumns+`, count(*) OVER () FROM service_tokens t WHERE `+where+`
		ORDER BY t.created_at, t.id LIMIT $4 OFFSET $5`, append(args, pg.PerPage, pg.Offset())...)
	if err != nil {
		return nil, access.ListInfo{}, wrap("list service tokens", err)
	}
	defer rows.Close()
	tokens := []access.ServiceToken{}
	total := 0
	for rows.Next() {
		t, err := scanToken(rows, &total)
		if err != nil {
			return nil, access.ListInfo{}, wrap("list service tokens", err)
		}
		tokens = append(tokens, t)
	}
	if err := rows.Err(); err != nil {
		return nil, access.ListInfo{}, wrap("list service tokens", err)
	}
	total, err = pageTotal(ctx, s.db(ctx), len(tokens), total, `SELECT count(*) FROM service_tokens t WHERE `+where, args...)
	if err != nil {
		return nil, access.ListInfo{}, wrap("count service tokens", err)
	}
	return tokens, access.NewListInfo(pg, len(tokens), total), nil
}

// UpdateServiceToken changes a token's name, duration or previous-secret
// expiry. Raising client_secret_version rotates the secret, like
// RotateServiceToken, and the result then carries the new secret.
func (s *Store) UpdateServiceToken(ctx context.Context, actor access.Actor, accountID, id string, ifRevision int64, upd access.ServiceTokenUpdate) (access.ServiceToken, error) {
	var t access.ServiceToken
	var secret string
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		before, err := lockToken(ctx, tx, accountID, id, ifRevision)
		if err != nil {
			return err
		}
		name, duration := before.Name, before.Duration
		if upd.Name != nil {
			name = *upd.Name
		}
		if upd.Duration != nil {
			duration = *upd.Duration
		}
		prevExpires := before.PreviousClientSecretExpiresAt
		if t := access.ParseTime(upd.PreviousClientSecretExpiresAt); t != nil {
			prevExpires = t
		}
		_, err = tx.Exec(ctx, `
			UPDATE service_tokens SET name = $3, duration = $4, previous_secret_expires_at = $5,
			       revision = revision + 1, updated_at = $6
			WHERE account_id = $1 AND id = $2`, accountID, id, name, duration, prevExpires, now)
		if err != nil {
			return err
		}
		if v := upd.ClientSecretVersion; v != nil && *v != before.ClientSecretVersion {
			if *v < before.ClientSecretVersion {
				return access.Invalid("client_secret_version", "can only be raised (it is %d)", before.ClientSecretVersion)
			}
			if secret, err = rotate(ctx, tx, accountID, id, *v, access.ParseTime(upd.PreviousClientSecretExpiresAt), now); err != nil {
				return err
			}
		}
		if t, err = getToken(ctx, tx, accountID, id); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "update", resourceType: "service_token", resourceID: id, before: before, after: t}, tokenObject(t.ClientID))
	})
	if err != nil {
		return access.ServiceToken{}, wrap("update service token", err)
	}
	t.ClientSecret = secret
	return t, nil
}

// RotateServiceToken issues a new secret. The previous secret keeps
// working until previousExpiresAt, or stops at once when that is nil.
func (s *Store) RotateServiceToken(ctx context.Context, actor access.Actor, accountID, id string, previousExpiresAt *time.Time) (access.ServiceToken, error) {
	var t access.ServiceToken
	var secret string
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		before, err := lockToken(ctx, tx, accountID, id, 0)
		if err != nil {
			return err
		}
		if secret, err = rotate(ctx, tx, accountID, id, before.ClientSecretVersion+1, previousExpiresAt, now); err != nil {
			return err
		}
		if t, err = getToken(ctx, tx, accountID, id); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "rotate", resourceType: "service_token", resourceID: id, before: before, after: t}, tokenObject(t.ClientID))
	})
	if err != nil {
		return access.ServiceToken{}, wrap("rotate service token", err)
	}
	t.ClientSecret = secret
	return t, nil
}

func rotate(ctx context.Context, tx pgx.Tx, accountID, id string, version int64, previousExpiresAt *time.Time, now time.Time) (string, error) {
	secret := access.NewSecret()
	prev := now
	if previousExpiresAt != nil {
		prev = previousExpiresAt.UTC()
	}
	_, err := tx.Exec(ctx, `
		UPDATE service_tokens SET previous_secret_hash = secret_hash, previous_secret_expires_at = $3,
		       secret_hash = $4, client_secret_version = $5, revision = revision + 1, updated_at = $6
		WHERE account_id = $1 AND id = $2`, accountID, id, prev, access.HashSecret(secret), version, now)
	return secret, err
}

// RefreshServiceToken extends a token's expiry to its duration from now.
func (s *Store) RefreshServiceToken(ctx context.Context, actor access.Actor, accountID, id string) (access.ServiceToken, error) {
	var t access.ServiceToken
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		before, err := lockToken(ctx, tx, accountID, id, 0)
		if err != nil {
			return err
		}
		d, err := time.ParseDuration(before.Duration)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE service_tokens SET expires_at = $3, revision = revision + 1, updated_at = $4
			WHERE account_id = $1 AND id = $2`, accountID, id, now.Add(d), now); err != nil {
			return err
		}
		if t, err = getToken(ctx, tx, accountID, id); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "refresh", resourceType: "service_token", resourceID: id, before: before, after: t}, tokenObject(t.ClientID))
	})
	return t, wrap("refresh service token", err)
}

// DeleteServiceToken deletes a token that no policy names, and returns it.
func (s *Store) DeleteServiceToken(ctx context.Context, actor access.Actor, accountID, id string, ifRevision int64) (access.ServiceToken, error) {
	var before access.ServiceToken
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		var err error
		if before, err = lockToken(ctx, tx, accountID, id, ifRevision); err != nil {
			return err
		}
		names, err := collectStrings(ctx, tx, `
			SELECT CASE WHEN p.app_id IS NULL THEN p.name ELSE a.name || ' / ' || p.name END
			FROM policy_service_tokens pt JOIN policies p ON p.id = pt.policy_id LEFT JOIN apps a ON a.id = p.app_id
			WHERE pt.token_id = $1 ORDER BY 1`, id)
		if err != nil {
			return err
		}
		groups, err := collectStrings(ctx, tx, `
			SELECT g.name FROM access_group_service_tokens gt JOIN access_groups g ON g.id = gt.group_id
			WHERE gt.token_id = $1 ORDER BY 1`, id)
		if err != nil {
			return err
		}
		var uses []string
		if len(names) > 0 {
			uses = append(uses, fmt.Sprintf("%d policy(ies): %s", len(names), strings.Join(names, ", ")))
		}
		if len(groups) > 0 {
			uses = append(uses, fmt.Sprintf("%d Access group(s): %s", len(groups), strings.Join(groups, ", ")))
		}
		if len(uses) > 0 {
			return access.Errorf(access.EConflict, "service token is used by %s; remove it from their rules first", strings.Join(uses, " and by "))
		}
		if _, err := tx.Exec(ctx, `DELETE FROM service_tokens WHERE account_id = $1 AND id = $2`, accountID, id); err != nil {
			return err
		}
		if err := count(ctx, tx, accountID, countServiceToken, -1, time.Time{}); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "delete", resourceType: "service_token", resourceID: id, before: before}, tokenObject(before.ClientID))
	})
	return before, wrap("delete service token", err)
}

func lockToken(ctx context.Context, tx pgx.Tx, accountID, id string, ifRevision int64) (access.ServiceToken, error) {
	t, err := scanToken(tx.QueryRow(ctx, `SELECT `+tokenColumns+` FROM service_tokens t WHERE t.account_id = $1 AND t.id = $2 FOR UPDATE`, accountID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return access.ServiceToken{}, notFound("service token")
	}
	if err != nil {
		return access.ServiceToken{}, err
	}
	if ifRevision != 0 && ifRevision != t.Revision {
		return access.ServiceToken{}, access.Errorf(access.EPreconditionFailed, "the service token was changed since it was read (If-Match does not match its ETag)")
	}
	return t, nil
}
