package access

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Identity provider types Gatehouse supports.
const (
	IdPTypeOIDC       = "oidc"
	IdPTypeOneTimePIN = "onetimepin"
)

// OIDC defaults, as in Access.
const DefaultEmailClaimName = "email"

// DefaultOIDCScopes are the scopes asked for when none are given.
var DefaultOIDCScopes = []string{"openid", "email", "profile"}

// IdentityProvider is one login method of an account: a generic OpenID
// Connect provider, or one-time PINs sent by email.
type IdentityProvider struct {
	ID     string    `json:"id"`
	Name   string    `json:"name"`
	Type   string    `json:"type"`
	Config IdPConfig `json:"config"`
	// SCIMConfig is always SCIM off (DefaultSCIMConfig): Gatehouse
	// takes no provisioning from identity providers.
	SCIMConfig *SCIMConfig `json:"scim_config,omitempty"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`

	AccountID string `json:"-"`
	Revision  int64  `json:"-"`
}

// IdPConfig is a stored provider's configuration. ClientSecret is filled
// in only in the edge's Config (it needs it for the code exchange); the
// store returns it nowhere else, so it never reaches a response or the
// audit log.
type IdPConfig struct {
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"` // write-only: never in responses
	// ClientSecretSet says whether a secret is stored (Gatehouse
	// extension, response only).
	ClientSecretSet bool `json:"client_secret_set,omitempty"`
	// IssuerURL finds the endpoints by OIDC discovery (Gatehouse
	// extension); otherwise AuthURL, TokenURL and CertsURL are all set.
	IssuerURL      string   `json:"issuer_url,omitempty"`
	AuthURL        string   `json:"auth_url,omitempty"`
	TokenURL       string   `json:"token_url,omitempty"`
	CertsURL       string   `json:"certs_url,omitempty"`
	Scopes         []string `json:"scopes,omitempty"`
	Claims         []string `json:"claims,omitempty"`
	EmailClaimName string   `json:"email_claim_name,omitempty"`
	PKCEEnabled    *bool    `json:"pkce_enabled,omitempty"`
}

// IdentityProviderSpec is what a caller sends to create or replace an
// identity provider.
type IdentityProviderSpec struct {
	Name   string        `json:"name" validate:"required,max=350"`
	Type   string        `json:"type" validate:"required,oneof=oidc onetimepin"`
	Config IdPConfigSpec `json:"config"`
	// SCIMConfig is accepted only with SCIM off (Inventory): Cloudflare's
	// Terraform provider sends its defaults on every change.
	SCIMConfig json.RawMessage `json:"scim_config,omitempty"`
}

// SCIMConfig is an identity provider's SCIM provisioning settings, in
// Cloudflare's shape.
type SCIMConfig struct {
	Enabled                bool   `json:"enabled"`
	IdentityUpdateBehavior string `json:"identity_update_behavior"`
	SeatDeprovision        bool   `json:"seat_deprovision"`
	UserDeprovision        bool   `json:"user_deprovision"`
}

// DefaultSCIMConfig is what every provider shows: SCIM off, and what
// Cloudflare shows for a provider without SCIM.
func DefaultSCIMConfig() *SCIMConfig {
	return &SCIMConfig{IdentityUpdateBehavior: "no_action"}
}

// IdPConfigSpec is a provider's configuration as a caller sends it. For
// oidc, a replacement with an empty ClientSecret keeps the stored one.
// URLs may be http:// for tests on loopback; production providers should
// use https://.
type IdPConfigSpec struct {
	ClientID       string   `json:"client_id" validate:"max=1024"`
	ClientSecret   string   `json:"client_secret" validate:"max=4096"`
	IssuerURL      string   `json:"issuer_url" validate:"omitempty,idp_url"`
	AuthURL        string   `json:"auth_url" validate:"omitempty,idp_url"`
	TokenURL       string   `json:"token_url" validate:"omitempty,idp_url"`
	CertsURL       string   `json:"certs_url" validate:"omitempty,idp_url"`
	Scopes         []string `json:"scopes" validate:"max=50,unique,dive,required,max=256,oauth_scope"`
	Claims         []string `json:"claims" validate:"max=50,unique,dive,required,max=256"`
	EmailClaimName string   `json:"email_claim_name" validate:"max=256"`
	PKCEEnabled    *bool    `json:"pkce_enabled"`
}

// Normalize completes a spec that passed field validation: it applies the
// rules of the provider's type and fills in defaults. secretRequired says
// whether an oidc provider must come with a client_secret (on create; a
// replacement may leave it out to keep the stored one).
func (s *IdentityProviderSpec) Normalize(secretRequired bool) error {
	var errs []FieldError
	fail := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: "config." + field, Message: fmt.Sprintf(format, args...)})
	}
	c := &s.Config
	switch s.Type {
	case IdPTypeOIDC:
		if c.ClientID == "" {
			fail("client_id", "is required")
		}
		if c.ClientSecret == "" && secretRequired {
			fail("client_secret", "is required")
		}
		endpoints := map[string]string{"auth_url": c.AuthURL, "token_url": c.TokenURL, "certs_url": c.CertsURL}
		given := 0
		for _, v := range endpoints {
			if v != "" {
				given++
			}
		}
		switch {
		case c.IssuerURL != "" && given > 0:
			fail("issuer_url", "give either issuer_url (OIDC discovery) or auth_url, token_url and certs_url, not both")
		case c.IssuerURL == "" && given == 0:
			fail("issuer_url", "is required unless auth_url, token_url and certs_url are all given")
		case c.IssuerURL == "" && given < len(endpoints):
			for _, f := range []string{"auth_url", "token_url", "certs_url"} {
				if endpoints[f] == "" {
					fail(f, "is required with the other endpoint URLs (or give issuer_url instead)")
				}
			}
		}
		// Defaults (DefaultOIDCScopes, DefaultEmailClaimName, PKCE on) are
		// applied where the provider is used, not stored: a provider
		// reads back as it was written, as in Cloudflare.
		if len(c.Scopes) > 0 && !slices.Contains(c.Scopes, "openid") {
			fail("scopes", "must include openid")
		}
	case IdPTypeOneTimePIN:
		for field, set := range map[string]bool{
			"client_id": c.ClientID != "", "client_secret": c.ClientSecret != "", "issuer_url": c.IssuerURL != "",
			"auth_url": c.AuthURL != "", "token_url": c.TokenURL != "", "certs_url": c.CertsURL != "",
			"scopes": len(c.Scopes) > 0, "claims": len(c.Claims) > 0, "email_claim_name": c.EmailClaimName != "",
			"pkce_enabled": c.PKCEEnabled != nil,
		} {
			if set {
				fail(field, "must not be set: a onetimepin provider's config is empty ({})")
			}
		}
	}
	slices.SortFunc(errs, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
	return InvalidFields(errs)
}

// Public is the configuration as stored and shown: without the secret.
func (c IdPConfigSpec) Public() IdPConfig {
	return IdPConfig{
		ClientID:       c.ClientID,
		IssuerURL:      c.IssuerURL,
		AuthURL:        c.AuthURL,
		TokenURL:       c.TokenURL,
		CertsURL:       c.CertsURL,
		Scopes:         c.Scopes,
		Claims:         c.Claims,
		EmailClaimName: c.EmailClaimName,
		PKCEEnabled:    c.PKCEEnabled,
	}
}
