package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// enforceTimeout bounds the wait for one change to reach the edge.
const enforceTimeout = 5 * time.Second

// propagation is how long API writes took to be enforced at the edge.
type propagation struct {
	writes      int
	afterAnswer distribution // from the API's answer to the edge enforcing
	total       distribution // from sending the write to the edge enforcing
}

// distribution summarizes a set of durations.
type distribution struct{ p50, p99, max time.Duration }

func distributionOf(ds []time.Duration) distribution {
	sorted := slices.Sorted(slices.Values(ds))
	if len(sorted) == 0 {
		return distribution{}
	}
	return distribution{p50: percentile(sorted, 0.50), p99: percentile(sorted, 0.99), max: sorted[len(sorted)-1]}
}

// measurePropagation changes the app's CORS max age through the API writes
// times, each time polling the edge with preflights over one keep-alive
// connection until its answer carries the new value.
func measurePropagation(ctx context.Context, s *stack, writes int) (propagation, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := newLoadClient(tr)
	preflight, err := s.request(s.edgeURL, http.MethodOptions, setPreflight)(ctx)
	if err != nil {
		return propagation{}, err
	}
	var afterAnswer, total []time.Duration
	for i := 1; i <= writes; i++ {
		maxAge := maxAgeForWrite(i)
		sent := time.Now()
		if err := s.cp.call(ctx, http.MethodPut, "access/apps/"+s.app.ID, appBody(s.origin.String(), maxAge), nil); err != nil {
			return propagation{}, err
		}
		answered := time.Now()
		enforced, err := pollMaxAge(client, preflight, strconv.Itoa(maxAge), answered.Add(enforceTimeout))
		if err != nil {
			return propagation{}, fmt.Errorf("write %d (max_age %d): %w", i, maxAge, err)
		}
		afterAnswer = append(afterAnswer, enforced.Sub(answered))
		total = append(total, enforced.Sub(sent))
	}
	return propagation{writes: writes, afterAnswer: distributionOf(afterAnswer), total: distributionOf(total)}, nil
}

// maxAgeForWrite is the max age the i-th write sets: different from the
// one before and within the API's limit of a day.
func maxAgeForWrite(i int) int { return 1 + (initialMaxAge+i-1)%86400 }

// pollMaxAge sends preflight until the edge answers with Access-Control-
// Max-Age want, and returns when that answer arrived.
func pollMaxAge(client *http.Client, preflight *http.Request, want string, deadline time.Time) (time.Time, error) {
	for {
		resp, err := client.Do(preflight)
		if err != nil {
			return time.Time{}, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		now := time.Now()
		if resp.StatusCode != http.StatusNoContent {
			return time.Time{}, fmt.Errorf("preflight answered %d", resp.StatusCode)
		}
		if resp.Header.Get("Access-Control-Max-Age") == want {
			return now, nil
		}
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("edge still answers max age %q after %v", resp.Header.Get("Access-Control-Max-Age"), enforceTimeout)
		}
	}
}
