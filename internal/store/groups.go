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

const groupColumns = `g.id, g.name, g.include, g.require, g.exclude, g.revision, g.created_at, g.updated_at`

func scanGroup(row pgx.Row) (access.Group, error) {
	var g access.Group
	if err := row.Scan(&g.ID, &g.Name, &g.Include, &g.Require, &g.Exclude, &g.Revision, &g.CreatedAt, &g.UpdatedAt); err != nil {
		return access.Group{}, err
	}
	for _, rules := range []*[]access.Rule{&g.Include, &g.Require, &g.Exclude} {
		if *rules == nil {
			*rules = []access.Rule{}
		}
	}
	return g, nil
}

// CreateGroup stores a new Access group.
func (s *Store) CreateGroup(ctx context.Context, actor access.Actor, accountID string, spec access.GroupSpec, rules access.GroupRules) (access.Group, error) {
	var g access.Group
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		id := uuid.NewString()
		_, err := tx.Exec(ctx, `
			INSERT INTO access_groups (id, account_id, name, include, require, exclude, revision, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)`,
			id, accountID, spec.Name, orEmpty(rules.Include), orEmpty(rules.Require), orEmpty(rules.Exclude), now)
		if err != nil {
			return err
		}
		if err := setGroupTokens(ctx, tx, accountID, id, rules); err != nil {
			return err
		}
		if g, err = getGroup(ctx, tx, accountID, id); err != nil {
			return err
		}
		if err := count(ctx, tx, accountID, countGroup, 1, now); err != nil {
			return err
		}
		// No policy uses a new group: the edges have nothing to learn.
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "create", resourceType: "access_group", resourceID: id, after: g})
	})
	return g, wrap("create access group", err)
}

// UpdateGroup replaces an Access group's name and rules. Every policy
// using the group changes with it, in the change feed too, so that the
// edges enforce the new rules at once.
func (s *Store) UpdateGroup(ctx context.Context, actor access.Actor, accountID, id string, ifRevision int64, spec access.GroupSpec, rules access.GroupRules) (access.Group, error) {
	var g access.Group
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		before, err := lockGroup(ctx, tx, accountID, id, ifRevision)
		if err != nil {
			return err
		}
		if idRules := rules.IdentityRules(); len(idRules) > 0 {
			// Service Auth policies that use the group in include or
			// require (in exclude, identity rules are allowed).
			names, err := collectStrings(ctx, tx, `
				SELECT `+policyLabel+`
				FROM policy_groups pg JOIN policies p ON p.id = pg.policy_id LEFT JOIN apps a ON a.id = p.app_id
				WHERE pg.group_id = $1 AND p.decision = 'non_identity'
				  AND (p.include @> jsonb_build_array(jsonb_build_object('group', jsonb_build_object('id', $1::text)))
				    OR p.require @> jsonb_build_array(jsonb_build_object('group', jsonb_build_object('id', $1::text))))
				ORDER BY 1`, id)
			if err != nil {
				return err
			}
			if len(names) > 0 {
				return access.Conflict(idRules[0], "the group is used by %d Service Auth (non_identity) policy(ies): %s, which cannot use identity rules (%s)",
					len(names), strings.Join(names, ", "), strings.Join(idRules, ", "))
			}
		}
		_, err = tx.Exec(ctx, `
			UPDATE access_groups SET name = $3, include = $4, require = $5, exclude = $6,
			       revision = revision + 1, updated_at = $7
			WHERE account_id = $1 AND id = $2`,
			accountID, id, spec.Name, orEmpty(rules.Include), orEmpty(rules.Require), orEmpty(rules.Exclude), now)
		if err != nil {
			return err
		}
		if err := setGroupTokens(ctx, tx, accountID, id, rules); err != nil {
			return err
		}
		if g, err = getGroup(ctx, tx, accountID, id); err != nil {
			return err
		}
		users, err := collectStrings(ctx, tx, `SELECT policy_id::text FROM policy_groups WHERE group_id = $1`, id)
		if err != nil {
			return err
		}
		changed := make([]object, len(users))
		for i, p := range users {
			changed[i] = policyObject(p)
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "update", resourceType: "access_group", resourceID: id, before: before, after: g}, changed...)
	})
	return g, wrap("update access group", err)
}

// policyLabel names a policy in a conflict message: its name, after its
// app's for an app's own policy (p policies, a its app LEFT JOINed).
const policyLabel = `CASE WHEN p.app_id IS NULL THEN p.name ELSE a.name || ' / ' || p.name END`

// DeleteGroup deletes an Access group that no policy uses, and returns it.
func (s *Store) DeleteGroup(ctx context.Context, actor access.Actor, accountID, id string, ifRevision int64) (access.Group, error) {
	var before access.Group
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		var err error
		if before, err = lockGroup(ctx, tx, accountID, id, ifRevision); err != nil {
			return err
		}
		names, err := collectStrings(ctx, tx, `
			SELECT `+policyLabel+`
			FROM policy_groups pg JOIN policies p ON p.id = pg.policy_id LEFT JOIN apps a ON a.id = p.app_id
			WHERE pg.group_id = $1 ORDER BY 1`, id)
		if err != nil {
			return err
		}
		if len(names) > 0 {
			return access.Errorf(access.EConflict, "access group is used by %d policy(ies): %s; remove it from their rules first", len(names), strings.Join(names, ", "))
		}
		if _, err := tx.Exec(ctx, `DELETE FROM access_groups WHERE account_id = $1 AND id = $2`, accountID, id); err != nil {
			return err
		}
		if err := count(ctx, tx, accountID, countGroup, -1, time.Time{}); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "delete", resourceType: "access_group", resourceID: id, before: before})
	})
	return before, wrap("delete access group", err)
}

// GetGroup returns one Access group.
func (s *Store) GetGroup(ctx context.Context, accountID, id string) (access.Group, error) {
	g, err := getGroup(ctx, s.db(ctx), accountID, id)
	return g, wrap("get access group", err)
}

// ListGroups returns one page of an account's Access groups, oldest first.
func (s *Store) ListGroups(ctx context.Context, accountID string, pg access.Page) ([]access.Group, access.ListInfo, error) {
	var groups []access.Group
	var total int
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		groups, total, err = readPage(ctx, s, tx, list{table: "access_groups", cols: []string{"created_at", "id"}, accountID: accountID, kind: countGroup}, pg,
			"g", groupColumns, func(r pgx.CollectableRow) (access.Group, error) { return scanGroup(r) },
			func(g *access.Group) (time.Time, string) { return g.CreatedAt, g.ID })
		return err
	})
	if err != nil {
		return nil, access.ListInfo{}, wrap("list access groups", err)
	}
	return groups, access.NewListInfo(pg, len(groups), total), nil
}

func getGroup(ctx context.Context, q querier, accountID, id string) (access.Group, error) {
	g, err := scanGroup(q.QueryRow(ctx, `SELECT `+groupColumns+` FROM access_groups g WHERE g.account_id = $1 AND g.id = $2`, accountID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return access.Group{}, notFound("access group")
	}
	return g, err
}

// lockGroup locks a group row for a write and checks the precondition.
func lockGroup(ctx context.Context, tx pgx.Tx, accountID, id string, ifRevision int64) (access.Group, error) {
	g, err := scanGroup(tx.QueryRow(ctx, `SELECT `+groupColumns+` FROM access_groups g WHERE g.account_id = $1 AND g.id = $2 FOR UPDATE`, accountID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return access.Group{}, notFound("access group")
	}
	if err != nil {
		return access.Group{}, err
	}
	if ifRevision != 0 && ifRevision != g.Revision {
		return access.Group{}, access.Errorf(access.EPreconditionFailed, "the access group was changed since it was read (If-Match does not match its ETag)")
	}
	return g, nil
}

// setGroupTokens records which service tokens a group's rules name, as
// setPolicyTokens does for a policy.
func setGroupTokens(ctx context.Context, tx pgx.Tx, accountID, groupID string, rules access.GroupRules) error {
	if err := checkTokensExist(ctx, tx, accountID, access.PolicyRules(rules)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM access_group_service_tokens WHERE group_id = $1`, groupID); err != nil {
		return err
	}
	if ids := rules.ServiceTokenIDs(); len(ids) > 0 {
		_, err := tx.Exec(ctx, `INSERT INTO access_group_service_tokens (account_id, group_id, token_id)
			SELECT $1, $2, unnest($3::uuid[])`, accountID, groupID, ids)
		return err
	}
	return nil
}

// setPolicyGroups records which Access groups a policy's rules name, so
// that a group in use cannot be deleted and a group's change reaches the
// policies using it. Every named group must exist in the account, and a
// Service Auth policy (its decision read from its row, written before)
// cannot name a group with identity rules in its include and require.
func setPolicyGroups(ctx context.Context, tx pgx.Tx, accountID, policyID string, rules access.PolicyRules) error {
	ids := rules.GroupIDs()
	groups := map[string]access.GroupRules{}
	var decision access.Decision
	if len(ids) > 0 {
		if err := tx.QueryRow(ctx, `SELECT decision FROM policies WHERE account_id = $1 AND id = $2`, accountID, policyID).Scan(&decision); err != nil {
			return fmt.Errorf("read the policy's decision: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT id::text, include, require, exclude FROM access_groups
			WHERE account_id = $1 AND id = ANY($2::uuid[]) FOR SHARE`, accountID, ids)
		if err != nil {
			return err
		}
		var id string
		var gr access.GroupRules
		if _, err := pgx.ForEachRow(rows, []any{&id, &gr.Include, &gr.Require, &gr.Exclude}, func() error {
			groups[id] = gr
			gr = access.GroupRules{}
			return nil
		}); err != nil {
			return fmt.Errorf("read access groups: %w", err)
		}
	}
	var errs []access.FieldError
	for _, l := range []struct {
		name  string
		rules []access.Rule
	}{{"include", rules.Include}, {"require", rules.Require}, {"exclude", rules.Exclude}} {
		for i, r := range l.rules {
			if r.Group == nil {
				continue
			}
			field := fmt.Sprintf("%s[%d].group", l.name, i)
			gr, ok := groups[r.Group.ID]
			if !ok {
				errs = append(errs, access.FieldError{Field: field + ".id", Message: "no Access group with this id exists in the account"})
				continue
			}
			if decision == access.DecisionNonIdentity && l.name != "exclude" {
				if idRules := gr.IdentityRules(); len(idRules) > 0 {
					errs = append(errs, access.FieldError{Field: field, Message: fmt.Sprintf(
						"a Service Auth (non_identity) policy cannot use identity rules, and this group has some (%s)", strings.Join(idRules, ", "))})
				}
			}
		}
	}
	if err := access.InvalidFields(errs); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM policy_groups WHERE policy_id = $1`, policyID); err != nil {
		return err
	}
	if len(ids) > 0 {
		_, err := tx.Exec(ctx, `INSERT INTO policy_groups (account_id, policy_id, group_id)
			SELECT $1, $2, unnest($3::uuid[])`, accountID, policyID, ids)
		return err
	}
	return nil
}

// resolveGroups fills in the group rules of policies (as the edge loads
// them) with their groups' rules, read in q's snapshot. A group that is
// not found stays unresolved, which the engine reads as a rule that lets
// no one in.
func resolveGroups(ctx context.Context, q querier, policies []access.Policy) error {
	var ids []string
	seen := map[string]bool{}
	each := func(fn func(r *access.GroupRule)) {
		for i := range policies {
			p := &policies[i]
			for _, list := range [][]access.Rule{p.Include, p.Require, p.Exclude} {
				for _, r := range list {
					if r.Group != nil {
						fn(r.Group)
					}
				}
			}
		}
	}
	each(func(r *access.GroupRule) {
		if !seen[r.ID] {
			seen[r.ID] = true
			ids = append(ids, r.ID)
		}
	})
	if len(ids) == 0 {
		return nil
	}
	rows, err := q.Query(ctx, `SELECT id::text, include, require, exclude FROM access_groups WHERE id = ANY($1::uuid[])`, ids)
	if err != nil {
		return err
	}
	groups := make(map[string]*access.GroupRules, len(ids))
	var id string
	var gr access.GroupRules
	if _, err := pgx.ForEachRow(rows, []any{&id, &gr.Include, &gr.Require, &gr.Exclude}, func() error {
		g := gr
		groups[id] = &g
		gr = access.GroupRules{}
		return nil
	}); err != nil {
		return fmt.Errorf("load access groups: %w", err)
	}
	each(func(r *access.GroupRule) { r.Resolved = groups[r.ID] })
	return nil
}
