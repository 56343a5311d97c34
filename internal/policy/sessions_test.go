package policy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

func TestServiceTokenSessionWorksWhileItsSecretDoes(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	graceEnd := now.Add(10 * time.Minute)
	rotated := access.ServiceTokenCredential{ID: "rotated", AccountID: account, ClientID: "rotated.access",
		SecretHash: access.HashSecret("new"), PreviousSecretHash: access.HashSecret("old"), PreviousSecretExpiresAt: &graceEnd, ExpiresAt: now.Add(time.Hour)}
	s := compile(t, access.Config{
		Apps: []access.App{newApp("app", "app.example.test")},
		ServiceTokens: []access.ServiceTokenCredential{rotated,
			{ID: "foreign", AccountID: otherAccount, ClientID: "foreign.access", SecretHash: access.HashSecret("f"), ExpiresAt: now.Add(time.Hour)}},
	})
	app := s.Match("app.example.test", "/")
	binding := func(secret string) string {
		tok, reason := s.AuthenticateServiceToken(app, "rotated.access", secret, now)
		if tok == nil {
			t.Fatalf("secret %q: %s", secret, reason)
		}
		return tok.Binding()
	}
	newB, oldB := binding("new"), binding("old")
	if newB == oldB || newB == "" {
		t.Fatalf("bindings %q and %q", newB, oldB)
	}
	tests := []struct {
		name, clientID, binding string
		now                     time.Time
		want                    policy.Reason
	}{
		{"ok/current secret", "rotated.access", newB, now, ""},
		{"ok/previous secret during its grace", "rotated.access", oldB, graceEnd.Add(-time.Nanosecond), ""},
		{"fail/previous secret when its grace ends", "rotated.access", oldB, graceEnd, policy.ReasonSessionRevoked},
		{"fail/no binding", "rotated.access", "", now, policy.ReasonSessionRevoked},
		{"fail/another binding", "rotated.access", "0123456789abcdef01234567", now, policy.ReasonSessionRevoked},
		{"fail/token expired", "rotated.access", newB, now.Add(time.Hour), policy.ReasonServiceTokenExpired},
		{"fail/unknown token", "gone.access", newB, now, policy.ReasonServiceTokenUnknown},
		{"fail/another account's token", "foreign.access", newB, now, policy.ReasonServiceTokenUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, reason := s.ServiceTokenSession(app, tc.clientID, tc.binding, tc.now)
			if reason != tc.want || (tc.want == "") != (tok != nil) {
				t.Fatalf("got %v %q, want %q", tok, reason, tc.want)
			}
			if tok != nil && (tok.ID != "rotated" || tok.Binding() != tc.binding) {
				t.Errorf("token %+v", tok)
			}
		})
	}
}

func TestSessionRevokedComparesBelowTheSecondAndPerAccount(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 500_000_000, time.UTC)
	a := newApp("app", "app.example.test")
	a.SessionsRevokedAt = &at
	b := newApp("other", "other.example.test")
	b.AccountID = otherAccount
	s := compile(t, access.Config{
		Apps: []access.App{a, b},
		Revocations: []access.SessionRevocation{
			{AccountID: account, SessionID: "s-out", RevokedAt: at, ExpiresAt: at.Add(time.Hour)},
			{AccountID: account, Email: "ann@example.test", RevokedAt: at, ExpiresAt: at.Add(time.Hour)},
		},
	})
	app, other := s.Match("app.example.test", "/"), s.Match("other.example.test", "/")
	tests := []struct {
		name       string
		app        *policy.App
		sid, email string
		iat        time.Time
		want       bool
	}{
		{"fail/issued before revoke_tokens in the same second", app, "s1", "bob@example.test", at.Add(-time.Millisecond), true},
		{"ok/issued after revoke_tokens in the same second", app, "s1", "bob@example.test", at.Add(time.Millisecond), false},
		{"fail/logged-out session, issued later", app, "s-out", "bob@example.test", at.Add(time.Hour), true},
		{"fail/revoked user, issued before", app, "s2", "ANN@example.test", at.Add(-time.Millisecond), true},
		{"ok/revoked user, issued after", app, "s2", "ann@example.test", at.Add(time.Millisecond), false},
		{"ok/other account: same session id", other, "s-out", "bob@example.test", at.Add(-time.Hour), false},
		{"ok/other account: same email", other, "s2", "ann@example.test", at.Add(-time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.SessionRevoked(tc.app, tc.sid, tc.email, tc.iat); got != tc.want {
				t.Errorf("SessionRevoked = %v, want %v", got, tc.want)
			}
		})
	}
}

// BenchmarkSessionRevoked is the revocation check of every session
// request, with 10,000 revoked sessions and 10,000 revoked users in force.
func BenchmarkSessionRevoked(b *testing.B) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := access.Config{Apps: []access.App{newApp("app", "app.example.test")}}
	for i := range 10_000 {
		cfg.Revocations = append(cfg.Revocations,
			access.SessionRevocation{AccountID: account, SessionID: fmt.Sprintf("sid-%d", i), RevokedAt: at, ExpiresAt: at.Add(time.Hour)},
			access.SessionRevocation{AccountID: account, Email: fmt.Sprintf("user%d@example.test", i), RevokedAt: at, ExpiresAt: at.Add(time.Hour)})
	}
	s := compile(b, cfg)
	app := s.Match("app.example.test", "/")
	iat := at.Add(time.Minute)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if s.SessionRevoked(app, "sid-live", "ann@example.test", iat) {
			b.Fatal("revoked")
		}
	}
}
