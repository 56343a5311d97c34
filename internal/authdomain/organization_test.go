package authdomain_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

// The organization's session_duration is the lifetime of the login
// session on the auth domain (24h without one), and a change reaches a
// running edge through the change feed, with the login design.
func TestOrganizationSessionDurationSetsTheLoginSession(t *testing.T) {
	t.Parallel()
	e, mail := otpEnv(t, gatehousetest.EdgeOptions{})
	h := host(t, "app")
	e.App(t, h, nil, pol("staff", "allow", rules(t, `{"email_domain":{"domain":"example.test"}}`)))
	life := func(when string, want time.Duration) {
		t.Helper()
		c := gatehousetest.LoginClient(t, e.Edge.URL)
		if resp, body := otpLogin(t, c, mail, "http://"+h+e.Port()+"/", "ann@example.test"); resp.StatusCode != 200 || body != "origin ok" {
			t.Fatalf("%s: login: %d %s", when, resp.StatusCode, body)
		}
		jwt := cookieFor(t, c, strings.TrimPrefix(e.Edge.URL, "http://"))
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims struct {
			IAT int64 `json:"iat"`
			Exp int64 `json:"exp"`
		}
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		if got := time.Duration(claims.Exp-claims.IAT) * time.Second; got != want {
			t.Errorf("%s: the login session lasts %v, want %v", when, got, want)
		}
	}
	life("no organization", access.DefaultLoginSession)

	e.API.MustCall(t, "PUT", "access/organizations", map[string]any{"name": "Example", "session_duration": "2h",
		"login_design": map[string]any{"background_color": "#112233", "header_text": "Welcome"}}, nil)
	e.Edge.Sync(t, e.API.Store)
	life("session_duration 2h", 2*time.Hour)
	org := e.Edge.Loader.State().Snap.Organization(e.API.AccountID)
	if org == nil || org.LoginDesign.BackgroundColor != "#112233" || org.LoginDesign.HeaderText != "Welcome" {
		t.Errorf("the edge keeps %+v", org)
	}

	e.API.MustCall(t, "PUT", "access/organizations", map[string]any{"session_duration": "30m"}, nil)
	e.Edge.Sync(t, e.API.Store)
	life("session_duration 30m", 30*time.Minute)

	e.API.MustCall(t, "PUT", "access/organizations", map[string]any{"session_duration": nil}, nil)
	e.Edge.Sync(t, e.API.Store)
	life("session_duration removed", access.DefaultLoginSession)
}
