// Package ratelimit keeps a token-bucket limiter (golang.org/x/time/rate)
// per client key, such as an address, in a table of bounded size, for the
// edge's login routes and the API's dashboard sign-in.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// PerKey is a table of limiters, one per key, each allowing burst events
// and then one every interval. It is safe for concurrent use.
type PerKey[K comparable] struct {
	every time.Duration
	burst int
	max   int

	mu sync.Mutex
	m  map[K]*rate.Limiter
}

// New returns a table holding at most maxKeys limiters. When a new key
// finds it full, the keys whose allowance has fully recovered are
// dropped, and if that frees nothing, all are: at worst a key gets a
// fresh allowance.
func New[K comparable](every time.Duration, burst, maxKeys int) *PerKey[K] {
	return &PerKey[K]{every: every, burst: burst, max: maxKeys, m: make(map[K]*rate.Limiter)}
}

// Every is the interval at which a spent allowance recovers one event.
func (p *PerKey[K]) Every() time.Duration { return p.every }

// Limiter returns key's limiter, adding a full one when key has none.
func (p *PerKey[K]) Limiter(key K) *rate.Limiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	lim, ok := p.m[key]
	if !ok {
		if len(p.m) >= p.max {
			p.evict()
		}
		lim = rate.NewLimiter(rate.Every(p.every), p.burst)
		p.m[key] = lim
	}
	return lim
}

// Peek returns key's limiter without adding one.
func (p *PerKey[K]) Peek(key K) (*rate.Limiter, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lim, ok := p.m[key]
	return lim, ok
}

func (p *PerKey[K]) evict() {
	for k, lim := range p.m {
		if lim.Tokens() >= float64(p.burst) {
			delete(p.m, k)
		}
	}
	if len(p.m) >= p.max {
		clear(p.m)
	}
}
