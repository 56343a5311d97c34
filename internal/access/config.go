package access

import "time"

// Config is everything the edge enforces, read at one config version:
// every account's apps (with their policies in precedence order) and
// service token credentials.
type Config struct {
	Version       int64
	Apps          []App
	ServiceTokens []ServiceTokenCredential
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
