package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// Handler returns the API's routes: health checks and /client/v4.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(withRequestID, s.logRequests, s.recoverPanics, s.boundDB)
	r.NotFound(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &httpError{http.StatusNotFound, CodeNotFound, "no such route"}
	}))
	r.MethodNotAllowed(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &httpError{http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed on this route"}
	}))

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)

	// Not under an account: the API token signing in decides the account.
	r.Post("/client/v4/gatehouse/dashboard/session", s.handle(s.createDashboardSession))
	r.Get("/client/v4/gatehouse/dashboard/session", s.handle(s.getDashboardSession))
	r.Delete("/client/v4/gatehouse/dashboard/session", s.handle(s.deleteDashboardSession))

	// Cloudflare's token checks (SDKs and Terraform call them): any valid
	// token, for its own account.
	r.With(s.authenticateToken).Get("/client/v4/user/tokens/verify", s.handle(s.verifyToken))
	r.With(s.authenticateToken, s.refuseBadQuery).Get("/client/v4/accounts", s.handle(s.listAccounts))

	r.Route("/client/v4/accounts/{account_id}", func(r chi.Router) {
		r.Use(s.authenticate)
		// Lists are the routes that read query parameters.
		list := r.With(s.refuseBadQuery)

		r.Get("/", s.handle(s.getAccount))

		list.Get("/access/apps", s.handle(s.listApps))
		r.Post("/access/apps", s.handle(s.createApp))
		r.Get("/access/apps/{app_id}", s.handle(s.getApp))
		r.Put("/access/apps/{app_id}", s.handle(s.updateApp))
		r.Delete("/access/apps/{app_id}", s.handle(s.deleteApp))
		r.Post("/access/apps/{app_id}/revoke_tokens", s.handle(s.revokeAppTokens))

		list.Get("/access/apps/{app_id}/policies", s.handle(s.listPolicies))
		r.Post("/access/apps/{app_id}/policies", s.handle(s.createPolicy))
		r.Get("/access/apps/{app_id}/policies/{policy_id}", s.handle(s.getPolicy))
		r.Put("/access/apps/{app_id}/policies/{policy_id}", s.handle(s.updatePolicy))
		r.Delete("/access/apps/{app_id}/policies/{policy_id}", s.handle(s.deletePolicy))

		list.Get("/access/policies", s.handle(s.listPolicies))
		r.Post("/access/policies", s.handle(s.createPolicy))
		r.Get("/access/policies/{policy_id}", s.handle(s.getPolicy))
		r.Put("/access/policies/{policy_id}", s.handle(s.updatePolicy))
		r.Delete("/access/policies/{policy_id}", s.handle(s.deletePolicy))

		list.Get("/access/service_tokens", s.handle(s.listServiceTokens))
		r.Post("/access/service_tokens", s.handle(s.createServiceToken))
		r.Get("/access/service_tokens/{token_id}", s.handle(s.getServiceToken))
		r.Put("/access/service_tokens/{token_id}", s.handle(s.updateServiceToken))
		r.Delete("/access/service_tokens/{token_id}", s.handle(s.deleteServiceToken))
		r.Post("/access/service_tokens/{token_id}/refresh", s.handle(s.refreshServiceToken))
		r.Post("/access/service_tokens/{token_id}/rotate", s.handle(s.rotateServiceToken))

		list.Get("/access/identity_providers", s.handle(s.listIdentityProviders))
		r.Post("/access/identity_providers", s.handle(s.createIdentityProvider))
		r.Get("/access/identity_providers/{identity_provider_id}", s.handle(s.getIdentityProvider))
		r.Put("/access/identity_providers/{identity_provider_id}", s.handle(s.updateIdentityProvider))
		r.Delete("/access/identity_providers/{identity_provider_id}", s.handle(s.deleteIdentityProvider))

		list.Get("/access/certificates", s.handle(s.listCertificates))
		r.Post("/access/certificates", s.handle(s.createCertificate))
		r.Get("/access/certificates/{certificate_id}", s.handle(s.getCertificate))
		r.Put("/access/certificates/{certificate_id}", s.handle(s.updateCertificate))
		r.Delete("/access/certificates/{certificate_id}", s.handle(s.deleteCertificate))
		list.Get("/access/groups", s.handle(s.listGroups))
		r.Post("/access/groups", s.handle(s.createGroup))
		r.Get("/access/groups/{group_id}", s.handle(s.getGroup))
		r.Put("/access/groups/{group_id}", s.handle(s.updateGroup))
		r.Delete("/access/groups/{group_id}", s.handle(s.deleteGroup))

		r.Get("/access/organizations", s.handle(s.getOrganization))
		r.Post("/access/organizations", s.handle(s.createOrganization))
		r.Put("/access/organizations", s.handle(s.updateOrganization))
		r.Post("/access/organizations/revoke_user", s.handle(s.revokeUser))

		r.Get("/access/keys", s.handle(s.getAccessKeys))
		r.Put("/access/keys", s.handle(s.updateAccessKeys))
		r.Post("/access/keys/rotate", s.handle(s.rotateAccessKeys))

		list.Get("/access/users", s.handle(s.listUsers))
		r.Get("/access/users/{user_id}", s.handle(s.getUser))
		r.Get("/access/users/{user_id}/active_sessions", s.handle(s.listActiveSessions))
		r.Get("/access/users/{user_id}/active_sessions/{nonce}", s.handle(s.getActiveSession))
		r.Get("/access/users/{user_id}/last_seen_identity", s.handle(s.getLastSeenIdentity))
		r.Get("/access/users/{user_id}/failed_logins", s.handle(s.listFailedLogins))

		list.Get("/audit_logs", s.handle(s.listAudit))
		list.Get("/access/logs/access_requests", s.handle(s.listAccessLogs))
		list.Get("/access/logs/access_requests/summary", s.handle(s.summarizeAccessLogs))
		r.Post("/gatehouse/policy_test", s.handle(s.testPolicy))
		r.Post("/gatehouse/batch", s.handle(s.batch))
		list.Get("/gatehouse/edges", s.handle(s.listEdges))
	})
	return r
}
