// Package session issues and verifies Gatehouse's app tokens: the RS256
// JWTs carried in the CF_Authorization cookie and sent to origins in the
// Cf-Access-Jwt-Assertion header. The signing keys are one keyring per
// installation, kept in PostgreSQL with the private keys sealed under the
// master key, and rotated like Cloudflare's (a new key every six weeks, the
// previous one still accepted for a grace period).
package session

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// Claims of an app token, as Cloudflare Access issues them.
type Claims struct {
	Audience      []string  // "aud": the app's aud tag
	Email         string    // "email"; empty for service tokens
	Subject       string    // "sub": the user id; empty for service tokens
	Issuer        string    // "iss": the team (auth) domain URL
	IssuedAt      time.Time // "iat", with "iat_ns" for the part below a second
	NotBefore     time.Time // "nbf"
	Expiry        time.Time // "exp"
	Type          string    // "type": "app"
	IdentityNonce string    // "identity_nonce"
	Country       string    // "country"
	CommonName    string    // "common_name": a service token's client_id
	LoginMethod   string    // "idp": the identity provider the user logged in with (Gatehouse extension)
	TokenID       string    // "jti": unique per token
	// SessionID is the login session a user's token descends from: the
	// auth-domain session's id, carried into every app token minted from
	// it, so that a logout can revoke them all ("sid", as in OpenID
	// Connect; Gatehouse extension).
	SessionID string
	// ServiceTokenBinding names the service token secret an app token was
	// minted for ("service_token_binding"; Gatehouse extension): the token
	// works exactly as long as that secret does.
	ServiceTokenBinding string
	// Purpose is the reason the user gave for access, when a policy asked
	// for one ("purpose", Gatehouse extension).
	Purpose string
	// Binding is the hash of the CF_Binding cookie the token is bound to,
	// when the app turns the binding cookie on ("binding", Gatehouse
	// extension): the token is refused without that cookie.
	Binding string
	// Custom are the identity provider's claims the login kept (the
	// provider's config.claims), each as a list of strings ("custom", as
	// Cloudflare names the claims it passes on from an identity provider).
	Custom map[string][]string
}

// TypeApp is the "type" claim of an app token.
const TypeApp = "app"

// Verification failures. Every error from Keyring.Verify wraps exactly one
// of them, so callers can map it to a stable reason code with errors.Is.
var (
	ErrMalformed   = errors.New("session: malformed token")
	ErrUnknownKey  = errors.New("session: token signed by an unknown key")
	ErrSignature   = errors.New("session: bad token signature")
	ErrExpired     = errors.New("session: token expired")
	ErrNotYetValid = errors.New("session: token not yet valid")
	ErrAudience    = errors.New("session: token is for another audience")
	ErrIssuer      = errors.New("session: token from another issuer")
)

// wireClaims is the JSON payload of an app token. "sub", "iss" and "type"
// are always present (Cloudflare sends an empty "sub" for service tokens);
// the rest are left out when empty.
type wireClaims struct {
	Audience      audience         `json:"aud"`
	Email         string           `json:"email,omitempty"`
	Subject       string           `json:"sub"`
	Issuer        string           `json:"iss"`
	IssuedAt      *jwt.NumericDate `json:"iat,omitempty"`
	NotBefore     *jwt.NumericDate `json:"nbf,omitempty"`
	Expiry        *jwt.NumericDate `json:"exp,omitempty"`
	Type          string           `json:"type"`
	IdentityNonce string           `json:"identity_nonce,omitempty"`
	Country       string           `json:"country,omitempty"`
	CommonName    string           `json:"common_name,omitempty"`
	LoginMethod   string           `json:"idp,omitempty"`
	TokenID       string           `json:"jti,omitempty"`
	// IssuedAtNanos is the part of the issue time below a second: "iat"
	// is whole seconds, and a revocation must be compared at sub-second
	// precision.
	IssuedAtNanos       int64               `json:"iat_ns,omitempty"`
	SessionID           string              `json:"sid,omitempty"`
	ServiceTokenBinding string              `json:"service_token_binding,omitempty"`
	Purpose             string              `json:"purpose,omitempty"`
	Binding             string              `json:"binding,omitempty"`
	Custom              map[string][]string `json:"custom,omitempty"`
}

func toWire(c Claims) wireClaims {
	return wireClaims{
		Audience:      c.Audience,
		Email:         c.Email,
		Subject:       c.Subject,
		Issuer:        c.Issuer,
		IssuedAt:      numericDate(c.IssuedAt),
		NotBefore:     numericDate(c.NotBefore),
		Expiry:        numericDate(c.Expiry),
		Type:          c.Type,
		IdentityNonce: c.IdentityNonce,
		Country:       c.Country,
		CommonName:    c.CommonName,
		LoginMethod:   c.LoginMethod,
		TokenID:       c.TokenID,
		IssuedAtNanos: int64(c.IssuedAt.Nanosecond()),
		SessionID:     c.SessionID,

		ServiceTokenBinding: c.ServiceTokenBinding,
		Purpose:             c.Purpose,
		Binding:             c.Binding,
		Custom:              c.Custom,
	}
}

func (w *wireClaims) claims() Claims {
	return Claims{
		Audience:      w.Audience,
		Email:         w.Email,
		Subject:       w.Subject,
		Issuer:        w.Issuer,
		IssuedAt:      w.issuedAt(),
		NotBefore:     timeOf(w.NotBefore),
		Expiry:        timeOf(w.Expiry),
		Type:          w.Type,
		IdentityNonce: w.IdentityNonce,
		Country:       w.Country,
		CommonName:    w.CommonName,
		LoginMethod:   w.LoginMethod,
		TokenID:       w.TokenID,
		SessionID:     w.SessionID,

		ServiceTokenBinding: w.ServiceTokenBinding,
		Purpose:             w.Purpose,
		Binding:             w.Binding,
		Custom:              w.Custom,
	}
}

// issuedAt is "iat" plus "iat_ns".
func (w *wireClaims) issuedAt() time.Time {
	t := timeOf(w.IssuedAt)
	if t.IsZero() {
		return t
	}
	return t.Add(time.Duration(w.IssuedAtNanos))
}

func numericDate(t time.Time) *jwt.NumericDate {
	if t.IsZero() {
		return nil
	}
	return jwt.NewNumericDate(t)
}

func timeOf(d *jwt.NumericDate) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.Time().UTC()
}

// audience is "aud": always written as an array, as Cloudflare does, and
// read from either an array or a single string (RFC 7519 allows both).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var s []string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*a = s
	return nil
}
