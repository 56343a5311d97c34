package access

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// OrganizationSpec is an account's Zero Trust organization as Cloudflare's
// /access/organizations takes it. Every field is optional; a field left
// out is neither stored nor returned, so a client (Terraform) that did not
// set it reads it back absent. Which fields do anything is in Inventory.
type OrganizationSpec struct {
	Name                           string             `json:"name,omitempty" validate:"max=255"`
	AuthDomain                     string             `json:"auth_domain,omitempty" validate:"omitempty,auth_domain"`
	SessionDuration                string             `json:"session_duration,omitempty" validate:"omitempty,session_duration"`
	UserSeatExpirationInactiveTime string             `json:"user_seat_expiration_inactive_time,omitempty" validate:"omitempty,seat_expiration"`
	WARPAuthSessionDuration        string             `json:"warp_auth_session_duration,omitempty" validate:"omitempty,session_duration"`
	LoginDesign                    *LoginDesign       `json:"login_design,omitempty"`
	CustomPages                    *OrganizationPages `json:"custom_pages,omitempty"`
	IsUIReadOnly                   bool               `json:"is_ui_read_only,omitempty"`
	UIReadOnlyToggleReason         string             `json:"ui_read_only_toggle_reason,omitempty" validate:"max=1024"`
	AutoRedirectToIdentity         bool               `json:"auto_redirect_to_identity,omitempty"`
	AllowAuthenticateViaWARP       bool               `json:"allow_authenticate_via_warp,omitempty"`
	DenyUnmatchedRequests          bool               `json:"deny_unmatched_requests,omitempty"`
	DenyUnmatchedExemptZones       []string           `json:"deny_unmatched_requests_exempted_zone_names,omitempty"`
	MFAConfig                      json.RawMessage    `json:"mfa_config,omitempty"`
	MFARequiredForAllApps          bool               `json:"mfa_required_for_all_apps,omitempty"`
	MFASSHPivKeyRequirements       json.RawMessage    `json:"mfa_ssh_piv_key_requirements,omitempty"`
	MFAConfigurationAllowed        bool               `json:"mfa_configuration_allowed,omitempty"`
}

// LoginDesign is the look of an organization's login pages. The edge
// keeps it (through the change feed) for the login pages.
type LoginDesign struct {
	BackgroundColor string `json:"background_color,omitempty" validate:"omitempty,css_color"`
	TextColor       string `json:"text_color,omitempty" validate:"omitempty,css_color"`
	LogoPath        string `json:"logo_path,omitempty" validate:"omitempty,logo_path"`
	HeaderText      string `json:"header_text,omitempty" validate:"max=1024"`
	FooterText      string `json:"footer_text,omitempty" validate:"max=1024"`
}

// OrganizationPages names custom pages by uid (Cloudflare's custom_pages).
type OrganizationPages struct {
	Forbidden      string `json:"forbidden,omitempty"`
	IdentityDenied string `json:"identity_denied,omitempty"`
}

// Empty reports whether d sets nothing.
func (d *LoginDesign) Empty() bool { return d == nil || *d == LoginDesign{} }

// Normalize drops empty nested objects, which mean the same as absent
// ones, so that they are neither stored nor returned.
func (o *OrganizationSpec) Normalize() {
	if o.LoginDesign.Empty() {
		o.LoginDesign = nil
	}
	if o.CustomPages != nil && *o.CustomPages == (OrganizationPages{}) {
		o.CustomPages = nil
	}
	if len(o.DenyUnmatchedExemptZones) == 0 {
		o.DenyUnmatchedExemptZones = nil
	}
	if rawEmpty(o.MFAConfig) {
		o.MFAConfig = nil
	}
	if rawEmpty(o.MFASSHPivKeyRequirements) {
		o.MFASSHPivKeyRequirements = nil
	}
}

// rawEmpty reports whether a raw JSON value is absent, null, [] or {}.
func rawEmpty(raw []byte) bool {
	if !rawSet(raw) {
		return true
	}
	var b bytes.Buffer
	return json.Compact(&b, raw) == nil && b.String() == "{}"
}

// Organization is what the edge keeps of an account's organization.
type Organization struct {
	AccountID string
	// Name is the organization's name, shown on its login pages.
	Name string
	// SessionDuration is the lifetime of a login session on the auth
	// domain; zero for the default (DefaultLoginSession).
	SessionDuration time.Duration
	LoginDesign     LoginDesign
}

// DefaultLoginSession is the lifetime of a login session on the auth
// domain when the organization sets no session_duration (Cloudflare's
// default, 24 hours).
const DefaultLoginSession = 24 * time.Hour

// StoredOrganization is an organization as the store keeps it.
type StoredOrganization struct {
	AccountID string
	Spec      OrganizationSpec
	Revision  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Edge is the organization as the edge keeps it.
func (o *StoredOrganization) Edge() Organization {
	e := Organization{AccountID: o.AccountID, Name: o.Spec.Name}
	if d, err := time.ParseDuration(o.Spec.SessionDuration); err == nil && d > 0 {
		e.SessionDuration = d
	}
	if o.Spec.LoginDesign != nil {
		e.LoginDesign = *o.Spec.LoginDesign
	}
	return e
}

// AuthDomainRe is the form of an organization's auth_domain: a host name
// in lower case, as stored and returned.
var AuthDomainRe = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// CSSColorRe is the form of a login-page color: #rgb, #rrggbb (or with
// alpha) or a word; ValidCSSColor also checks that the word is a CSS
// color name.
var CSSColorRe = regexp.MustCompile(`^(#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})|[a-zA-Z]{3,20})$`)

// ValidCSSColor reports whether s is a login-page color: a hex color or
// one of CSS's named colors. Nothing else reaches a page's stylesheet, so
// a stored value cannot add CSS of its own.
func ValidCSSColor(s string) bool {
	if !CSSColorRe.MatchString(s) {
		return false
	}
	return s[0] == '#' || cssColorNames[strings.ToLower(s)]
}

// ValidLogoPath reports whether s is a login-page logo: an absolute
// https:// URL, or an absolute path on the page's own host, of printable
// ASCII without spaces, quotes, angle brackets or backslashes.
func ValidLogoPath(s string) bool {
	if s == "" || len(s) > 2048 {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' || c == '`' {
			return false
		}
	}
	if strings.HasPrefix(s, "/") {
		return !strings.HasPrefix(s, "//")
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil && u.Opaque == ""
}

// cssColorNames are CSS Color Module Level 4's named colors, and
// transparent.
var cssColorNames = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`aliceblue antiquewhite aqua aquamarine azure beige bisque black
	blanchedalmond blue blueviolet brown burlywood cadetblue chartreuse chocolate coral cornflowerblue
	cornsilk crimson cyan darkblue darkcyan darkgoldenrod darkgray darkgreen darkgrey darkkhaki
	darkmagenta darkolivegreen darkorange darkorchid darkred darksalmon darkseagreen darkslateblue
	darkslategray darkslategrey darkturquoise darkviolet deeppink deepskyblue dimgray dimgrey
	dodgerblue firebrick floralwhite forestgreen fuchsia gainsboro ghostwhite gold goldenrod gray
	green greenyellow grey honeydew hotpink indianred indigo ivory khaki lavender lavenderblush
	lawngreen lemonchiffon lightblue lightcoral lightcyan lightgoldenrodyellow lightgray lightgreen
	lightgrey lightpink lightsalmon lightseagreen lightskyblue lightslategray lightslategrey
	lightsteelblue lightyellow lime limegreen linen magenta maroon mediumaquamarine mediumblue
	mediumorchid mediumpurple mediumseagreen mediumslateblue mediumspringgreen mediumturquoise
	mediumvioletred midnightblue mintcream mistyrose moccasin navajowhite navy oldlace olive
	olivedrab orange orangered orchid palegoldenrod palegreen paleturquoise palevioletred
	papayawhip peachpuff peru pink plum powderblue purple rebeccapurple red rosybrown royalblue
	saddlebrown salmon sandybrown seagreen seashell sienna silver skyblue slateblue slategray
	slategrey snow springgreen steelblue tan teal thistle tomato turquoise violet wheat white
	whitesmoke yellow yellowgreen transparent`) {
		cssColorNames[n] = true
	}
}

// KeySettings is the body of PUT /access/keys.
type KeySettings struct {
	KeyRotationIntervalDays float64 `json:"key_rotation_interval_days"`
}

// Bounds of key_rotation_interval_days, as Cloudflare has them.
const (
	MinKeyRotationDays     = 21
	MaxKeyRotationDays     = 365
	DefaultKeyRotationDays = 42 // six weeks, the installation's default
)

// KeyStatus is what GET /access/keys answers.
type KeyStatus struct {
	KeyRotationIntervalDays float64   `json:"key_rotation_interval_days"`
	LastKeyRotationAt       time.Time `json:"last_key_rotation_at"`
	DaysUntilNextRotation   float64   `json:"days_until_next_rotation"`
}
