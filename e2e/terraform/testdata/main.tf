# Gatehouse driven by Cloudflare's Terraform provider, unchanged: the
# provider is pointed at Gatehouse's API by base_url. This file is the
# configuration the end-to-end test applies, and README's example.

terraform {
  required_providers {
    cloudflare = {
      source = "cloudflare/cloudflare"
    }
  }
}

variable "base_url" { type = string } # http://127.0.0.1:8080/client/v4
variable "api_token" {
  type      = string
  sensitive = true
}
variable "account_id" { type = string }
variable "zone" { type = string } # the parent domain of the protected hosts
variable "cors_origins" { type = list(string) }
variable "client_ca_pem" { type = string } # a CA that signs client certificates

provider "cloudflare" {
  base_url  = var.base_url
  api_token = var.api_token
}

resource "cloudflare_zero_trust_organization" "org" {
  account_id                         = var.account_id
  name                               = "Gatehouse test"
  auth_domain                        = "auth.${var.zone}"
  session_duration                   = "12h"
  user_seat_expiration_inactive_time = "730h"
  login_design = {
    background_color = "#1f2937"
    text_color       = "#f9fafb"
    header_text      = "Sign in to Example"
    footer_text      = "Operated by the platform team"
  }
}

resource "cloudflare_zero_trust_access_service_token" "ci" {
  account_id = var.account_id
  name       = "ci"
  duration   = "8760h"
}

# A token no policy uses: the test deletes it behind Terraform's back.
resource "cloudflare_zero_trust_access_service_token" "spare" {
  account_id = var.account_id
  name       = "spare"
}

resource "cloudflare_zero_trust_access_identity_provider" "pin" {
  account_id = var.account_id
  name       = "One-time PIN"
  type       = "onetimepin"
  config     = {}
}

resource "cloudflare_zero_trust_access_identity_provider" "sso" {
  account_id = var.account_id
  name       = "Corporate SSO"
  type       = "oidc"
  config = {
    client_id     = "gatehouse"
    client_secret = "an-oidc-client-secret"
    auth_url      = "https://sso.example.com/oauth2/authorize"
    token_url     = "https://sso.example.com/oauth2/token"
    certs_url     = "https://sso.example.com/oauth2/keys"
    scopes        = ["openid", "email", "profile"]
  }
}

resource "cloudflare_zero_trust_access_group" "engineers" {
  account_id = var.account_id
  name       = "engineers"
  include = [
    { email_domain = { domain = "eng.example.com" } },
  ]
}

# Service Auth: the CI token gets in without a login.
resource "cloudflare_zero_trust_access_policy" "ci" {
  account_id = var.account_id
  name       = "CI service auth"
  decision   = "non_identity"
  include = [
    { service_token = { token_id = cloudflare_zero_trust_access_service_token.ci.id } },
  ]
}

resource "cloudflare_zero_trust_access_policy" "staff" {
  account_id = var.account_id
  name       = "staff"
  decision   = "allow"
  include = [
    { email = { email = "alice@partner.example" } },
    { email_domain = { domain = "example.com" } },
    { group = { id = cloudflare_zero_trust_access_group.engineers.id } },
  ]
  session_duration = "12h"
}

# An API called from a browser app on another origin: every cors_headers
# list, credentials and a cache lifetime.
resource "cloudflare_zero_trust_access_application" "api" {
  account_id   = var.account_id
  name         = "api"
  type         = "self_hosted"
  domain       = "api.${var.zone}"
  allowed_idps = [cloudflare_zero_trust_access_identity_provider.sso.id]
  cors_headers = {
    allowed_origins   = var.cors_origins
    allowed_methods   = ["GET", "POST", "PUT"]
    allowed_headers   = ["content-type", "x-requested-with"]
    allow_credentials = true
    max_age           = 600
  }
  policies = [
    { id = cloudflare_zero_trust_access_policy.staff.id, precedence = 1 },
    { id = cloudflare_zero_trust_access_policy.ci.id, precedence = 2 },
  ]
}

# The allow-all switches of cors_headers.
resource "cloudflare_zero_trust_access_application" "open" {
  account_id = var.account_id
  name       = "open"
  type       = "self_hosted"
  domain     = "open.${var.zone}"
  cors_headers = {
    allow_all_origins = true
    allow_all_methods = true
    allow_all_headers = true
  }
  policies = [
    { id = cloudflare_zero_trust_access_policy.ci.id, precedence = 1 },
  ]
}

# Preflights go to the origin, which answers CORS itself.
resource "cloudflare_zero_trust_access_application" "bypass" {
  account_id               = var.account_id
  name                     = "bypass"
  type                     = "self_hosted"
  domain                   = "bypass.${var.zone}"
  options_preflight_bypass = true
  policies = [
    { id = cloudflare_zero_trust_access_policy.staff.id, precedence = 1 },
  ]
}

# Path destinations, with a legacy inline policy (the app's own).
resource "cloudflare_zero_trust_access_application" "paths" {
  account_id = var.account_id
  name       = "paths"
  type       = "self_hosted"
  destinations = [
    { type = "public", uri = "web.${var.zone}/admin" },
    { type = "public", uri = "web.${var.zone}/reports" },
  ]
  session_duration = "1h"
  policies = [
    {
      name       = "admins"
      decision   = "allow"
      include    = [{ email = { email = "admin@example.com" } }]
      precedence = 1
    },
  ]
}

# Mutual TLS: client certificates signed by this CA satisfy the
# certificate rule on the api host.
resource "cloudflare_zero_trust_access_mtls_certificate" "clients" {
  account_id           = var.account_id
  name                 = "client CA"
  certificate          = var.client_ca_pem
  associated_hostnames = ["api.${var.zone}"]
}
