package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// decodeApp reads, validates and normalises an application body. fields
// names the request field each canonical domain came from.
func (s *Server) decodeApp(w http.ResponseWriter, r *http.Request) (v access.ValidApp, fields map[string]string, err error) {
	var spec access.AppSpec
	if err := decodeInput(w, r, &spec, false, appOutputOnly); err != nil {
		return access.ValidApp{}, nil, err
	}
	if err := s.validateStruct(&spec); err != nil {
		// Name every bad field at once: the domains too.
		var e *access.Error
		if errors.As(err, &e) && e.Kind == access.EInvalid {
			e.Fields = append(e.Fields, spec.DomainErrors()...)
		}
		return access.ValidApp{}, nil, err
	}
	if err := access.ParseInline(spec.Policies); err != nil {
		return access.ValidApp{}, nil, err
	}
	fields = domainFields(spec)
	v, err = spec.Normalize()
	return v, fields, err
}

// domainFields maps each canonical domain of an app body to the field it
// was sent in: destinations[i].uri, else self_hosted_domains[i], else
// domain.
func domainFields(spec access.AppSpec) map[string]string {
	m := map[string]string{}
	set := func(raw, field string) {
		d, err := access.ParseDomain(raw)
		if err != nil {
			return
		}
		if c := d.String(); m[c] == "" {
			m[c] = field
		}
	}
	for i, d := range spec.Destinations {
		set(d.URI, fmt.Sprintf("destinations[%d].uri", i))
	}
	for i, d := range spec.SelfHostedDomains {
		set(d, fmt.Sprintf("self_hosted_domains[%d]", i))
	}
	if spec.Domain != "" {
		set(spec.Domain, "domain")
	}
	return m
}

// placeDomainErrors names, in the store's errors about a domain (host
// ownership, the account's domain list), the request field the domain
// came from.
func placeDomainErrors(err error, fields map[string]string) error {
	var ae *access.Error
	if errors.As(err, &ae) {
		for i, f := range ae.Fields {
			if name, ok := fields[f.Value]; ok && f.Value != "" {
				ae.Fields[i].Field = name
			}
		}
	}
	return err
}

func (s *Server) createApp(w http.ResponseWriter, r *http.Request) error {
	v, fields, err := s.decodeApp(w, r)
	if err != nil {
		return err
	}
	app, err := s.store.CreateApp(r.Context(), actor(r), accountID(r), v)
	if err != nil {
		return placeDomainErrors(err, fields)
	}
	writeWithETag(w, app.Revision, app)
	return nil
}

func (s *Server) listApps(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AppFilter{Name: q.Get("name"), Domain: q.Get("domain"), Search: q.Get("search"), AUD: q.Get("aud")}
	if d, err := access.ParseDomain(f.Domain); err == nil {
		f.Domain = d.String() // any spelling of a stored domain finds it
	}
	apps, info, err := s.store.ListApps(r.Context(), accountID(r), f, p)
	if err != nil {
		return err
	}
	writeList(w, apps, info)
	return nil
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "app_id", "application")
	if err != nil {
		return err
	}
	app, err := s.store.GetApp(r.Context(), accountID(r), id)
	if err != nil {
		return err
	}
	writeWithETag(w, app.Revision, app)
	return nil
}

func (s *Server) updateApp(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "app_id", "application")
	if err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	v, fields, err := s.decodeApp(w, r)
	if err != nil {
		return err
	}
	app, err := s.store.UpdateApp(r.Context(), actor(r), accountID(r), id, rev, v)
	if err != nil {
		return placeDomainErrors(err, fields)
	}
	writeWithETag(w, app.Revision, app)
	return nil
}

func (s *Server) deleteApp(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "app_id", "application")
	if err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	if err := s.store.DeleteApp(r.Context(), actor(r), accountID(r), id, rev); err != nil {
		return err
	}
	writeResult(w, map[string]string{"id": id})
	return nil
}

// revokeAppTokens makes every existing session of the app invalid. As in
// Cloudflare, the result is null and any body is ignored.
func (s *Server) revokeAppTokens(w http.ResponseWriter, r *http.Request) error {
	id, err := idParam(r, "app_id", "application")
	if err != nil {
		return err
	}
	if _, err := s.store.RevokeAppSessions(r.Context(), actor(r), accountID(r), id); err != nil {
		return err
	}
	writeResult(w, nil)
	return nil
}
