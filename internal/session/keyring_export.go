package session

import (
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"time"
)

// ExportedKey is one key of a keyring with its private half, for the
// edge's sealed state file: a keyring exported and imported again signs
// and verifies as the original. It is secret; seal it before it leaves
// memory.
type ExportedKey struct {
	KID        string
	PrivateKey []byte // PKCS #8 DER
	PublicCert string
	CreatedAt  time.Time
	RetiresAt  time.Time // zero while the key has no successor
}

// Export returns every key of k, current first.
func (k *Keyring) Export() ([]ExportedKey, error) {
	out := make([]ExportedKey, 0, len(k.keys))
	for _, key := range k.keys {
		der, err := x509.MarshalPKCS8PrivateKey(key.private)
		if err != nil {
			return nil, fmt.Errorf("session: export key %s: %w", key.kid, err)
		}
		out = append(out, ExportedKey{KID: key.kid, PrivateKey: der, PublicCert: key.certPEM, CreatedAt: key.createdAt, RetiresAt: key.retiresAt})
	}
	return out, nil
}

// ImportKeyring rebuilds a keyring from Export's keys, dropping those
// retired at now. A key whose kid is not its public key's thumbprint is
// refused.
func ImportKeyring(keys []ExportedKey, now time.Time) (*Keyring, error) {
	var live []*signingKey
	for _, e := range keys {
		if !e.RetiresAt.IsZero() && !now.Before(e.RetiresAt) {
			continue
		}
		priv, err := x509.ParsePKCS8PrivateKey(e.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("session: import key %s: %w", e.KID, err)
		}
		rsaKey, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("session: import key %s: %T is not an RSA key", e.KID, priv)
		}
		jwk := newPublicJWK(&rsaKey.PublicKey)
		if jwk.KID != e.KID {
			return nil, fmt.Errorf("session: import key %s: kid does not match the key", e.KID)
		}
		live = append(live, &signingKey{kid: e.KID, private: rsaKey, jwk: jwk, certPEM: e.PublicCert,
			createdAt: e.CreatedAt.UTC(), retiresAt: e.RetiresAt.UTC()})
	}
	return newKeyring(live)
}
