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

// policyColumns leave out app_count, which setAppCounts fills in for the
// policies the API returns: counting links per row read would make
// reading every policy quadratic when many apps share one.
const policyColumns = `p.id, p.app_id, p.name, p.decision, p.include, p.require, p.exclude, p.session_duration,
	p.extras, p.revision, p.created_at, p.updated_at`

// scanPolicy scans policyColumns after the given leading columns.
func scanPolicy(row pgx.Row, leading ...any) (access.Policy, error) {
	var p access.Policy
	if err := scanPolicyJSONInto(row, &p, &p.Include, &p.Require, &p.Exclude, &p.PolicyExtras, leading...); err != nil {
		return access.Policy{}, err
	}
	emptyRules(&p)
	return p, nil
}

// scanPolicyJSONInto scans policyColumns after leading into *p, with the
// JSON columns include, require, exclude and extras scanned into the
// given destinations (which the edge's load scans as raw bytes, to decode
// each distinct value once).
func scanPolicyJSONInto(row pgx.Row, p *access.Policy, include, require, exclude, extras any, leading ...any) error {
	var appID *string
	dest := append(leading, &p.ID, &appID, &p.Name, &p.Decision, include, require, exclude,
		&p.SessionDuration, extras, &p.Revision, &p.CreatedAt, &p.UpdatedAt)
	if err := row.Scan(dest...); err != nil {
		*p = access.Policy{}
		return err
	}
	if appID != nil {
		p.AppID = *appID
	}
	p.Reusable = appID == nil
	return nil
}

// emptyRules replaces nil rule lists with empty ones.
func emptyRules(p *access.Policy) {
	for _, rules := range []*[]access.Rule{&p.Include, &p.Require, &p.Exclude} {
		if *rules == nil {
			*rules = []access.Rule{}
		}
	}
}

// setAppCounts fills in AppCount of policies: one grouped count over the
// links of these policies only.
func setAppCounts(ctx context.Context, q querier, policies []*access.Policy) error {
	if len(policies) == 0 {
		return nil
	}
	ids := make([]string, len(policies))
	for i, p := range policies {
		ids[i] = p.ID
	}
	rows, err := q.Query(ctx, `SELECT policy_id, count(*) FROM app_policies WHERE policy_id = ANY($1::uuid[]) GROUP BY policy_id`, ids)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	var id string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		counts[id] = n
		return nil
	}); err != nil {
		return fmt.Errorf("count policy links: %w", err)
	}
	for _, p := range policies {
		p.AppCount = counts[p.ID]
	}
	return nil
}

// PolicyScope says where a policy lives: AppID empty for the account's
// reusable policies, or the app whose policies are meant.
type PolicyScope struct {
	AccountID string
	AppID     string
}

func (sc PolicyScope) reusable() bool { return sc.AppID == "" }

// CreatePolicy stores a new policy. In an app scope the policy belongs to
// that app and is linked to it at spec.Precedence, or after its last policy
// when that is zero.
func (s *Store) CreatePolicy(ctx context.Context, actor access.Actor, sc PolicyScope, spec access.PolicySpec, rules access.PolicyRules) (access.Policy, error) {
	var p access.Policy
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		var appID *string
		if !sc.reusable() {
			if _, err := lockApp(ctx, tx, sc.AccountID, sc.AppID, 0); err != nil {
				return err
			}
			appID = &sc.AppID
		}
		id := uuid.NewString()
		err := insertPolicy(ctx, tx, sc.AccountID, appID, id, spec, rules, now)
		if err != nil {
			return err
		}
		if !sc.reusable() {
			if err := linkAt(ctx, tx, sc, id, spec.Precedence); err != nil {
				return err
			}
		}
		if p, err = getPolicy(ctx, tx, sc, id); err != nil {
			return err
		}
		changed := []object{policyObject(id)}
		if !sc.reusable() {
			changed = append(changed, appObject(sc.AppID))
		} else if err := count(ctx, tx, sc.AccountID, countPolicy, 1, now); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: sc.AccountID, action: "create", resourceType: "policy", resourceID: id, after: p}, changed...)
	})
	return p, wrap("create policy", err)
}

// UpdatePolicy replaces a policy. In an app scope only the app's own
// policies can be replaced, and a non-zero spec.Precedence moves it.
func (s *Store) UpdatePolicy(ctx context.Context, actor access.Actor, sc PolicyScope, id string, ifRevision int64, spec access.PolicySpec, rules access.PolicyRules) (access.Policy, error) {
	var p access.Policy
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		before, err := lockPolicy(ctx, tx, sc, id, ifRevision)
		if err != nil {
			return err
		}
		if !sc.reusable() && before.Reusable {
			return access.Errorf(access.EInvalid, "policy %s is reusable: update it through /access/policies/%s", id, id)
		}
		if err := replacePolicy(ctx, tx, sc.AccountID, id, spec, rules, now); err != nil {
			return err
		}
		if !sc.reusable() && spec.Precedence != 0 && spec.Precedence != before.Precedence {
			if _, err := tx.Exec(ctx, `DELETE FROM app_policies WHERE app_id = $1 AND policy_id = $2`, sc.AppID, id); err != nil {
				return err
			}
			if err := linkAt(ctx, tx, sc, id, spec.Precedence); err != nil {
				return err
			}
		}
		if p, err = getPolicy(ctx, tx, sc, id); err != nil {
			return err
		}
		changed := []object{policyObject(id)}
		if !sc.reusable() {
			changed = append(changed, appObject(sc.AppID))
		}
		return record(ctx, tx, now, actor, change{accountID: sc.AccountID, action: "update", resourceType: "policy", resourceID: id, before: before, after: p}, changed...)
	})
	return p, wrap("update policy", err)
}

// insertPolicy writes a new policy row (app-scoped when appID is set)
// and its service-token uses.
func insertPolicy(ctx context.Context, tx pgx.Tx, accountID string, appID *string, id string, spec access.PolicySpec, rules access.PolicyRules, now time.Time) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO policies (id, account_id, app_id, name, decision, include, require, exclude,
		                      session_duration, extras, revision, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11)`,
		id, accountID, appID, spec.Name, spec.Decision, rules.Include, rules.Require, rules.Exclude,
		spec.SessionDuration, spec.PolicyExtras, now)
	if err != nil {
		return err
	}
	return setPolicyTokens(ctx, tx, accountID, id, rules)
}

// replacePolicy rewrites a policy row and its service-token uses.
func replacePolicy(ctx context.Context, tx pgx.Tx, accountID, id string, spec access.PolicySpec, rules access.PolicyRules, now time.Time) error {
	_, err := tx.Exec(ctx, `
		UPDATE policies SET name = $3, decision = $4, include = $5, require = $6, exclude = $7,
		       session_duration = $8, extras = $9, revision = revision + 1, updated_at = $10
		WHERE account_id = $1 AND id = $2`,
		accountID, id, spec.Name, spec.Decision, rules.Include, rules.Require, rules.Exclude,
		spec.SessionDuration, spec.PolicyExtras, now)
	if err != nil {
		return err
	}
	return setPolicyTokens(ctx, tx, accountID, id, rules)
}

// DeletePolicy deletes a policy. A reusable policy still linked to an app
// cannot be deleted (that would silently change who gets in): unlink it
// first. In an app scope, a reusable policy is unlinked from the app
// rather than deleted.
func (s *Store) DeletePolicy(ctx context.Context, actor access.Actor, sc PolicyScope, id string, ifRevision int64) error {
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		before, err := lockPolicy(ctx, tx, sc, id, ifRevision)
		if err != nil {
			return err
		}
		if !sc.reusable() && before.Reusable {
			if _, err := tx.Exec(ctx, `DELETE FROM app_policies WHERE app_id = $1 AND policy_id = $2`, sc.AppID, id); err != nil {
				return err
			}
			return record(ctx, tx, now, actor, change{accountID: sc.AccountID, action: "unlink", resourceType: "policy", resourceID: id, before: before},
				appObject(sc.AppID))
		}
		if before.Reusable {
			names, err := collectStrings(ctx, tx, `
				SELECT a.name FROM app_policies ap JOIN apps a ON a.id = ap.app_id
				WHERE ap.policy_id = $1 ORDER BY a.name`, id)
			if err != nil {
				return err
			}
			if len(names) > 0 {
				return access.Errorf(access.EConflict, "policy is used by %d application(s): %s; remove it from their policies first", len(names), strings.Join(names, ", "))
			}
		}
		// Every app whose links the delete changes (by cascade) changes too.
		linked, err := collectStrings(ctx, tx, `SELECT app_id::text FROM app_policies WHERE policy_id = $1`, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM policies WHERE account_id = $1 AND id = $2`, sc.AccountID, id); err != nil {
			return err
		}
		if before.Reusable {
			if err := count(ctx, tx, sc.AccountID, countPolicy, -1, time.Time{}); err != nil {
				return err
			}
		}
		changed := []object{policyObject(id)}
		for _, appID := range linked {
			changed = append(changed, appObject(appID))
		}
		return record(ctx, tx, now, actor, change{accountID: sc.AccountID, action: "delete", resourceType: "policy", resourceID: id, before: before}, changed...)
	})
	return wrap("delete policy", err)
}

// GetPolicy returns one policy of the scope.
func (s *Store) GetPolicy(ctx context.Context, sc PolicyScope, id string) (access.Policy, error) {
	p, err := getPolicy(ctx, s.db(ctx), sc, id)
	return p, wrap("get policy", err)
}

// ListPolicies returns one page of the scope's policies: the account's
// reusable policies oldest first, or every policy an app enforces in
// precedence order.
//
// An app has at most 100 policies (access.AppSpec), so its list counts
// them.
func (s *Store) ListPolicies(ctx context.Context, sc PolicyScope, pg access.Page) ([]access.Policy, access.ListInfo, error) {
	if sc.reusable() {
		return s.listReusablePolicies(ctx, sc.AccountID, pg)
	}
	if _, err := s.GetApp(ctx, sc.AccountID, sc.AppID); err != nil {
		return nil, access.ListInfo{}, err
	}
	args := []any{sc.AccountID, sc.AppID}
	countSQL := `SELECT count(*) FROM app_policies ap WHERE ap.account_id = $1 AND ap.app_id = $2`
	rows, err := s.db(ctx).Query(ctx, `SELECT ap.precedence, count(*) OVER (), `+policyColumns+`
		FROM app_policies ap JOIN policies p ON p.id = ap.policy_id
		WHERE ap.account_id = $1 AND ap.app_id = $2
		ORDER BY ap.precedence LIMIT $3 OFFSET $4`, sc.AccountID, sc.AppID, pg.PerPage, pg.Offset())
	if err != nil {
		return nil, access.ListInfo{}, wrap("list policies", err)
	}
	defer rows.Close()
	policies := []access.Policy{}
	total := 0
	for rows.Next() {
		var precedence int
		p, err := scanPolicy(rows, &precedence, &total)
		if err != nil {
			return nil, access.ListInfo{}, wrap("list policies", err)
		}
		p.Precedence = precedence
		policies = append(policies, p)
	}
	if err := rows.Err(); err != nil {
		return nil, access.ListInfo{}, wrap("list policies", err)
	}
	total, err = pageTotal(ctx, s.db(ctx), len(policies), total, countSQL, args...)
	if err != nil {
		return nil, access.ListInfo{}, wrap("count policies", err)
	}
	if err := setAppCounts(ctx, s.db(ctx), pointers(policies)); err != nil {
		return nil, access.ListInfo{}, wrap("list policies", err)
	}
	return policies, access.NewListInfo(pg, len(policies), total), nil
}

// listReusablePolicies is ListPolicies for the account's reusable policies.
func (s *Store) listReusablePolicies(ctx context.Context, accountID string, pg access.Page) ([]access.Policy, access.ListInfo, error) {
	var policies []access.Policy
	var total int
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		policies, total, err = readPage(ctx, s, tx, list{table: "policies", extraWhere: "app_id IS NULL", cols: []string{"created_at", "id"}, accountID: accountID, kind: countPolicy}, pg,
			"p", policyColumns, func(r pgx.CollectableRow) (access.Policy, error) { return scanPolicy(r) },
			func(p *access.Policy) (time.Time, string) { return p.CreatedAt, p.ID })
		if err != nil {
			return err
		}
		return setAppCounts(ctx, tx, pointers(policies))
	})
	if err != nil {
		return nil, access.ListInfo{}, wrap("list policies", err)
	}
	return policies, access.NewListInfo(pg, len(policies), total), nil
}

func pointers[T any](xs []T) []*T {
	out := make([]*T, len(xs))
	for i := range xs {
		out[i] = &xs[i]
	}
	return out
}

// getPolicy finds a policy in the scope: a reusable policy, or (in an app
// scope) any policy linked to that app, with its precedence there.
func getPolicy(ctx context.Context, q querier, sc PolicyScope, id string) (access.Policy, error) {
	var row pgx.Row
	if sc.reusable() {
		row = q.QueryRow(ctx, `SELECT 0, `+policyColumns+` FROM policies p
			WHERE p.account_id = $1 AND p.id = $2 AND p.app_id IS NULL`, sc.AccountID, id)
	} else {
		row = q.QueryRow(ctx, `SELECT ap.precedence, `+policyColumns+`
			FROM app_policies ap JOIN policies p ON p.id = ap.policy_id
			WHERE ap.account_id = $1 AND ap.app_id = $2 AND ap.policy_id = $3`, sc.AccountID, sc.AppID, id)
	}
	var precedence int
	p, err := scanPolicy(row, &precedence)
	if errors.Is(err, pgx.ErrNoRows) {
		return access.Policy{}, notFound("policy")
	}
	if err != nil {
		return access.Policy{}, err
	}
	p.Precedence = precedence
	return p, setAppCounts(ctx, q, []*access.Policy{&p})
}

// lockPolicy locks a policy row for a write and checks the precondition.
func lockPolicy(ctx context.Context, tx pgx.Tx, sc PolicyScope, id string, ifRevision int64) (access.Policy, error) {
	var rev int64
	err := tx.QueryRow(ctx, `SELECT revision FROM policies WHERE account_id = $1 AND id = $2 FOR UPDATE`, sc.AccountID, id).Scan(&rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return access.Policy{}, notFound("policy")
	}
	if err != nil {
		return access.Policy{}, err
	}
	// Read after locking, so "before" is what this write replaces.
	p, err := getPolicy(ctx, tx, sc, id)
	if err != nil {
		return access.Policy{}, err
	}
	if ifRevision != 0 && ifRevision != rev {
		return access.Policy{}, access.Errorf(access.EPreconditionFailed, "the policy was changed since it was read (If-Match does not match its ETag)")
	}
	p.Revision = rev
	return p, nil
}

// linkAt links a policy to the scope's app at a precedence, or after the
// app's last policy when precedence is zero.
func linkAt(ctx context.Context, tx pgx.Tx, sc PolicyScope, policyID string, precedence int) error {
	if precedence == 0 {
		if err := tx.QueryRow(ctx, `SELECT COALESCE(max(precedence), 0) + 1 FROM app_policies WHERE app_id = $1`, sc.AppID).Scan(&precedence); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO app_policies (account_id, app_id, policy_id, precedence) VALUES ($1, $2, $3, $4)`,
		sc.AccountID, sc.AppID, policyID, precedence)
	if err != nil {
		return err
	}
	// The precedence constraint is deferred for reordering; check it now so
	// the caller gets a field error rather than a failed commit.
	var dup bool
	if err := tx.QueryRow(ctx, `SELECT count(*) > 1 FROM app_policies WHERE app_id = $1 AND precedence = $2`, sc.AppID, precedence).Scan(&dup); err != nil {
		return err
	}
	if dup {
		return access.Conflict("precedence", "another policy of the application has precedence %d", precedence)
	}
	return nil
}

// setPolicyTokens records which service tokens a policy's rules name, so
// a token in use cannot be deleted, and then which Access groups they
// name (setPolicyGroups): every write of a policy's row, written just
// before, goes through it. Every named token must exist in the account.
func setPolicyTokens(ctx context.Context, tx pgx.Tx, accountID, policyID string, rules access.PolicyRules) error {
	if err := checkTokensExist(ctx, tx, accountID, rules); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM policy_service_tokens WHERE policy_id = $1`, policyID); err != nil {
		return err
	}
	for _, id := range rules.ServiceTokenIDs() {
		if _, err := tx.Exec(ctx, `INSERT INTO policy_service_tokens (account_id, policy_id, token_id) VALUES ($1, $2, $3)`, accountID, policyID, id); err != nil {
			return err
		}
	}
	return setPolicyGroups(ctx, tx, accountID, policyID, rules)
}

// checkTokensExist refuses rules naming a service token the account does
// not have, naming each such rule.
func checkTokensExist(ctx context.Context, tx pgx.Tx, accountID string, rules access.PolicyRules) error {
	ids := rules.ServiceTokenIDs()
	if len(ids) == 0 {
		return nil
	}
	found, err := collectStrings(ctx, tx, `SELECT id::text FROM service_tokens WHERE account_id = $1 AND id = ANY($2)`, accountID, ids)
	if err != nil {
		return err
	}
	exists := map[string]bool{}
	for _, id := range found {
		exists[id] = true
	}
	var errs []access.FieldError
	for name, list := range map[string][]access.Rule{"include": rules.Include, "require": rules.Require, "exclude": rules.Exclude} {
		for i, r := range list {
			if r.ServiceToken != nil && !exists[r.ServiceToken.TokenID] {
				errs = append(errs, access.FieldError{Field: fmt.Sprintf("%s[%d].service_token.token_id", name, i), Message: "no service token with this id exists in the account"})
			}
		}
	}
	return access.InvalidFields(errs)
}

func collectStrings(ctx context.Context, q querier, sql string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
