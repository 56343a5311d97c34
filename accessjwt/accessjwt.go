// Package accessjwt lets an origin server behind Gatehouse (or Cloudflare
// Access) check that a request really came through it, by verifying the
// app token in the Cf-Access-Jwt-Assertion header against the public keys
// published at the team domain's /cdn-cgi/access/certs.
//
// Wrap the origin's handler with a Verifier's middleware:
//
//	v := accessjwt.NewVerifier(
//		"https://auth.example.com/cdn-cgi/access/certs",
//		"4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2", // the app's aud tag
//		accessjwt.WithIssuer("https://auth.example.com"),
//	)
//	http.Handle("/", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//		claims, _ := accessjwt.ClaimsFromContext(r.Context())
//		fmt.Fprintf(w, "hello, %s\n", claims.Email)
//	})))
//
// The keys are fetched on first use and cached for up to an hour (longer
// while the certs endpoint is unreachable). A token signed by a key the
// cache does not know triggers a refetch, at most one per minimum refresh
// interval, so key rotation needs no restart.
package accessjwt

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// HeaderName is the request header in which Gatehouse sends the app token
// to the origin.
const HeaderName = "Cf-Access-Jwt-Assertion"

const (
	// DefaultMinRefreshInterval is the least time between two fetches of
	// the keys.
	DefaultMinRefreshInterval = time.Minute
	// maxKeySetAge is how long fetched keys are used before the next
	// verification refetches them, so that a retired key stops being
	// accepted. If the refetch fails the old keys stay in use.
	maxKeySetAge = time.Hour
	// clockSkew is how far ahead of our clock "nbf" and "iat" may be.
	clockSkew      = 30 * time.Second
	maxTokenLen    = 16 << 10
	maxCertsBody   = 1 << 20
	minRSAKeyBits  = 2048
	defaultTimeout = 10 * time.Second
)

// Verification failures; every error from Verify wraps one of them.
var (
	ErrMalformed   = errors.New("accessjwt: malformed token")
	ErrUnknownKey  = errors.New("accessjwt: token signed by an unknown key")
	ErrSignature   = errors.New("accessjwt: bad token signature")
	ErrExpired     = errors.New("accessjwt: token expired")
	ErrNotYetValid = errors.New("accessjwt: token not yet valid")
	ErrAudience    = errors.New("accessjwt: token is for another application")
	ErrIssuer      = errors.New("accessjwt: token from another issuer")
)

// Claims are the verified claims of an app token.
type Claims struct {
	Audience   []string  // "aud": aud tags of the applications the token is for
	Email      string    // "email"; empty for service tokens
	Subject    string    // "sub": the user id; empty for service tokens
	Issuer     string    // "iss": the team domain URL
	Type       string    // "type": "app"
	Country    string    // "country"
	CommonName string    // "common_name": a service token's client id
	Expiry     time.Time // "exp"
	IssuedAt   time.Time // "iat"
}

// Verifier verifies app tokens for one application. It is safe for
// concurrent use.
type Verifier struct {
	certsURL   string
	audience   string
	issuer     string
	client     *http.Client
	now        func() time.Time
	minRefresh time.Duration

	keys atomic.Pointer[keySet]

	// fetching is held while the keys are fetched, so that concurrent
	// misses share one fetch; it is a channel so that waiting honours ctx.
	fetching    chan struct{}
	mu          sync.Mutex // guards lastAttempt and lastErr
	lastAttempt time.Time
	lastErr     error
}

type keySet struct {
	byKID     map[string]*rsa.PublicKey
	fetchedAt time.Time
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithHTTPClient sets the client that fetches the keys (by default one
// with a 10 second timeout).
func WithHTTPClient(c *http.Client) Option { return func(v *Verifier) { v.client = c } }

// WithIssuer requires the "iss" claim to equal issuer, the team domain URL
// (e.g. "https://auth.example.com").
func WithIssuer(issuer string) Option { return func(v *Verifier) { v.issuer = issuer } }

// WithClock makes the verifier read "now" from clock instead of time.Now.
func WithClock(clock func() time.Time) Option { return func(v *Verifier) { v.now = clock } }

// WithMinRefreshInterval sets the least time between two fetches of the
// keys (DefaultMinRefreshInterval unless set).
func WithMinRefreshInterval(d time.Duration) Option {
	return func(v *Verifier) { v.minRefresh = d }
}

// NewVerifier returns a verifier for tokens whose "aud" includes audience
// (the application's aud tag), with keys from certsURL, the team domain's
// https://<team domain>/cdn-cgi/access/certs. An empty audience matches
// no token.
func NewVerifier(certsURL, audience string, opts ...Option) *Verifier {
	v := &Verifier{
		certsURL:   certsURL,
		audience:   audience,
		client:     &http.Client{Timeout: defaultTimeout},
		now:        time.Now,
		minRefresh: DefaultMinRefreshInterval,
		fetching:   make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(v)
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: defaultTimeout}
	}
	return v
}

// wireClaims is the token payload; "aud" may be a string or an array.
type wireClaims struct {
	Audience   jwt.Audience     `json:"aud"`
	Email      string           `json:"email"`
	Subject    string           `json:"sub"`
	Issuer     string           `json:"iss"`
	Type       string           `json:"type"`
	Country    string           `json:"country"`
	CommonName string           `json:"common_name"`
	Expiry     *jwt.NumericDate `json:"exp"`
	NotBefore  *jwt.NumericDate `json:"nbf"`
	IssuedAt   *jwt.NumericDate `json:"iat"`
}

// Verify checks token (the Cf-Access-Jwt-Assertion header's value) and
// returns its claims. The token must be signed RS256 by a published key,
// unexpired ("exp" without leeway; "nbf" and "iat" may be 30 seconds
// ahead), for the verifier's audience and, if one was set, its issuer.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > maxTokenLen {
		return nil, fmt.Errorf("%w: %d bytes long", ErrMalformed, len(token))
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%w: %d signatures", ErrMalformed, len(tok.Headers))
	}
	key, err := v.key(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return nil, err
	}
	var w wireClaims
	if err := tok.Claims(key, &w); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return nil, ErrSignature
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.Expiry == nil {
		return nil, fmt.Errorf("%w: no exp claim", ErrMalformed)
	}
	now := v.now()
	c := &Claims{
		Audience:   w.Audience,
		Email:      w.Email,
		Subject:    w.Subject,
		Issuer:     w.Issuer,
		Type:       w.Type,
		Country:    w.Country,
		CommonName: w.CommonName,
		Expiry:     w.Expiry.Time().UTC(),
	}
	if w.IssuedAt != nil {
		c.IssuedAt = w.IssuedAt.Time().UTC()
	}
	switch {
	case !now.Before(c.Expiry):
		return nil, fmt.Errorf("%w at %s", ErrExpired, c.Expiry.Format(time.RFC3339))
	case w.NotBefore != nil && now.Add(clockSkew).Before(w.NotBefore.Time()):
		return nil, fmt.Errorf("%w before %s", ErrNotYetValid, w.NotBefore.Time().UTC().Format(time.RFC3339))
	case w.IssuedAt != nil && now.Add(clockSkew).Before(c.IssuedAt):
		return nil, fmt.Errorf("%w: issued in the future", ErrNotYetValid)
	case v.audience == "" || !slices.Contains(c.Audience, v.audience):
		return nil, fmt.Errorf("%w: want %q", ErrAudience, v.audience)
	case v.issuer != "" && c.Issuer != v.issuer:
		return nil, fmt.Errorf("%w: want %q, token has %q", ErrIssuer, v.issuer, c.Issuer)
	}
	return c, nil
}

// key returns the public key named kid, fetching the keys when kid is
// unknown or the cached keys are old.
func (v *Verifier) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if set := v.keys.Load(); set != nil {
		if k := set.byKID[kid]; k != nil && v.now().Sub(set.fetchedAt) < maxKeySetAge {
			return k, nil
		}
	}
	set, err := v.refresh(ctx)
	if set != nil {
		if k := set.byKID[kid]; k != nil {
			return k, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: kid %q (fetching keys: %v)", ErrUnknownKey, kid, err)
	}
	return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
}

// refresh fetches the keys unless a fetch was attempted within the
// minimum refresh interval, and returns the newest keys it has (nil if
// none were ever fetched) with the error of the latest attempt.
func (v *Verifier) refresh(ctx context.Context) (*keySet, error) {
	if set, limited, err := v.rateLimited(); limited {
		return set, err
	}
	select {
	case v.fetching <- struct{}{}:
	case <-ctx.Done():
		return v.keys.Load(), ctx.Err()
	}
	defer func() { <-v.fetching }()
	// Another caller may have fetched while this one waited.
	set, limited, err := v.rateLimited()
	if limited {
		return set, err
	}

	now := v.now()
	fetched, err := v.fetch(ctx)
	if err != nil && ctx.Err() != nil {
		// The caller gave up; that says nothing about the certs endpoint,
		// so it does not count as an attempt.
		return set, err
	}
	v.mu.Lock()
	v.lastAttempt, v.lastErr = now, err
	v.mu.Unlock()
	if err != nil {
		return set, err
	}
	fetched.fetchedAt = now
	v.keys.Store(fetched)
	return fetched, nil
}

// rateLimited reports whether a fetch was attempted too recently for
// another, with the keys at hand and the error of that attempt.
func (v *Verifier) rateLimited() (*keySet, bool, error) {
	set := v.keys.Load()
	wait := v.minRefresh
	if set == nil {
		// Until a first fetch succeeds, retry sooner: the origin may have
		// started before Gatehouse.
		wait = min(wait, time.Second)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.lastAttempt.IsZero() || v.now().Sub(v.lastAttempt) >= wait {
		return set, false, nil
	}
	return set, true, v.lastErr
}

type rawJWK struct {
	KTY string `json:"kty"`
	KID string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// fetch reads the RS256 signing keys from the certs URL; other keys are
// ignored.
func (v *Verifier) fetch(ctx context.Context) (*keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.certsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("accessjwt: certs request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("accessjwt: fetch certs: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("accessjwt: fetch certs from %s: status %s", v.certsURL, resp.Status)
	}
	var doc struct {
		Keys []rawJWK `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxCertsBody)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("accessjwt: decode certs from %s: %w", v.certsURL, err)
	}
	set := &keySet{byKID: make(map[string]*rsa.PublicKey, len(doc.Keys))}
	for _, k := range doc.Keys {
		if k.KTY != "RSA" || k.KID == "" || (k.Alg != "" && k.Alg != string(jose.RS256)) || (k.Use != "" && k.Use != "sig") {
			continue
		}
		pub, err := rsaPublicKey(k.N, k.E)
		if err != nil {
			return nil, fmt.Errorf("accessjwt: certs from %s: key %q: %w", v.certsURL, k.KID, err)
		}
		if _, dup := set.byKID[k.KID]; !dup {
			set.byKID[k.KID] = pub
		}
	}
	if len(set.byKID) == 0 {
		return nil, fmt.Errorf("accessjwt: certs from %s: no RS256 signing keys", v.certsURL)
	}
	return set, nil
}

func rsaPublicKey(n, e string) (*rsa.PublicKey, error) {
	nb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(n, "="))
	if err != nil {
		return nil, fmt.Errorf("modulus: %w", err)
	}
	eb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(e, "="))
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb)}
	if bits := pub.N.BitLen(); bits < minRSAKeyBits {
		return nil, fmt.Errorf("%d-bit modulus, want at least %d", bits, minRSAKeyBits)
	}
	exp := new(big.Int).SetBytes(eb)
	if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31-1 || exp.Bit(0) == 0 {
		return nil, errors.New("unusable exponent")
	}
	pub.E = int(exp.Int64())
	return pub, nil
}

type claimsKey struct{}

// Middleware passes a request to next only if its Cf-Access-Jwt-Assertion
// header verifies, with the claims in its context (see ClaimsFromContext);
// any other request gets 403 with a short text body.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get(HeaderName)
		if token == "" {
			http.Error(w, "Forbidden: no "+HeaderName+" header", http.StatusForbidden)
			return
		}
		c, err := v.Verify(r.Context(), token)
		if err != nil {
			http.Error(w, "Forbidden: invalid "+HeaderName+" header", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

// ClaimsFromContext returns the claims that Middleware verified.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}
