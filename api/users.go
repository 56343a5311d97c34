package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// userNamespace is the UUIDv5 namespace of user ids: a user's id is
// derived from the account and the lower-cased email, so it is stable
// without a user table and differs between accounts.
var userNamespace = uuid.MustParse("6b0f4c2e-3f57-4d0c-9a43-5d2f1f6e8a10")

func userID(accountID, email string) string {
	return uuid.NewSHA1(userNamespace, []byte(accountID+":"+email)).String()
}

// userResult is a user in Cloudflare's shape (AccessUserListResponse).
// Gatehouse has no seats or devices: access_seat says whether the user
// ever got in, gateway_seat is false and active_device_count 0.
type userResult struct {
	ID                  string     `json:"id"`
	UID                 string     `json:"uid"`
	Email               string     `json:"email"`
	Name                string     `json:"name"`
	AccessSeat          bool       `json:"access_seat"`
	GatewaySeat         bool       `json:"gateway_seat"`
	SeatUID             string     `json:"seat_uid"`
	ActiveDeviceCount   int        `json:"active_device_count"`
	LastSuccessfulLogin *time.Time `json:"last_successful_login"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
}

func newUserResult(accountID string, u store.User) userResult {
	id := userID(accountID, u.Email)
	return userResult{ID: id, UID: id, Email: u.Email, Name: u.Email, AccessSeat: u.LastSuccessfulLogin != nil,
		SeatUID: id, LastSuccessfulLogin: u.LastSuccessfulLogin, CreatedAt: u.FirstLogin, UpdatedAt: u.LastLogin}
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	pg, err := pageParams(r)
	if err != nil {
		return err
	}
	users, info, err := s.store.ListUsers(r.Context(), accountID(r), pg)
	if err != nil {
		return err
	}
	out := make([]userResult, len(users))
	for i, u := range users {
		out[i] = newUserResult(accountID(r), u)
	}
	writeList(w, out, info)
	return nil
}

// user finds the user named by the user_id path parameter.
func (s *Server) user(r *http.Request) (store.User, error) {
	id, err := idParam(r, "user_id", "user")
	if err != nil {
		return store.User{}, err
	}
	acct := accountID(r)
	return s.store.FindUser(r.Context(), acct, func(email string) bool { return userID(acct, email) == id })
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.user(r)
	if err != nil {
		return err
	}
	writeResult(w, newUserResult(accountID(r), u))
	return nil
}

// sessionApp is one application of an active session, as Cloudflare
// lists it.
type sessionApp struct {
	Hostname string `json:"hostname"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	UID      string `json:"uid"`
}

type sessionMetadata struct {
	Apps    map[string]sessionApp `json:"apps"`
	Expires int64                 `json:"expires"`
	IAT     int64                 `json:"iat"`
	Nonce   string                `json:"nonce"`
	TTL     int64                 `json:"ttl"`
}

// activeSession is Cloudflare's AccessUserActiveSessionListResponse.
type activeSession struct {
	Expiration int64           `json:"expiration"`
	Metadata   sessionMetadata `json:"metadata"`
	Name       string          `json:"name"`
}

// maxUserEntries bounds the sign-ins one user endpoint reads.
const maxUserEntries = 1000

// listActiveSessions lists the user's sign-ins whose login session can
// still be live: allowed logins within the organization's session
// duration, issued after the user's last revoke_user. Each is named by
// the ray id of its sign-in (nonce); Gatehouse logs no session id.
func (s *Server) listActiveSessions(w http.ResponseWriter, r *http.Request) error {
	u, err := s.user(r)
	if err != nil {
		return err
	}
	out, _, err := s.activeSessions(r, u)
	if err != nil {
		return err
	}
	writeList(w, out, access.NewListInfo(access.Page{Page: 1, PerPage: max(len(out), 1)}, len(out), len(out)))
	return nil
}

// getActiveSession answers one active session (by its nonce, the ray id
// of its sign-in) as the identity it carries.
func (s *Server) getActiveSession(w http.ResponseWriter, r *http.Request) error {
	u, err := s.user(r)
	if err != nil {
		return err
	}
	sessions, entries, err := s.activeSessions(r, u)
	if err != nil {
		return err
	}
	nonce := chi.URLParam(r, "nonce")
	for i := range sessions {
		if sessions[i].Metadata.Nonce == nonce {
			writeResult(w, s.identityOf(r, u, entries[i], entries[i]))
			return nil
		}
	}
	return access.Errorf(access.ENotFound, "session not found")
}

// identityOf is the identity of the user's sign-in login, as seen in the
// request seen.
func (s *Server) identityOf(r *http.Request, u store.User, seen, login access.AccessLogEntry) lastSeenIdentity {
	acct := accountID(r)
	id := lastSeenIdentity{AccountID: acct, Email: u.Email, UserUUID: userID(acct, u.Email), IAT: login.CreatedAt.Unix(),
		IP: seen.IPAddress, Geo: identityGeo{Country: seen.Country}, IdP: identityIdP{ID: login.Connection}}
	if login.Connection != "" {
		if p, err := s.store.GetIdentityProvider(r.Context(), acct, login.Connection); err == nil {
			id.IdP.Type = p.Type
		}
	}
	return id
}

// activeSessions are the user's active sessions, with the sign-in each
// came from.
func (s *Server) activeSessions(r *http.Request, u store.User) ([]activeSession, []access.AccessLogEntry, error) {
	ctx, acct := r.Context(), accountID(r)
	life := access.DefaultLoginSession
	if o, err := s.store.GetOrganization(ctx, acct); err == nil {
		life = o.Edge().SessionDuration
		if life == 0 {
			life = access.DefaultLoginSession
		}
	} else if access.KindOf(err) != access.ENotFound {
		return nil, nil, err
	}
	revoked, err := s.store.UserRevokedAt(ctx, acct, u.Email)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now().UTC()
	allowed := true
	entries, err := s.store.ListAccessLogs(ctx, acct, access.AccessLogQuery{Since: now.Add(-life), Email: u.Email, EmailExact: true,
		Allowed: &allowed, Action: "login"}, access.Page{Page: 1, PerPage: maxUserEntries})
	if err != nil {
		return nil, nil, err
	}
	out := []activeSession{}
	var from []access.AccessLogEntry
	for _, e := range entries {
		if revoked != nil && !e.CreatedAt.After(*revoked) {
			continue
		}
		from = append(from, e)
		exp := e.CreatedAt.Add(life)
		out = append(out, activeSession{Expiration: exp.Unix(), Name: u.Email, Metadata: sessionMetadata{
			Apps:    map[string]sessionApp{e.AppUID: {Hostname: e.AppDomain, Type: "self_hosted", UID: e.AppUID}},
			Expires: exp.Unix(), IAT: e.CreatedAt.Unix(), Nonce: e.RayID, TTL: int64(life / time.Second)}})
	}
	return out, from, nil
}

// failedLogin is Cloudflare's AccessUserFailedLoginListResponse; the
// metadata is the access log entry of the refused sign-in.
type failedLogin struct {
	Expiration int64                 `json:"expiration"`
	Metadata   access.AccessLogEntry `json:"metadata"`
}

// listFailedLogins lists the user's refused sign-ins, newest first, from
// the access log.
func (s *Server) listFailedLogins(w http.ResponseWriter, r *http.Request) error {
	u, err := s.user(r)
	if err != nil {
		return err
	}
	denied := false
	entries, err := s.store.ListAccessLogs(r.Context(), accountID(r), access.AccessLogQuery{Email: u.Email, EmailExact: true,
		Allowed: &denied, Action: "login"}, access.Page{Page: 1, PerPage: maxUserEntries})
	if err != nil {
		return err
	}
	out := make([]failedLogin, len(entries))
	for i, e := range entries {
		e.ReasonText = policy.Reason(e.Reason).Describe()
		out[i] = failedLogin{Expiration: e.CreatedAt.Unix(), Metadata: e}
	}
	writeList(w, out, access.NewListInfo(access.Page{Page: 1, PerPage: max(len(out), 1)}, len(out), len(out)))
	return nil
}

// identityIdP is the identity provider of an identity.
type identityIdP struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

type identityGeo struct {
	Country string `json:"country"`
}

// lastSeenIdentity is Cloudflare's Identity, as far as Gatehouse's
// access log knows it.
type lastSeenIdentity struct {
	AccountID string      `json:"account_id"`
	Email     string      `json:"email"`
	UserUUID  string      `json:"user_uuid"`
	IAT       int64       `json:"iat"`
	IP        string      `json:"ip"`
	Geo       identityGeo `json:"geo"`
	IdP       identityIdP `json:"idp"`
	IsGateway bool        `json:"is_gateway"`
	IsWARP    bool        `json:"is_warp"`
}

// getLastSeenIdentity answers the identity of the user's latest logged
// request: when, from where, and through which identity provider they
// last signed in.
func (s *Server) getLastSeenIdentity(w http.ResponseWriter, r *http.Request) error {
	u, err := s.user(r)
	if err != nil {
		return err
	}
	ctx, acct := r.Context(), accountID(r)
	seen, err := s.store.ListAccessLogs(ctx, acct, access.AccessLogQuery{Email: u.Email, EmailExact: true}, access.Page{Page: 1, PerPage: 1})
	if err != nil {
		return err
	}
	if len(seen) == 0 {
		return access.Errorf(access.ENotFound, "user not found")
	}
	login := seen[0]
	logins, err := s.store.ListAccessLogs(ctx, acct, access.AccessLogQuery{Email: u.Email, EmailExact: true, Action: "login"}, access.Page{Page: 1, PerPage: 1})
	if err != nil {
		return err
	}
	if len(logins) > 0 {
		login = logins[0]
	}
	id := s.identityOf(r, u, seen[0], login)
	writeResult(w, id)
	return nil
}
