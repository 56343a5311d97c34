package session

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/sealed"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const (
	// DefaultGrace is how long a superseded key still verifies tokens:
	// Cloudflare keeps the previous key valid for 7 days.
	DefaultGrace = 7 * 24 * time.Hour
	// DefaultRotationInterval is Cloudflare's rotation schedule.
	DefaultRotationInterval = 6 * 7 * 24 * time.Hour

	keyBits = 2048
	// certLifetime only has to outlast any key's use: retirement, not
	// the certificate, ends a key's life.
	certLifetime = 10 * 365 * 24 * time.Hour
)

// KeyRows keeps the keyring's rows, sealed: *store.Store. Every change it
// makes records a signing_keys change in the config feed, so the edges
// reload their keyring.
type KeyRows interface {
	LiveSigningKeys(ctx context.Context, now time.Time) ([]store.SigningKey, error)
	CreateFirstSigningKey(ctx context.Context, now time.Time, newKey store.NewSigningKey) ([]store.SigningKey, error)
	RotateSigningKey(ctx context.Context, now time.Time, grace time.Duration, newKey store.NewSigningKey) ([]store.SigningKey, error)
	RotateSigningKeyIfDue(ctx context.Context, now time.Time, every, grace time.Duration, newKey store.NewSigningKey) (bool, error)
}

// KeyStore keeps the installation's keyring in the store, its private
// keys sealed with the master key. It is safe for concurrent use.
type KeyStore struct {
	rows      KeyRows
	masterKey []byte
	keyErr    error // a bad master key, reported by every method
	now       func() time.Time
	grace     time.Duration
	last      atomic.Pointer[Keyring] // the last keyring built, reused while the rows are unchanged
}

// KeyStoreOption configures a KeyStore.
type KeyStoreOption func(*KeyStore)

// WithClock makes the key store read "now" from clock instead of time.Now.
func WithClock(clock func() time.Time) KeyStoreOption {
	return func(s *KeyStore) { s.now = clock }
}

// WithGrace sets how long a superseded key keeps verifying tokens
// (DefaultGrace unless set).
func WithGrace(d time.Duration) KeyStoreOption {
	return func(s *KeyStore) { s.grace = d }
}

// NewKeyStore returns a key store on rows (the store) whose private keys
// are sealed with masterKey (32 bytes, see ParseMasterKey). A master key
// of the wrong length is reported by every method.
func NewKeyStore(rows KeyRows, masterKey []byte, opts ...KeyStoreOption) *KeyStore {
	s := &KeyStore{rows: rows, now: time.Now, grace: DefaultGrace}
	s.masterKey = masterKey
	if len(masterKey) != MasterKeySize {
		s.keyErr = fmt.Errorf("session: master key is %d bytes, want %d", len(masterKey), MasterKeySize)
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Load returns the keyring: every key not yet retired, the newest
// current. On an installation without keys it creates the first one, once
// however many processes start together. A master key that cannot open a
// key gives an error wrapping ErrWrongMasterKey.
func (s *KeyStore) Load(ctx context.Context) (*Keyring, error) {
	if s.keyErr != nil {
		return nil, s.keyErr
	}
	now := s.clock()
	rows, err := s.rows.LiveSigningKeys(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if len(rows) == 0 {
		if rows, err = s.rows.CreateFirstSigningKey(ctx, now, s.newKey); err != nil {
			return nil, fmt.Errorf("session: %w", err)
		}
	}
	return s.keyring(rows)
}

// Rotate makes a new key current. The previous current key retires after
// the grace period; keys retired for more than a day are deleted. The
// store records the change in the config feed, so that every edge
// reloads the keyring.
func (s *KeyStore) Rotate(ctx context.Context) (*Keyring, error) {
	if s.keyErr != nil {
		return nil, s.keyErr
	}
	rows, err := s.rows.RotateSigningKey(ctx, s.clock(), s.grace, s.newKey)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return s.keyring(rows)
}

// RotateIfDue rotates when the current key is older than every
// (DefaultRotationInterval when every <= 0). Of several processes calling
// it at once, only one rotates.
func (s *KeyStore) RotateIfDue(ctx context.Context, every time.Duration) (rotated bool, err error) {
	if s.keyErr != nil {
		return false, s.keyErr
	}
	if every <= 0 {
		every = DefaultRotationInterval
	}
	rotated, err = s.rows.RotateSigningKeyIfDue(ctx, s.clock(), every, s.grace, s.newKey)
	if err != nil {
		return false, fmt.Errorf("session: %w", err)
	}
	return rotated, nil
}

func (s *KeyStore) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// keyring builds the keyring of the live rows, or nil when there are
// none. It reuses the last keyring when the rows are the same, so that
// frequent config reloads cost no decryption.
func (s *KeyStore) keyring(krs []store.SigningKey) (*Keyring, error) {
	if len(krs) == 0 {
		return nil, nil
	}
	keys := make([]*signingKey, len(krs))
	for i, r := range krs {
		keys[i] = &signingKey{kid: r.KID, createdAt: r.CreatedAt.UTC()}
		if r.RetiresAt != nil {
			keys[i].retiresAt = r.RetiresAt.UTC()
		}
	}
	if last := s.last.Load(); last != nil && last.generation == generation(keys) {
		return last, nil
	}
	for i, r := range krs {
		der, err := sealed.Open(s.masterKey, r.KID, r.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("session: cannot decrypt signing key %s: %w", r.KID, ErrWrongMasterKey)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: parse private key: %w", r.KID, err)
		}
		rsaKey, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("signing key %s: %T is not an RSA key", r.KID, priv)
		}
		keys[i].private = rsaKey
		keys[i].jwk = newPublicJWK(&rsaKey.PublicKey)
		keys[i].certPEM = r.PublicCert
	}
	ring, err := newKeyring(keys)
	if err != nil {
		return nil, err
	}
	s.last.Store(ring)
	return ring, nil
}

// newKey generates a key created at created, sealed for its row.
func (s *KeyStore) newKey(created time.Time) (store.SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generate RSA key: %w", err)
	}
	jwk := newPublicJWK(&priv.PublicKey)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode private key: %w", err)
	}
	certPEM, err := selfSignedCert(priv, jwk.KID, created)
	if err != nil {
		return store.SigningKey{}, err
	}
	jwkJSON, err := json.Marshal(jwk)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode public key: %w", err)
	}
	box, err := sealed.Seal(s.masterKey, jwk.KID, der)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("seal signing key: %w", err)
	}
	return store.SigningKey{KID: jwk.KID, PrivateKey: box, PublicJWK: jwkJSON, PublicCert: certPEM, CreatedAt: created}, nil
}

// selfSignedCert is the certificate form of a public key that the certs
// endpoint publishes as public_cert(s), for origins that want a PEM.
func selfSignedCert(priv *rsa.PrivateKey, kid string, created time.Time) (string, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", fmt.Errorf("certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Gatehouse app token signing key " + kid[:16]},
		NotBefore:    created.Add(-time.Hour),
		NotAfter:     created.Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return "", fmt.Errorf("self-sign certificate: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}
