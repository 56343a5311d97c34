package gatehousetest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

// OIDCProvider is a real OpenID Provider on loopback (zitadel/oidc's
// certified implementation with its in-memory example storage), so login
// tests speak the real protocol rather than a hand-written fake.
type OIDCProvider struct {
	*httptest.Server
	Issuer       string
	ClientID     string
	ClientSecret string
	// Username and Password sign in at the provider's login form; the ID
	// token then carries Email.
	Username, Password, Email string
}

// StartOIDCProvider starts a provider with one web client allowed to
// redirect to redirectURI.
func StartOIDCProvider(tb testing.TB, redirectURI string) *OIDCProvider {
	tb.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	p := &OIDCProvider{Server: srv, Issuer: issuer, ClientID: "gatehouse-" + tb.Name(), ClientSecret: "test-secret-" + tb.Name(),
		Username: "test-user@127.0.0.1", Password: "verysecure", Email: "test-user@zitadel.ch"}
	storage.RegisterClients(storage.WebClient(p.ClientID, p.ClientSecret, redirectURI))
	st := storage.NewStorage(storage.NewUserStore(issuer))
	srv.Config.Handler = http.Handler(exampleop.SetupServer(issuer, st, nil, false))
	srv.Start()
	tb.Cleanup(srv.Close)
	return p
}
