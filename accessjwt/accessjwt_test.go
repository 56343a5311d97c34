package accessjwt_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/accessjwt"
)

const (
	aud    = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"
	issuer = "https://auth.example.com"
)

// certsServer is a stand-in for Gatehouse's /cdn-cgi/access/certs that
// counts its fetches and whose keys a test can change.
type certsServer struct {
	*httptest.Server
	fetches atomic.Int32
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	status  int
}

func newCertsServer(t *testing.T, keys ...*signingKey) *certsServer {
	t.Helper()
	s := &certsServer{status: http.StatusOK}
	s.setKeys(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != http.StatusOK {
			http.Error(w, "unavailable", s.status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *certsServer) setKeys(keys ...*signingKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = nil
	for _, k := range keys {
		s.keys = append(s.keys, jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig"})
	}
}

func (s *certsServer) setStatus(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = code
}

type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

func newKey(t *testing.T, kid string) *signingKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &signingKey{kid: kid, priv: priv}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func claimsAt(now time.Time) map[string]any {
	return map[string]any{
		"aud":            []string{aud},
		"email":          "alice@example.com",
		"sub":            "7335d417-61da-459d-899c-0a01c76a2f94",
		"iss":            issuer,
		"iat":            now.Unix(),
		"nbf":            now.Unix(),
		"exp":            now.Add(time.Hour).Unix(),
		"type":           "app",
		"identity_nonce": "6ei69kawdKzMIAPF",
		"country":        "NL",
	}
}

func signWith(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (k *signingKey) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	return signWith(t, jose.RS256, k.priv, k.kid, claims)
}

func TestValidTokenGivesItsClaims(t *testing.T) {
	t.Parallel()
	key := newKey(t, "k1")
	srv := newCertsServer(t, key)
	clk := newClock()
	v := accessjwt.NewVerifier(srv.URL, aud, accessjwt.WithIssuer(issuer), accessjwt.WithClock(clk.Now))

	c, err := v.Verify(context.Background(), key.sign(t, claimsAt(clk.Now())))
	if err != nil {
		t.Fatal(err)
	}
	want := accessjwt.Claims{
		Audience: []string{aud}, Email: "alice@example.com", Subject: "7335d417-61da-459d-899c-0a01c76a2f94",
		Issuer: issuer, Type: "app", Country: "NL", Expiry: clk.Now().Add(time.Hour).UTC(), IssuedAt: clk.Now().UTC(),
	}
	if !slices.Equal(c.Audience, want.Audience) || c.Email != want.Email || c.Subject != want.Subject ||
		c.Issuer != want.Issuer || c.Type != want.Type || c.Country != want.Country ||
		!c.Expiry.Equal(want.Expiry) || !c.IssuedAt.Equal(want.IssuedAt) {
		t.Fatalf("claims\n got %+v\nwant %+v", *c, want)
	}

	service := claimsAt(clk.Now())
	service["sub"], service["common_name"] = "", "88bf3b6d86161464f6509f7219099e57.access"
	delete(service, "email")
	c, err = v.Verify(context.Background(), key.sign(t, service))
	if err != nil || c.CommonName != "88bf3b6d86161464f6509f7219099e57.access" || c.Email != "" {
		t.Fatalf("service token: %+v, %v", c, err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for two tokens signed by one key, want 1", n)
	}
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	key := newKey(t, "k1")
	srv := newCertsServer(t, key)
	clk := newClock()
	now := clk.Now()
	v := accessjwt.NewVerifier(srv.URL, aud, accessjwt.WithIssuer(issuer), accessjwt.WithClock(clk.Now))
	edit := func(f func(map[string]any)) string {
		c := claimsAt(now)
		f(c)
		return key.sign(t, c)
	}
	good := key.sign(t, claimsAt(now))
	parts := strings.Split(good, ".")
	stranger := newKey(t, "k1")

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"wrong audience", edit(func(c map[string]any) { c["aud"] = []string{"another-app"} }), accessjwt.ErrAudience},
		{"expired", edit(func(c map[string]any) { c["exp"] = now.Add(-time.Second).Unix() }), accessjwt.ErrExpired},
		{"not yet valid", edit(func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() }), accessjwt.ErrNotYetValid},
		{"wrong issuer", edit(func(c map[string]any) { c["iss"] = "https://evil.example.com" }), accessjwt.ErrIssuer},
		{"no exp", edit(func(c map[string]any) { delete(c, "exp") }), accessjwt.ErrMalformed},
		{"signed by another key under our kid", stranger.sign(t, claimsAt(now)), accessjwt.ErrSignature},
		{"payload swapped", parts[0] + "." + strings.Split(edit(func(c map[string]any) { c["email"] = "mallory@example.com" }), ".")[1] + "." + parts[2], accessjwt.ErrSignature},
		{"HS256", signWith(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), "k1", claimsAt(now)), accessjwt.ErrMalformed},
		{"alg none", "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ." + parts[1] + ".", accessjwt.ErrMalformed},
		{"garbage", "not-a-token", accessjwt.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tc.token)
			if !errors.Is(err, tc.want) || c != nil {
				t.Fatalf("claims %v, error %v, want %v", c, err, tc.want)
			}
		})
	}
}

func TestUnknownKidTriggersOneRateLimitedRefetch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k1, unknown := newKey(t, "k1"), newKey(t, "k-unknown")
	srv := newCertsServer(t, k1)
	clk := newClock()
	v := accessjwt.NewVerifier(srv.URL, aud, accessjwt.WithClock(clk.Now), accessjwt.WithMinRefreshInterval(time.Minute))
	if _, err := v.Verify(ctx, k1.sign(t, claimsAt(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)

	// Many requests with an unknown kid at once cost one fetch.
	tok := unknown.sign(t, claimsAt(clk.Now()))
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := v.Verify(ctx, tok); !errors.Is(err, accessjwt.ErrUnknownKey) {
				t.Errorf("unknown kid: %v", err)
			}
		})
	}
	wg.Wait()
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the first unknown kids, want 2", n)
	}
	clk.Advance(30 * time.Second)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, accessjwt.ErrUnknownKey) {
		t.Fatalf("unknown kid: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("refetched %d times within the minimum refresh interval", n-2)
	}
	clk.Advance(31 * time.Second)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, accessjwt.ErrUnknownKey) {
		t.Fatalf("unknown kid: %v", err)
	}
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches once the interval passed, want 3", n)
	}
}

func TestKeyRotationIsPickedUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	srv := newCertsServer(t, k1)
	clk := newClock()
	v := accessjwt.NewVerifier(srv.URL, aud, accessjwt.WithClock(clk.Now))
	old := k1.sign(t, claimsAt(clk.Now()))
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}

	// Gatehouse rotates: k2 signs, k1 still verifies for a grace period.
	srv.setKeys(k2, k1)
	clk.Advance(2 * time.Minute)
	if _, err := v.Verify(ctx, k2.sign(t, claimsAt(clk.Now()))); err != nil {
		t.Fatalf("token signed by the new key: %v", err)
	}
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("token signed by the previous key: %v", err)
	}

	// k1 retires; the cached keys are refreshed within the hour.
	srv.setKeys(k2)
	clk.Advance(61 * time.Minute)
	if _, err := v.Verify(ctx, k1.sign(t, claimsAt(clk.Now()))); !errors.Is(err, accessjwt.ErrUnknownKey) {
		t.Fatalf("token signed by the retired key an hour later: %v", err)
	}
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
}

func TestCertsOutageRecovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := newKey(t, "k1")
	srv := newCertsServer(t, key)
	srv.setStatus(http.StatusBadGateway)
	clk := newClock()
	v := accessjwt.NewVerifier(srv.URL, aud, accessjwt.WithClock(clk.Now))
	tok := key.sign(t, claimsAt(clk.Now()))
	_, err := v.Verify(ctx, tok)
	if !errors.Is(err, accessjwt.ErrUnknownKey) || !strings.Contains(err.Error(), "502") {
		t.Fatalf("with the certs endpoint down: %v", err)
	}
	srv.setStatus(http.StatusOK)
	clk.Advance(time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("a second after the certs endpoint came back: %v", err)
	}

	// Once keys are cached, an outage does not stop known keys from working.
	srv.setStatus(http.StatusBadGateway)
	clk.Advance(2 * time.Hour)
	if _, err := v.Verify(ctx, key.sign(t, claimsAt(clk.Now()))); err != nil {
		t.Fatalf("cached key during an outage: %v", err)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	key := newKey(t, "k1")
	certs := newCertsServer(t, key)
	v := accessjwt.NewVerifier(certs.URL, aud, accessjwt.WithIssuer(issuer))

	var reached atomic.Pointer[accessjwt.Claims]
	origin := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := accessjwt.ClaimsFromContext(r.Context())
		if !ok {
			t.Error("no claims in the request context")
			return
		}
		reached.Store(c)
		_, _ = io.WriteString(w, "hello "+c.Email)
	})))
	defer origin.Close()

	get := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, origin.URL, nil)
		if token != "" {
			req.Header.Set(accessjwt.HeaderName, token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	expired := claimsAt(time.Now().Add(-2 * time.Hour))
	for name, token := range map[string]string{
		"no header":      "",
		"expired token":  key.sign(t, expired),
		"garbage header": "abc.def.ghi",
	} {
		code, body := get(token)
		if code != http.StatusForbidden || !strings.Contains(body, accessjwt.HeaderName) || len(body) > 200 {
			t.Errorf("%s: %d %q, want 403 with a short text", name, code, body)
		}
		if reached.Load() != nil {
			t.Fatalf("%s reached the origin", name)
		}
	}

	code, body := get(key.sign(t, claimsAt(time.Now())))
	if code != http.StatusOK || body != "hello alice@example.com" {
		t.Fatalf("valid token: %d %q", code, body)
	}
	if c := reached.Load(); c == nil || c.Email != "alice@example.com" {
		t.Fatalf("origin saw claims %+v", c)
	}
}

func TestEmptyAudienceMatchesNothing(t *testing.T) {
	t.Parallel()
	key := newKey(t, "k1")
	v := accessjwt.NewVerifier(newCertsServer(t, key).URL, "")
	if _, err := v.Verify(context.Background(), key.sign(t, claimsAt(time.Now()))); !errors.Is(err, accessjwt.ErrAudience) {
		t.Fatalf("verifier without audience: %v", err)
	}
}
