package access

import "time"

// Config is everything the edge enforces, read at one config version:
// every account's apps (with their policies in precedence order), service
// token credentials and identity providers.
type Config struct {
	Version       int64
	Apps          []App
	ServiceTokens []ServiceTokenCredential
	// IdentityProviders carry their client secrets, opened with the master
	// key: the edge needs them for the code exchange.
	IdentityProviders []IdentityProvider
	// Revocations are the session revocations still in force.
	Revocations []SessionRevocation
}

// MaxSessionDuration is the longest session_duration an app or policy may
// set: no app token lives longer.
const MaxSessionDuration = 8760 * time.Hour

// SessionRevocation ends login sessions before their tokens expire: one
// session (SessionID set: a logout), or every session of a user issued
// before RevokedAt (Email set: revoke_user). It is kept until ExpiresAt,
// when no token it could refuse is still valid.
type SessionRevocation struct {
	AccountID string
	SessionID string
	Email     string
	RevokedAt time.Time
	ExpiresAt time.Time
}

// ServiceTokenCredential is what the edge needs to authenticate a service
// token: its identity and secret hashes, never a secret.
type ServiceTokenCredential struct {
	ID                      string
	AccountID               string
	Name                    string
	ClientID                string
	SecretHash              []byte
	PreviousSecretHash      []byte
	PreviousSecretExpiresAt *time.Time
	ExpiresAt               time.Time
}
