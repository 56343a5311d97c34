package policy

// Reason is a stable code saying why the engine decided what it did. The
// access log, the policy tester, the CLI and the edge's error bodies all
// use these words, so a denied user and an operator see the same thing.
type Reason string

// Reasons.
const (
	ReasonAppNotFound Reason = "app_not_found"

	ReasonBadPath       Reason = "bad_path"
	ReasonAmbiguousPath Reason = "ambiguous_path"
	ReasonDomainInvalid Reason = "app_domain_invalid"

	ReasonPreflightAnswered        Reason = "preflight_answered"
	ReasonPreflightBypassed        Reason = "preflight_bypassed"
	ReasonPreflightNoCORSSettings  Reason = "preflight_no_cors_settings"
	ReasonPreflightOriginForbidden Reason = "preflight_origin_not_allowed"
	ReasonPreflightMethodForbidden Reason = "preflight_method_not_allowed"
	ReasonPreflightHeaderForbidden Reason = "preflight_header_not_allowed"

	ReasonBypassPolicy      Reason = "bypass_policy"
	ReasonServiceAuthPolicy Reason = "service_auth_policy"
	ReasonAllowPolicy       Reason = "allow_policy"
	ReasonDenyPolicy        Reason = "deny_policy"
	ReasonNoPolicyMatched   Reason = "no_policy_matched"
	ReasonLoginRequired     Reason = "login_required"
	// ReasonPolicyMissing: the app links a policy the snapshot does not
	// have (an inconsistent config); the app denies every request.
	ReasonPolicyMissing Reason = "policy_missing"
	// ReasonPurposeJustificationRequired: the Allow policy that matched
	// asks for a reason, and the session carries none.
	ReasonPurposeJustificationRequired Reason = "purpose_justification_required"
	// ReasonBindingCookieMismatch: the app binds its sessions to a
	// CF_Binding cookie and the request lacks the matching one.
	ReasonBindingCookieMismatch Reason = "binding_cookie_mismatch"

	ReasonServiceTokenUnknown    Reason = "service_token_unknown"
	ReasonServiceTokenBadSecret  Reason = "service_token_bad_secret"
	ReasonServiceTokenExpired    Reason = "service_token_expired"
	ReasonServiceTokenNoPolicy   Reason = "service_token_no_policy"
	ReasonServiceTokenMalformed  Reason = "service_token_malformed"
	ReasonSessionInvalid         Reason = "session_invalid"
	ReasonSessionExpired         Reason = "session_expired"
	ReasonSessionWrongAudience   Reason = "session_wrong_audience"
	ReasonSessionSignatureFailed Reason = "session_bad_signature"
	ReasonSessionWrongIssuer     Reason = "session_wrong_issuer"
	ReasonSessionRevoked         Reason = "session_revoked"
)

// Describe says a reason in words, for people.
func (r Reason) Describe() string {
	switch r {
	case ReasonAppNotFound:
		return "no application protects this host and path"
	case ReasonBadPath:
		return "the request path is refused: it has a control character (such as %00), an invalid percent-encoding or bytes that are not UTF-8"
	case ReasonAmbiguousPath:
		return "the request path is refused: origins may read it as a path of another application (case, ;parameters, trailing dots or spaces, backslashes, encoded slashes)"
	case ReasonDomainInvalid:
		return "an application's stored domain on this host is not in canonical form; the host is closed until it is fixed"
	case ReasonPreflightAnswered:
		return "CORS preflight answered from the application's CORS settings"
	case ReasonPreflightBypassed:
		return "CORS preflight sent to the origin (options_preflight_bypass is on)"
	case ReasonPreflightNoCORSSettings:
		return "CORS preflight refused: the application has neither CORS settings nor preflight bypass (browsers send no cookies on preflights)"
	case ReasonPreflightOriginForbidden:
		return "CORS preflight: the Origin is not in allowed_origins"
	case ReasonPreflightMethodForbidden:
		return "CORS preflight: the requested method is not in allowed_methods"
	case ReasonPreflightHeaderForbidden:
		return "CORS preflight: a requested header is not in allowed_headers"
	case ReasonBypassPolicy:
		return "a Bypass policy matched"
	case ReasonServiceAuthPolicy:
		return "a Service Auth policy matched"
	case ReasonAllowPolicy:
		return "an Allow policy matched"
	case ReasonDenyPolicy:
		return "a Deny policy matched"
	case ReasonNoPolicyMatched:
		return "no policy allows this identity"
	case ReasonPolicyMissing:
		return "the application links a policy that does not exist: every request is denied"
	case ReasonLoginRequired:
		return "no valid session: log in to this application first"
	case ReasonPurposeJustificationRequired:
		return "this application asks why you need access: give a reason at login"
	case ReasonBindingCookieMismatch:
		return "the session is bound to another browser (its CF_Binding cookie is missing or does not match): log in again"
	case ReasonServiceTokenUnknown:
		return "the service token's client id is unknown"
	case ReasonServiceTokenBadSecret:
		return "the service token's client secret is wrong"
	case ReasonServiceTokenExpired:
		return "the service token has expired"
	case ReasonServiceTokenNoPolicy:
		return "no Service Auth policy of this application accepts the service token"
	case ReasonServiceTokenMalformed:
		return "service token headers are incomplete or malformed"
	case ReasonSessionInvalid:
		return "the session token is malformed"
	case ReasonSessionExpired:
		return "the session has expired: log in again"
	case ReasonSessionWrongAudience:
		return "the session token is for another application"
	case ReasonSessionRevoked:
		return "the application's sessions were revoked: log in again"
	case ReasonSessionWrongIssuer:
		return "the session token was issued by another auth domain"
	case ReasonSessionSignatureFailed:
		return "the session token's signature does not verify"
	}
	return string(r)
}
