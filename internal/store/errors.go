package store

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// constraintErrors turns a named constraint's violation into the domain
// error a caller sees. Matching is by SQLSTATE and constraint name, never
// by message text.
var constraintErrors = map[string]func() *access.Error{
	"apps_account_name_key": func() *access.Error {
		return access.Conflict("name", "an application with this name already exists in the account")
	},
	"app_domains_domain_key": func() *access.Error {
		return access.Conflict("domain", "this domain is already protected by another application")
	},
	"policies_reusable_name_key": func() *access.Error {
		return access.Conflict("name", "a reusable policy with this name already exists in the account")
	},
	"policies_app_name_key": func() *access.Error {
		return access.Conflict("name", "the application already has a policy with this name")
	},
	"app_policies_precedence_key": func() *access.Error {
		return access.Conflict("precedence", "another policy of the application has this precedence")
	},
	"app_policies_pkey": func() *access.Error {
		return access.Conflict("policies", "the policy is already linked to the application")
	},
	"app_policies_policy_fkey": func() *access.Error {
		return access.Invalid("policies", "names a policy that does not exist in the account")
	},
	"service_tokens_account_name_key": func() *access.Error {
		return access.Conflict("name", "a service token with this name already exists in the account")
	},
	"policy_service_tokens_token_fkey": func() *access.Error {
		return access.Errorf(access.EConflict, "the service token is used by a policy, or a policy rule names a service token that does not exist")
	},
	"identity_providers_account_name_key": func() *access.Error {
		return access.Conflict("name", "an identity provider with this name already exists in the account")
	},
	"identity_providers_onetimepin_key": func() *access.Error {
		return access.Conflict("type", "the account already has a onetimepin identity provider")
	},
	"access_certificates_account_name_key": func() *access.Error {
		return access.Conflict("name", "a certificate with this name already exists in the account")
	},
	"access_certificates_account_fingerprint_key": func() *access.Error {
		return access.Conflict("certificate", "this certificate is already uploaded in the account")
	},
	"access_groups_account_name_key": func() *access.Error {
		return access.Conflict("name", "an Access group with this name already exists in the account")
	},
	"policy_groups_group_fkey": func() *access.Error {
		return access.Errorf(access.EConflict, "the Access group is used by a policy, or a policy rule names an Access group that does not exist")
	},
	"access_group_service_tokens_token_fkey": func() *access.Error {
		return access.Errorf(access.EConflict, "the service token is used by an Access group, or a group rule names a service token that does not exist")
	},
	"apps_bypass_excludes_cors": func() *access.Error {
		return access.Invalid("options_preflight_bypass", "cannot be true while cors_headers is set")
	},
}

// interpret maps a PostgreSQL error to a domain error, or returns nil.
// It is the one place where a database that is down, hung or too slow
// becomes EUnavailable (the API's 503).
func interpret(err error) error {
	if unavailable(err) {
		return access.Unavailable(err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return nil
	}
	switch pgErr.Code {
	case pgerrcode.UniqueViolation, pgerrcode.ForeignKeyViolation, pgerrcode.CheckViolation:
		if f, ok := constraintErrors[pgErr.ConstraintName]; ok {
			return f()
		}
		if pgErr.Code == pgerrcode.UniqueViolation {
			return access.Errorf(access.EConflict, "conflicts with an existing resource")
		}
		return access.Errorf(access.EInvalid, "refers to something that does not exist or breaks a rule")
	case pgerrcode.InvalidTextRepresentation:
		return access.Errorf(access.ENotFound, "not found")
	}
	return nil
}

// unavailable reports whether err means the database could not be reached
// or did not answer in time: a deadline (the caller's, or the pool's
// connect timeout), a broken or refused connection, or PostgreSQL saying
// so (connection exceptions, shutdown, statement or lock timeouts, too
// many connections). A cancelled request (the client went away) is not.
func unavailable(err error) bool {
	// SafeToRetry: the connection failed before anything was sent.
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgerrcode.IsConnectionException(pgErr.Code),
			pgErr.Code == pgerrcode.AdminShutdown, pgErr.Code == pgerrcode.CrashShutdown,
			pgErr.Code == pgerrcode.CannotConnectNow, pgErr.Code == pgerrcode.QueryCanceled,
			pgErr.Code == pgerrcode.LockNotAvailable, pgErr.Code == pgerrcode.TooManyConnections:
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
