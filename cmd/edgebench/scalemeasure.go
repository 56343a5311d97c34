package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/wire"
)

// pollGap is the pause between two probes of the edge while waiting for a
// change: fine enough for a 50 ms target, light enough not to compete
// with the edge's own work for the CPU.
const pollGap = time.Millisecond

// changeKind is a kind of change the propagation measurement makes.
type changeKind int

const (
	appUpdate changeKind = iota
	tokenCreate
	sharedPolicyUpdate
	revocation
	numChangeKinds
)

func (k changeKind) String() string {
	return [...]string{"app update", "token create", "shared policy update", "revocation"}[k]
}

// observation is a request to the edge and the test of its answer that
// shows a change is enforced.
type observation struct {
	req  *http.Request
	done func(*http.Response) bool
}

// change makes one change of kind through the API. It returns when the
// write was sent and answered, and how to see it enforced.
func (s *scaleStack) change(ctx context.Context, client *http.Client, kind changeKind) (sent, answered time.Time, obs observation, err error) {
	edgeURL := s.edge.url()
	status := func(want int) func(*http.Response) bool {
		return func(r *http.Response) bool { return r.StatusCode == want }
	}
	switch kind {
	case appUpdate:
		s.maxAge++
		want := strconv.Itoa(s.maxAge)
		if obs.req, err = s.preflight(edgeURL); err != nil {
			return
		}
		obs.done = func(r *http.Response) bool { return r.Header.Get("Access-Control-Max-Age") == want }
		sent = time.Now()
		err = s.cp.call(ctx, http.MethodPut, "access/apps/"+s.app.ID, appBody(s.origin.String(), s.maxAge), nil)
	case tokenCreate:
		var t access.ServiceToken
		sent = time.Now()
		if err = s.cp.call(ctx, http.MethodPost, "access/service_tokens", map[string]any{"name": fmt.Sprintf("change-%d", sent.UnixNano())}, &t); err != nil {
			return
		}
		answered = time.Now()
		s.tokens++
		obs.req, err = s.tokenRequest(edgeURL, appHost, t)
		obs.done = status(http.StatusOK)
		return sent, answered, obs, err
	case sharedPolicyUpdate:
		s.sharedOn = 1 - s.sharedOn
		if obs.req, err = s.tokenRequest(edgeURL, sharedProbeHost, s.sharedTokens[s.sharedOn]); err != nil {
			return
		}
		obs.done = status(http.StatusOK)
		sent = time.Now()
		err = s.cp.call(ctx, http.MethodPut, "access/policies/"+s.sharedPolicy.ID, s.sharedPolicyBody(), nil)
	case revocation:
		s.revoked++
		email := fmt.Sprintf("user-%d@example.test", s.revoked)
		if obs.req, err = s.sessionRequest(edgeURL, email); err != nil {
			return
		}
		// The session must work before it is revoked, or its refusal
		// would prove nothing.
		resp, err := client.Do(obs.req)
		if err != nil {
			return sent, answered, obs, err
		}
		drain(resp)
		if resp.StatusCode != http.StatusOK {
			return sent, answered, obs, fmt.Errorf("a session for %s is refused (%d) before its revocation", email, resp.StatusCode)
		}
		obs.done = func(r *http.Response) bool { return r.StatusCode != http.StatusOK }
		sent = time.Now()
		err = s.cp.call(ctx, http.MethodPost, "access/organizations/revoke_user", map[string]any{"email": email}, nil)
	}
	return sent, time.Now(), obs, err
}

func (s *scaleStack) preflight(server string) (*http.Request, error) {
	r, err := http.NewRequest(http.MethodOptions, server+"/bench/items?page=1", nil)
	if err != nil {
		return nil, err
	}
	setPreflight(r)
	return r, nil
}

func (s *scaleStack) sessionRequest(server, email string) (*http.Request, error) {
	cookie, err := s.session(email)
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequest(http.MethodGet, server+"/bench/items?page=1", nil)
	if err != nil {
		return nil, err
	}
	r.Host = appHost
	r.AddCookie(&http.Cookie{Name: wire.CookieName, Value: cookie})
	return r, nil
}

// waitEnforced probes the edge until obs shows the change, and returns
// when the answer that showed it arrived.
func waitEnforced(ctx context.Context, client *http.Client, obs observation, deadline time.Time) (time.Time, error) {
	for {
		resp, err := client.Do(obs.req)
		if err != nil {
			return time.Time{}, err
		}
		done := obs.done(resp)
		drain(resp)
		now := time.Now()
		if done {
			return now, nil
		}
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("not enforced at the edge in time (its last answer: %d)", resp.StatusCode)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(pollGap):
		}
	}
}

// changesFigures are the propagation of single changes.
type changesFigures struct {
	n, wanted   int
	all         distribution
	byKind      [numChangeKinds]distribution
	apiWrite    distribution // the API's answer time
	rssSteady   int64
	rssPeak     int64
	budgetSpent bool
}

// measureChanges makes n changes through the API, of each kind in turn,
// and measures how long each takes from the API's answer until the edge
// enforces it, and the edge's RSS meanwhile. It stops early when budget
// is spent.
func (s *scaleStack) measureChanges(ctx context.Context, rss *rssSampler, n int, budget, timeout time.Duration) (f changesFigures, err error) {
	f.wanted = n
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := newLoadClient(tr)
	f.rssSteady = rss.reset()
	var all, writes []time.Duration
	var byKind [numChangeKinds][]time.Duration
	// The figures of the changes measured, also when one fails.
	defer func() {
		f.n = len(all)
		f.all, f.apiWrite = distributionOf(all), distributionOf(writes)
		for k := range byKind {
			f.byKind[k] = distributionOf(byKind[k])
		}
		f.rssPeak = rss.peakSinceReset()
	}()
	start := time.Now()
	for i := range n {
		if time.Since(start) > budget {
			f.budgetSpent = true
			break
		}
		kind := changeKind(i % int(numChangeKinds))
		sent, answered, obs, err := s.change(ctx, client, kind)
		if err != nil {
			return f, fmt.Errorf("change %d (%s): %w", i+1, kind, err)
		}
		enforced, err := waitEnforced(ctx, client, obs, answered.Add(timeout))
		if err != nil {
			return f, fmt.Errorf("change %d (%s): %w", i+1, kind, err)
		}
		d := max(enforced.Sub(answered), 0)
		all = append(all, d)
		byKind[kind] = append(byKind[kind], d)
		writes = append(writes, answered.Sub(sent))
	}
	return f, nil
}

// burstFigures are a burst of API writes.
type burstFigures struct {
	n           int
	edgeCPU     time.Duration
	propagation distribution
	apiWrite    distribution
	rssBefore   int64
	rssPeak     int64
	took        time.Duration // from the first write to the last enforced
}

// burstSettle is how long after the last change is enforced the edge's
// CPU time is still counted, for work it finishes after enforcing.
const burstSettle = 250 * time.Millisecond

// measureBurst makes n API writes back to back, alternately creating a
// token and updating the benchmark app's CORS max age (the last write an
// update), while one client probes the edge's preflight answer every few
// milliseconds. The edge applies changes in commit order, so a write is
// enforced once the max age of the same or a later update shows. The
// edge's CPU time is counted from the first write until burstSettle
// after the last is enforced.
func (s *scaleStack) measureBurst(ctx context.Context, rss *rssSampler, n int, timeout time.Duration) (burstFigures, error) {
	f := burstFigures{n: n}
	preflight, err := s.preflight(s.edge.url())
	if err != nil {
		return f, err
	}
	// The max age each write leads to: its own, or the next update's.
	final := s.maxAge + (n+1)/2
	type seen struct {
		at     time.Time
		maxAge int
	}
	var (
		mu       sync.Mutex
		observed []seen
	)
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	preflight = preflight.WithContext(probeCtx)
	probeDone := make(chan error, 1)
	go func() {
		tr := &http.Transport{MaxIdleConnsPerHost: 1}
		defer tr.CloseIdleConnections()
		client := newLoadClient(tr)
		last := -1
		for probeCtx.Err() == nil {
			resp, err := client.Do(preflight)
			if err != nil {
				probeDone <- err
				return
			}
			v, _ := strconv.Atoi(resp.Header.Get("Access-Control-Max-Age"))
			drain(resp)
			if v != last {
				mu.Lock()
				observed = append(observed, seen{time.Now(), v})
				mu.Unlock()
				last = v
			}
			if v >= final {
				probeDone <- nil
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		probeDone <- probeCtx.Err()
	}()

	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := newLoadClient(tr)
	pid := s.edge.pid()
	f.rssBefore = rss.reset()
	cpu0, err := cpuTime(pid)
	if err != nil {
		return f, err
	}
	start := time.Now()
	answered := make([]time.Time, n)
	leadsTo := make([]int, n)
	var writes []time.Duration
	for i := range n {
		kind := appUpdate
		if i%2 == 0 && i != n-1 {
			kind = tokenCreate
		}
		sent, ans, _, err := s.change(ctx, client, kind)
		if err != nil {
			return f, fmt.Errorf("write %d (%s): %w", i+1, kind, err)
		}
		answered[i] = ans
		writes = append(writes, ans.Sub(sent))
		if kind == appUpdate {
			for j := i; j >= 0 && leadsTo[j] == 0; j-- {
				leadsTo[j] = s.maxAge
			}
		}
	}
	if s.maxAge != final {
		return f, fmt.Errorf("burst ended at max age %d, want %d", s.maxAge, final)
	}
	select {
	case err := <-probeDone:
		if err != nil {
			return f, fmt.Errorf("probe: %w", err)
		}
	case <-time.After(timeout):
		return f, fmt.Errorf("the last write of the burst is not enforced after %v", timeout)
	}
	mu.Lock()
	defer mu.Unlock()
	lastEnforced := observed[len(observed)-1].at
	f.took = lastEnforced.Sub(start)
	time.Sleep(time.Until(lastEnforced.Add(burstSettle)))
	cpu1, err := cpuTime(pid)
	if err != nil {
		return f, err
	}
	f.edgeCPU = cpu1 - cpu0
	f.rssPeak = rss.peakSinceReset()
	var props []time.Duration
	for i := range n {
		k := slices.IndexFunc(observed, func(o seen) bool { return o.maxAge >= leadsTo[i] })
		if k < 0 {
			return f, fmt.Errorf("write %d never seen enforced", i+1)
		}
		props = append(props, max(observed[k].at.Sub(answered[i]), 0))
	}
	f.propagation, f.apiWrite = distributionOf(props), distributionOf(writes)
	return f, nil
}

// listFigures are the API's list pages.
type listFigures struct {
	tokensFirst, tokensDeep time.Duration // p50
	appsFirst, appsDeep     time.Duration
	tokensDeepPage          int
	appsDeepPage            int
	// The middle page: its p50, and its first read, before the store
	// remembers where any page near it starts.
	tokensMid, tokensMidCold time.Duration
	appsMid, appsMidCold     time.Duration
	tokensMidPage            int
	appsMidPage              int
}

// listPerPage is the page size of the list measurement.
const listPerPage = 50

// measureLists times the first and the last page of the service token
// and app lists, samples times each, and returns the medians. The lists'
// total_count must be the number of objects the stack made.
func (s *scaleStack) measureLists(ctx context.Context, samples int) (listFigures, error) {
	var f listFigures
	for _, l := range []struct {
		path        string
		total       int
		first, deep *time.Duration
		page        *int
		mid, cold   *time.Duration
		midPage     *int
	}{
		{"access/service_tokens", s.tokens, &f.tokensFirst, &f.tokensDeep, &f.tokensDeepPage, &f.tokensMid, &f.tokensMidCold, &f.tokensMidPage},
		{"access/apps", s.size.apps, &f.appsFirst, &f.appsDeep, &f.appsDeepPage, &f.appsMid, &f.appsMidCold, &f.appsMidPage},
	} {
		*l.page = max((l.total+listPerPage-1)/listPerPage, 1)
		*l.midPage = max(*l.page/2, 1)
		for _, m := range []struct {
			page  int
			p50   *time.Duration
			first *time.Duration
		}{{1, l.first, nil}, {*l.midPage, l.mid, l.cold}, {*l.page, l.deep, nil}} {
			var ds []time.Duration
			for range samples {
				t0 := time.Now()
				got, err := s.cp.list(ctx, l.path, m.page, listPerPage)
				if err != nil {
					return f, err
				}
				ds = append(ds, time.Since(t0))
				want := min(listPerPage, l.total-(m.page-1)*listPerPage)
				if got.TotalCount != l.total || got.Count != want {
					return f, fmt.Errorf("%s page %d: total_count %d, count %d; want %d and %d", l.path, m.page, got.TotalCount, got.Count, l.total, want)
				}
			}
			*m.p50 = distributionOf(ds).p50
			if m.first != nil {
				*m.first = ds[0]
			}
		}
	}
	return f, nil
}

// measureThroughput loads the edge with service-token requests to the
// benchmark app, concurrency clients for duration after warmup. While it
// runs, if changing, the app and the shared policy are updated through
// the API every changeEvery.
func (s *scaleStack) measureThroughput(ctx context.Context, concurrency int, warmup, duration time.Duration, changing bool) (result, int, error) {
	edgeURL := s.edge.url()
	t := target{name: "edge (service token)", proxied: true, wantStatus: http.StatusOK, wantBody: originBody,
		newRequest: func(ctx context.Context) (*http.Request, error) {
			r, err := s.tokenRequest(edgeURL, appHost, s.loadToken)
			if err != nil {
				return nil, err
			}
			return r.WithContext(ctx), nil
		}}
	if err := t.probe(ctx); err != nil {
		return result{}, 0, err
	}
	l, err := newLoad(ctx, t, concurrency)
	if err != nil {
		return result{}, 0, err
	}
	defer l.close()
	writes := 0
	var writeErr error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if changing {
		wg.Go(func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			client := newLoadClient(tr)
			tick := time.NewTicker(changeEvery)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				kind := appUpdate
				if i%2 == 1 {
					kind = sharedPolicyUpdate
				}
				if _, _, _, err := s.change(ctx, client, kind); err != nil {
					writeErr = err
					return
				}
				writes++
			}
		})
	}
	err = l.run(ctx, warmup, duration)
	close(stop)
	wg.Wait()
	if err := errors.Join(err, writeErr); err != nil {
		return result{}, writes, err
	}
	return l.result(), writes, nil
}

// changeEvery is how often the throughput measurement "while changing"
// writes.
const changeEvery = 100 * time.Millisecond
