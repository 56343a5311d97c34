package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// ErrNotApplicable is returned by Apply when the delta does not start at
// the snapshot's version.
var ErrNotApplicable = errors.New("policy: delta does not apply to this snapshot's version")

// Apply returns the snapshot of version d.To: s with d applied. s is not
// modified; the result shares with s everything d does not touch, and
// decides exactly as Compile of the config at d.To would (given, as the
// store lists them, apps in CreatedAt, ID order).
//
// Its cost is that of the delta: each object changed costs a copy of one
// shard of an index (see pmap), and an app changed re-sorts only the
// hosts it had or has. A policy changed is compiled once and touches no
// app, however many link it.
func (s *Snapshot) Apply(d access.Delta) (*Snapshot, error) {
	if d.From != s.Version {
		return nil, fmt.Errorf("%w: delta from %d, snapshot at %d", ErrNotApplicable, d.From, s.Version)
	}
	n := *s
	n.Version = d.To

	if len(d.IdentityProviders)+len(d.DeletedIdentityProviders) > 0 {
		e := n.idps.edit()
		for _, id := range d.DeletedIdentityProviders {
			e.delete(id)
		}
		for _, p := range d.IdentityProviders {
			e.set(p.ID, &IdentityProvider{p})
		}
		n.idps = e.done()
	}

	touchedPolicies := len(d.Policies)+len(d.DeletedPolicies)+len(d.Apps)+len(d.DeletedApps) > 0
	var pols *policyTableEdit
	if touchedPolicies {
		pols = n.policies.edit()
	}
	if len(d.Policies)+len(d.DeletedPolicies) > 0 {
		compiled, err := compilePolicies(d.Policies)
		if err != nil {
			return nil, err
		}
		for _, id := range d.DeletedPolicies {
			pols.remove(id)
		}
		for i, cp := range compiled {
			pols.set(d.Policies[i].ID, cp)
		}
	}

	if len(d.Apps)+len(d.DeletedApps) > 0 {
		if err := n.applyApps(d, pols); err != nil {
			return nil, err
		}
	}
	if touchedPolicies {
		n.policies = pols.done()
	}

	if len(d.ServiceTokens)+len(d.DeletedServiceTokens) > 0 {
		e := n.tokens.edit()
		for _, id := range d.DeletedServiceTokens {
			e.delete(id)
		}
		toks := make([]Token, len(d.ServiceTokens))
		for i := range d.ServiceTokens {
			compileToken(&toks[i], &d.ServiceTokens[i], intern(d.ServiceTokens[i].AccountID))
			e.set(toks[i].ClientID, &toks[i])
		}
		n.tokens = e.done()
	}

	if len(d.Certificates)+len(d.DeletedCertificates) > 0 {
		n.cas = applyCAs(n.cas, d.Certificates, d.DeletedCertificates)
	}
	n.orgs = setOrganizations(n.orgs, d.Organizations)

	if len(d.Revocations) > 0 {
		sessions, users := n.revokedSessions.edit(), n.revokedUsers.edit()
		for _, r := range d.Revocations {
			revoke(sessions, users, r)
		}
		n.revokedSessions, n.revokedUsers = sessions.done(), users.done()
	}
	return &n, nil
}

// hostRef names one entry of the host indexes.
type hostRef struct {
	wildcard bool
	key      string
}

func refOf(d *App) hostRef { return hostRefOf(d.Host) }

// hostRefOf is the entry of a host as a destination has it ("*." for a
// wildcard).
func hostRefOf(host string) hostRef {
	if suffix, ok := strings.CutPrefix(host, "*."); ok {
		return hostRef{wildcard: true, key: suffix}
	}
	return hostRef{key: host}
}

// applyApps replaces and removes the delta's apps: their compiled form,
// their own policies (older Config shape) and the entries of every host
// they had or now have, with the closed domains those hosts make.
func (n *Snapshot) applyApps(d access.Delta, pols *policyTableEdit) error {
	cas, err := compileApps(d.Apps, pols)
	if err != nil {
		return err
	}
	apps := n.apps.edit()
	gone := make(map[string]bool, len(d.Apps)+len(d.DeletedApps)) // app ids whose old destinations leave
	added := map[hostRef][]*App{}
	invalidChanged := false
	drop := func(id string) {
		gone[id] = true
		old, _ := apps.get(id)
		if old == nil {
			return
		}
		for _, pp := range old.private {
			pols.forget(pp.key)
		}
		for i := range old.dests {
			if r := refOf(&old.dests[i]); added[r] == nil {
				added[r] = []*App{}
			}
		}
		invalidChanged = invalidChanged || len(old.invalid) > 0
	}
	for _, id := range d.DeletedApps {
		drop(id)
		apps.delete(id)
	}
	var invalid []invalidEntry
	for i, ca := range cas {
		id := d.Apps[i].ID
		drop(id)
		apps.set(id, ca)
		ca.link(pols, d.Apps[i].PolicyLinks)
		for j := range ca.dests {
			dst := &ca.dests[j]
			r := refOf(dst)
			added[r] = append(added[r], dst)
		}
		invalid = appendUnparseable(invalid, ca)
	}
	invalidChanged = invalidChanged || len(invalid) > 0
	n.apps = apps.done()

	exact, wildcard := n.exact.edit(), n.wildcard.edit()
	closed := map[hostRef][]invalidEntry{}
	for r, add := range added {
		m := exact
		if r.wildcard {
			m = wildcard
		}
		cur, _ := m.get(r.key)
		all := make([]*App, 0, len(cur.claims())+len(add))
		for _, dst := range cur.claims() {
			if !gone[dst.ID] {
				all = append(all, dst)
			}
		}
		all = append(all, add...)
		if len(all) == 0 {
			m.delete(r.key)
			continue
		}
		slices.SortStableFunc(all, appOrder)
		h, c := serveHost(all)
		m.set(r.key, h)
		closed[r] = c
		invalidChanged = invalidChanged || len(c) > 0
	}
	n.exact, n.wildcard = exact.done(), wildcard.done()

	if !invalidChanged && len(n.invalid) == 0 {
		return nil
	}
	// Keep the closed domains of apps not changed, except duplicates on a
	// host rebuilt (serveHost found them again), and add the new ones.
	for _, e := range n.invalid {
		if e.phase == 0 && gone[e.appID] {
			continue
		}
		if e.phase == 1 {
			if _, rebuilt := added[hostRefOf(e.host)]; rebuilt {
				continue
			}
		}
		invalid = append(invalid, e)
	}
	for _, c := range closed {
		invalid = append(invalid, c...)
	}
	n.setInvalid(invalid)
	return nil
}
