package session

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

const (
	// clockSkew is how far ahead of our clock a token's "nbf" and "iat"
	// may be, for edges whose clocks differ slightly. "exp" gets no leeway.
	clockSkew = 30 * time.Second
	// maxTokenLen bounds the work done on a token before its signature is
	// checked; real app tokens are well under 2 KiB.
	maxTokenLen = 16 << 10
)

var rs256Only = []jose.SignatureAlgorithm{jose.RS256}

// Keyring is an immutable set of keys: one current signing key and every
// key still valid for verification. It is safe for concurrent use.
type Keyring struct {
	keys       []*signingKey // current first, then newest to oldest
	byKID      map[string]*signingKey
	signer     jose.Signer // the current key's
	certs      []byte
	generation string
}

// signingKey is one RSA key of the keyring.
type signingKey struct {
	kid       string
	private   *rsa.PrivateKey
	jwk       publicJWK
	certPEM   string
	createdAt time.Time
	retiresAt time.Time // zero while the key has no successor
}

// publicJWK is the public half of a key as the certs endpoint publishes it.
// It has no room for private members by construction.
type publicJWK struct {
	KID string `json:"kid"`
	KTY string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	E   string `json:"e"`
	N   string `json:"n"`
}

type publicCert struct {
	KID  string `json:"kid"`
	Cert string `json:"cert"`
}

type certsDocument struct {
	Keys        []publicJWK  `json:"keys"`
	PublicCert  publicCert   `json:"public_cert"`
	PublicCerts []publicCert `json:"public_certs"`
}

func newPublicJWK(pub *rsa.PublicKey) publicJWK {
	j := publicJWK{
		KTY: "RSA",
		Alg: string(jose.RS256),
		Use: "sig",
		E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		N:   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
	}
	// The kid is the key's RFC 7638 thumbprint, so it names exactly one key.
	sum := sha256.Sum256([]byte(`{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`))
	j.KID = hex.EncodeToString(sum[:])
	return j
}

// newKeyring builds a keyring from keys in any order; the newest key (by
// created_at, then kid) is current.
func newKeyring(keys []*signingKey) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("session: empty keyring")
	}
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b *signingKey) int {
		if c := b.createdAt.Compare(a.createdAt); c != 0 {
			return c
		}
		return strings.Compare(a.kid, b.kid)
	})
	cur := keys[0]
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: cur.private, KeyID: cur.kid}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("session: signer for key %s: %w", cur.kid, err)
	}
	k := &Keyring{
		keys:       keys,
		byKID:      make(map[string]*signingKey, len(keys)),
		signer:     signer,
		generation: generation(keys),
	}
	doc := certsDocument{PublicCert: publicCert{KID: cur.kid, Cert: cur.certPEM}}
	for _, key := range keys {
		k.byKID[key.kid] = key
		doc.Keys = append(doc.Keys, key.jwk)
		doc.PublicCerts = append(doc.PublicCerts, publicCert{KID: key.kid, Cert: key.certPEM})
	}
	if k.certs, err = json.Marshal(doc); err != nil {
		return nil, fmt.Errorf("session: encode certs: %w", err)
	}
	return k, nil
}

// generation identifies a key set: the kids in order with their
// retirement times. It is the same for the same rows however often they
// are loaded.
func generation(keys []*signingKey) string {
	h := sha256.New()
	for _, k := range keys {
		retires := int64(0)
		if !k.retiresAt.IsZero() {
			retires = k.retiresAt.UnixMicro()
		}
		fmt.Fprintf(h, "%s %d\n", k.kid, retires)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// CurrentKID is the kid of the key that signs new tokens.
func (k *Keyring) CurrentKID() string { return k.keys[0].kid }

// Generation changes whenever the key set changes (a key added, retired
// or removed), so that callers can cache verification results per keyring.
func (k *Keyring) Generation() string { return k.generation }

// NextRetirement is when the next key of this keyring retires (zero if
// none is scheduled). From then on Verify refuses that key's tokens, but
// Generation only changes once the keyring is loaded again, so callers
// that cache verifications per generation should reload at that time.
func (k *Keyring) NextRetirement() time.Time {
	var next time.Time
	for _, key := range k.keys {
		if !key.retiresAt.IsZero() && (next.IsZero() || key.retiresAt.Before(next)) {
			next = key.retiresAt
		}
	}
	return next
}

// CertsJSON is the body of /cdn-cgi/access/certs: the public keys as JWKs
// and as self-signed certificates, current key first. It never contains
// private key material.
func (k *Keyring) CertsJSON() []byte { return bytes.Clone(k.certs) }

// Sign issues an app token signed with the current key. Type defaults to
// "app" and TokenID to a fresh UUID. Claims without an audience or expiry
// are refused: no token should be valid everywhere or forever.
func (k *Keyring) Sign(c Claims) (string, error) {
	if len(c.Audience) == 0 {
		return "", errors.New("session: sign: no audience")
	}
	if c.Expiry.IsZero() {
		return "", errors.New("session: sign: no expiry")
	}
	if c.Type == "" {
		c.Type = TypeApp
	}
	if c.TokenID == "" {
		c.TokenID = uuid.NewString()
	}
	payload, err := json.Marshal(toWire(c))
	if err != nil {
		return "", fmt.Errorf("session: sign: encode claims: %w", err)
	}
	jws, err := k.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("session: sign with key %s: %w", k.keys[0].kid, err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("session: sign: serialize: %w", err)
	}
	return token, nil
}

// Verify checks an app token at time now and returns its claims. It
// accepts only RS256 signatures by a key of this keyring that has not
// retired by now; "exp" must be after now (no leeway), "nbf" and "iat"
// may be up to 30 seconds ahead; audience must be one of "aud" (an empty
// audience matches nothing); "iss" must equal issuer unless issuer is
// empty.
//
// Every error wraps one of ErrMalformed, ErrUnknownKey, ErrSignature,
// ErrExpired, ErrNotYetValid, ErrAudience or ErrIssuer. For the last four
// the signature was good, and the claims are returned with the error so
// that the caller can log them or offer a fresh login; they grant nothing.
func (k *Keyring) Verify(token, audience, issuer string, now time.Time) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: %d bytes long", ErrMalformed, len(token))
	}
	tok, err := jwt.ParseSigned(token, rs256Only)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(tok.Headers) != 1 {
		return Claims{}, fmt.Errorf("%w: %d signatures", ErrMalformed, len(tok.Headers))
	}
	kid := tok.Headers[0].KeyID
	key := k.byKID[kid]
	if key == nil {
		return Claims{}, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
	}
	if !key.retiresAt.IsZero() && !now.Before(key.retiresAt) {
		return Claims{}, fmt.Errorf("%w: key %s retired at %s", ErrUnknownKey, kid, key.retiresAt.Format(time.RFC3339))
	}
	var w wireClaims
	if err := tok.Claims(&key.private.PublicKey, &w); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return Claims{}, ErrSignature
		}
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.Expiry == nil {
		return Claims{}, fmt.Errorf("%w: no exp claim", ErrMalformed)
	}
	if w.IssuedAtNanos < 0 || w.IssuedAtNanos >= int64(time.Second) {
		return Claims{}, fmt.Errorf("%w: iat_ns %d is not below a second", ErrMalformed, w.IssuedAtNanos)
	}
	c := w.claims()
	return c, checkClaims(c, audience, issuer, now)
}

// VerifyAnyAudience is Verify for a caller that serves every audience and
// reads it from the token (a logout, which ends sessions of any account).
func (k *Keyring) VerifyAnyAudience(token, issuer string, now time.Time) (Claims, error) {
	c, err := k.Verify(token, "", issuer, now)
	if errors.Is(err, ErrAudience) {
		// The empty audience matches none, so every good token lands
		// here, before the issuer was checked.
		if issuer != "" && c.Issuer != issuer {
			return Claims{}, fmt.Errorf("%w: want %q, token has %q", ErrIssuer, issuer, c.Issuer)
		}
		return c, nil
	}
	if err == nil {
		err = fmt.Errorf("%w: matched the empty audience", ErrMalformed)
	}
	return Claims{}, err
}

func checkClaims(c Claims, audience, issuer string, now time.Time) error {
	if !now.Before(c.Expiry) {
		return fmt.Errorf("%w at %s", ErrExpired, c.Expiry.Format(time.RFC3339))
	}
	if !c.NotBefore.IsZero() && now.Add(clockSkew).Before(c.NotBefore) {
		return fmt.Errorf("%w before %s", ErrNotYetValid, c.NotBefore.Format(time.RFC3339))
	}
	if !c.IssuedAt.IsZero() && now.Add(clockSkew).Before(c.IssuedAt) {
		return fmt.Errorf("%w: issued in the future, at %s", ErrNotYetValid, c.IssuedAt.Format(time.RFC3339))
	}
	if audience == "" || !slices.Contains(c.Audience, audience) {
		return fmt.Errorf("%w: want %s, token has %s", ErrAudience, strconv.Quote(audience), quoteAll(c.Audience))
	}
	if issuer != "" && c.Issuer != issuer {
		return fmt.Errorf("%w: want %q, token has %q", ErrIssuer, issuer, c.Issuer)
	}
	return nil
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, " ") + "]"
}
