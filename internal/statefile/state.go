package statefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/session"
)

// State is a saved state as read: the config (the base with the journal
// applied) and the signing keys.
type State struct {
	Config access.Config
	Keys   []session.ExportedKey
	// Deltas is the number of journal records applied to the base.
	Deltas int

	baseID   fileID
	baseSize int64
	journal  journal
	haveJrnl bool // the journal belongs to this base
}

// Open reads the state in dir, sealed with key. It returns ErrNoState
// when there is none, and an error wrapping ErrRefused for one that must
// not be trusted.
func Open(dir string, key []byte) (*State, error) {
	basePath := filepath.Join(dir, BaseName)
	f, err := os.Open(basePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoState
	}
	if err != nil {
		return nil, fmt.Errorf("statefile: %w", err)
	}
	defer f.Close()
	id, err := parseHeader(f, kindBase)
	if errors.Is(err, errTorn) {
		return nil, fmt.Errorf("%w: base file cut short", ErrRefused)
	}
	if err != nil {
		return nil, fmt.Errorf("statefile: %s: %w", basePath, err)
	}
	st := &State{baseID: id}
	if st.journal, st.haveJrnl, err = readJournal(filepath.Join(dir, JournalName), key, id); err != nil {
		return nil, fmt.Errorf("statefile: %s: %w", JournalName, err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("statefile: %w", err)
	}
	m := newMerger(st.journal.parts, time.Now(), func(p part) error {
		cfg := &st.Config
		switch p.typ {
		case recHeader:
			cfg.Version = p.version
			// Room for the base's objects and a few new ones: appending
			// a million tokens to a growing slice copies them many times.
			c := p.counts
			room := func(n int64) int { return int(min(max(n, 0), 1<<24)) + 64 }
			cfg.Apps = make([]access.App, 0, room(c[0]))
			cfg.Policies = make([]access.Policy, 0, room(c[1]))
			cfg.ServiceTokens = make([]access.ServiceTokenCredential, 0, room(c[2]))
			cfg.IdentityProviders = make([]access.IdentityProvider, 0, room(c[3]))
			cfg.Revocations = make([]access.SessionRevocation, 0, room(c[4]))
		case recKeys:
			st.Keys = p.keys
		case recApps:
			cfg.Apps = append(cfg.Apps, p.apps...)
		case recPolicies:
			cfg.Policies = append(cfg.Policies, p.policies...)
		case recTokens:
			cfg.ServiceTokens = append(cfg.ServiceTokens, p.tokens...)
		case recIdPs:
			cfg.IdentityProviders = append(cfg.IdentityProviders, p.idps...)
		case recRevocations:
			cfg.Revocations = append(cfg.Revocations, p.revs...)
		case recCerts:
			cfg.Certificates = append(cfg.Certificates, p.certs...)
		case recOrgs:
			cfg.Organizations = append(cfg.Organizations, p.orgs...)
		case recEnd:
			cfg.Version = p.version
		}
		return nil
	})
	if err := streamBase(f, key, m.feed); err != nil {
		return nil, fmt.Errorf("statefile: %s: %w", BaseName, err)
	}
	st.Deltas = m.applied
	if fi, err := f.Stat(); err == nil {
		st.baseSize = fi.Size()
	}
	return st, nil
}

// Version is the config version of the state.
func (s *State) Version() int64 { return s.Config.Version }

// overlay is the journal's changes keyed by object: the state at the
// journal's end of every object it names (nil: deleted).
type overlay struct {
	version int64
	keys    []session.ExportedKey // nil: unchanged

	apps     keyed[access.App]
	policies keyed[access.Policy]
	tokens   keyed[access.ServiceTokenCredential]
	idps     keyed[access.IdentityProvider]
	revs     keyed[access.SessionRevocation]
	certs    keyed[access.CertificateCredential]
	orgs     keyed[access.Organization]
}

// keyed is one kind of object of an overlay: the latest state by key,
// the keys in order of first appearance (new objects go last), and which
// the base held.
type keyed[T any] struct {
	latest map[string]*T
	order  []string
	seen   map[string]bool
}

func (k *keyed[T]) put(key string, v *T) {
	if k.latest == nil {
		k.latest, k.seen = map[string]*T{}, map[string]bool{}
	}
	if _, ok := k.latest[key]; !ok {
		k.order = append(k.order, key)
	}
	k.latest[key] = v
}

// merge replaces or drops the objects of a base chunk that the overlay
// names, in place, and those keep (nil: all) refuses.
func (k *keyed[T]) merge(objs []T, key func(*T) string, keep func(*T) bool) []T {
	if len(k.latest) == 0 && keep == nil {
		return objs
	}
	if keep == nil {
		keep = always[T]
	}
	out := objs[:0]
	for i := range objs {
		id := key(&objs[i])
		if v, ok := k.latest[id]; ok {
			k.seen[id] = true
			if v != nil && keep(v) {
				out = append(out, *v)
			}
			continue
		}
		if keep(&objs[i]) {
			out = append(out, objs[i])
		}
	}
	return out
}

// fresh returns the overlay's objects the base did not hold.
func (k *keyed[T]) fresh(keep func(*T) bool) []T {
	var out []T
	for _, id := range k.order {
		if v := k.latest[id]; v != nil && !k.seen[id] && keep(v) {
			out = append(out, *v)
		}
	}
	return out
}

func appKey(a *access.App) string                      { return a.ID }
func policyKey(p *access.Policy) string                { return p.ID }
func tokenKey(t *access.ServiceTokenCredential) string { return t.ClientID }
func idpKey(p *access.IdentityProvider) string         { return p.ID }
func revKey(r *access.SessionRevocation) string {
	return r.AccountID + "\x00" + r.SessionID + "\x00" + r.Email
}
func certKey(c *access.CertificateCredential) string { return c.ID }
func orgKey(o *access.Organization) string           { return o.AccountID }
func always[T any](*T) bool                          { return true }

func (o *overlay) add(d *access.Delta) {
	for i := range d.Apps {
		o.apps.put(d.Apps[i].ID, &d.Apps[i])
	}
	for _, id := range d.DeletedApps {
		o.apps.put(id, nil)
	}
	for i := range d.Policies {
		o.policies.put(d.Policies[i].ID, &d.Policies[i])
	}
	for _, id := range d.DeletedPolicies {
		o.policies.put(id, nil)
	}
	for i := range d.ServiceTokens {
		o.tokens.put(d.ServiceTokens[i].ClientID, &d.ServiceTokens[i])
	}
	for _, id := range d.DeletedServiceTokens {
		o.tokens.put(id, nil)
	}
	for i := range d.IdentityProviders {
		o.idps.put(d.IdentityProviders[i].ID, &d.IdentityProviders[i])
	}
	for _, id := range d.DeletedIdentityProviders {
		o.idps.put(id, nil)
	}
	for i := range d.Revocations {
		o.revs.put(revKey(&d.Revocations[i]), &d.Revocations[i])
	}
	for i := range d.Certificates {
		o.certs.put(d.Certificates[i].ID, &d.Certificates[i])
	}
	for _, id := range d.DeletedCertificates {
		o.certs.put(id, nil)
	}
	for i := range d.Organizations {
		o.orgs.put(orgKey(&d.Organizations[i]), &d.Organizations[i])
	}
	o.version = d.To
}

// merger applies a journal to a base as the base streams past, and
// passes the merged parts on: changed objects replaced where they stand,
// deleted ones dropped, new ones appended to their section. Revocations
// that expired are dropped.
type merger struct {
	journal []part
	now     time.Time
	emit    func(part) error
	ov      overlay
	cur     int // the section being streamed; those before it are flushed
	applied int // journal records applied
}

func newMerger(journal []part, now time.Time, emit func(part) error) *merger {
	return &merger{journal: journal, now: now, emit: emit}
}

func (m *merger) live(r *access.SessionRevocation) bool { return r.ExpiresAt.After(m.now) }

// feed takes the base's parts in order (streamBase checked the order).
func (m *merger) feed(p part) error {
	switch p.typ {
	case recHeader:
		// The journal applies from the base's version on; a record that
		// does not follow on (never written so) ends it.
		m.ov.version = p.version
		for i := range m.journal {
			j := &m.journal[i]
			if j.typ == recKeys {
				m.ov.keys = j.keys
				m.applied++
				continue
			}
			if j.delta.From != m.ov.version || j.delta.To < j.delta.From {
				break
			}
			m.ov.add(&j.delta)
			m.applied++
		}
		return m.emit(part{typ: recHeader, version: m.ov.version, counts: p.counts})
	case recEnd:
		if err := m.flushTo(len(sections)); err != nil {
			return err
		}
		return m.emit(part{typ: recEnd, version: m.ov.version})
	}
	i := sectionIndex(p.typ)
	if err := m.flushTo(i); err != nil {
		return err
	}
	switch p.typ {
	case recKeys:
		if m.ov.keys != nil {
			p.keys = m.ov.keys
			m.ov.keys = nil
		}
	case recApps:
		p.apps = m.ov.apps.merge(p.apps, appKey, nil)
	case recPolicies:
		p.policies = m.ov.policies.merge(p.policies, policyKey, nil)
	case recTokens:
		p.tokens = m.ov.tokens.merge(p.tokens, tokenKey, nil)
	case recIdPs:
		p.idps = m.ov.idps.merge(p.idps, idpKey, nil)
	case recRevocations:
		p.revs = m.ov.revs.merge(p.revs, revKey, m.live)
	case recCerts:
		p.certs = m.ov.certs.merge(p.certs, certKey, nil)
	case recOrgs:
		p.orgs = m.ov.orgs.merge(p.orgs, orgKey, nil)
	}
	return m.emit(p)
}

// flushTo emits the new objects of every section before section i.
func (m *merger) flushTo(i int) error {
	for ; m.cur < i; m.cur++ {
		var err error
		switch sections[m.cur] {
		case recKeys:
			if m.ov.keys != nil {
				err = m.emit(part{typ: recKeys, keys: m.ov.keys})
				m.ov.keys = nil
			}
		case recApps:
			err = emitChunks(m.ov.apps.fresh(always[access.App]), appsPerChunk, func(c []access.App) error {
				return m.emit(part{typ: recApps, apps: c})
			})
		case recPolicies:
			err = emitChunks(m.ov.policies.fresh(always[access.Policy]), policiesPerChunk, func(c []access.Policy) error {
				return m.emit(part{typ: recPolicies, policies: c})
			})
		case recTokens:
			err = emitChunks(m.ov.tokens.fresh(always[access.ServiceTokenCredential]), tokensPerChunk, func(c []access.ServiceTokenCredential) error {
				return m.emit(part{typ: recTokens, tokens: c})
			})
		case recIdPs:
			err = emitChunks(m.ov.idps.fresh(always[access.IdentityProvider]), idpsPerChunk, func(c []access.IdentityProvider) error {
				return m.emit(part{typ: recIdPs, idps: c})
			})
		case recRevocations:
			err = emitChunks(m.ov.revs.fresh(m.live), revsPerChunk, func(c []access.SessionRevocation) error {
				return m.emit(part{typ: recRevocations, revs: c})
			})
		case recCerts:
			err = emitChunks(m.ov.certs.fresh(always[access.CertificateCredential]), certsPerChunk, func(c []access.CertificateCredential) error {
				return m.emit(part{typ: recCerts, certs: c})
			})
		case recOrgs:
			err = emitChunks(m.ov.orgs.fresh(always[access.Organization]), orgsPerChunk, func(c []access.Organization) error {
				return m.emit(part{typ: recOrgs, orgs: c})
			})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func emitChunks[T any](objs []T, size int, emit func([]T) error) error {
	for len(objs) > 0 {
		n := min(size, len(objs))
		if err := emit(objs[:n:n]); err != nil {
			return err
		}
		objs = objs[n:]
	}
	return nil
}
