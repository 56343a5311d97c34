package policy

import (
	"hash/maphash"
	"iter"
	"maps"
	"runtime"
	"sync"
)

// pmap is a persistent map: an immutable value that an edit copies only in
// part. Its entries are spread over pmapShards Go maps by a hash of the
// key, reached through two small arrays of pointers (pmapFan each); an
// edit copies the arrays on the way to each shard it writes to, and that
// shard, and shares everything else with the map it came from. A change
// of k entries to a map of n costs O(k·n/pmapShards), never O(n) once n
// passes a few thousand.
//
// The zero pmap is empty and ready to read.
type pmap[K comparable, V any] struct {
	shards *[pmapFan]*[pmapFan]map[K]V // nil when empty
	n      int
}

const (
	pmapFan    = 1 << 6
	pmapShards = pmapFan * pmapFan
)

// shard returns the map holding shard i, nil when it has none.
func (m *pmap[K, V]) shard(i int) map[K]V {
	if m.shards == nil {
		return nil
	}
	if mid := m.shards[i/pmapFan]; mid != nil {
		return mid[i%pmapFan]
	}
	return nil
}

// pmapSeed is one seed for every pmap in the process, so that an edit
// places each key in the shard the map it came from has it in.
var pmapSeed = maphash.MakeSeed()

func shardOf[K comparable](k K) int {
	return int(maphash.Comparable(pmapSeed, k) & (pmapShards - 1))
}

// shardOfString is shardOf for string keys, without the generic
// hashing's indirection (the hot path looks up hosts and client ids).
func shardOfString(k string) int {
	return int(maphash.String(pmapSeed, k) & (pmapShards - 1))
}

func (m pmap[K, V]) get(k K) (V, bool) {
	v, ok := m.shard(shardOf(k))[k]
	return v, ok
}

func (m pmap[K, V]) len() int { return m.n }

// all yields every entry, in no particular order.
func (m pmap[K, V]) all() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		if m.shards == nil {
			return
		}
		for _, mid := range m.shards {
			if mid == nil {
				continue
			}
			for _, sh := range mid {
				for k, v := range sh {
					if !yield(k, v) {
						return
					}
				}
			}
		}
	}
}

// spmap is a pmap with string keys, whose lookups hash the key directly.
type spmap[V any] struct{ pmap[string, V] }

func (m spmap[V]) get(k string) (V, bool) {
	v, ok := m.shard(shardOfString(k))[k]
	return v, ok
}

// pmapEdit is a change being made to a pmap. The map it started from is
// never modified: the first write to a shard copies that shard.
type pmapEdit[K comparable, V any] struct {
	m      pmap[K, V]
	shard  func(K) int
	copied [pmapShards / 64]uint64 // shards this edit owns
	mids   uint64                  // middle arrays this edit owns, by bit
	hint   int                     // expected entries per new shard
}

func (m pmap[K, V]) edit() *pmapEdit[K, V] {
	e := &pmapEdit[K, V]{m: m, shard: shardOf[K]}
	e.own()
	return e
}

// spmapEdit is a change being made to an spmap.
type spmapEdit[V any] struct{ *pmapEdit[string, V] }

func (m spmap[V]) edit() spmapEdit[V] {
	e := &pmapEdit[string, V]{m: m.pmap, shard: shardOfString}
	e.own()
	return spmapEdit[V]{e}
}

func (e spmapEdit[V]) done() spmap[V] { return spmap[V]{e.pmapEdit.done()} }

// own gives the edit its own top array.
func (e *pmapEdit[K, V]) own() {
	top := new([pmapFan]*[pmapFan]map[K]V)
	if e.m.shards != nil {
		*top = *e.m.shards
	}
	e.m.shards = top
}

func (e *pmapEdit[K, V]) writable(k K) map[K]V {
	i := e.shard(k)
	if e.copied[i/64]&(1<<(i%64)) == 0 {
		e.copied[i/64] |= 1 << (i % 64)
		hi := i / pmapFan
		if e.mids&(1<<hi) == 0 {
			e.mids |= 1 << hi
			mid := new([pmapFan]map[K]V)
			if old := e.m.shards[hi]; old != nil {
				*mid = *old
			}
			e.m.shards[hi] = mid
		}
		mid := e.m.shards[hi]
		if old := mid[i%pmapFan]; old != nil {
			mid[i%pmapFan] = maps.Clone(old)
		} else {
			mid[i%pmapFan] = make(map[K]V, e.hint)
		}
	}
	return e.m.shards[i/pmapFan][i%pmapFan]
}

func (e *pmapEdit[K, V]) get(k K) (V, bool) {
	v, ok := e.m.shard(e.shard(k))[k]
	return v, ok
}

func (e *pmapEdit[K, V]) set(k K, v V) {
	sh := e.writable(k)
	n := len(sh)
	sh[k] = v
	e.m.n += len(sh) - n
}

func (e *pmapEdit[K, V]) delete(k K) {
	if _, ok := e.m.shard(e.shard(k))[k]; !ok {
		return
	}
	delete(e.writable(k), k)
	e.m.n--
}

// done returns the edited map. The edit must not be used after.
func (e *pmapEdit[K, V]) done() pmap[K, V] {
	if e.m.n == 0 {
		return pmap[K, V]{}
	}
	return e.m
}

// buildSpmap builds an spmap of n entries, the i-th keyed key(i), in
// parallel: entries are grouped by shard first, so that each shard is
// filled at once (while it is in cache) by one goroutine. A key given
// twice keeps its last value, as set does.
func buildSpmap[V any](n int, key func(int) string, val func(int) V) spmap[V] {
	if n == 0 {
		return spmap[V]{}
	}
	shardOfEntry := make([]uint16, n)
	var counts [pmapShards + 1]int32
	for i := range n {
		sh := shardOfString(key(i))
		shardOfEntry[i] = uint16(sh)
		counts[sh+1]++
	}
	for i := 1; i <= pmapShards; i++ {
		counts[i] += counts[i-1]
	}
	order := make([]int32, n)
	next := counts
	for i := range n {
		sh := shardOfEntry[i]
		order[next[sh]] = int32(i)
		next[sh]++
	}
	shards := new([pmapFan]*[pmapFan]map[string]V)
	for i := range shards {
		shards[i] = new([pmapFan]map[string]V)
	}
	workers := min(runtime.GOMAXPROCS(0), 8)
	if n < 4096 {
		workers = 1
	}
	total := make([]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sh := w; sh < pmapShards; sh += workers {
				from, to := counts[sh], counts[sh+1]
				if from == to {
					continue
				}
				m := make(map[string]V, to-from)
				for _, i := range order[from:to] {
					m[key(int(i))] = val(int(i))
				}
				shards[sh/pmapFan][sh%pmapFan] = m
				total[w] += len(m)
			}
		}()
	}
	wg.Wait()
	m := spmap[V]{pmap[string, V]{shards: shards}}
	for _, t := range total {
		m.n += t
	}
	return m
}
