package api

import (
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

func (s *Server) createCertificate(w http.ResponseWriter, r *http.Request) error {
	var spec access.CertificateSpec
	if err := decodeInput(w, r, &spec, false, certificateOutputOnly); err != nil {
		return err
	}
	if err := s.validateStruct(&spec); err != nil {
		return err
	}
	c, err := s.store.CreateCertificate(r.Context(), actor(r), accountID(r), spec)
	if err != nil {
		return err
	}
	writeWithETag(w, c.Revision, c)
	return nil
}

func (s *Server) listCertificates(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	certs, info, err := s.store.ListCertificates(r.Context(), accountID(r), p)
	if err != nil {
		return err
	}
	writeList(w, certs, info)
	return nil
}

func (s *Server) getCertificate(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "certificate_id", "certificate")
	if err != nil {
		return err
	}
	c, err := s.store.GetCertificate(r.Context(), accountID(r), id)
	if err != nil {
		return err
	}
	writeWithETag(w, c.Revision, c)
	return nil
}

func (s *Server) updateCertificate(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "certificate_id", "certificate")
	if err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	// A certificate read back holds its PEM, which cannot change: sent
	// back unchanged it is ignored.
	var body struct {
		access.CertificateUpdate
		Certificate *string `json:"certificate"`
	}
	if err := decodeInput(w, r, &body, false, certificateOutputOnly); err != nil {
		return err
	}
	upd := body.CertificateUpdate
	if err := s.validateStruct(&upd); err != nil {
		return err
	}
	if body.Certificate != nil {
		c, err := s.store.GetCertificate(r.Context(), accountID(r), id)
		if err != nil {
			return err
		}
		if strings.TrimSpace(*body.Certificate) != strings.TrimSpace(c.Certificate) {
			return access.Invalid("certificate", "cannot change: upload the new CA as a new certificate and delete this one")
		}
	}
	if upd.AssociatedHostnames == nil {
		upd.AssociatedHostnames = []string{}
	}
	c, err := s.store.UpdateCertificate(r.Context(), actor(r), accountID(r), id, rev, upd)
	if err != nil {
		return err
	}
	writeWithETag(w, c.Revision, c)
	return nil
}

func (s *Server) deleteCertificate(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "certificate_id", "certificate")
	if err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	c, err := s.store.DeleteCertificate(r.Context(), actor(r), accountID(r), id, rev)
	if err != nil {
		return err
	}
	writeResult(w, struct {
		ID string `json:"id"`
	}{c.ID})
	return nil
}
