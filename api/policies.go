package api

import (
	"encoding/json"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// policyScope is the account's reusable policies, or one app's policies
// when the route has an app id.
func policyScope(r *http.Request) (store.PolicyScope, error) {
	sc := store.PolicyScope{AccountID: accountID(r)}
	if chi.URLParam(r, "app_id") != "" {
		id, err := idParam(r, "app_id", "application")
		if err != nil {
			return sc, err
		}
		sc.AppID = id
	}
	return sc, nil
}

func (s *Server) decodePolicy(w http.ResponseWriter, r *http.Request) (access.PolicySpec, access.PolicyRules, error) {
	var spec access.PolicySpec
	if err := decodeInput(w, r, &spec, false, policyOutputOnly); err != nil {
		return spec, access.PolicyRules{}, err
	}
	if err := s.validateStruct(&spec); err != nil {
		return spec, access.PolicyRules{}, err
	}
	rules, err := spec.Rules()
	return spec, rules, err
}

func (s *Server) createPolicy(w http.ResponseWriter, r *http.Request) error {
	sc, err := policyScope(r)
	if err != nil {
		return err
	}
	spec, rules, err := s.decodePolicy(w, r)
	if err != nil {
		return err
	}
	p, err := s.store.CreatePolicy(r.Context(), actor(r), sc, spec, rules)
	if err != nil {
		return err
	}
	writeWithETag(w, p.Revision, policyWire(p))
	return nil
}

func (s *Server) listPolicies(w http.ResponseWriter, r *http.Request) error {
	sc, err := policyScope(r)
	if err != nil {
		return err
	}
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	policies, info, err := s.store.ListPolicies(r.Context(), sc, p)
	if err != nil {
		return err
	}
	out := make([]policyWire, len(policies))
	for i, p := range policies {
		out[i] = policyWire(p)
	}
	writeList(w, out, info)
	return nil
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	sc, err := policyScope(r)
	if err != nil {
		return err
	}
	id, err := idParam(r, "policy_id", "policy")
	if err != nil {
		return err
	}
	p, err := s.store.GetPolicy(r.Context(), sc, id)
	if err != nil {
		return err
	}
	writeWithETag(w, p.Revision, policyWire(p))
	return nil
}

func (s *Server) updatePolicy(w http.ResponseWriter, r *http.Request) error {
	sc, err := policyScope(r)
	if err != nil {
		return err
	}
	id, err := idParam(r, "policy_id", "policy")
	if err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	spec, rules, err := s.decodePolicy(w, r)
	if err != nil {
		return err
	}
	p, err := s.store.UpdatePolicy(r.Context(), actor(r), sc, id, rev, spec, rules)
	if err != nil {
		return err
	}
	writeWithETag(w, p.Revision, policyWire(p))
	return nil
}

func (s *Server) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	sc, err := policyScope(r)
	if err != nil {
		return err
	}
	id, err := idParam(r, "policy_id", "policy")
	if err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	if err := s.store.DeletePolicy(r.Context(), actor(r), sc, id, rev); err != nil {
		return err
	}
	writeResult(w, map[string]string{"id": id})
	return nil
}

// policyWire is a policy as the API shows it. A policy without a session
// duration of its own shows Cloudflare's default, "24h", as Cloudflare
// does (its Terraform provider plans "24h" for one left unset); the edge
// gives such a policy's logins the app's session duration.
type policyWire access.Policy

func (p policyWire) MarshalJSON() ([]byte, error) {
	if p.SessionDuration == "" {
		p.SessionDuration = access.DefaultSessionDuration
	}
	return json.Marshal(access.Policy(p))
}
