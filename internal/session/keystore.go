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
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/internal/sealed"
)

const (
	// DefaultGrace is how long a superseded key still verifies tokens:
	// Cloudflare keeps the previous key valid for 7 days.
	DefaultGrace = 7 * 24 * time.Hour
	// DefaultRotationInterval is Cloudflare's rotation schedule.
	DefaultRotationInterval = 6 * 7 * 24 * time.Hour

	// retiredKeyRetention is how long a retired key's row is kept before
	// a rotation deletes it.
	retiredKeyRetention = 24 * time.Hour
	keyBits             = 2048
	// certLifetime only has to outlast any key's use: retirement, not
	// the certificate, ends a key's life.
	certLifetime = 10 * 365 * 24 * time.Hour
	// configChannel must equal store.ConfigChannel (a test checks); it is
	// not imported so that the store may one day import this package.
	configChannel = "gatehouse_config"
	// keyringLock serialises key creation and rotation across processes
	// (pg_advisory_xact_lock). The value is arbitrary but fixed.
	keyringLock int64 = 0x6761746568736b31
)

// KeyStore keeps the installation's keyring in PostgreSQL (table
// signing_keys). It is safe for concurrent use.
type KeyStore struct {
	pool      *pgxpool.Pool
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

// NewKeyStore returns a key store on pool whose private keys are sealed
// with masterKey (32 bytes, see ParseMasterKey). A master key of the wrong
// length is reported by every method.
func NewKeyStore(pool *pgxpool.Pool, masterKey []byte, opts ...KeyStoreOption) *KeyStore {
	s := &KeyStore{pool: pool, now: time.Now, grace: DefaultGrace}
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
	ring, err := s.liveKeyring(ctx, s.pool, now)
	if err != nil || ring != nil {
		return ring, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockKeyring(ctx, tx); err != nil {
			return err
		}
		// Another process may have created the key while we waited.
		existing, err := s.liveKeyring(ctx, tx, now)
		if err != nil || existing != nil {
			ring = existing
			return err
		}
		if _, err := s.insertKey(ctx, tx, now); err != nil {
			return err
		}
		if err := announce(ctx, tx); err != nil {
			return err
		}
		ring, err = s.liveKeyring(ctx, tx, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("session: create first signing key: %w", err)
	}
	return ring, nil
}

// Rotate makes a new key current. The previous current key retires after
// the grace period; keys retired for more than a day are deleted. In the
// same transaction it bumps the config version and notifies the edges, so
// that every edge reloads the keyring.
func (s *KeyStore) Rotate(ctx context.Context) (*Keyring, error) {
	if s.keyErr != nil {
		return nil, s.keyErr
	}
	var ring *Keyring
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockKeyring(ctx, tx); err != nil {
			return err
		}
		var err error
		ring, err = s.rotate(ctx, tx, s.clock())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("session: rotate signing key: %w", err)
	}
	return ring, nil
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
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockKeyring(ctx, tx); err != nil {
			return err
		}
		now := s.clock()
		var newest *time.Time
		err := tx.QueryRow(ctx, `
			SELECT max(created_at) FROM signing_keys
			WHERE retires_at IS NULL OR retires_at > $1`, now).Scan(&newest)
		if err != nil {
			return fmt.Errorf("read current key age: %w", err)
		}
		if newest != nil && now.Sub(*newest) < every {
			return nil
		}
		if _, err := s.rotate(ctx, tx, now); err != nil {
			return err
		}
		rotated = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("session: rotate signing key if due: %w", err)
	}
	return rotated, nil
}

// rotate does the work of Rotate inside tx, which holds the keyring lock.
func (s *KeyStore) rotate(ctx context.Context, tx pgx.Tx, now time.Time) (*Keyring, error) {
	// The new key must be strictly the newest, even under a clock that
	// stands still or steps back, because the newest key is current.
	var newest *time.Time
	if err := tx.QueryRow(ctx, `SELECT max(created_at) FROM signing_keys`).Scan(&newest); err != nil {
		return nil, fmt.Errorf("read newest key: %w", err)
	}
	created := now
	if newest != nil && !created.After(*newest) {
		created = newest.Add(time.Microsecond)
	}
	kid, err := s.insertKey(ctx, tx, created)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `
		UPDATE signing_keys SET retires_at = $1
		WHERE retires_at IS NULL AND kid <> $2`, created.Add(s.grace), kid); err != nil {
		return nil, fmt.Errorf("schedule retirement of previous keys: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		DELETE FROM signing_keys WHERE retires_at <= $1`, now.Add(-retiredKeyRetention)); err != nil {
		return nil, fmt.Errorf("delete retired keys: %w", err)
	}
	if err := announce(ctx, tx); err != nil {
		return nil, err
	}
	return s.liveKeyring(ctx, tx, now)
}

func (s *KeyStore) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *KeyStore) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// querier is either the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func lockKeyring(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, keyringLock); err != nil {
		return fmt.Errorf("lock keyring: %w", err)
	}
	return nil
}

// announce bumps the config version and notifies the edges; it must run in
// the transaction that changes the keys.
func announce(ctx context.Context, tx pgx.Tx) error {
	var version int64
	if err := tx.QueryRow(ctx, `UPDATE config_state SET version = version + 1 RETURNING version`).Scan(&version); err != nil {
		return fmt.Errorf("bump config version: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, configChannel, strconv.FormatInt(version, 10)); err != nil {
		return fmt.Errorf("notify config change: %w", err)
	}
	return nil
}

type keyRow struct {
	KID        string     `db:"kid"`
	PrivateKey []byte     `db:"private_key"`
	PublicCert string     `db:"public_cert"`
	CreatedAt  time.Time  `db:"created_at"`
	RetiresAt  *time.Time `db:"retires_at"`
}

// liveKeyring reads the keys not retired at now and returns them as a
// keyring, or nil when there are none. It reuses the last keyring when
// the rows are the same, so that frequent config reloads cost no
// decryption.
func (s *KeyStore) liveKeyring(ctx context.Context, q querier, now time.Time) (*Keyring, error) {
	rows, err := q.Query(ctx, `
		SELECT kid, private_key, public_cert, created_at, retires_at
		FROM signing_keys
		WHERE retires_at IS NULL OR retires_at > $1
		ORDER BY created_at DESC, kid`, now)
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	krs, err := pgx.CollectRows(rows, pgx.RowToStructByName[keyRow])
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
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

// insertKey generates a key created at created, stores it sealed and
// returns its kid.
func (s *KeyStore) insertKey(ctx context.Context, q querier, created time.Time) (string, error) {
	priv, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return "", fmt.Errorf("generate RSA key: %w", err)
	}
	jwk := newPublicJWK(&priv.PublicKey)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("encode private key: %w", err)
	}
	certPEM, err := selfSignedCert(priv, jwk.KID, created)
	if err != nil {
		return "", err
	}
	jwkJSON, err := json.Marshal(jwk)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	box, err := sealed.Seal(s.masterKey, jwk.KID, der)
	if err != nil {
		return "", fmt.Errorf("seal signing key: %w", err)
	}
	_, err = q.Exec(ctx, `
		INSERT INTO signing_keys (kid, private_key, public_jwk, public_cert, created_at)
		VALUES ($1, $2, $3, $4, $5)`,
		jwk.KID, box, jwkJSON, certPEM, created)
	if err != nil {
		return "", fmt.Errorf("insert signing key %s: %w", jwk.KID, err)
	}
	return jwk.KID, nil
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
