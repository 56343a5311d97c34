package access

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"time"
)

// DefaultServiceTokenDuration is one year, as in Cloudflare.
const DefaultServiceTokenDuration = "8760h"

// ServiceToken is a machine credential: a public client id and a secret
// that is shown once and stored only as a hash.
type ServiceToken struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	ClientID string `json:"client_id"`
	// ClientSecret is set only in the responses to create and rotate.
	ClientSecret                  string     `json:"client_secret,omitempty"`
	ClientSecretVersion           int64      `json:"client_secret_version"`
	PreviousClientSecretExpiresAt *time.Time `json:"previous_client_secret_expires_at,omitempty"`
	Duration                      string     `json:"duration"`
	ExpiresAt                     time.Time  `json:"expires_at"`
	LastSeenAt                    *time.Time `json:"last_seen_at"`
	CreatedAt                     time.Time  `json:"created_at"`
	UpdatedAt                     time.Time  `json:"updated_at"`

	Revision int64 `json:"-"`
}

// ServiceTokenSpec is what a caller sends to create a service token.
type ServiceTokenSpec struct {
	Name     string `json:"name" validate:"required,max=350"`
	Duration string `json:"duration" validate:"omitempty,token_duration"`
	// ClientSecretVersion and PreviousClientSecretExpiresAt are accepted
	// for compatibility; on create they have no effect beyond the version.
	ClientSecretVersion           int64   `json:"client_secret_version" validate:"min=0"`
	PreviousClientSecretExpiresAt *string `json:"previous_client_secret_expires_at" validate:"omitempty,datetime=2006-01-02T15:04:05Z07:00"`
}

// ServiceTokenUpdate is what a caller sends to update a service token.
// Nil fields are left as they are.
type ServiceTokenUpdate struct {
	Name     *string `json:"name" validate:"omitempty,min=1,max=350"`
	Duration *string `json:"duration" validate:"omitempty,token_duration"`
	// A ClientSecretVersion above the current one rotates the secret.
	ClientSecretVersion           *int64  `json:"client_secret_version" validate:"omitempty,min=1"`
	PreviousClientSecretExpiresAt *string `json:"previous_client_secret_expires_at" validate:"omitempty,datetime=2006-01-02T15:04:05Z07:00"`
}

// RotateSpec is the optional body of a rotate request.
type RotateSpec struct {
	PreviousClientSecretExpiresAt *string `json:"previous_client_secret_expires_at" validate:"omitempty,datetime=2006-01-02T15:04:05Z07:00"`
}

// ParseTime returns an optional RFC 3339 time that passed validation.
func ParseTime(s *string) *time.Time {
	if s == nil {
		return nil
	}
	t, err := time.Parse(time.RFC3339, *s)
	if err != nil {
		return nil
	}
	t = t.UTC()
	return &t
}

// NewClientID returns a fresh client id: 32 hex characters and ".access".
func NewClientID() string { return randomHex(16) + ".access" }

// NewSecret returns a fresh 256-bit secret as 64 hex characters.
func NewSecret() string { return randomHex(32) }

// HashSecret returns the stored form of a secret. Secrets are 256 random
// bits, so a fast hash is enough: there is nothing to brute-force, and the
// edge must check a secret on every request.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// SecretMatches reports, in constant time, whether secret hashes to hash.
func SecretMatches(secret string, hash []byte) bool {
	h := sha256.Sum256([]byte(secret))
	return len(hash) == len(h) && subtle.ConstantTimeCompare(h[:], hash) == 1
}

// NewAUD returns a fresh application audience tag (64 hex characters).
func NewAUD() string { return randomHex(32) }

// NewAccountID returns a fresh account id (32 hex characters).
func NewAccountID() string { return randomHex(16) }

// NewAPITokenValue returns a fresh API token value. The prefix makes
// leaked tokens easy to find with secret scanners.
func NewAPITokenValue() string { return "ghat_" + randomHex(32) }

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("access: crypto/rand failed: " + err.Error())
	}
	return b
}
