package api

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

func (s *Server) createServiceToken(w http.ResponseWriter, r *http.Request) error {
	var spec access.ServiceTokenSpec
	if err := decodeInput(w, r, &spec, false, serviceTokenOutputOnly); err != nil {
		return err
	}
	if err := s.validateStruct(&spec); err != nil {
		return err
	}
	t, err := s.store.CreateServiceToken(r.Context(), actor(r), accountID(r), spec)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeWithETag(w, t.Revision, t)
	return nil
}

func (s *Server) listServiceTokens(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	tokens, info, err := s.store.ListServiceTokens(r.Context(), accountID(r), q.Get("name"), q.Get("search"), p)
	if err != nil {
		return err
	}
	writeList(w, tokens, info)
	return nil
}

func (s *Server) getServiceToken(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "token_id", "service token")
	if err != nil {
		return err
	}
	t, err := s.store.GetServiceToken(r.Context(), accountID(r), id)
	if err != nil {
		return err
	}
	writeWithETag(w, t.Revision, t)
	return nil
}

func (s *Server) updateServiceToken(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "token_id", "service token")
	if err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	var upd access.ServiceTokenUpdate
	if err := decodeInput(w, r, &upd, false, serviceTokenOutputOnly); err != nil {
		return err
	}
	if err := s.validateStruct(&upd); err != nil {
		return err
	}
	t, err := s.store.UpdateServiceToken(r.Context(), actor(r), accountID(r), id, rev, upd)
	if err != nil {
		return err
	}
	if t.ClientSecret != "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	writeWithETag(w, t.Revision, t)
	return nil
}

func (s *Server) deleteServiceToken(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "token_id", "service token")
	if err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	t, err := s.store.DeleteServiceToken(r.Context(), actor(r), accountID(r), id, rev)
	if err != nil {
		return err
	}
	writeResult(w, t)
	return nil
}

func (s *Server) refreshServiceToken(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "token_id", "service token")
	if err != nil {
		return err
	}
	t, err := s.store.RefreshServiceToken(r.Context(), actor(r), accountID(r), id)
	if err != nil {
		return err
	}
	writeWithETag(w, t.Revision, t)
	return nil
}

func (s *Server) rotateServiceToken(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "token_id", "service token")
	if err != nil {
		return err
	}
	var spec access.RotateSpec
	if err := decode(w, r, &spec, true); err != nil {
		return err
	}
	if err := s.validateStruct(&spec); err != nil {
		return err
	}
	t, err := s.store.RotateServiceToken(r.Context(), actor(r), accountID(r), id, access.ParseTime(spec.PreviousClientSecretExpiresAt))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeWithETag(w, t.Revision, t)
	return nil
}
