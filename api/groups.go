package api

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

func (s *Server) decodeGroup(w http.ResponseWriter, r *http.Request) (access.GroupSpec, access.GroupRules, error) {
	var spec access.GroupSpec
	if err := decodeInput(w, r, &spec, false, groupOutputOnly); err != nil {
		return spec, access.GroupRules{}, err
	}
	if err := s.validateStruct(&spec); err != nil {
		return spec, access.GroupRules{}, err
	}
	rules, err := spec.Rules()
	return spec, rules, err
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) error {
	spec, rules, err := s.decodeGroup(w, r)
	if err != nil {
		return err
	}
	g, err := s.store.CreateGroup(r.Context(), actor(r), accountID(r), spec, rules)
	if err != nil {
		return err
	}
	writeWithETag(w, g.Revision, g)
	return nil
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	groups, info, err := s.store.ListGroups(r.Context(), accountID(r), p)
	if err != nil {
		return err
	}
	writeList(w, groups, info)
	return nil
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "group_id", "access group")
	if err != nil {
		return err
	}
	g, err := s.store.GetGroup(r.Context(), accountID(r), id)
	if err != nil {
		return err
	}
	writeWithETag(w, g.Revision, g)
	return nil
}

func (s *Server) updateGroup(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "group_id", "access group")
	if err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	spec, rules, err := s.decodeGroup(w, r)
	if err != nil {
		return err
	}
	g, err := s.store.UpdateGroup(r.Context(), actor(r), accountID(r), id, rev, spec, rules)
	if err != nil {
		return err
	}
	writeWithETag(w, g.Revision, g)
	return nil
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "group_id", "access group")
	if err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	if _, err := s.store.DeleteGroup(r.Context(), actor(r), accountID(r), id, rev); err != nil {
		return err
	}
	writeResult(w, map[string]string{"id": id})
	return nil
}
