// Package pages renders the HTML pages end users meet at the edge: the
// sign-in page, the one-time code entry, the block page and the error
// pages. They share one embedded stylesheet (the dashboard's palette,
// light and dark), need no JavaScript, and are sent with a strict Content
// Security Policy; an organization's login_design colours, logo and texts
// are applied only after they pass the same checks as the API's.
package pages

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

//go:embed pages.css
var stylesheet string

// Design is the look an organization gives its pages.
type Design struct {
	// OrgName names the organization in the page's header when it sets
	// no header text.
	OrgName string
	access.LoginDesign
}

// DesignOf is the design of org, the default design when org is nil.
func DesignOf(org *access.Organization) Design {
	if org == nil {
		return Design{}
	}
	return Design{OrgName: org.Name, LoginDesign: org.LoginDesign}
}

// Link is a link shown as a button or in the page's list of actions.
type Link struct {
	ID, Text, URL string
}

// Form is a form of one field (an email address, a code, a reason).
type Form struct {
	ID, Action, Label, Field, Type, Autocomplete, InputMode, Hint, Button string
	// Code styles the field for a one-time code.
	Code   bool
	Hidden map[string]string
}

// Page is one page.
type Page struct {
	Design Design
	// Title is the page's heading and the start of its <title>.
	Title string
	// Lead is the first paragraph; Alert a problem shown above it.
	Lead, Alert string
	// Email is the signed-in user, shown as "Signed in as".
	Email string
	// Buttons are links styled as buttons (one per identity provider).
	Buttons []Link
	// Form follows the buttons, after an "or" when there are buttons.
	Form *Form
	// Actions are links shown under the card's main content.
	Actions []Link
	// Detail says more, for whoever looks into a problem.
	Detail string
	// Code is a reason or error code, shown small for support.
	Code string
	// Next is where the page sends the browser on its own (and offers a
	// link to).
	Next string
	// FormActions are origins besides the page's own that its form may
	// end up at (a redirect after a post), for the CSP's form-action.
	FormActions []string
}

// view is what the template sees: the page plus the checked design.
type view struct {
	Page
	Header, Footer, Logo, LogoAlt string
}

var tmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}}{{if .Header}} · {{.Header}}{{end}}</title>
{{if .Next}}<meta http-equiv="refresh" content="0;url={{.Next}}">{{end}}
<style>{{.Style}}</style>
</head><body>
<header class="brand">{{if .Logo}}<img src="{{.Logo}}" alt="{{.LogoAlt}}">{{end}}{{if .Header}}<span id="header-text">{{.Header}}</span>{{end}}</header>
<main id="main"><div class="card">
<h1>{{.Title}}</h1>
{{if .Alert}}<p class="alert" role="alert">{{.Alert}}</p>{{end}}
{{if .Lead}}<p class="lead">{{.Lead}}</p>{{end}}
{{if .Email}}<p class="who" id="signed-in-as">Signed in as <strong>{{.Email}}</strong></p>{{end}}
{{range .Buttons}}<a class="btn primary" id="idp-{{.ID}}" href="{{.URL}}">{{.Text}}</a>
{{end}}{{with .Form}}{{if $.Buttons}}<p class="or">or</p>{{end}}
<form method="post" action="{{.Action}}"{{if .ID}} id="{{.ID}}"{{end}}>
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<label for="{{.Field}}">{{.Label}}</label>
{{if .Hint}}<p class="hint" id="{{.Field}}-hint">{{.Hint}}</p>{{end}}
<input name="{{.Field}}" id="{{.Field}}" type="{{or .Type "text"}}"{{if .Autocomplete}} autocomplete="{{.Autocomplete}}"{{end}}{{if .InputMode}} inputmode="{{.InputMode}}"{{end}}{{if .Hint}} aria-describedby="{{.Field}}-hint"{{end}}{{if .Code}} class="code"{{end}} required>
<button class="btn{{if not $.Buttons}} primary{{end}}" type="submit" id="submit">{{.Button}}</button>
</form>{{end}}
{{if .Next}}<a class="btn primary" id="continue" href="{{.Next}}">Continue</a>{{end}}
{{if .Actions}}<ul class="actions">{{range .Actions}}<li><a id="{{.ID}}" href="{{.URL}}">{{.Text}}</a></li>{{end}}</ul>{{end}}
{{if .Detail}}<p class="hint" id="detail">Details: {{.Detail}}</p>{{end}}
{{if .Code}}<p class="code-ref">Reference: <code id="reason-code">{{.Code}}</code></p>{{end}}
</div></main>
{{if .Footer}}<footer id="footer-text">{{.Footer}}</footer>{{end}}
</body></html>
`))

// Style is the page's stylesheet: the embedded one, then the design's
// colours, each only if it is a valid CSS colour.
func Style(d access.LoginDesign) string {
	var b strings.Builder
	b.WriteString(stylesheet)
	bg, fg := access.ValidCSSColor(d.BackgroundColor), access.ValidCSSColor(d.TextColor)
	if bg || fg {
		b.WriteString(":root {")
		if bg {
			b.WriteString(" --brand-bg: " + d.BackgroundColor + ";")
		}
		if fg {
			b.WriteString(" --brand-text: " + d.TextColor + ";")
		}
		b.WriteString(" }\n")
	}
	return b.String()
}

// Render writes p with status and its security headers.
func Render(w http.ResponseWriter, status int, p Page) {
	v := view{Page: p, Header: strings.TrimSpace(p.Design.HeaderText), Footer: strings.TrimSpace(p.Design.FooterText)}
	if v.Header == "" {
		v.Header = strings.TrimSpace(p.Design.OrgName)
	}
	imgSrc := ""
	if logo := p.Design.LogoPath; access.ValidLogoPath(logo) {
		v.Logo = logo
		if v.Header == "" {
			v.LogoAlt = "Logo"
		}
		if strings.HasPrefix(logo, "/") {
			imgSrc = "'self'"
		} else if u, err := url.Parse(logo); err == nil {
			imgSrc = cspSource("https", u.Host)
		}
	}
	style := Style(p.Design.LoginDesign)
	var body bytes.Buffer
	if err := tmpl.Execute(&body, struct {
		view
		Style template.CSS
	}{v, template.CSS(style)}); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	sum := sha256.Sum256([]byte(style))
	csp := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if imgSrc != "" {
		csp += "; img-src " + imgSrc
	}
	formAction := "'self'"
	for _, o := range p.FormActions {
		if o != "" {
			formAction += " " + o
		}
	}
	csp += "; form-action " + formAction + "; frame-ancestors 'none'; base-uri 'none'"
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}

// cspSource is scheme://hostport as a CSP source, or "" when hostport
// holds anything but the characters of a host name and port.
func cspSource(scheme, hostport string) string {
	if hostport == "" {
		return ""
	}
	for _, c := range hostport {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':') {
			return ""
		}
	}
	return scheme + "://" + hostport
}

// WantsHTML reports whether r is from a browser that takes a page (its
// Accept names text/html, or it is a navigation) rather than a script
// or a command-line client, which get JSON.
func WantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html") || r.Header.Get("Sec-Fetch-Mode") == "navigate"
}
