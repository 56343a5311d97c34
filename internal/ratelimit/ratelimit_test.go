package ratelimit

import (
	"testing"
	"time"
)

func TestPerKeyLimitsEachKeyAndStaysBounded(t *testing.T) {
	p := New[string](time.Hour, 2, 3)
	a := p.Limiter("a")
	if !a.Allow() || !a.Allow() || a.Allow() {
		t.Fatal("a: want a burst of 2, then refusals")
	}
	if p.Limiter("a") != a {
		t.Fatal("a second call made a new limiter: the allowance would reset")
	}
	if !p.Limiter("b").Allow() {
		t.Fatal("b is limited by a's events")
	}
	if _, ok := p.Peek("c"); ok {
		t.Fatal("Peek added a limiter")
	}
	p.Limiter("c")
	// Full: d evicts the keys with a full allowance (c), keeping a and b.
	p.Limiter("d")
	if _, ok := p.Peek("c"); ok {
		t.Error("a recovered key was kept past the bound")
	}
	if got, ok := p.Peek("a"); !ok || got != a {
		t.Error("a spent key was dropped while a recovered one could go")
	}
	// Full of spent keys: the table starts over.
	p.Limiter("d").Allow()
	p.Limiter("e")
	if len(p.m) > 3 {
		t.Errorf("%d keys, bound 3", len(p.m))
	}
}
