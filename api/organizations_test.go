package api_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/zero_trust"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestRevokeUserValidatesItsBody(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	cases := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"ok/email", map[string]any{"email": "ann@example.test"}, 200, ""},
		{"ok/defaults sent as false", map[string]any{"email": "ann@example.test", "devices": false, "warp_session_reauth": false, "user_uid": ""}, 200, ""},
		{"fail/no email", map[string]any{}, 400, "email"},
		{"fail/not an address", map[string]any{"email": "ann"}, 400, "email"},
		{"fail/NUL", map[string]any{"email": "ann\u0000@example.test"}, 400, "email"},
		{"fail/newline", map[string]any{"email": "ann@example.test\nbob@example.test"}, 400, "email"},
		{"fail/too long", map[string]any{"email": strings.Repeat("a", 320) + "@example.test"}, 400, "email"},
		{"fail/devices", map[string]any{"email": "ann@example.test", "devices": true}, 400, "devices"},
		{"fail/warp", map[string]any{"email": "ann@example.test", "warp_session_reauth": true}, 400, "warp_session_reauth"},
		{"fail/user_uid", map[string]any{"email": "ann@example.test", "user_uid": "u1"}, 400, "user_uid"},
		{"fail/unknown field", map[string]any{"email": "ann@example.test", "everyone": true}, 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.Call(t, "POST", "access/organizations/revoke_user", tc.body)
			if resp.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.Status, tc.status, resp.Body)
			}
			if tc.field != "" && !slices.Contains(resp.Fields(), tc.field) {
				t.Errorf("fields %v, want %q", resp.Fields(), tc.field)
			}
		})
	}
	// Read-only tokens may not revoke.
	if resp := a.Do(t, gatehousetest.Request{Method: "POST", Path: "access/organizations/revoke_user", Token: a.ReadOnlyToken,
		Body: map[string]any{"email": "ann@example.test"}}); resp.Status != 403 {
		t.Errorf("read-only token: %d", resp.Status)
	}
}

// Cloudflare's Go SDK revokes a user with the same call it makes to
// Cloudflare.
func TestCloudflareGoSDKRevokesAUser(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cf := cloudflare.NewClient(option.WithBaseURL(a.URL+"/client/v4/"), option.WithAPIToken(a.Token), option.WithMaxRetries(0), option.WithHTTPClient(a.HTTPClient()))
	res, err := cf.ZeroTrust.Organizations.RevokeUsers(ctx, zero_trust.OrganizationRevokeUsersParams{
		AccountID: cloudflare.F(a.AccountID), Email: cloudflare.F("ann@example.test")})
	if err != nil || res == nil || *res != zero_trust.OrganizationRevokeUsersResponseTrue {
		t.Fatalf("RevokeUsers: %v %v", res, err)
	}
}
