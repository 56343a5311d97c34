package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// AppFilter narrows a list of apps. Empty fields do not filter.
type AppFilter struct {
	Name   string // exact name
	Domain string // exact protected domain
	Search string // case-insensitive substring of name or any domain
	AUD    string // exact audience tag
}

// appColumns never include the sealed upstream secret, only whether there
// is one: nothing read through them can leak it.
const appColumns = `a.id, a.account_id, a.aud, a.type, a.name, a.domain, a.origin, a.session_duration,
	a.cors_headers, a.options_preflight_bypass, a.settings, a.revision, a.created_at, a.updated_at, a.sessions_revoked_at,
	a.upstream_client_id, a.upstream_client_secret IS NOT NULL`

func scanApp(row pgx.Row, extra ...any) (access.App, error) {
	var a access.App
	err := scanAppInto(row, &a, extra...)
	return a, err
}

// scanAppInto scans appColumns, then extra, into *a (which the edge's
// load gives in place, to copy no app).
func scanAppInto(row pgx.Row, a *access.App, extra ...any) error {
	return scanAppJSONInto(row, a, &a.CORSHeaders, &a.AppSettings, extra...)
}

// scanAppJSONInto is scanAppInto with the JSON columns cors_headers and
// settings scanned into cors and settings (which the edge's load scans as
// raw bytes, to decode each distinct value once).
func scanAppJSONInto(row pgx.Row, a *access.App, cors, settings any, extra ...any) error {
	var upstreamID *string
	var upstreamSecretSet bool
	dest := append([]any{&a.ID, &a.AccountID, &a.AUD, &a.Type, &a.Name, &a.Domain, &a.Origin, &a.SessionDuration,
		cors, &a.OptionsPreflightBypass, settings, &a.Revision, &a.CreatedAt, &a.UpdatedAt, &a.SessionsRevokedAt,
		&upstreamID, &upstreamSecretSet}, extra...)
	if err := row.Scan(dest...); err != nil {
		*a = access.App{}
		return err
	}
	if upstreamID != nil {
		a.UpstreamServiceToken = &access.UpstreamServiceToken{ClientID: *upstreamID, ClientSecretSet: upstreamSecretSet}
	}
	return nil
}

// sealUpstreamSecret seals a relay app's upstream client secret for its
// row (nil for none).
func (s *Store) sealUpstreamSecret(appID string, t *access.UpstreamServiceTokenSpec) ([]byte, error) {
	if t == nil || t.ClientSecret == "" {
		return nil, nil
	}
	return s.sealSecret(appID, t.ClientSecret)
}

// upstreamClientID is the upstream_client_id column's value for a spec.
func upstreamClientID(t *access.UpstreamServiceTokenSpec) *string {
	if t == nil {
		return nil
	}
	return &t.ClientID
}

// errUnvalidatedApp refuses a ValidApp that Normalize did not make.
var errUnvalidatedApp = errors.New("store: the application was not validated (access.AppSpec.Normalize)")

// CreateApp stores a new application, as validated by Normalize.
func (s *Store) CreateApp(ctx context.Context, actor access.Actor, accountID string, v access.ValidApp) (access.App, error) {
	var app access.App
	spec, domains := v.Spec(), v.DomainNames()
	if len(domains) == 0 {
		return app, errUnvalidatedApp
	}
	id := uuid.NewString()
	upstream := spec.UpstreamServiceToken.Token
	if upstream != nil && upstream.ClientSecret == "" {
		return app, access.Invalid("upstream_service_token.client_secret", "is required")
	}
	if upstream != nil && spec.Origin == "" {
		return app, access.Invalid("upstream_service_token", "needs an origin: the credential is presented to the origin")
	}
	upstreamSecret, err := s.sealUpstreamSecret(id, upstream)
	if err != nil {
		return app, fmt.Errorf("store: create app %q: %w", spec.Name, err)
	}
	err = s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		if err := checkAllowedIdPs(ctx, tx, accountID, spec.AllowedIdPs); err != nil {
			return err
		}
		if err := claimHosts(ctx, tx, accountID, id, domains); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO apps (id, account_id, aud, type, name, domain, origin, session_duration, cors_headers,
			                  options_preflight_bypass, settings, upstream_client_id, upstream_client_secret,
			                  revision, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1, $14, $14)`,
			id, accountID, access.NewAUD(), spec.Type, spec.Name, spec.Domain, spec.Origin, spec.SessionDuration,
			spec.CORSHeaders, spec.OptionsPreflightBypass, spec.AppSettings, upstreamClientID(upstream), upstreamSecret, now)
		if err != nil {
			return err
		}
		if err := insertDomains(ctx, tx, id, domains); err != nil {
			return err
		}
		policies, err := setAppPolicies(ctx, tx, accountID, id, spec.Policies, now)
		if err != nil {
			return err
		}
		if app, err = getApp(ctx, tx, accountID, id); err != nil {
			return err
		}
		if err := count(ctx, tx, accountID, countApp, 1, now); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "create", resourceType: "app", resourceID: id, after: app}, append(policies, appObject(id))...)
	})
	return app, wrap("create app", err)
}

// UpdateApp replaces an application with one validated by Normalize. When ifRevision is not zero the app
// must still be at that revision (its ETag), or the update fails with
// EPreconditionFailed. A nil spec.Policies leaves the app's policy links
// as they are. An absent spec.UpstreamServiceToken keeps the stored one, a
// null one removes it, and one without a client secret keeps the stored
// secret (there must be one).
func (s *Store) UpdateApp(ctx context.Context, actor access.Actor, accountID, id string, ifRevision int64, v access.ValidApp) (access.App, error) {
	var app access.App
	spec, domains := v.Spec(), v.DomainNames()
	if len(domains) == 0 {
		return app, errUnvalidatedApp
	}
	upstream := spec.UpstreamServiceToken.Token
	keepUpstream := !spec.UpstreamServiceToken.Present
	keepUpstreamSecret := keepUpstream || (upstream != nil && upstream.ClientSecret == "")
	upstreamSecret, err := s.sealUpstreamSecret(id, upstream)
	if err != nil {
		return app, fmt.Errorf("store: update app %s: %w", id, err)
	}
	err = s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		before, err := lockApp(ctx, tx, accountID, id, ifRevision)
		if err != nil {
			return err
		}
		if err := checkAllowedIdPs(ctx, tx, accountID, spec.AllowedIdPs); err != nil {
			return err
		}
		if keepUpstreamSecret && !keepUpstream && before.UpstreamServiceToken == nil {
			return access.Invalid("upstream_service_token.client_secret", "is required (no upstream service token is stored for this application)")
		}
		origin := spec.Origin
		if !spec.OriginSet {
			origin = before.Origin // left out: kept
		}
		if keepUpstream && before.UpstreamServiceToken != nil && origin == "" {
			return access.Invalid("origin", "is required while the application has an upstream_service_token (send \"upstream_service_token\": null to remove it)")
		}
		if upstream != nil && origin == "" {
			return access.Invalid("upstream_service_token", "needs an origin: the credential is presented to the origin")
		}
		_, err = tx.Exec(ctx, `
			UPDATE apps SET name = $3, domain = $4, origin = $5, session_duration = $6, cors_headers = $7,
			       options_preflight_bypass = $8, settings = $9,
			       upstream_client_id = CASE WHEN $10 THEN upstream_client_id ELSE $11 END,
			       upstream_client_secret = CASE WHEN $12 THEN upstream_client_secret ELSE $13 END,
			       revision = revision + 1, updated_at = $14
			WHERE account_id = $1 AND id = $2`,
			accountID, id, spec.Name, spec.Domain, origin, spec.SessionDuration, spec.CORSHeaders,
			spec.OptionsPreflightBypass, spec.AppSettings,
			keepUpstream, upstreamClientID(upstream), keepUpstreamSecret, upstreamSecret, now)
		if err != nil {
			return err
		}
		if err := claimHosts(ctx, tx, accountID, id, domains); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM app_domains WHERE app_id = $1`, id); err != nil {
			return err
		}
		if err := insertDomains(ctx, tx, id, domains); err != nil {
			return err
		}
		var policies []object
		if spec.Policies != nil {
			if policies, err = setAppPolicies(ctx, tx, accountID, id, spec.Policies, now); err != nil {
				return err
			}
		}
		if app, err = getApp(ctx, tx, accountID, id); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "update", resourceType: "app", resourceID: id, before: before, after: app}, append(policies, appObject(id))...)
	})
	return app, wrap("update app", err)
}

// DeleteApp deletes an application with its app-scoped policies and links.
func (s *Store) DeleteApp(ctx context.Context, actor access.Actor, accountID, id string, ifRevision int64) error {
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		before, err := lockApp(ctx, tx, accountID, id, ifRevision)
		if err != nil {
			return err
		}
		// The app's own policies go with it (by cascade).
		owned, err := collectStrings(ctx, tx, `SELECT id::text FROM policies WHERE account_id = $1 AND app_id = $2`, accountID, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM apps WHERE account_id = $1 AND id = $2`, accountID, id); err != nil {
			return err
		}
		if err := count(ctx, tx, accountID, countApp, -1, time.Time{}); err != nil {
			return err
		}
		changed := []object{appObject(id)}
		for _, pid := range owned {
			changed = append(changed, policyObject(pid))
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "delete", resourceType: "app", resourceID: id, before: before}, changed...)
	})
	return wrap("delete app", err)
}

// RevokeAppSessions makes the edges refuse every app token issued for the
// application until now, so every user has to log in again. The app's
// revision changes; nothing visible in its wire format does.
func (s *Store) RevokeAppSessions(ctx context.Context, actor access.Actor, accountID, id string) (access.App, error) {
	var app access.App
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		if _, err := lockApp(ctx, tx, accountID, id, 0); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE apps SET sessions_revoked_at = $3, revision = revision + 1
			WHERE account_id = $1 AND id = $2`, accountID, id, now); err != nil {
			return err
		}
		var err error
		if app, err = getApp(ctx, tx, accountID, id); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "revoke_tokens", resourceType: "app", resourceID: id, after: app}, appObject(id))
	})
	return app, wrap("revoke app sessions", err)
}

// lockApp locks an app row for a write, checks the precondition, and
// returns the app as it was.
func lockApp(ctx context.Context, tx pgx.Tx, accountID, id string, ifRevision int64) (access.App, error) {
	var rev int64
	err := tx.QueryRow(ctx, `SELECT revision FROM apps WHERE account_id = $1 AND id = $2 FOR UPDATE`, accountID, id).Scan(&rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return access.App{}, notFound("application")
	}
	if err != nil {
		return access.App{}, err
	}
	if ifRevision != 0 && ifRevision != rev {
		return access.App{}, access.Errorf(access.EPreconditionFailed, "the application was changed since it was read (If-Match does not match its ETag)")
	}
	return getApp(ctx, tx, accountID, id)
}

// GetApp returns one application with its domains and policies.
func (s *Store) GetApp(ctx context.Context, accountID, id string) (access.App, error) {
	app, err := getApp(ctx, s.db(ctx), accountID, id)
	return app, wrap("get app", err)
}

func getApp(ctx context.Context, q querier, accountID, id string) (access.App, error) {
	app, err := scanApp(q.QueryRow(ctx, `SELECT `+appColumns+` FROM apps a WHERE a.account_id = $1 AND a.id = $2`, accountID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return access.App{}, notFound("application")
	}
	if err != nil {
		return access.App{}, err
	}
	apps := []access.App{app}
	if err := loadAppRelations(ctx, q, apps); err != nil {
		return access.App{}, err
	}
	return apps[0], nil
}

// ListApps returns one page of an account's applications, oldest first.
func (s *Store) ListApps(ctx context.Context, accountID string, f AppFilter, p access.Page) ([]access.App, access.ListInfo, error) {
	if f != (AppFilter{}) {
		return s.searchApps(ctx, accountID, f, p)
	}
	var apps []access.App
	var total int
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		apps, total, err = readPage(ctx, s, tx, list{table: "apps", cols: []string{"created_at", "id"}, accountID: accountID, kind: countApp}, p,
			"a", appColumns, func(r pgx.CollectableRow) (access.App, error) { return scanApp(r) },
			func(a *access.App) (time.Time, string) { return a.CreatedAt, a.ID })
		if err != nil {
			return err
		}
		return loadAppRelations(ctx, tx, apps)
	})
	if err != nil {
		return nil, access.ListInfo{}, wrap("list apps", err)
	}
	return apps, access.NewListInfo(p, len(apps), total), nil
}

// searchApps is ListApps with a filter.
func (s *Store) searchApps(ctx context.Context, accountID string, f AppFilter, p access.Page) ([]access.App, access.ListInfo, error) {
	const where = `a.account_id = $1
		AND ($2 = '' OR a.name = $2)
		AND ($3 = '' OR EXISTS (SELECT 1 FROM app_domains d WHERE d.app_id = a.id AND d.domain = lower($3)))
		AND ($4 = '' OR a.name ILIKE $4
		     OR EXISTS (SELECT 1 FROM app_domains d WHERE d.app_id = a.id AND d.domain ILIKE $4))
		AND ($5 = '' OR a.aud = $5)`
	args := []any{accountID, f.Name, f.Domain, containsPattern(f.Search), f.AUD}
	rows, err := s.db(ctx).Query(ctx, `SELECT `+appColumns+`, count(*) OVER () FROM apps a WHERE `+where+`
		ORDER BY a.created_at, a.id LIMIT $6 OFFSET $7`, append(args, p.PerPage, p.Offset())...)
	if err != nil {
		return nil, access.ListInfo{}, wrap("list apps", err)
	}
	var apps []access.App
	total := 0
	for rows.Next() {
		app, err := scanApp(rows, &total)
		if err != nil {
			rows.Close()
			return nil, access.ListInfo{}, wrap("list apps", err)
		}
		apps = append(apps, app)
	}
	if err := rows.Err(); err != nil {
		return nil, access.ListInfo{}, wrap("list apps", err)
	}
	total, err = pageTotal(ctx, s.db(ctx), len(apps), total, `SELECT count(*) FROM apps a WHERE `+where, args...)
	if err != nil {
		return nil, access.ListInfo{}, wrap("count apps", err)
	}
	if err := loadAppRelations(ctx, s.db(ctx), apps); err != nil {
		return nil, access.ListInfo{}, wrap("list apps", err)
	}
	if apps == nil {
		apps = []access.App{}
	}
	return apps, access.NewListInfo(p, len(apps), total), nil
}

// loadAppRelations fills in the domains and policies of apps.
func loadAppRelations(ctx context.Context, q querier, apps []access.App) error {
	if len(apps) == 0 {
		return nil
	}
	ids := make([]string, len(apps))
	index := make(map[string]*access.App, len(apps))
	for i := range apps {
		ids[i] = apps[i].ID
		index[apps[i].ID] = &apps[i]
		apps[i].SelfHostedDomains = []string{}
		apps[i].Destinations = []access.Destination{}
		apps[i].Policies = []access.Policy{}
	}
	rows, err := q.Query(ctx, `SELECT app_id, domain FROM app_domains WHERE app_id = ANY($1) ORDER BY app_id, position`, ids)
	if err != nil {
		return err
	}
	var appID, domain string
	_, err = pgx.ForEachRow(rows, []any{&appID, &domain}, func() error {
		a := index[appID]
		a.SelfHostedDomains = append(a.SelfHostedDomains, domain)
		a.Destinations = append(a.Destinations, access.Destination{Type: "public", URI: domain})
		return nil
	})
	if err != nil {
		return fmt.Errorf("load app domains: %w", err)
	}
	rows, err = q.Query(ctx, `SELECT ap.app_id, ap.precedence, `+policyColumns+`
		FROM app_policies ap JOIN policies p ON p.id = ap.policy_id
		WHERE ap.app_id = ANY($1) ORDER BY ap.app_id, ap.precedence`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var precedence int
		p, err := scanPolicy(rows, &appID, &precedence)
		if err != nil {
			return fmt.Errorf("load app policies: %w", err)
		}
		p.Precedence = precedence
		a := index[appID]
		a.Policies = append(a.Policies, p)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var policies []*access.Policy
	for i := range apps {
		for j := range apps[i].Policies {
			policies = append(policies, &apps[i].Policies[j])
		}
	}
	return setAppCounts(ctx, q, policies)
}

func insertDomains(ctx context.Context, tx pgx.Tx, appID string, domains []string) error {
	for i, d := range domains {
		if _, err := tx.Exec(ctx, `INSERT INTO app_domains (app_id, position, domain) VALUES ($1, $2, $3)`, appID, i, d); err != nil {
			return err
		}
	}
	return nil
}

// setAppPolicies replaces an app's policy links. Every linked policy must
// belong to the account and be reusable or scoped to this app. Inline
// policies (Cloudflare's legacy form) are the app's own: one without an id
// is created, one with the id of an own policy replaces it. A body with
// inline policies lists all of the app's own policies, so own policies it
// leaves out are deleted; a body of links only must keep every own policy
// linked (delete it through its own route to remove it). It returns the
// policies it created, replaced or deleted, for the change feed.
func setAppPolicies(ctx context.Context, tx pgx.Tx, accountID, appID string, links []access.PolicyLink, now time.Time) ([]object, error) {
	ids := make([]string, 0, len(links))
	inline := false
	for _, l := range links {
		if l.ID != "" {
			ids = append(ids, l.ID)
		}
		inline = inline || l.Inline != nil
	}
	owner := map[string]*string{}
	ownByName := map[string]string{} // the app's own policies, by name
	rows, err := tx.Query(ctx, `SELECT id, app_id, name FROM policies WHERE account_id = $1 AND (id = ANY($2) OR app_id = $3)`, accountID, ids, appID)
	if err != nil {
		return nil, err
	}
	var id, name string
	var app *string
	if _, err := pgx.ForEachRow(rows, []any{&id, &app, &name}, func() error {
		if app != nil {
			a := *app
			owner[id] = &a
			if a == appID {
				ownByName[name] = id
			}
		} else {
			owner[id] = nil
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// An inline policy without an id replaces the app's own policy of the
	// same name, unless the list names that one by id: clients that do not
	// keep ids (Terraform after an import) update in place.
	named := map[string]bool{}
	for _, l := range links {
		named[l.ID] = true
	}
	for i := range links {
		if l := &links[i]; l.ID == "" && l.Inline != nil {
			if own, ok := ownByName[l.Inline.Name]; ok && !named[own] {
				l.ID, named[own] = own, true
			}
		}
	}
	var errs []access.FieldError
	linked := map[string]bool{}
	used := map[int]bool{}
	precedences := make([]int, len(links))
	for i, l := range links {
		linked[l.ID] = true
		a, ok := owner[l.ID]
		switch {
		case l.ID == "" && l.Inline != nil:
			// a new own policy
		case !ok && l.Inline != nil:
			errs = append(errs, access.FieldError{Field: fmt.Sprintf("policies[%d].id", i), Message: "no policy with this id belongs to the application; leave id out to create an inline policy"})
		case !ok:
			errs = append(errs, access.FieldError{Field: fmt.Sprintf("policies[%d].id", i), Message: "no policy with this id exists in the account"})
		case a != nil && *a != appID:
			errs = append(errs, access.FieldError{Field: fmt.Sprintf("policies[%d].id", i), Message: "the policy belongs to another application; link a reusable policy instead"})
		case a == nil && l.Inline != nil:
			errs = append(errs, access.FieldError{Field: fmt.Sprintf("policies[%d].id", i), Message: "the policy is reusable: link it by id and precedence only, and change it through /access/policies"})
		}
		precedences[i] = l.Precedence
		if precedences[i] == 0 {
			precedences[i] = i + 1
		}
		if used[precedences[i]] {
			errs = append(errs, access.FieldError{Field: fmt.Sprintf("policies[%d].precedence", i), Message: fmt.Sprintf("precedence %d is used twice", precedences[i])})
		}
		used[precedences[i]] = true
	}
	var dropped []string
	for pid, a := range owner {
		if a != nil && *a == appID && !linked[pid] {
			if inline {
				dropped = append(dropped, pid)
				continue
			}
			errs = append(errs, access.FieldError{Field: "policies", Message: fmt.Sprintf("must list the application's own policy %s; delete it through /apps/{app_id}/policies/%s to remove it", pid, pid)})
		}
	}
	if err := access.InvalidFields(errs); err != nil {
		return nil, err
	}
	var changed []object
	for i := range links {
		l := &links[i]
		if l.Inline == nil {
			continue
		}
		if l.ID == "" {
			l.ID = uuid.NewString()
			err = insertPolicy(ctx, tx, accountID, &appID, l.ID, *l.Inline, l.Rules, now)
		} else {
			err = replacePolicy(ctx, tx, accountID, l.ID, *l.Inline, l.Rules, now)
		}
		if err != nil {
			return nil, err
		}
		changed = append(changed, policyObject(l.ID))
	}
	if len(dropped) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM policies WHERE account_id = $1 AND app_id = $2 AND id = ANY($3)`, accountID, appID, dropped); err != nil {
			return nil, err
		}
		for _, pid := range dropped {
			changed = append(changed, policyObject(pid))
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM app_policies WHERE app_id = $1`, appID); err != nil {
		return nil, err
	}
	for i, l := range links {
		if _, err := tx.Exec(ctx, `INSERT INTO app_policies (account_id, app_id, policy_id, precedence) VALUES ($1, $2, $3, $4)`,
			accountID, appID, l.ID, precedences[i]); err != nil {
			return nil, err
		}
	}
	return changed, nil
}
