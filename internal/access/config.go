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
