package metrics

import (
	"maps"
	"sync"
	"sync/atomic"
)

// cache maps label values to resolved series. Reads are a lock-free map
// lookup; a new key copies the map, which is rare (keys are bounded: app
// ids times a few actions and reasons).
type cache[K comparable, V any] struct {
	m       atomic.Pointer[map[K]V]
	mu      sync.Mutex
	resolve func(K) V
}

func (c *cache[K, V]) get(k K) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	return c.add(k)
}

func (c *cache[K, V]) add(k K) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[K]V
	if p := c.m.Load(); p != nil {
		old = *p
	}
	if v, ok := old[k]; ok {
		return v
	}
	next := make(map[K]V, len(old)+1)
	maps.Copy(next, old)
	v := c.resolve(k)
	next[k] = v
	c.m.Store(&next)
	return v
}
