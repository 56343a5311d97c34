package policy

import "slices"

// policyTable holds the compiled policies. Each policy id has a slot, a
// small number apps link by: deciding reads a link's policy with two
// indexed loads rather than a lookup by id, and changing a policy changes
// its slot alone, however many apps link it. A slot is kept when its
// policy is deleted (links may still name it: they then find no policy),
// so an id keeps its slot for the life of a chain of snapshots.
type policyTable struct {
	ids  spmap[int32] // policy id (or privateKey) -> slot
	vec  pvec[*Policy]
	next int32 // the next free slot
}

// at returns the policy in slot i, or nil.
func (t *policyTable) at(i int32) *Policy { return t.vec.get(i) }

// byID returns the policy with an id, or nil.
func (t *policyTable) byID(id string) *Policy {
	if i, ok := t.ids.get(id); ok {
		return t.at(i)
	}
	return nil
}

type policyTableEdit struct {
	ids  spmapEdit[int32]
	vec  *pvecEdit[*Policy]
	next int32
}

func (t policyTable) edit() *policyTableEdit {
	return &policyTableEdit{ids: t.ids.edit(), vec: t.vec.edit(), next: t.next}
}

// lookup returns an id's slot, if it has one.
func (e *policyTableEdit) lookup(id string) (int32, bool) { return e.ids.get(id) }

// slot returns an id's slot, giving it one if it has none.
func (e *policyTableEdit) slot(id string) int32 {
	if i, ok := e.ids.get(id); ok {
		return i
	}
	i := e.next
	e.next++
	e.ids.set(id, i)
	return i
}

func (e *policyTableEdit) set(id string, p *Policy) { e.vec.set(e.slot(id), p) }

// remove empties an id's slot; links to it find no policy.
func (e *policyTableEdit) remove(id string) {
	if i, ok := e.ids.get(id); ok {
		e.vec.set(i, nil)
	}
}

// forget removes an id and its slot's policy: for an app's own policies
// (privateKey), which nothing else links.
func (e *policyTableEdit) forget(id string) {
	e.remove(id)
	e.ids.delete(id)
}

func (e *policyTableEdit) done() policyTable {
	return policyTable{ids: e.ids.done(), vec: e.vec.done(), next: e.next}
}

// pvec is a persistent vector: chunks of pvecChunk values, of which an
// edit copies the list of chunks and each chunk it writes to.
type pvec[T any] struct {
	chunks []*[pvecChunk]T
}

const pvecChunk = 256

func (v pvec[T]) get(i int32) T {
	c := int(i) / pvecChunk
	if i < 0 || c >= len(v.chunks) {
		var zero T
		return zero
	}
	return v.chunks[c][int(i)%pvecChunk]
}

type pvecEdit[T any] struct {
	v     pvec[T]
	owned map[int]bool // chunks this edit copied or made
}

func (v pvec[T]) edit() *pvecEdit[T] {
	return &pvecEdit[T]{v: pvec[T]{chunks: slices.Clone(v.chunks)}, owned: map[int]bool{}}
}

func (e *pvecEdit[T]) set(i int32, x T) {
	c := int(i) / pvecChunk
	for c >= len(e.v.chunks) {
		e.v.chunks = append(e.v.chunks, new([pvecChunk]T))
		e.owned[len(e.v.chunks)-1] = true
	}
	if !e.owned[c] {
		cp := *e.v.chunks[c]
		e.v.chunks[c] = &cp
		e.owned[c] = true
	}
	e.v.chunks[c][int(i)%pvecChunk] = x
}

func (e *pvecEdit[T]) done() pvec[T] { return e.v }

// buildPolicyTable makes the table of ps, slot i holding ps[i].
func buildPolicyTable(ps []*Policy) policyTable {
	t := policyTable{next: int32(len(ps))}
	t.ids = buildSpmap(len(ps), func(i int) string { return ps[i].ID }, func(i int) int32 { return int32(i) })
	for c := 0; c*pvecChunk < len(ps); c++ {
		chunk := new([pvecChunk]*Policy)
		copy(chunk[:], ps[c*pvecChunk:])
		t.vec.chunks = append(t.vec.chunks, chunk)
	}
	return t
}
