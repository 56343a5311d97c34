package access

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// SettingClass says what Gatehouse does with a field the API accepts.
type SettingClass string

// Setting classes. Every field of every body the API stores is one of
// them: nothing is stored and then ignored.
const (
	// Enforced: the edge reads it; Note names the test that proves it.
	Enforced SettingClass = "enforced"
	// Metadata: stored and shown, with no meaning for who gets in; Note
	// says why that is harmless.
	Metadata SettingClass = "metadata"
	// Unsupported: only its default is accepted; any other value is
	// refused (400, the field named), so that a Cloudflare-shaped body
	// sending the default keeps working and nobody relies on a setting
	// that does nothing.
	Unsupported SettingClass = "unsupported"
)

// Setting is one field of a stored resource's request body, as its JSON
// path ("cors_headers.max_age", "config.claims").
type Setting struct {
	Field string
	Class SettingClass
	Note  string
	// set reports whether the body sets an Unsupported field to anything
	// but its default.
	set func(body any) bool
}

// Resource is one kind of request body and the classification of each of
// its fields.
type Resource struct {
	Name     string
	Body     reflect.Type
	Settings []Setting
}

func enforced(field, test string) Setting { return Setting{Field: field, Class: Enforced, Note: test} }
func metadata(field, why string) Setting  { return Setting{Field: field, Class: Metadata, Note: why} }

// unsupported is a field of body type T whose only accepted value is the
// default; set reports a body that sets it to anything else.
func unsupported[T any](field, why string, set func(*T) bool) Setting {
	return Setting{Field: field, Class: Unsupported, Note: why, set: func(body any) bool {
		t, ok := body.(*T)
		return ok && set(t)
	}}
}

// rawSet reports whether a raw JSON value is anything but absent, null or
// an empty array.
func rawSet(raw []byte) bool {
	v := bytes.TrimSpace(raw)
	return len(v) > 0 && string(v) != "null" && !bytes.Equal(bytes.Join(bytes.Fields(v), nil), []byte("[]"))
}

// rawDefault reports whether a raw JSON value is a default: absent, null,
// false, zero, an empty string, array or object, or an object or array of
// nothing but defaults. Cloudflare's clients send settings objects filled
// with their defaults ({"enabled": false}); those ask for nothing.
func rawDefault(raw json.RawMessage) bool {
	if len(bytes.TrimSpace(raw)) == 0 {
		return true
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	return isDefault(v)
}

// defaultWords are string values Cloudflare's schemas use as an explicit
// "nothing" (scim_config.identity_update_behavior's default).
var defaultWords = map[string]bool{"": true, "no_action": true}

func isDefault(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		return defaultWords[v]
	case []any:
		for _, e := range v {
			if !isDefault(e) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range v {
			if !isDefault(e) {
				return false
			}
		}
		return true
	}
	return false
}

func isTrue(b *bool) bool { return b != nil && *b }

func anyDestination(s *AppSpec, field func(Destination) string) bool {
	for _, d := range s.Destinations {
		if field(d) != "" {
			return true
		}
	}
	return false
}

// Inventory classifies every field of every body the API stores, in one
// place. TestInventoryCoversEveryField fails when a body gains a field
// that is not listed here, and README's "Enforced and refused settings"
// table is this list.
var Inventory = []Resource{
	{Name: "application", Body: reflect.TypeFor[AppSpec](), Settings: []Setting{
		enforced("type", "api TestAppValidationNamesEveryBadField (only self_hosted is accepted)"),
		metadata("name", "a label: shown on the login page and in listings, never matched"),
		enforced("domain", "edge TestUnknownHostIs404AndNeverForwarded, TestDotSegmentsCannotCrossIntoAnotherApp"),
		enforced("self_hosted_domains", "edge TestUnknownHostIs404AndNeverForwarded (the same list as destinations)"),
		enforced("destinations.type", "api TestAppValidationNamesEveryBadField (only \"public\" is accepted)"),
		enforced("destinations.uri", "edge TestUnknownHostIs404AndNeverForwarded"),
		enforced("origin", "edge TestServiceTokenPassesServiceAuthPolicy (the origin records what reached it)"),
		enforced("session_duration", "authdomain TestPolicySessionDurationSetsTheAppSession, TestOIDCLoginThenSecondAppNeedsOnlyTheRedirectHop (token lifetime)"),
		enforced("cors_headers.allow_all_headers", "edge TestPreflightAllowAllOriginsWithCredentialsEchoesOrigin; policy TestPreflight"),
		enforced("cors_headers.allow_all_methods", "edge TestPreflightAllowAllOriginsWithCredentialsEchoesOrigin; policy TestPreflight"),
		enforced("cors_headers.allow_all_origins", "edge TestPreflightAllowAllOriginsWithCredentialsEchoesOrigin"),
		enforced("cors_headers.allow_credentials", "edge TestPreflightAllowAllOriginsWithCredentialsEchoesOrigin"),
		enforced("cors_headers.allowed_headers", "edge TestPreflightAnsweredFromCORSSettingsNeverReachesOrigin"),
		enforced("cors_headers.allowed_methods", "edge TestPreflightAnsweredFromCORSSettingsNeverReachesOrigin"),
		enforced("cors_headers.allowed_origins", "edge TestPreflightAnsweredFromCORSSettingsNeverReachesOrigin"),
		enforced("cors_headers.max_age", "edge TestPreflightAnsweredFromCORSSettingsNeverReachesOrigin"),
		enforced("options_preflight_bypass", "edge TestPreflightBypassGoesToOriginUntouched"),
		enforced("upstream_service_token", "edge TestRelayPresentsTheServiceTokenNotTheUser"),
		enforced("allowed_idps", "edge TestEnforcedAppSettingsAtTheEdge/allowed_idps"),
		enforced("auto_redirect_to_identity", "authdomain TestOIDCLoginThenSecondAppNeedsOnlyTheRedirectHop"),
		enforced("http_only_cookie_attribute", "edge TestEnforcedAppSettingsAtTheEdge/http_only_cookie_attribute"),
		enforced("same_site_cookie_attribute", "edge TestEnforcedAppSettingsAtTheEdge/same_site_cookie_attribute"),
		enforced("path_cookie_attribute", "edge TestEnforcedAppSettingsAtTheEdge/path_cookie_attribute"),
		enforced("enable_binding_cookie", "authdomain TestBindingCookie"),
		enforced("service_auth_401_redirect", "edge TestEnforcedAppSettingsAtTheEdge/service_auth_401_redirect"),
		enforced("read_service_tokens_from_header", "edge TestEnforcedAppSettingsAtTheEdge/read_service_tokens_from_header"),
		enforced("custom_deny_message", "edge TestEnforcedAppSettingsAtTheEdge/custom_deny_message"),
		enforced("custom_deny_url", "edge TestEnforcedAppSettingsAtTheEdge/custom_deny_url"),
		enforced("custom_non_identity_deny_url", "edge TestEnforcedAppSettingsAtTheEdge/custom_non_identity_deny_url"),
		metadata("app_launcher_visible", "Gatehouse has no App Launcher: showing or hiding an app in one grants nothing"),
		unsupported("skip_interstitial", "Gatehouse has no cloudflared interstitial to skip", func(s *AppSpec) bool { return s.SkipInterstitial }),
		unsupported("allow_iframe", "Gatehouse's sign-in and block pages refuse to be framed (frame-ancestors 'none')",
			func(s *AppSpec) bool { return isTrue(s.AllowIframe) }),
		unsupported("allow_authenticate_via_warp", "Gatehouse has no WARP client sessions to accept",
			func(s *AppSpec) bool { return isTrue(s.AllowAuthenticateViaWARP) }),
		unsupported("use_clientless_isolation_app_launcher_url", "Gatehouse has no browser isolation",
			func(s *AppSpec) bool { return isTrue(s.UseClientlessIsolationAppLauncherURL) }),
		unsupported("custom_pages", "Gatehouse has no custom page resources to name",
			func(s *AppSpec) bool { return len(s.CustomPages) > 0 }),
		unsupported("mfa_config", "Gatehouse asks for no second factor of its own: the identity provider's login is the login",
			func(s *AppSpec) bool { return !rawDefault(s.MFAConfig) }),
		unsupported("oauth_configuration", "Gatehouse is not an OAuth authorization server for MCP clients",
			func(s *AppSpec) bool { return !rawDefault(s.OAuthConfiguration) }),
		unsupported("scim_config", "Gatehouse provisions no users into apps over SCIM",
			func(s *AppSpec) bool { return !rawDefault(s.SCIMConfig) }),
		unsupported("destinations.cidr", "private (WARP) destinations are not supported: Gatehouse protects public hostnames",
			func(s *AppSpec) bool { return anyDestination(s, func(d Destination) string { return d.CIDR }) }),
		unsupported("destinations.hostname", "private (WARP) destinations are not supported: Gatehouse protects public hostnames",
			func(s *AppSpec) bool { return anyDestination(s, func(d Destination) string { return d.Hostname }) }),
		unsupported("destinations.l4_protocol", "private (WARP) destinations are not supported: Gatehouse protects public hostnames",
			func(s *AppSpec) bool { return anyDestination(s, func(d Destination) string { return d.L4Protocol }) }),
		unsupported("destinations.port_range", "private (WARP) destinations are not supported: Gatehouse protects public hostnames",
			func(s *AppSpec) bool { return anyDestination(s, func(d Destination) string { return d.PortRange }) }),
		unsupported("destinations.vnet_id", "private (WARP) destinations are not supported: Gatehouse protects public hostnames",
			func(s *AppSpec) bool { return anyDestination(s, func(d Destination) string { return d.VnetID }) }),
		unsupported("destinations.mcp_server_id", "MCP server destinations are not supported: Gatehouse protects public hostnames",
			func(s *AppSpec) bool { return anyDestination(s, func(d Destination) string { return d.MCPServerID }) }),
		metadata("logo_url", "an App Launcher logo: never fetched or shown by the edge"),
		metadata("tags", "labels for listings; never matched"),
		enforced("policies", "edge TestPolicyOrderAtTheEdge (links and precedence)"),
		enforced("preserve_host_header", "edge TestOriginHostHeader/preserve_host_header"),
		enforced("http_host_header", "edge TestOriginHostHeader/http_host_header"),
	}},
	{Name: "policy (reusable and app-scoped)", Body: reflect.TypeFor[PolicySpec](), Settings: []Setting{
		metadata("name", "a label: shown in listings and the policy tester"),
		enforced("decision", "edge TestPolicyOrderAtTheEdge"),
		enforced("include", "edge TestPolicyOrderAtTheEdge; policy TestDecide"),
		enforced("require", "policy TestDecide"),
		enforced("exclude", "policy TestDecide"),
		enforced("session_duration", "authdomain TestPolicySessionDurationSetsTheAppSession"),
		enforced("precedence", "edge TestPolicyOrderAtTheEdge"),
		unsupported("approval_groups", "access approvals are not implemented", func(s *PolicySpec) bool { return rawSet(s.ApprovalGroups) }),
		unsupported("approval_required", "access approvals are not implemented: accepting it would let users in unapproved",
			func(s *PolicySpec) bool { return s.ApprovalRequired }),
		unsupported("isolation_required", "Gatehouse has no browser isolation: accepting it would serve the app unisolated",
			func(s *PolicySpec) bool { return s.IsolationRequired }),
		enforced("purpose_justification_required", "authdomain TestPurposeJustification"),
		enforced("purpose_justification_prompt", "authdomain TestPurposeJustification (shown on the reason page)"),
		unsupported("connection_rules", "Gatehouse protects HTTP apps, not SSH or RDP infrastructure targets",
			func(s *PolicySpec) bool { return !rawDefault(s.ConnectionRules) }),
		unsupported("mfa_config", "Gatehouse asks for no second factor of its own: the identity provider's login is the login",
			func(s *PolicySpec) bool { return !rawDefault(s.MFAConfig) }),
	}},
	{Name: "Access group", Body: reflect.TypeFor[GroupSpec](), Settings: []Setting{
		metadata("name", "a label: shown in listings"),
		enforced("include", "edge TestGroupEditReachesARunningEdge; policy TestDecideGroupRule"),
		enforced("require", "policy TestDecideGroupRule"),
		enforced("exclude", "policy TestDecideGroupRule"),
		unsupported("is_default", "default groups are not implemented", func(s *GroupSpec) bool { return s.IsDefault }),
	}},
	{Name: "service token (create)", Body: reflect.TypeFor[ServiceTokenSpec](), Settings: []Setting{
		metadata("name", "a label: shown in listings and the access log"),
		enforced("duration", "api TestRefreshAndUpdateServiceToken; edge TestServiceTokenFailuresAreRefusedNeverRedirected (expired)"),
		metadata("client_secret_version", "the secret's version number, shown and raised on rotation; the secret is what is checked"),
		unsupported("previous_client_secret_expires_at", "a new token has no previous secret: set it when rotating",
			func(s *ServiceTokenSpec) bool { return s.PreviousClientSecretExpiresAt != nil }),
	}},
	{Name: "service token (update)", Body: reflect.TypeFor[ServiceTokenUpdate](), Settings: []Setting{
		metadata("name", "a label"),
		enforced("duration", "api TestRefreshAndUpdateServiceToken"),
		enforced("client_secret_version", "api TestRotateKeepsPreviousSecretForTheGracePeriod (raising it rotates)"),
		enforced("previous_client_secret_expires_at", "api TestRotateKeepsPreviousSecretForTheGracePeriod"),
	}},
	{Name: "service token (rotate)", Body: reflect.TypeFor[RotateSpec](), Settings: []Setting{
		enforced("previous_client_secret_expires_at", "api TestRotateKeepsPreviousSecretForTheGracePeriod"),
	}},
	{Name: "identity provider", Body: reflect.TypeFor[IdentityProviderSpec](), Settings: []Setting{
		metadata("name", "a label: shown on the login page"),
		enforced("type", "authdomain TestOIDCLoginThenSecondAppNeedsOnlyTheRedirectHop, TestOneTimePINLoginAndItsSafety"),
		enforced("config.client_id", "authdomain TestOIDCLoginThenSecondAppNeedsOnlyTheRedirectHop"),
		enforced("config.client_secret", "authdomain TestOIDCLoginThenSecondAppNeedsOnlyTheRedirectHop"),
		enforced("config.issuer_url", "authdomain TestOIDCLoginThenSecondAppNeedsOnlyTheRedirectHop"),
		enforced("config.auth_url", "authdomain TestIdentityProviderSettingsAtTheEdge/config.auth_url"),
		enforced("config.token_url", "authdomain TestIdentityProviderSettingsAtTheEdge/config.token_url"),
		enforced("config.certs_url", "authdomain TestIdentityProviderSettingsAtTheEdge/config.certs_url"),
		enforced("config.scopes", "authdomain TestIdentityProviderSettingsAtTheEdge/config.scopes"),
		enforced("config.claims", "authdomain TestOIDCRuleMatchesTheClaimsTheLoginKept (kept in the session and app token for oidc rules)"),
		enforced("config.email_claim_name", "authdomain TestIdentityProviderSettingsAtTheEdge/config.email_claim_name"),
		enforced("config.pkce_enabled", "authdomain TestIdentityProviderSettingsAtTheEdge/config.pkce_enabled"),
		unsupported("scim_config", "Gatehouse takes no SCIM provisioning from identity providers: only SCIM off is accepted",
			func(s *IdentityProviderSpec) bool { return !rawDefault(s.SCIMConfig) }),
	}},
	{Name: "certificate (create)", Body: reflect.TypeFor[CertificateSpec](), Settings: []Setting{
		metadata("name", "a label: shown in listings"),
		enforced("certificate", "edge TestMutualTLSAtTheEdge"),
		enforced("associated_hostnames", "edge TestMutualTLSAtTheEdge/CA not associated with the host"),
	}},
	{Name: "certificate (update)", Body: reflect.TypeFor[CertificateUpdate](), Settings: []Setting{
		metadata("name", "a label"),
		enforced("associated_hostnames", "edge TestMutualTLSAtTheEdge/hostname removed"),
	}},
	{Name: "organization", Body: reflect.TypeFor[OrganizationSpec](), Settings: []Setting{
		metadata("name", "a label: shown by the API and the CLI, and above the card of the pages users meet (sign-in, block, errors)"),
		metadata("auth_domain", "recorded as Cloudflare's team domain; the edge's login host is its --public-url flag, so a stored value moves no login"),
		enforced("session_duration", "authdomain TestOrganizationSessionDurationSetsTheLoginSession (the auth-domain session's lifetime)"),
		metadata("user_seat_expiration_inactive_time", "Gatehouse counts no seats: nothing expires or is billed by it"),
		metadata("warp_auth_session_duration", "Gatehouse has no WARP client: no session is ever issued through one"),
		metadata("login_design.background_color", "the look of the pages users meet (e2e TestEndUserPagesAreDesignedAccessibleAndWorkWithoutJavaScript): a hex color or CSS color name, checked again before use; grants nothing"),
		metadata("login_design.text_color", "the look of the pages users meet (e2e TestEndUserPagesAreDesignedAccessibleAndWorkWithoutJavaScript): a hex color or CSS color name, checked again before use; grants nothing"),
		metadata("login_design.logo_path", "the logo on the pages users meet: an https URL or a /path, loaded by the browser (the page's CSP allows its origin only), never fetched by the edge; grants nothing"),
		metadata("login_design.header_text", "shown as text above the card of the pages users meet (pages TestInjectedDesignValuesAreDroppedOrEscaped); grants nothing"),
		metadata("login_design.footer_text", "shown as text under the card of the pages users meet (pages TestInjectedDesignValuesAreDroppedOrEscaped); grants nothing"),
		unsupported("custom_pages.forbidden", "Gatehouse has no custom pages: the edge's own block page would be shown instead",
			func(s *OrganizationSpec) bool { return s.CustomPages != nil && s.CustomPages.Forbidden != "" }),
		unsupported("custom_pages.identity_denied", "Gatehouse has no custom pages: the edge's own block page would be shown instead",
			func(s *OrganizationSpec) bool { return s.CustomPages != nil && s.CustomPages.IdentityDenied != "" }),
		unsupported("is_ui_read_only", "the dashboard is not locked by it: accepting it would promise a lock that is not there",
			func(s *OrganizationSpec) bool { return s.IsUIReadOnly }),
		metadata("ui_read_only_toggle_reason", "a note kept with is_ui_read_only"),
		unsupported("auto_redirect_to_identity", "set it per application (enforced there); the organization-wide switch is not read",
			func(s *OrganizationSpec) bool { return s.AutoRedirectToIdentity }),
		unsupported("allow_authenticate_via_warp", "Gatehouse has no WARP client to authenticate with",
			func(s *OrganizationSpec) bool { return s.AllowAuthenticateViaWARP }),
		metadata("deny_unmatched_requests", "Gatehouse always refuses a request no application matches (404 app_not_found), whatever the value: it never forwards one"),
		unsupported("deny_unmatched_requests_exempted_zone_names", "requests no application matches are never forwarded, so no zone can be exempt",
			func(s *OrganizationSpec) bool { return len(s.DenyUnmatchedExemptZones) > 0 }),
		unsupported("mfa_config", "Gatehouse has no multi-factor authentication of its own",
			func(s *OrganizationSpec) bool { return !rawEmpty(s.MFAConfig) }),
		unsupported("mfa_required_for_all_apps", "Gatehouse has no multi-factor authentication of its own: accepting it would let users in without",
			func(s *OrganizationSpec) bool { return s.MFARequiredForAllApps }),
		unsupported("mfa_ssh_piv_key_requirements", "Gatehouse has no multi-factor authentication of its own",
			func(s *OrganizationSpec) bool {
				return !rawEmpty(s.MFASSHPivKeyRequirements)
			}),
		unsupported("mfa_configuration_allowed", "Gatehouse has no multi-factor authentication of its own",
			func(s *OrganizationSpec) bool { return s.MFAConfigurationAllowed }),
	}},
	{Name: "signing keys", Body: reflect.TypeFor[KeySettings](), Settings: []Setting{
		enforced("key_rotation_interval_days", "api TestKeyRotationIntervalDrivesTheKeyring"),
	}},
}

// CheckSupported refuses a body that sets an unsupported field to
// anything but its default, naming every such field. Bodies of other
// types pass.
func CheckSupported(body any) error {
	t := reflect.TypeOf(body)
	if t == nil || t.Kind() != reflect.Pointer {
		return nil
	}
	var errs []FieldError
	for _, r := range Inventory {
		if r.Body != t.Elem() {
			continue
		}
		for _, s := range r.Settings {
			if s.Class == Unsupported && s.set(body) {
				errs = append(errs, FieldError{Field: s.Field, Message: "is not supported by Gatehouse (" + s.Note + "); leave it out or send its default"})
			}
		}
	}
	return InvalidFields(errs)
}
