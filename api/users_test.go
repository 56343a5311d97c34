package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/zero_trust"
	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

type userJSON struct {
	ID                  string     `json:"id"`
	Email               string     `json:"email"`
	AccessSeat          bool       `json:"access_seat"`
	LastSuccessfulLogin *time.Time `json:"last_successful_login"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
}

// Users, their sessions, failed logins and last seen identity come from
// the access log: sign-ins (action login) make a user, allowed ones a
// session until the organization's session duration or a revoke_user.
func TestUsersFromTheAccessLog(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	app := uuid.NewString()
	login := func(at time.Duration, ray, email string, allowed bool) access.AccessLogEntry {
		reason := "allow_policy"
		if !allowed {
			reason = "no_policy_matched"
		}
		return access.AccessLogEntry{CreatedAt: now.Add(at), RayID: ray, AccountID: a.AccountID, AppUID: app, AppDomain: "app.example.test",
			Action: "login", Allowed: allowed, Reason: reason, UserEmail: email, Connection: "idp-1", IPAddress: "192.0.2.7", Country: "NL"}
	}
	rows := []access.AccessLogEntry{
		login(-30*time.Hour, "old", "ann@example.test", true), // past the 24h session
		login(-2*time.Hour, "ann1", "ann@example.test", true),
		login(-time.Hour, "bob-denied", "bob@example.test", false),
		login(-50*time.Minute, "ann2", "ann@example.test", true),
		{CreatedAt: now.Add(-10 * time.Minute), RayID: "req", AccountID: a.AccountID, AppUID: app, AppDomain: "app.example.test",
			Action: "allow", Allowed: true, UserEmail: "ann@example.test", IPAddress: "198.51.100.9", Country: "DE"},
		// Another account's user is not listed here.
		{CreatedAt: now, RayID: "other", AccountID: uuid.NewString(), Action: "login", Allowed: true, UserEmail: "eve@example.test"},
	}
	if err := a.Store.InsertAccessLogs(ctx, rows); err != nil {
		t.Fatal(err)
	}

	var users []userJSON
	resp := a.MustCall(t, "GET", "access/users", nil, &users)
	if len(users) != 2 || users[0].Email != "ann@example.test" || users[1].Email != "bob@example.test" || resp.Env.ResultInfo.TotalCount != 2 {
		t.Fatalf("users: %s", resp.Body)
	}
	ann, bob := users[0], users[1]
	if !ann.AccessSeat || ann.LastSuccessfulLogin == nil || !ann.LastSuccessfulLogin.Equal(now.Add(-50*time.Minute)) ||
		!ann.CreatedAt.Equal(now.Add(-30*time.Hour)) || bob.AccessSeat || bob.LastSuccessfulLogin != nil {
		t.Errorf("users: %s", resp.Body)
	}
	page := a.MustCall(t, "GET", "access/users?per_page=1&page=2", nil, &users)
	if len(users) != 1 || users[0].Email != "bob@example.test" || page.Env.ResultInfo.TotalCount != 2 || page.Env.ResultInfo.TotalPages != 2 {
		t.Errorf("page 2: %s", page.Body)
	}
	// The id is stable and per account.
	var again userJSON
	a.MustCall(t, "GET", "access/users/"+ann.ID, nil, &again)
	if again.ID != ann.ID || again.Email != ann.Email {
		t.Errorf("get user: %+v, listed %+v", again, ann)
	}

	var sessions []struct {
		Expiration int64  `json:"expiration"`
		Name       string `json:"name"`
		Metadata   struct {
			Apps  map[string]struct{ Hostname string } `json:"apps"`
			Nonce string                               `json:"nonce"`
			TTL   int64                                `json:"ttl"`
		} `json:"metadata"`
	}
	a.MustCall(t, "GET", "access/users/"+ann.ID+"/active_sessions", nil, &sessions)
	if len(sessions) != 2 || sessions[0].Metadata.Nonce != "ann2" || sessions[1].Metadata.Nonce != "ann1" ||
		sessions[0].Metadata.TTL != 86400 || sessions[0].Expiration != now.Add(-50*time.Minute+24*time.Hour).Unix() ||
		sessions[0].Metadata.Apps[app].Hostname != "app.example.test" {
		t.Errorf("active sessions: %+v", sessions)
	}
	var one struct {
		Email string              `json:"email"`
		IAT   int64               `json:"iat"`
		IP    string              `json:"ip"`
		IdP   struct{ ID string } `json:"idp"`
	}
	a.MustCall(t, "GET", "access/users/"+ann.ID+"/active_sessions/ann1", nil, &one)
	if one.Email != "ann@example.test" || one.IAT != now.Add(-2*time.Hour).Unix() || one.IP != "192.0.2.7" || one.IdP.ID != "idp-1" {
		t.Errorf("one session: %+v", one)
	}
	for _, nonce := range []string{"old", "bob-denied", "req", "nope"} {
		if resp := a.Call(t, "GET", "access/users/"+ann.ID+"/active_sessions/"+nonce, nil); resp.Status != http.StatusNotFound {
			t.Errorf("session %s: %d %s", nonce, resp.Status, resp.Body)
		}
	}
	// A shorter organization session, and a revoke_user between the two
	// sign-ins, end sessions.
	a.MustCall(t, "PUT", "access/organizations", map[string]any{"session_duration": "90m"}, nil)
	a.MustCall(t, "GET", "access/users/"+ann.ID+"/active_sessions", nil, &sessions)
	if len(sessions) != 1 || sessions[0].Metadata.Nonce != "ann2" || sessions[0].Metadata.TTL != 5400 {
		t.Errorf("with a 90m session: %+v", sessions)
	}
	a.MustCall(t, "POST", "access/organizations/revoke_user", map[string]any{"email": "ann@example.test"}, nil)
	a.MustCall(t, "GET", "access/users/"+ann.ID+"/active_sessions", nil, &sessions)
	if len(sessions) != 0 {
		t.Errorf("after revoke_user: %+v", sessions)
	}

	var failed []struct {
		Expiration int64                 `json:"expiration"`
		Metadata   access.AccessLogEntry `json:"metadata"`
	}
	a.MustCall(t, "GET", "access/users/"+bob.ID+"/failed_logins", nil, &failed)
	if len(failed) != 1 || failed[0].Metadata.RayID != "bob-denied" || failed[0].Metadata.ReasonText == "" || failed[0].Expiration != now.Add(-time.Hour).Unix() {
		t.Errorf("bob's failed logins: %+v", failed)
	}
	a.MustCall(t, "GET", "access/users/"+ann.ID+"/failed_logins", nil, &failed)
	if len(failed) != 0 {
		t.Errorf("ann's failed logins: %+v", failed)
	}

	// Cloudflare's SDK decodes the users and the last seen identity.
	cf := cloudflare.NewClient(option.WithBaseURL(a.URL+"/client/v4/"), option.WithAPIToken(a.Token), option.WithMaxRetries(0), option.WithHTTPClient(a.HTTPClient()))
	listed, err := cf.ZeroTrust.Access.Users.List(ctx, zero_trust.AccessUserListParams{AccountID: cloudflare.F(a.AccountID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed.Result) != 2 || listed.Result[0].Email != "ann@example.test" || listed.Result[0].ID != ann.ID || !listed.Result[0].AccessSeat {
		t.Errorf("SDK users: %+v", listed.Result)
	}
	id, err := cf.ZeroTrust.Access.Users.LastSeenIdentity.Get(ctx, ann.ID, zero_trust.AccessUserLastSeenIdentityGetParams{AccountID: cloudflare.F(a.AccountID)})
	if err != nil {
		t.Fatal(err)
	}
	if id.Email != "ann@example.test" || id.IP != "198.51.100.9" || id.Geo.Country != "DE" || id.IdP.ID != "idp-1" ||
		id.Iat != float64(now.Add(-50*time.Minute).Unix()) || id.UserUUID != ann.ID {
		t.Errorf("last seen identity: %+v", id)
	}
}

// A user id that names no user of the account (another account's, a
// made-up or malformed one) is 404, as is another account's token.
func TestUsersAreScopedToTheAccount(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	b := gatehousetest.NewAPIOn(t, a.Store)
	err := a.Store.InsertAccessLogs(context.Background(), []access.AccessLogEntry{{CreatedAt: time.Now(), RayID: "r", AccountID: b.AccountID,
		Action: "login", Allowed: true, UserEmail: "ann@example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	var users []userJSON
	b.MustCall(t, "GET", "access/users", nil, &users)
	if len(users) != 1 {
		t.Fatalf("b's users: %+v", users)
	}
	for _, path := range []string{"access/users/" + users[0].ID, "access/users/" + users[0].ID + "/active_sessions",
		"access/users/" + users[0].ID + "/failed_logins", "access/users/" + users[0].ID + "/last_seen_identity",
		"access/users/" + uuid.NewString(), "access/users/not-a-uuid/failed_logins"} {
		if resp := a.Call(t, "GET", path, nil); resp.Status != http.StatusNotFound {
			t.Errorf("%s in another account: %d %s", path, resp.Status, resp.Body)
		}
	}
	if resp := a.Do(t, gatehousetest.Request{Method: "GET", Path: "/client/v4/accounts/" + b.AccountID + "/access/users"}); resp.Status != http.StatusNotFound {
		t.Errorf("a's token on b's users: %d", resp.Status)
	}
	if resp := a.Call(t, "GET", "access/users?per_page=0", nil); resp.Status != 400 || resp.Env.Errors[0].Field != "per_page" {
		t.Errorf("per_page=0: %d %s", resp.Status, resp.Body)
	}
	if resp := a.Call(t, "GET", "access/users", nil); resp.Status != 200 || string(resp.Env.Result) != "[]" {
		t.Errorf("a's users: %d %s", resp.Status, resp.Body)
	}
}
