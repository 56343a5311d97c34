package api

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// decodeIdentityProvider reads, validates and normalises an identity
// provider body. secretRequired is true on create.
func (s *Server) decodeIdentityProvider(w http.ResponseWriter, r *http.Request, secretRequired bool) (access.IdentityProviderSpec, error) {
	var spec access.IdentityProviderSpec
	if err := decodeInput(w, r, &spec, false, idpOutputOnly); err != nil {
		return spec, err
	}
	if err := s.validateStruct(&spec); err != nil {
		return spec, err
	}
	return spec, spec.Normalize(secretRequired)
}

func (s *Server) createIdentityProvider(w http.ResponseWriter, r *http.Request) error {
	spec, err := s.decodeIdentityProvider(w, r, true)
	if err != nil {
		return err
	}
	p, err := s.store.CreateIdentityProvider(r.Context(), actor(r), accountID(r), spec)
	if err != nil {
		return err
	}
	writeWithETag(w, p.Revision, p)
	return nil
}

func (s *Server) listIdentityProviders(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	providers, info, err := s.store.ListIdentityProviders(r.Context(), accountID(r), p)
	if err != nil {
		return err
	}
	writeList(w, providers, info)
	return nil
}

func (s *Server) getIdentityProvider(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "identity_provider_id", "identity provider")
	if err != nil {
		return err
	}
	p, err := s.store.GetIdentityProvider(r.Context(), accountID(r), id)
	if err != nil {
		return err
	}
	writeWithETag(w, p.Revision, p)
	return nil
}

func (s *Server) updateIdentityProvider(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "identity_provider_id", "identity provider")
	if err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	spec, err := s.decodeIdentityProvider(w, r, false)
	if err != nil {
		return err
	}
	p, err := s.store.UpdateIdentityProvider(r.Context(), actor(r), accountID(r), id, rev, spec)
	if err != nil {
		return err
	}
	writeWithETag(w, p.Revision, p)
	return nil
}

func (s *Server) deleteIdentityProvider(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "identity_provider_id", "identity provider")
	if err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	if err := s.store.DeleteIdentityProvider(r.Context(), actor(r), accountID(r), id, rev); err != nil {
		return err
	}
	writeResult(w, map[string]string{"id": id})
	return nil
}
