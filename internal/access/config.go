package access

import "time"

// Config is everything the edge enforces, read at one config version:
// every account's apps, policies, service token credentials, identity
// providers and session revocations.
//
// In a Config (and a Delta) an app's Policies is empty: its links are in
// PolicyLinks (policy id and precedence, in precedence order), and each
// policy is in Policies once, however many apps link it.
type Config struct {
	Version int64
	Apps    []App
	// Policies are every policy of every account (reusable or belonging
	// to one app), each once.
	Policies      []Policy
	ServiceTokens []ServiceTokenCredential
	// IdentityProviders carry their client secrets, opened with the master
	// key: the edge needs them for the code exchange.
	IdentityProviders []IdentityProvider
	// Revocations are the session revocations still in force.
	Revocations []SessionRevocation
	// Certificates are the CAs uploaded for mutual TLS.
	Certificates []CertificateCredential
	// Organizations are the accounts' organization settings (an account
	// without one has none here).
	Organizations []Organization
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

// Delta is what changed in the config between two versions: the current
// form of every object written after version From up to and including
// To, and the keys of those deleted since. Applying it to the snapshot of
// version From gives the snapshot of version To. An object appears once,
// in its state at To (either present or deleted, never both).
type Delta struct {
	From, To int64

	Apps        []App    // PolicyLinks set, Policies empty, as in Config
	DeletedApps []string // app ids

	Policies        []Policy
	DeletedPolicies []string // policy ids

	ServiceTokens        []ServiceTokenCredential
	DeletedServiceTokens []string // client ids (the edge indexes tokens by client id)

	IdentityProviders        []IdentityProvider
	DeletedIdentityProviders []string // provider ids

	// Revocations are new or changed session revocations. Revocations
	// are never deleted by a delta: one that expired refuses nothing.
	Revocations []SessionRevocation

	Certificates        []CertificateCredential
	DeletedCertificates []string // certificate ids
	// Organizations are new or changed organizations. An organization is
	// never deleted but with its account.
	Organizations []Organization

	// SigningKeys is true when the keyring changed (a rotation): the
	// edge reloads its signing keys.
	SigningKeys bool
}

// Empty reports whether d changes nothing the edge enforces.
func (d *Delta) Empty() bool {
	return len(d.Apps)+len(d.DeletedApps)+len(d.Policies)+len(d.DeletedPolicies)+
		len(d.ServiceTokens)+len(d.DeletedServiceTokens)+len(d.IdentityProviders)+
		len(d.DeletedIdentityProviders)+len(d.Revocations)+len(d.Certificates)+len(d.DeletedCertificates)+len(d.Organizations) == 0 && !d.SigningKeys
}
