package api

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Limits on durations accepted from callers.
const (
	maxSessionDuration = access.MaxSessionDuration
	maxTokenDuration   = 876000 * time.Hour
)

var (
	hostLabel  = `[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?`
	plainHost  = regexp.MustCompile(`^(` + hostLabel + `\.)*` + hostLabel + `$`)
	tokenRe    = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	schemeRe   = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
	scopeRe    = regexp.MustCompile(`^[\x21\x23-\x5b\x5d-\x7e]+$`) // RFC 6749 scope-token
	messageFor = map[string]string{
		"origin_url":       "must be an absolute http:// or https:// URL with a host and no query, fragment or credentials, such as http://127.0.0.1:3000",
		"cors_origin":      "must be an origin such as https://example.com (scheme, host and optional port; no path); use allow_all_origins for any origin",
		"cors_method":      "must be one of " + strings.Join(access.CORSMethods, ", "),
		"header_name":      "must be an HTTP header name (letters, digits and !#$%&'*+.^_`|~-); use allow_all_headers for any header",
		"session_duration": "must be a duration such as 30m or 24h, at most 8760h",
		"token_duration":   "must be a duration such as 8760h, greater than zero",
		"http_url":         "must be an absolute http:// or https:// URL",
		"redirect_url":     "must be an absolute http:// or https:// URL with a host, in canonical form: printable ASCII without spaces, backslashes or credentials (it is sent as the Location exactly as given)",
		"idp_url":          "must be an absolute https:// URL without credentials or fragment, such as https://login.example.com (http:// is accepted for tests on loopback)",
		"oauth_scope":      "must be an OAuth scope: printable ASCII without spaces, quotes or backslashes",
		"uuid":             "must be a UUID",
		"unique":           "must not contain duplicates",
		"datetime":         "must be an RFC 3339 time such as 2026-01-02T15:04:05Z",
		"auth_domain":      "must be a host name in lower case, such as team.example.com (letters, digits and hyphens in dot-separated labels)",
		"seat_expiration":  "must be a duration such as 730h or 1460h, at least 730h (a month)",
		"css_color":        "must be a color such as #0055ff, #fff or a CSS color name such as navy",
		"logo_path":        "must be an https:// URL or a path such as /logo.svg, without spaces, quotes, angle brackets or backslashes",
	}
)

// newValidator returns the validator with Gatehouse's custom rules. Field
// names in its errors are the JSON names.
func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	must := func(tag string, fn func(string) bool) {
		if err := v.RegisterValidation(tag, func(fl validator.FieldLevel) bool { return fn(fl.Field().String()) }); err != nil {
			panic(err)
		}
	}
	must("origin_url", validOriginURL)
	must("cors_origin", validCORSOrigin)
	must("cors_method", func(s string) bool { return slices.Contains(access.CORSMethods, s) })
	must("header_name", func(s string) bool { return len(s) <= 256 && tokenRe.MatchString(s) })
	must("session_duration", func(s string) bool { return validDuration(s, maxSessionDuration) })
	must("token_duration", func(s string) bool { return validDuration(s, maxTokenDuration) })
	must("http_url", func(s string) bool {
		u, err := url.Parse(s)
		return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && len(s) <= 2048
	})
	must("redirect_url", access.ValidRedirectURL)
	must("idp_url", validIdPURL)
	must("oauth_scope", scopeRe.MatchString)
	must("auth_domain", func(s string) bool { return len(s) <= 253 && access.AuthDomainRe.MatchString(s) })
	must("seat_expiration", func(s string) bool {
		d, err := time.ParseDuration(s)
		return err == nil && d >= 730*time.Hour && d <= maxTokenDuration
	})
	must("css_color", access.ValidCSSColor)
	must("logo_path", access.ValidLogoPath)
	return v
}

// validIdPURL accepts an identity provider's issuer or endpoint URL. http
// is allowed so that tests can run a provider on loopback; production
// providers should be https.
func validIdPURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || len(s) > 2048 {
		return false
	}
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil &&
		u.Fragment == "" && u.Opaque == ""
}

func validDuration(s string, max time.Duration) bool {
	d, err := time.ParseDuration(s)
	return err == nil && d > 0 && d <= max
}

func validOriginURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || len(s) > 2048 {
		return false
	}
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil &&
		u.RawQuery == "" && u.Fragment == "" && !u.ForceQuery && u.Opaque == ""
}

// validCORSOrigin accepts a serialised origin: scheme://host[:port].
func validCORSOrigin(s string) bool {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !schemeRe.MatchString(strings.ToLower(scheme)) || rest == "" || len(s) > 2048 {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.ForceQuery {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if strings.HasPrefix(u.Host, "[") {
		return true // an IPv6 literal that url.Parse accepted
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	return plainHost.MatchString(host)
}

// validateStruct checks v's struct tags and returns every failure as a
// field error with the field's JSON path. A body that passes is then
// refused if it sets a field Gatehouse does not support to anything but
// its default (access.Inventory).
func (s *Server) validateStruct(v any) error {
	err := s.validate.Struct(v)
	if err == nil {
		return access.CheckSupported(v)
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return fmt.Errorf("validate: %w", err)
	}
	fields := make([]access.FieldError, 0, len(verrs))
	for _, fe := range verrs {
		fields = append(fields, access.FieldError{Field: fieldPath(fe.Namespace()), Message: fieldMessage(fe)})
	}
	return access.InvalidFields(fields)
}

// fieldPath drops the root type name and the names of embedded structs
// (which have no JSON name) from a validator namespace.
func fieldPath(ns string) string {
	parts := strings.Split(ns, ".")[1:]
	out := parts[:0]
	for _, p := range parts {
		if p == "" || p[0] >= 'A' && p[0] <= 'Z' {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ".")
}

func fieldMessage(fe validator.FieldError) string {
	if m, ok := messageFor[fe.Tag()]; ok {
		return m
	}
	k := fe.Kind()
	switch fe.Tag() {
	case "required":
		return "is required"
	case "eq":
		return "must be " + fe.Param()
	case "oneof":
		return "must be one of: " + strings.ReplaceAll(fe.Param(), " ", ", ")
	case "min", "max":
		word := map[string]string{"min": "at least", "max": "at most"}[fe.Tag()]
		switch k {
		case reflect.Slice, reflect.Map:
			return fmt.Sprintf("must have %s %s items", word, fe.Param())
		case reflect.String:
			return fmt.Sprintf("must be %s %s characters long", word, fe.Param())
		}
		return fmt.Sprintf("must be %s %s", word, fe.Param())
	}
	return "is invalid (" + fe.Tag() + ")"
}
