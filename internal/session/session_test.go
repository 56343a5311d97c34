package session_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/accessjwt"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestMain(m *testing.M) { gatehousetest.Main(m) }

const (
	testAud    = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"
	testIssuer = "https://auth.example.com"
)

var testMasterKey = mustMasterKey(session.GenerateMasterKey())

func mustMasterKey(s string) []byte {
	k, err := session.ParseMasterKey(s)
	if err != nil {
		panic(err)
	}
	return k
}

// sharedPool opens a pool on the package's database, whose keyring is
// only ever loaded, never rotated.
func sharedPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	return openPool(tb, gatehousetest.DatabaseURL(tb))
}

// freshPool opens a pool on a new migrated database of its own, with an
// empty signing_keys table.
func freshPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	url := gatehousetest.NewDatabase(tb)
	if err := store.MigrateUp(url); err != nil {
		tb.Fatal(err)
	}
	return openPool(tb, url)
}

func openPool(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// storeOn opens a store (with a pool of its own) on pool's database.
func storeOn(tb testing.TB, pool *pgxpool.Pool) *store.Store {
	tb.Helper()
	st, err := store.Open(context.Background(), pool.Config().ConnString())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	return st
}

func sharedKeyring(tb testing.TB) *session.Keyring {
	tb.Helper()
	ring, err := session.NewKeyStore(storeOn(tb, sharedPool(tb)), testMasterKey).Load(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return ring
}

// clock is a settable clock for key stores.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func userClaims(now time.Time) session.Claims {
	return session.Claims{
		Audience:      []string{testAud},
		Email:         "alice@example.com",
		Subject:       "7335d417-61da-459d-899c-0a01c76a2f94",
		Issuer:        testIssuer,
		IssuedAt:      now,
		NotBefore:     now,
		Expiry:        now.Add(24 * time.Hour),
		IdentityNonce: "6ei69kawdKzMIAPF",
		Country:       "NL",
		LoginMethod:   "f174e90a-fafe-4643-bbbc-4a0ed4fc8415",
	}
}

func sign(tb testing.TB, ring *session.Keyring, c session.Claims) string {
	tb.Helper()
	tok, err := ring.Sign(c)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func TestSignedTokenVerifiesWithEveryClaim(t *testing.T) {
	t.Parallel()
	ring := sharedKeyring(t)
	now := time.Now().Truncate(time.Second).UTC()
	want := userClaims(now)
	tok := sign(t, ring, want)

	got, err := ring.Verify(tok, testAud, testIssuer, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != "app" || got.TokenID == "" {
		t.Fatalf("type %q, jti %q: Sign must fill both", got.Type, got.TokenID)
	}
	want.Type, want.TokenID = got.Type, got.TokenID
	if !claimsEqual(got, want) {
		t.Fatalf("claims changed on the way:\n got %+v\nwant %+v", got, want)
	}
	if other := sign(t, ring, userClaims(now)); other == tok {
		t.Fatal("two tokens with the same claims are identical: jti is not unique")
	}

	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	h := parsed.Headers[0]
	if h.KeyID != ring.CurrentKID() || h.Algorithm != "RS256" || h.ExtraHeaders["typ"] != "JWT" {
		t.Fatalf("header kid=%q alg=%q typ=%v, want kid %q RS256 JWT", h.KeyID, h.Algorithm, h.ExtraHeaders["typ"], ring.CurrentKID())
	}
	var raw map[string]any
	if err := parsed.UnsafeClaimsWithoutVerification(&raw); err != nil {
		t.Fatal(err)
	}
	if _, isArray := raw["aud"].([]any); !isArray {
		t.Fatalf(`"aud" is %T, want an array as Cloudflare sends`, raw["aud"])
	}
	for _, name := range []string{"aud", "email", "sub", "iss", "iat", "nbf", "exp", "type", "identity_nonce", "country", "idp", "jti"} {
		if _, ok := raw[name]; !ok {
			t.Errorf("claim %q missing from %v", name, raw)
		}
	}
}

func TestServiceTokenClaimsHaveEmptySubjectAndNoEmail(t *testing.T) {
	t.Parallel()
	ring := sharedKeyring(t)
	now := time.Now()
	tok := sign(t, ring, session.Claims{
		Audience: []string{testAud}, Issuer: testIssuer, IssuedAt: now, Expiry: now.Add(time.Hour),
		CommonName: "88bf3b6d86161464f6509f7219099e57.access",
	})
	parsed, _ := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	var raw map[string]any
	if err := parsed.UnsafeClaimsWithoutVerification(&raw); err != nil {
		t.Fatal(err)
	}
	if sub, ok := raw["sub"]; !ok || sub != "" {
		t.Fatalf(`"sub" = %v (present %v), want "" as Cloudflare sends`, sub, ok)
	}
	if _, ok := raw["email"]; ok {
		t.Fatalf(`service token has "email": %v`, raw)
	}
	c, err := ring.Verify(tok, testAud, testIssuer, now)
	if err != nil || c.CommonName != "88bf3b6d86161464f6509f7219099e57.access" {
		t.Fatalf("claims %+v, err %v", c, err)
	}
}

func TestSignRefusesTokensWithoutAudienceOrExpiry(t *testing.T) {
	t.Parallel()
	ring := sharedKeyring(t)
	c := userClaims(time.Now())
	c.Audience = nil
	if _, err := ring.Sign(c); err == nil {
		t.Error("signed a token without audience")
	}
	c = userClaims(time.Now())
	c.Expiry = time.Time{}
	if _, err := ring.Sign(c); err == nil {
		t.Error("signed a token without expiry")
	}
}

func claimsEqual(a, b session.Claims) bool {
	return slices.Equal(a.Audience, b.Audience) && a.Email == b.Email && a.Subject == b.Subject &&
		a.Issuer == b.Issuer && a.IssuedAt.Equal(b.IssuedAt) && a.NotBefore.Equal(b.NotBefore) &&
		a.Expiry.Equal(b.Expiry) && a.Type == b.Type && a.IdentityNonce == b.IdentityNonce &&
		a.Country == b.Country && a.CommonName == b.CommonName && a.LoginMethod == b.LoginMethod &&
		a.TokenID == b.TokenID && a.SessionID == b.SessionID && a.ServiceTokenBinding == b.ServiceTokenBinding &&
		reflect.DeepEqual(a.Custom, b.Custom)
}

// The issue time survives below the second ("iat" stays whole seconds, as
// origins expect), and so do the session id, service token binding and
// the kept identity-provider claims ("custom").
func TestIssueTimeSessionIDAndBindingRoundTrip(t *testing.T) {
	t.Parallel()
	ring := sharedKeyring(t)
	now := time.Now().Truncate(time.Second).Add(123456789 * time.Nanosecond).UTC()
	want := userClaims(now)
	want.SessionID, want.ServiceTokenBinding = "sid-1", "binding-1"
	want.Custom = map[string][]string{"groups": {"eng", "ops"}, "dept": {}}
	tok := sign(t, ring, want)
	got, err := ring.Verify(tok, testAud, testIssuer, now)
	if err != nil {
		t.Fatal(err)
	}
	want.Type, want.TokenID = got.Type, got.TokenID
	want.NotBefore, want.Expiry = want.NotBefore.Truncate(time.Second), want.Expiry.Truncate(time.Second) // whole seconds
	if !claimsEqual(got, want) {
		t.Fatalf("claims changed on the way:\n got %+v\nwant %+v", got, want)
	}
	parsed, _ := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	var raw map[string]any
	if err := parsed.UnsafeClaimsWithoutVerification(&raw); err != nil {
		t.Fatal(err)
	}
	if custom, _ := json.Marshal(raw["custom"]); string(custom) != `{"dept":[],"groups":["eng","ops"]}` {
		t.Errorf("custom %s", custom)
	}
	if raw["iat"] != float64(now.Unix()) || raw["iat_ns"] != float64(123456789) || raw["sid"] != "sid-1" {
		t.Errorf("iat %v iat_ns %v sid %v", raw["iat"], raw["iat_ns"], raw["sid"])
	}
	// VerifyAnyAudience reads the audience from the token, and still
	// checks the issuer.
	if c, err := ring.VerifyAnyAudience(tok, testIssuer, now); err != nil || c.SessionID != "sid-1" {
		t.Errorf("VerifyAnyAudience: %+v %v", c, err)
	}
	if _, err := ring.VerifyAnyAudience(tok, "https://other.example", now); !errors.Is(err, session.ErrIssuer) {
		t.Errorf("VerifyAnyAudience with another issuer: %v", err)
	}
}

// forge signs an arbitrary payload, for tokens that Sign would never make.
func forge(tb testing.TB, alg jose.SignatureAlgorithm, key any, kid string, payload any) string {
	tb.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(payload).Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerify(t *testing.T) {
	t.Parallel()
	ring := sharedKeyring(t)
	priv := ring.CurrentPrivateKey()
	kid := ring.CurrentKID()
	now := time.Now().Truncate(time.Second)
	good := sign(t, ring, userClaims(now))
	parts := strings.Split(good, ".")

	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(*session.Claims)) string {
		c := userClaims(now)
		edit(&c)
		return sign(t, ring, c)
	}
	payload := func(edit func(map[string]any)) map[string]any {
		p := map[string]any{"aud": []string{testAud}, "iss": testIssuer, "exp": now.Add(time.Hour).Unix(), "email": "alice@example.com", "type": "app"}
		if edit != nil {
			edit(p)
		}
		return p
	}
	// A changed character in the middle changes signature bytes (at the
	// end it might only change padding bits).
	tamperedSig := []byte(parts[2])
	if mid := len(tamperedSig) / 2; tamperedSig[mid] == 'A' {
		tamperedSig[mid] = 'B'
	} else {
		tamperedSig[mid] = 'A'
	}
	claimsJSON, _ := base64.RawURLEncoding.DecodeString(parts[1])
	otherPayload := b64(strings.Replace(string(claimsJSON), "alice@", "mallory@", 1))

	tests := []struct {
		name     string
		token    string
		audience string
		issuer   string
		now      time.Time
		want     error
	}{
		{name: "ok/user token", token: good},
		{name: "ok/issuer not checked when empty", token: with(func(c *session.Claims) { c.Issuer = "https://other.example.com" }), issuer: "-"},
		{name: "ok/one of several audiences", token: with(func(c *session.Claims) { c.Audience = []string{"other", testAud} })},
		{name: "ok/aud as a single string", token: forge(t, jose.RS256, priv, kid, payload(func(p map[string]any) { p["aud"] = testAud }))},
		{name: "ok/nbf within clock skew", token: with(func(c *session.Claims) { c.NotBefore = now.Add(20 * time.Second) })},
		{name: "ok/one second before expiry", token: good, now: now.Add(24*time.Hour - time.Second)},

		{name: "fail/tampered signature", token: parts[0] + "." + parts[1] + "." + string(tamperedSig), want: session.ErrSignature},
		{name: "fail/tampered payload", token: parts[0] + "." + otherPayload + "." + parts[2], want: session.ErrSignature},
		{name: "fail/other key claiming our kid", token: forge(t, jose.RS256, stranger, kid, payload(nil)), want: session.ErrSignature},
		{name: "fail/unknown kid", token: forge(t, jose.RS256, stranger, "not-ours", payload(nil)), want: session.ErrUnknownKey},
		{name: "fail/no kid", token: forge(t, jose.RS256, priv, "", payload(nil)), want: session.ErrUnknownKey},
		{name: "fail/expired", token: good, now: now.Add(25 * time.Hour), want: session.ErrExpired},
		{name: "fail/expired exactly at exp", token: good, now: now.Add(24 * time.Hour), want: session.ErrExpired},
		{name: "fail/nbf in the future", token: with(func(c *session.Claims) { c.NotBefore = now.Add(time.Minute) }), want: session.ErrNotYetValid},
		{name: "fail/iat in the future", token: with(func(c *session.Claims) { c.IssuedAt = now.Add(time.Minute) }), want: session.ErrNotYetValid},
		{name: "fail/wrong audience", token: good, audience: "another-app", want: session.ErrAudience},
		{name: "fail/empty audience matches nothing", token: good, audience: "-", want: session.ErrAudience},
		{name: "fail/wrong issuer", token: good, issuer: "https://evil.example.com", want: session.ErrIssuer},
		{name: "fail/no exp", token: forge(t, jose.RS256, priv, kid, payload(func(p map[string]any) { delete(p, "exp") })), want: session.ErrMalformed},
		{name: "fail/iat_ns of a second", token: forge(t, jose.RS256, priv, kid, payload(func(p map[string]any) { p["iat"] = now.Unix(); p["iat_ns"] = int64(time.Second) })), want: session.ErrMalformed},
		{name: "fail/negative iat_ns", token: forge(t, jose.RS256, priv, kid, payload(func(p map[string]any) { p["iat"] = now.Unix(); p["iat_ns"] = -1 })), want: session.ErrMalformed},
		{name: "fail/alg none", token: b64(`{"alg":"none","kid":"`+kid+`"}`) + "." + parts[1] + ".", want: session.ErrMalformed},
		{name: "fail/HS256 keyed with our public key", token: forge(t, jose.HS256, x509.MarshalPKCS1PublicKey(&priv.PublicKey), kid, payload(nil)), want: session.ErrMalformed},
		{name: "fail/PS256 by our own key", token: forge(t, jose.PS256, priv, kid, payload(nil)), want: session.ErrMalformed},
		{name: "fail/empty", token: "", want: session.ErrMalformed},
		{name: "fail/garbage", token: "not a jwt", want: session.ErrMalformed},
		{name: "fail/three empty parts", token: "..", want: session.ErrMalformed},
		{name: "fail/payload not JSON", token: forgeRaw(t, priv, kid, "hello"), want: session.ErrMalformed},
		{name: "fail/huge", token: parts[0] + "." + strings.Repeat("A", 20000) + "." + parts[2], want: session.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			aud, iss, at := testAud, testIssuer, now
			if tc.audience == "-" {
				aud = ""
			} else if tc.audience != "" {
				aud = tc.audience
			}
			if tc.issuer == "-" {
				iss = ""
			} else if tc.issuer != "" {
				iss = tc.issuer
			}
			if !tc.now.IsZero() {
				at = tc.now
			}
			c, err := ring.Verify(tc.token, aud, iss, at)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !slices.Contains(c.Audience, testAud) {
					t.Fatalf("claims %+v", c)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			for _, other := range verifyErrors {
				if other != tc.want && errors.Is(err, other) {
					t.Fatalf("error %v is also %v", err, other)
				}
			}
		})
	}
}

var verifyErrors = []error{session.ErrMalformed, session.ErrUnknownKey, session.ErrSignature,
	session.ErrExpired, session.ErrNotYetValid, session.ErrAudience, session.ErrIssuer}

func forgeRaw(tb testing.TB, priv *rsa.PrivateKey, kid, payload string) string {
	tb.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: kid}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	jws, err := s.Sign([]byte(payload))
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func TestExpiredTokenStillReportsWhoItWasFor(t *testing.T) {
	t.Parallel()
	ring := sharedKeyring(t)
	now := time.Now()
	c, err := ring.Verify(sign(t, ring, userClaims(now)), testAud, testIssuer, now.Add(48*time.Hour))
	if !errors.Is(err, session.ErrExpired) || c.Email != "alice@example.com" || c.LoginMethod == "" {
		t.Fatalf("claims %+v, err %v", c, err)
	}
}

func TestCertsJSONPublishesOnlyPublicKeys(t *testing.T) {
	t.Parallel()
	ring := sharedKeyring(t)
	body := ring.CertsJSON()

	var doc struct {
		Keys        []map[string]any  `json:"keys"`
		PublicCert  map[string]string `json:"public_cert"`
		PublicCerts []struct {
			KID  string `json:"kid"`
			Cert string `json:"cert"`
		} `json:"public_certs"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) == 0 || len(doc.PublicCerts) != len(doc.Keys) {
		t.Fatalf("%d keys, %d certs: %s", len(doc.Keys), len(doc.PublicCerts), body)
	}
	for _, k := range doc.Keys {
		var members []string
		for name := range k {
			members = append(members, name)
		}
		slices.Sort(members)
		if !slices.Equal(members, []string{"alg", "e", "kid", "kty", "n", "use"}) {
			t.Fatalf("JWK members %v, want exactly alg e kid kty n use (no private parts)", members)
		}
		if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["e"] != "AQAB" {
			t.Fatalf("JWK %v", k)
		}
	}
	if doc.Keys[0]["kid"] != ring.CurrentKID() || doc.PublicCert["kid"] != ring.CurrentKID() || doc.PublicCerts[0].KID != ring.CurrentKID() {
		t.Fatalf("current key %s is not first: %s", ring.CurrentKID(), body)
	}
	if len(doc.PublicCert) != 2 {
		t.Fatalf("public_cert members %v, want kid and cert", doc.PublicCert)
	}

	// Each certificate holds the same public key as its JWK.
	for i, pc := range doc.PublicCerts {
		block, _ := pem.Decode([]byte(pc.Cert))
		if block == nil || block.Type != "CERTIFICATE" {
			t.Fatalf("public_certs[%d] is not a PEM certificate: %q", i, pc.Cert)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		pub := cert.PublicKey.(*rsa.PublicKey)
		n, _ := base64.RawURLEncoding.DecodeString(doc.Keys[i]["n"].(string))
		if pc.KID != doc.Keys[i]["kid"] || pub.N.Cmp(new(big.Int).SetBytes(n)) != 0 {
			t.Fatalf("public_certs[%d] does not match keys[%d]", i, i)
		}
		if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
			t.Fatalf("public_certs[%d] is not self-signed: %v", i, err)
		}
	}

	// A generic JOSE library verifies our tokens with the published set.
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	tok, _ := jwt.ParseSigned(sign(t, ring, userClaims(time.Now())), []jose.SignatureAlgorithm{jose.RS256})
	var out jwt.Claims
	if err := tok.Claims(set.Key(ring.CurrentKID())[0].Key, &out); err != nil || out.Issuer != testIssuer {
		t.Fatalf("go-jose with the published keys: %v (%+v)", err, out)
	}

	body[0] = 'X'
	if ring.CertsJSON()[0] != '{' {
		t.Fatal("CertsJSON returned the keyring's own buffer")
	}
}

func TestOriginsVerifyGatehouseTokensWithAccessJWT(t *testing.T) {
	t.Parallel()
	ring := sharedKeyring(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ring.CertsJSON())
	}))
	defer srv.Close()
	v := accessjwt.NewVerifier(srv.URL, testAud, accessjwt.WithIssuer(testIssuer))
	c, err := v.Verify(context.Background(), sign(t, ring, userClaims(time.Now())))
	if err != nil {
		t.Fatal(err)
	}
	if c.Email != "alice@example.com" || c.Type != "app" || c.Country != "NL" || !slices.Equal(c.Audience, []string{testAud}) {
		t.Fatalf("claims %+v", c)
	}
}

func TestPrivateKeysAreSealedWithTheMasterKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := freshPool(t)
	ks := session.NewKeyStore(storeOn(t, pool), testMasterKey)
	ring, err := ks.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sealed []byte
	var jwkJSON string
	if err := pool.QueryRow(ctx, `SELECT private_key, public_jwk::text FROM signing_keys WHERE kid = $1`, ring.CurrentKID()).Scan(&sealed, &jwkJSON); err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(sealed); err == nil {
		t.Fatal("private_key is plain PKCS#8")
	}
	der, _ := x509.MarshalPKCS8PrivateKey(ring.CurrentPrivateKey())
	if len(sealed) != 12+len(der)+16 {
		t.Fatalf("sealed key is %d bytes, want nonce+DER+tag = %d", len(sealed), 12+len(der)+16)
	}
	for _, secret := range [][]byte{ring.CurrentPrivateKey().D.Bytes(), ring.CurrentPrivateKey().Primes[0].Bytes(), ring.CurrentPrivateKey().N.Bytes()} {
		if strings.Contains(string(sealed), string(secret)) {
			t.Fatal("sealed key contains key material in the clear")
		}
	}
	var jwk map[string]any
	if err := json.Unmarshal([]byte(jwkJSON), &jwk); err != nil {
		t.Fatal(err)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := jwk[private]; ok {
			t.Fatalf("public_jwk has %q", private)
		}
	}

	_, err = session.NewKeyStore(storeOn(t, pool), mustMasterKey(session.GenerateMasterKey())).Load(ctx)
	if !errors.Is(err, session.ErrWrongMasterKey) {
		t.Fatalf("load with another master key: %v", err)
	}
	if want := "cannot decrypt signing key " + ring.CurrentKID() + ": wrong GATEHOUSE_MASTER_KEY?"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}

	// A sealed key opens only in its own row.
	if _, err := ks.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		UPDATE signing_keys SET private_key = CASE WHEN kid = $1
			THEN (SELECT private_key FROM signing_keys WHERE kid <> $1)
			ELSE (SELECT private_key FROM signing_keys WHERE kid = $1) END`, ring.CurrentKID()); err != nil {
		t.Fatal(err)
	}
	if _, err := session.NewKeyStore(storeOn(t, pool), testMasterKey).Load(ctx); !errors.Is(err, session.ErrWrongMasterKey) {
		t.Fatalf("load after swapping sealed keys between rows: %v", err)
	}
}

func TestMasterKeyParsing(t *testing.T) {
	t.Parallel()
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(0xf0 + i%16) // makes '+', '/' (std) and '-', '_' (url) appear
	}
	tests := []struct {
		name, in string
		wantErr  string
	}{
		{name: "ok/standard base64", in: base64.StdEncoding.EncodeToString(raw)},
		{name: "ok/raw URL base64", in: base64.RawURLEncoding.EncodeToString(raw)},
		{name: "ok/trailing newline", in: base64.StdEncoding.EncodeToString(raw) + "\n"},
		{name: "fail/empty", in: "", wantErr: "empty"},
		{name: "fail/16 bytes", in: base64.StdEncoding.EncodeToString(raw[:16]), wantErr: "16 bytes, want 32"},
		{name: "fail/33 bytes", in: base64.StdEncoding.EncodeToString(append(raw, 1)), wantErr: "33 bytes, want 32"},
		{name: "fail/not base64", in: "correct horse battery staple!!", wantErr: "not base64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, err := session.ParseMasterKey(tc.in)
			if tc.wantErr == "" {
				if err != nil || string(key) != string(raw) {
					t.Fatalf("key %x, err %v", key, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
			}
			if tc.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
				t.Fatal("error repeats the key")
			}
		})
	}
	a, b := session.GenerateMasterKey(), session.GenerateMasterKey()
	if a == b {
		t.Fatal("GenerateMasterKey repeats itself")
	}
	if _, err := session.ParseMasterKey(a); err != nil {
		t.Fatalf("generated key does not parse: %v", err)
	}
	if _, err := session.NewKeyStore(nil, raw[:16]).Load(context.Background()); err == nil || !strings.Contains(err.Error(), "16 bytes") {
		t.Fatalf("key store with a 16-byte master key: %v", err)
	}
}

func TestConcurrentFirstLoadsCreateOneKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := freshPool(t)
	var before int64
	if err := pool.QueryRow(ctx, `SELECT version FROM config_state`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	const n = 8
	kids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		// Each loader has its own pool, like separate processes.
		p := openPool(t, pool.Config().ConnString())
		wg.Go(func() {
			ring, err := session.NewKeyStore(storeOn(t, p), testMasterKey).Load(ctx)
			errs[i] = err
			if err == nil {
				kids[i] = ring.CurrentKID()
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("loader %d: %v", i, errs[i])
		}
		if kids[i] != kids[0] {
			t.Fatalf("loaders disagree on the current key: %v", kids)
		}
	}
	var count int
	var after int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM signing_keys), (SELECT version FROM config_state)`).Scan(&count, &after); err != nil {
		t.Fatal(err)
	}
	if count != 1 || after != before+1 {
		t.Fatalf("%d keys and config version %d→%d, want 1 key and one bump", count, before, after)
	}
}

func TestRotationKeepsOldTokensValidUntilTheGraceEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := freshPool(t)
	clk := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	const grace = 7 * 24 * time.Hour
	ks := session.NewKeyStore(storeOn(t, pool), testMasterKey, session.WithClock(clk.Now), session.WithGrace(grace))

	first, err := ks.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	claims := userClaims(clk.Now())
	claims.Expiry = clk.Now().Add(30 * 24 * time.Hour)
	oldToken := sign(t, first, claims)

	clk.Advance(time.Hour)
	rotated, err := ks.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.CurrentKID() == first.CurrentKID() || rotated.Generation() == first.Generation() {
		t.Fatal("rotation did not change the current key or the generation")
	}
	loaded, err := session.NewKeyStore(storeOn(t, pool), testMasterKey, session.WithClock(clk.Now)).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.CurrentKID() != rotated.CurrentKID() || loaded.Generation() != rotated.Generation() {
		t.Fatal("another process loads a different keyring than Rotate returned")
	}
	if _, err := loaded.Verify(oldToken, testAud, testIssuer, clk.Now()); err != nil {
		t.Fatalf("token signed before the rotation: %v", err)
	}
	if !first.NextRetirement().IsZero() || !loaded.NextRetirement().Equal(clk.Now().Add(grace)) {
		t.Fatalf("next retirement %s before and %s after the rotation, want none and %s",
			first.NextRetirement(), loaded.NextRetirement(), clk.Now().Add(grace))
	}
	newToken := sign(t, loaded, claims)
	if kidOf(t, newToken) != rotated.CurrentKID() {
		t.Fatal("new token not signed with the new key")
	}
	var certs struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(loaded.CertsJSON(), &certs); err != nil {
		t.Fatal(err)
	}
	if len(certs.Keys) != 2 || certs.Keys[0].KID != rotated.CurrentKID() || certs.Keys[1].KID != first.CurrentKID() {
		t.Fatalf("certs during the grace period: %+v", certs.Keys)
	}

	// Just before the grace ends the old key still verifies; from then on
	// it is unknown, also to a keyring loaded before (it knows the date).
	clk.Advance(grace - time.Second)
	if _, err := loaded.Verify(oldToken, testAud, testIssuer, clk.Now()); err != nil {
		t.Fatalf("a second before the grace ends: %v", err)
	}
	clk.Advance(time.Second)
	if _, err := loaded.Verify(oldToken, testAud, testIssuer, clk.Now()); !errors.Is(err, session.ErrUnknownKey) {
		t.Fatalf("stale keyring after the grace: %v", err)
	}
	after, err := ks.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := after.Verify(oldToken, testAud, testIssuer, clk.Now()); !errors.Is(err, session.ErrUnknownKey) {
		t.Fatalf("fresh keyring after the grace: %v", err)
	}
	if _, err := after.Verify(newToken, testAud, testIssuer, clk.Now()); err != nil {
		t.Fatalf("new token after the grace: %v", err)
	}
	if err := json.Unmarshal(after.CertsJSON(), &certs); err != nil || len(certs.Keys) != 1 {
		t.Fatalf("certs after the grace: %+v, %v", certs.Keys, err)
	}

	// A rotation more than a day after the retirement deletes the row.
	clk.Advance(25 * time.Hour)
	if _, err := ks.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM signing_keys WHERE kid = $1`, first.CurrentKID()).Scan(&n); err != nil || n != 0 {
		t.Fatalf("retired key rows left: %d (%v)", n, err)
	}
}

func kidOf(tb testing.TB, token string) string {
	tb.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		tb.Fatal(err)
	}
	return tok.Headers[0].KeyID
}

func TestRotateUnderAStoppedClockStillMakesTheNewKeyCurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stopped := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ks := session.NewKeyStore(storeOn(t, freshPool(t)), testMasterKey, session.WithClock(func() time.Time { return stopped }))
	if _, err := ks.Load(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 3 {
		ring, err := ks.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if seen[ring.CurrentKID()] {
			t.Fatal("an older key is current again")
		}
		seen[ring.CurrentKID()] = true
	}
}

func TestRotateAnnouncesAConfigChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := freshPool(t)
	ks := session.NewKeyStore(storeOn(t, pool), testMasterKey)
	if _, err := ks.Load(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "LISTEN "+store.ConfigChannel); err != nil {
		t.Fatal(err)
	}
	var before int64
	if err := conn.QueryRow(ctx, `SELECT version FROM config_state`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	var after int64
	if err := conn.QueryRow(ctx, `SELECT version FROM config_state`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before+1 {
		t.Fatalf("config version %d → %d, want one bump", before, after)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	note, err := conn.WaitForNotification(waitCtx)
	if err != nil {
		t.Fatalf("no notification on %s: %v", store.ConfigChannel, err)
	}
	if note.Payload != strconv.FormatInt(after, 10) {
		t.Fatalf("notification payload %q, want %d", note.Payload, after)
	}
}

func TestRotateIfDueRotatesOnceWhenTheKeyIsOld(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := freshPool(t)
	clk := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	ks := session.NewKeyStore(storeOn(t, pool), testMasterKey, session.WithClock(clk.Now))
	first, err := ks.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(7 * 24 * time.Hour)
	if rotated, err := ks.RotateIfDue(ctx, 0); err != nil || rotated {
		t.Fatalf("a week-old key: rotated=%v err=%v (default schedule is 6 weeks)", rotated, err)
	}
	clk.Advance(6 * 7 * 24 * time.Hour)
	var wg sync.WaitGroup
	results := make(chan bool, 4)
	for range 4 {
		other := session.NewKeyStore(storeOn(t, openPool(t, pool.Config().ConnString())), testMasterKey, session.WithClock(clk.Now))
		wg.Go(func() {
			rotated, err := other.RotateIfDue(ctx, session.DefaultRotationInterval)
			if err != nil {
				t.Error(err)
			}
			results <- rotated
		})
	}
	wg.Wait()
	close(results)
	n := 0
	for r := range results {
		if r {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of 4 concurrent RotateIfDue rotated, want 1", n)
	}
	ring, err := ks.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ring.CurrentKID() == first.CurrentKID() {
		t.Fatal("the due rotation did not change the current key")
	}
}

func TestUnchangedKeysLoadAsTheSameKeyring(t *testing.T) {
	t.Parallel()
	ks := session.NewKeyStore(storeOn(t, sharedPool(t)), testMasterKey)
	a, err := ks.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ks.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("an unchanged key set was decrypted again")
	}
}

func FuzzVerify(f *testing.F) {
	ring := sharedKeyring(f)
	now := time.Now()
	good := sign(f, ring, userClaims(now))
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(b64(`{"alg":"none"}`) + "." + parts[1] + ".")
	f.Add(b64(`{"alg":"RS256","kid":"`+ring.CurrentKID()+`","crit":["exp"]}`) + "." + parts[1] + "." + parts[2])
	f.Fuzz(func(t *testing.T, token string) {
		c, err := ring.Verify(token, testAud, testIssuer, now)
		if err == nil {
			if !slices.Contains(c.Audience, testAud) || !now.Before(c.Expiry) {
				t.Fatalf("accepted %q with claims %+v", token, c)
			}
			return
		}
		for _, want := range verifyErrors {
			if errors.Is(err, want) {
				return
			}
		}
		t.Fatalf("error %v wraps no verification error", err)
	})
}

func BenchmarkSign(b *testing.B) {
	ring := sharedKeyring(b)
	c := userClaims(time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ring.Sign(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	ring := sharedKeyring(b)
	now := time.Now()
	tok := sign(b, ring, userClaims(now))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ring.Verify(tok, testAud, testIssuer, now); err != nil {
			b.Fatal(err)
		}
	}
}
