package pages

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

func render(t *testing.T, p Page) (body, csp string) {
	t.Helper()
	rec := httptest.NewRecorder()
	Render(rec, 200, p)
	return rec.Body.String(), rec.Header().Get("Content-Security-Policy")
}

var styleRe = regexp.MustCompile(`(?s)<style>(.*?)</style>`)

// The CSP names the page's one <style> element by its hash, so it must be
// exactly the bytes sent; nothing else may style, script or load.
func TestRenderedStyleMatchesTheCSPHash(t *testing.T) {
	body, csp := render(t, Page{Title: "Sign in", Design: Design{LoginDesign: access.LoginDesign{BackgroundColor: "#102030", TextColor: "white"}}})
	m := styleRe.FindAllStringSubmatch(body, -1)
	if len(m) != 1 {
		t.Fatalf("%d style elements", len(m))
	}
	sum := sha256.Sum256([]byte(m[0][1]))
	if !strings.Contains(csp, "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
		t.Fatalf("CSP %q does not name the style's hash", csp)
	}
	for _, want := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") || strings.Contains(body, "<script") {
		t.Errorf("page allows or has script: %q", csp)
	}
	if !strings.Contains(m[0][1], "--brand-bg: #102030;") || !strings.Contains(m[0][1], "--brand-text: white;") {
		t.Errorf("design colours not in the style")
	}
}

// A login_design value that got past the API (an old row, a bug) never
// reaches the page as CSS or HTML: bad colours and logos are dropped, and
// texts are escaped.
func TestInjectedDesignValuesAreDroppedOrEscaped(t *testing.T) {
	tests := []struct {
		name   string
		design access.LoginDesign
		org    string
		absent []string // must not be in the body
		want   []string // must be in the body
	}{
		{"fail/background closes the rule", access.LoginDesign{BackgroundColor: "red;}body{display:none"}, "", []string{"display:none"}, nil},
		{"fail/text color closes the style", access.LoginDesign{TextColor: "</style><script>alert(1)</script>"}, "", []string{"<script>", "alert(1)"}, nil},
		{"fail/color keyword not a color", access.LoginDesign{BackgroundColor: "expression"}, "", []string{"expression"}, nil},
		{"fail/color with url", access.LoginDesign{BackgroundColor: "url(https://evil.test/x)"}, "", []string{"evil.test"}, nil},
		{"fail/logo javascript", access.LoginDesign{LogoPath: "javascript:alert(1)"}, "", []string{"javascript:", "<img"}, nil},
		{"fail/logo breaks the attribute", access.LoginDesign{LogoPath: `https://x.test/a.png" onerror="alert(1)`}, "", []string{"onerror", "<img"}, nil},
		{"fail/logo http", access.LoginDesign{LogoPath: "http://x.test/a.png"}, "", []string{"<img"}, nil},
		{"fail/logo protocol-relative", access.LoginDesign{LogoPath: "//evil.test/a.png"}, "", []string{"<img", "evil.test"}, nil},
		{"ok/header text is text", access.LoginDesign{HeaderText: `<img src=x onerror=alert(1)>`}, "", []string{"<img src=x"}, []string{"&lt;img src=x onerror=alert(1)&gt;"}},
		{"ok/footer text is text", access.LoginDesign{FooterText: `</footer><script>x()</script>`}, "", []string{"<script>"}, []string{"&lt;/footer&gt;&lt;script&gt;x()&lt;/script&gt;"}},
		{"ok/org name is text", access.LoginDesign{}, `Acme <b>"Corp"</b>`, []string{"<b>"}, []string{"Acme &lt;b&gt;&#34;Corp&#34;&lt;/b&gt;"}},
		{"ok/valid design", access.LoginDesign{BackgroundColor: "navy", TextColor: "#fff", LogoPath: "https://cdn.example.test/logo.svg"}, "Acme", nil,
			[]string{"--brand-bg: navy;", "--brand-text: #fff;", `<img src="https://cdn.example.test/logo.svg"`}},
		{"ok/logo path", access.LoginDesign{LogoPath: "/static/logo.png"}, "", nil, []string{`<img src="/static/logo.png"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, csp := render(t, Page{Title: "Sign in", Design: Design{OrgName: tc.org, LoginDesign: tc.design}})
			for _, s := range tc.absent {
				if strings.Contains(body, s) {
					t.Errorf("page contains %q:\n%s", s, body)
				}
			}
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q:\n%s", s, body)
				}
			}
			if strings.Contains(csp, "evil") || strings.Contains(csp, "javascript") {
				t.Errorf("CSP names a refused source: %s", csp)
			}
		})
	}
}

func TestLogoOriginIsTheOnlyImageSource(t *testing.T) {
	_, csp := render(t, Page{Title: "x", Design: Design{LoginDesign: access.LoginDesign{LogoPath: "https://cdn.example.test:8443/l.svg"}}})
	if !strings.Contains(csp, "img-src https://cdn.example.test:8443;") {
		t.Errorf("CSP %q", csp)
	}
	_, csp = render(t, Page{Title: "x"})
	if strings.Contains(csp, "img-src") {
		t.Errorf("CSP without a logo allows images: %q", csp)
	}
}

// Every reason the engine denies with has a sentence of its own, not the
// operator's description.
func TestEveryDenialReasonHasASentence(t *testing.T) {
	for _, r := range []policy.Reason{policy.ReasonNoPolicyMatched, policy.ReasonDenyPolicy, policy.ReasonPolicyMissing, policy.ReasonServiceTokenNoPolicy} {
		s := BlockSentence(r)
		if s == "" || strings.Contains(s, string(r)) || s == r.Describe() || !strings.HasSuffix(s, ".") {
			t.Errorf("%s: %q", r, s)
		}
	}
	if s := BlockSentence(policy.ReasonSessionExpired); !strings.HasPrefix(s, "The session has expired") {
		t.Errorf("fallback: %q", s)
	}
}

// Whatever a stored design holds, the page has exactly one <style> (the
// one the CSP hashes), no script, no attribute or element from the design,
// and its texts appear only escaped.
func FuzzDesignStaysInItsPlace(f *testing.F) {
	f.Add("#fff", "navy", "https://cdn.test/l.svg", "Acme", "Footer", "Org")
	f.Add("red;}body{", "</style><script>", `/a" onload="x`, "<b>", "</footer>", `"'&`)
	f.Fuzz(func(t *testing.T, bg, fg, logo, header, footer, org string) {
		d := Design{OrgName: org, LoginDesign: access.LoginDesign{BackgroundColor: bg, TextColor: fg, LogoPath: logo, HeaderText: header, FooterText: footer}}
		body, csp := render(t, Page{Title: "Sign in", Design: d})
		if n := strings.Count(body, "<style"); n != 1 || strings.Count(body, "</style") != 1 {
			t.Fatalf("%d style elements", n)
		}
		if strings.Contains(strings.ToLower(body), "<script") {
			t.Fatal("script in page")
		}
		m := styleRe.FindStringSubmatch(body)
		sum := sha256.Sum256([]byte(m[1]))
		if !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
			t.Fatal("style does not match the CSP hash")
		}
		extra := strings.TrimPrefix(m[1], stylesheet)
		if extra != "" && !regexp.MustCompile(`^:root \{( --brand-bg: [#a-zA-Z0-9]+;)?( --brand-text: [#a-zA-Z0-9]+;)? \}\n$`).MatchString(extra) {
			t.Fatalf("design added CSS %q", extra)
		}
		if strings.Count(body, "<img") > 1 || strings.Contains(body, "<img") && !access.ValidLogoPath(logo) {
			t.Fatal("logo shown that the API would refuse")
		}
		if strings.ContainsAny(csp, "\r\n") || strings.Count(csp, "img-src") > 1 {
			t.Fatalf("CSP %q", csp)
		}
	})
}
