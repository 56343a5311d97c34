package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// policyTestInput is the policy tester's request: an app and the facts of
// a hypothetical request to it (Gatehouse extension). CORSHeaders and
// OptionsPreflightBypass, when either is given, are draft CORS settings
// tested in place of the app's saved ones.
type policyTestInput struct {
	AppID       string `json:"app_id" validate:"required,uuid"`
	Path        string `json:"path" validate:"omitempty,max=2048"`
	Email       string `json:"email" validate:"omitempty,max=320"`
	LoginMethod string `json:"login_method" validate:"omitempty,max=256"`
	// OIDCClaims are the identity provider claims the session kept, for
	// oidc rules (as the app token's "custom" claim).
	OIDCClaims     map[string][]string `json:"oidc_claims" validate:"max=50"`
	IP             string              `json:"ip" validate:"omitempty,max=64"`
	Country        string              `json:"country"`
	ServiceTokenID string              `json:"service_token_id" validate:"omitempty,uuid"`
	// ClientCertificateCommonName describes a client certificate the
	// edge verified for the app's host (mutual TLS), by its common name.
	ClientCertificateCommonName *string  `json:"client_certificate_common_name" validate:"omitempty,max=256"`
	Method                      string   `json:"method"`
	Origin                      string   `json:"origin" validate:"omitempty,cors_origin"`
	RequestHeaders              []string `json:"request_headers" validate:"max=64,dive,header_name"`

	CORSHeaders            *access.CORSSettings `json:"cors_headers"`
	OptionsPreflightBypass *bool                `json:"options_preflight_bypass"`
}

// draft reports whether the request gives CORS settings to test instead
// of the saved ones.
func (in *policyTestInput) draft() bool {
	return in.CORSHeaders != nil || in.OptionsPreflightBypass != nil
}

// policyTestResult is the engine's explanation in the API's words.
type policyTestResult struct {
	AppID      string               `json:"app_id"`
	Path       string               `json:"path"`
	Draft      bool                 `json:"draft"`
	Decision   string               `json:"decision"`
	Reason     policy.Reason        `json:"reason"`
	ReasonText string               `json:"reason_text"`
	Policy     *policyTestPolicy    `json:"policy"`
	Rule       *policyTestRule      `json:"rule"`
	Policies   []policyTestStep     `json:"policies"`
	Preflight  *policyTestPreflight `json:"preflight"`
}

type policyTestPolicy struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Decision string `json:"decision"`
}

type policyTestRule struct {
	List  string `json:"list"`
	Index int    `json:"index"`
	Type  string `json:"type"`
}

type policyTestStep struct {
	policyTestPolicy
	Evaluated      bool            `json:"evaluated"`
	Matched        bool            `json:"matched"`
	MatchedInclude *policyTestRule `json:"matched_include"`
	FailedRequire  *policyTestRule `json:"failed_require"`
	MatchedExclude *policyTestRule `json:"matched_exclude"`
	Explanation    string          `json:"explanation"`
}

type policyTestPreflight struct {
	Outcome    string            `json:"outcome"`
	Reason     policy.Reason     `json:"reason"`
	ReasonText string            `json:"reason_text"`
	Status     any               `json:"status"` // 204, 403 or "forwarded"
	Headers    map[string]string `json:"headers"`
}

// check returns what struct tags cannot say well.
func (in *policyTestInput) check() []access.FieldError {
	var fields []access.FieldError
	bad := func(field, msg string) { fields = append(fields, access.FieldError{Field: field, Message: msg}) }
	if in.Path != "" && !strings.HasPrefix(in.Path, "/") {
		bad("path", "must start with /")
	}
	if in.IP != "" {
		if _, err := netip.ParseAddr(in.IP); err != nil {
			bad("ip", "must be an IPv4 or IPv6 address such as 192.0.2.1")
		}
	}
	if in.Country != "" && (len(in.Country) != 2 || !isASCIILetters(in.Country)) {
		bad("country", "must be a two-letter ISO 3166 country code such as DE")
	}
	if in.Method != "" && !slices.Contains(access.CORSMethods, in.Method) {
		bad("method", "must be one of "+strings.Join(access.CORSMethods, ", "))
	}
	if in.Email != "" && !strings.Contains(in.Email, "@") {
		bad("email", "must be an email address")
	}
	if in.LoginMethod != "" && in.Email == "" {
		bad("login_method", "needs email: a login method belongs to a logged-in user")
	}
	if len(in.OIDCClaims) > 0 && in.LoginMethod == "" {
		bad("oidc_claims", "needs email and login_method: claims come from a login through an identity provider")
	}
	if in.Email != "" && in.ServiceTokenID != "" {
		bad("service_token_id", "give email or service_token_id, not both: the edge reads a service token before any session")
	}
	return fields
}

func isASCIILetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// testPolicy answers what the edge would decide for a described request,
// from the engine itself: the configuration is loaded and compiled with
// the same code as the edge, per call, for the caller's account alone and
// without secrets. Draft CORS settings replace the app's in the loaded
// configuration before it is compiled, so the engine answers for them as
// the edge would once they are saved; nothing is stored.
func (s *Server) testPolicy(w http.ResponseWriter, r *http.Request) error {
	var in policyTestInput
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	// Report every bad field at once: the tags' and check's together.
	fields := in.check()
	if err := s.validateStruct(&in); err != nil {
		var ae *access.Error
		if !errors.As(err, &ae) {
			return err
		}
		fields = append(ae.Fields, fields...)
	}
	var draftCORS *access.CORSSettings
	draftBypass := in.OptionsPreflightBypass != nil && *in.OptionsPreflightBypass
	if in.draft() {
		var corsErrs []access.FieldError
		draftCORS, corsErrs = access.NormalizeCORS(in.CORSHeaders, draftBypass)
		fields = append(fields, corsErrs...)
	}
	if err := access.InvalidFields(fields); err != nil {
		return err
	}
	acct := accountID(r)
	cfg, err := s.store.LoadAccountConfig(r.Context(), acct)
	if err != nil {
		return fmt.Errorf("policy test: load config: %w", err)
	}
	i := slices.IndexFunc(cfg.Apps, func(a access.App) bool { return a.ID == in.AppID && a.AccountID == acct })
	if i < 0 {
		return access.Errorf(access.ENotFound, "application not found")
	}
	if in.draft() {
		cfg.Apps[i].CORSHeaders, cfg.Apps[i].OptionsPreflightBypass = draftCORS, draftBypass
	}
	snap, err := policy.Compile(cfg)
	if err != nil {
		return fmt.Errorf("policy test: compile: %w", err)
	}
	app := snap.App(in.AppID)
	if app == nil {
		return fmt.Errorf("policy test: app %s loaded but not compiled", in.AppID)
	}
	f := policy.Facts{Country: strings.ToUpper(in.Country)}
	if in.IP != "" {
		f.IP, _ = netip.ParseAddr(in.IP)
	}
	if in.Email != "" {
		f.Identity = &policy.Identity{Email: in.Email, LoginMethod: in.LoginMethod, Claims: in.OIDCClaims}
	}
	if cn := in.ClientCertificateCommonName; cn != nil {
		f.ClientCert = &policy.ClientCert{CommonName: *cn}
	}
	if in.ServiceTokenID != "" {
		if f.Token = snap.ServiceToken(acct, in.ServiceTokenID); f.Token == nil {
			return access.Invalid("service_token_id", "is not a service token of this account")
		}
	}
	ex := snap.Explain(app, f)
	d := ex.Decision
	res := policyTestResult{
		AppID: app.ID, Path: in.Path, Draft: in.draft(), Decision: d.Action.String(), Reason: d.Reason, ReasonText: d.Reason.Describe(),
		Policies: make([]policyTestStep, len(ex.Policies)),
	}
	if res.Path == "" {
		res.Path = "/"
	}
	for i, e := range ex.Policies {
		ref := policyTestPolicy{ID: e.Policy.ID, Name: e.Policy.Name, Decision: string(e.Policy.Decision)}
		res.Policies[i] = policyTestStep{policyTestPolicy: ref, Evaluated: e.Evaluated, Matched: e.Matched,
			MatchedInclude: ruleOf("include", e.Include), FailedRequire: ruleOf("require", e.Require),
			MatchedExclude: ruleOf("exclude", e.Exclude), Explanation: e.Why()}
		if d.Policy == e.Policy {
			res.Policy = &ref
			res.Rule = ruleOf("include", e.Include)
		}
	}
	if in.Origin != "" && in.Method != "" {
		pf := app.Preflight(in.Origin, in.Method, strings.Join(in.RequestHeaders, ", "))
		p := &policyTestPreflight{Reason: pf.Reason, ReasonText: pf.Reason.Describe(), Headers: map[string]string{}}
		switch pf.Outcome {
		case policy.PreflightAnswer:
			p.Outcome, p.Status = "answered", http.StatusNoContent
		case policy.PreflightForward:
			p.Outcome, p.Status = "forwarded", "forwarded"
		default:
			p.Outcome, p.Status = "refused", http.StatusForbidden
		}
		for k, v := range pf.Headers {
			p.Headers[k] = strings.Join(v, ", ")
		}
		res.Preflight = p
	}
	writeResult(w, res)
	return nil
}

func ruleOf(list string, r *policy.RuleRef) *policyTestRule {
	if r == nil {
		return nil
	}
	return &policyTestRule{List: list, Index: r.Index, Type: r.Type}
}
