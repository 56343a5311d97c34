package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// User is someone who signed in to an account's applications, as the
// access log remembers them: Gatehouse keeps no user directory, so a user
// exists from their first logged sign-in until the log's retention drops
// their last one.
type User struct {
	Email string
	// FirstLogin and LastLogin bound the user's logged sign-ins, allowed
	// or not; LastSuccessfulLogin is the last allowed one (nil if none).
	FirstLogin, LastLogin time.Time
	LastSuccessfulLogin   *time.Time
}

// usersSQL groups an account's logged sign-ins by (lower-cased) email.
const usersSQL = `
	SELECT email, min(created_at), max(created_at), max(created_at) FILTER (WHERE allowed)
	FROM (SELECT lower(user_email) AS email, created_at, allowed FROM access_logs
	      WHERE account_id = $1 AND action = 'login' AND user_email <> '') l`

func collectUsers(rows pgx.Rows, extra ...any) ([]User, error) {
	var out []User
	var u User
	_, err := pgx.ForEachRow(rows, append([]any{&u.Email, &u.FirstLogin, &u.LastLogin, &u.LastSuccessfulLogin}, extra...), func() error {
		v := u
		v.FirstLogin, v.LastLogin = v.FirstLogin.UTC(), v.LastLogin.UTC()
		if v.LastSuccessfulLogin != nil {
			t := v.LastSuccessfulLogin.UTC()
			v.LastSuccessfulLogin = &t
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// ListUsers returns one page of an account's users, by email. Its cost
// is that of the account's retained access log, which it groups.
func (s *Store) ListUsers(ctx context.Context, accountID string, pg access.Page) ([]User, access.ListInfo, error) {
	var total int
	rows, err := s.db(ctx).Query(ctx, usersSQL+` GROUP BY email ORDER BY email LIMIT $2 OFFSET $3`, accountID, pg.PerPage, pg.Offset())
	if err != nil {
		return nil, access.ListInfo{}, wrap("list users", err)
	}
	users, err := collectUsers(rows)
	if err != nil {
		return nil, access.ListInfo{}, wrap("list users", err)
	}
	if len(users) < pg.PerPage && (len(users) > 0 || pg.Page == 1) {
		total = pg.Offset() + len(users)
	} else if err := s.db(ctx).QueryRow(ctx, `SELECT count(*) FROM (`+usersSQL+` GROUP BY email) u`, accountID).Scan(&total); err != nil {
		return nil, access.ListInfo{}, wrap("count users", err)
	}
	return users, access.NewListInfo(pg, len(users), total), nil
}

// FindUser returns the account's user for whom is reports true (users
// are named by an id derived from their email), or ENotFound.
func (s *Store) FindUser(ctx context.Context, accountID string, is func(email string) bool) (User, error) {
	rows, err := s.db(ctx).Query(ctx, usersSQL+` GROUP BY email`, accountID)
	if err != nil {
		return User{}, wrap("find user", err)
	}
	users, err := collectUsers(rows)
	if err != nil {
		return User{}, wrap("find user", err)
	}
	for _, u := range users {
		if is(u.Email) {
			return u, nil
		}
	}
	return User{}, notFound("user")
}

// UserRevokedAt returns when a user's sessions in the account were last
// revoked (revoke_user), or nil.
func (s *Store) UserRevokedAt(ctx context.Context, accountID, email string) (*time.Time, error) {
	var at time.Time
	err := s.db(ctx).QueryRow(ctx, `SELECT revoked_at FROM session_revocations WHERE account_id = $1 AND email = $2`,
		accountID, strings.ToLower(email)).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("read user revocation", err)
	}
	at = at.UTC()
	return &at, nil
}
