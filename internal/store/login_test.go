package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// clockedStore opens a store on the package database whose clock the test
// sets, starting at the real time.
func clockedStore(t *testing.T, opts ...store.Option) (*store.Store, *gatehousetest.Clock) {
	t.Helper()
	c := gatehousetest.NewClock(time.Now())
	st, err := store.Open(context.Background(), gatehousetest.DatabaseURL(t), append([]store.Option{store.WithClock(c.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st, c
}

// Not parallel: other tests' stores sweep the same table with clocks moved
// forward, which would sweep this test's tokens early.
func TestLoginTokensWorkOnceAndExpiredOnesAreSwept(t *testing.T) {
	ctx := context.Background()
	st, c := clockedStore(t)
	jti := "jti-" + t.Name() + time.Now().String()
	exp := c.Now().Add(time.Minute)

	for i, want := range []bool{true, false, false} {
		fresh, err := st.ConsumeLoginToken(ctx, jti, exp)
		if err != nil || fresh != want {
			t.Fatalf("use %d: fresh=%v err=%v, want %v", i+1, fresh, err, want)
		}
	}
	if fresh, err := st.ConsumeLoginToken(ctx, jti+"-late", c.Now().Add(-time.Second)); err != nil || fresh {
		t.Errorf("an expired token: fresh=%v err=%v", fresh, err)
	}
	if _, err := st.ConsumeLoginToken(ctx, "", exp); access.KindOf(err) != access.EInvalid {
		t.Errorf("empty jti: %v", err)
	}

	// Spent tokens are kept past their expiry, then swept.
	var n int
	count := func() int {
		t.Helper()
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM login_tokens_used WHERE jti = $1`, jti).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	c.Advance(3 * time.Minute)
	if _, err := st.ConsumeLoginToken(ctx, jti+"-2", c.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if count() != 1 {
		t.Fatal("a spent token was swept within the grace period")
	}
	c.Advance(10 * time.Minute)
	if _, err := st.ConsumeLoginToken(ctx, jti+"-3", c.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if count() != 0 {
		t.Error("an expired spent token was not swept")
	}
}

func TestOneTimePINs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, c := clockedStore(t)
	acct, err := st.CreateAccount(ctx, "otp")
	if err != nil {
		t.Fatal(err)
	}
	const ttl, window, perWindow, attempts = 10 * time.Minute, 15 * time.Minute, 3, 5
	create := func(email, code string) (string, error) {
		return st.CreateOTP(ctx, acct.ID, email, access.HashSecret(code), ttl, perWindow, window)
	}
	verify := func(id, email, code string) bool {
		t.Helper()
		ok, err := st.VerifyOTP(ctx, acct.ID, id, email, code, attempts)
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		return ok
	}

	id, err := create(" Ann@Example.test ", "123456")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ id, email, code string }{
		"fail/wrong code":     {id, "ann@example.test", "654321"},
		"fail/other address":  {id, "bob@example.test", "123456"},
		"fail/malformed id":   {"not-a-uuid", "ann@example.test", "123456"},
		"fail/unknown id":     {"6f1f7e7e-0000-4000-8000-000000000000", "ann@example.test", "123456"},
		"fail/upper-case id":  {strings.ToUpper(id), "ann@example.test", "123456"},
		"fail/empty code":     {id, "ann@example.test", ""},
		"fail/code with junk": {id, "ann@example.test", "123456 "},
	} {
		if verify(tc.id, tc.email, tc.code) {
			t.Errorf("%s: accepted", name)
		}
	}
	// The three wrong codes above count against the PIN (the other cases
	// never reached it): attempts are left, and the right code uses it.
	if !verify(id, "ANN@example.test", "123456") {
		t.Fatal("the right code was refused")
	}
	if verify(id, "ann@example.test", "123456") {
		t.Error("a used PIN worked again")
	}

	// Too many wrong attempts burn a PIN.
	id, err = create("cat@example.test", "111111")
	if err != nil {
		t.Fatal(err)
	}
	for range attempts {
		verify(id, "cat@example.test", "000000")
	}
	if verify(id, "cat@example.test", "111111") {
		t.Error("the right code worked after too many attempts")
	}

	// PINs expire.
	id, err = create("dan@example.test", "222222")
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(ttl)
	if verify(id, "dan@example.test", "222222") {
		t.Error("an expired PIN worked")
	}

	// At most perWindow PINs per address and window, case-insensitively;
	// other addresses and later windows are not affected.
	for i := range perWindow {
		email := "eve@example.test"
		if i%2 == 1 {
			email = "EVE@example.test"
		}
		if _, err := create(email, "333333"); err != nil {
			t.Fatalf("PIN %d: %v", i+1, err)
		}
	}
	if _, err := create("eve@example.test", "333333"); access.KindOf(err) != access.ERateLimited {
		t.Fatalf("PIN over the limit: %v", err)
	}
	if _, err := create("fay@example.test", "333333"); err != nil {
		t.Errorf("another address was limited: %v", err)
	}
	c.Advance(window)
	if _, err := create("eve@example.test", "333333"); err != nil {
		t.Errorf("the next window was limited: %v", err)
	}

	var clear int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM otp_codes o WHERE o::text LIKE '%333333%'`).Scan(&clear); err != nil || clear != 0 {
		t.Errorf("PINs stored in clear: %d (err %v)", clear, err)
	}
	if _, err := st.CreateOTP(ctx, "0123456789abcdef0123456789abcdef", "x@example.test", access.HashSecret("1"), ttl, perWindow, window); access.KindOf(err) != access.EInvalid {
		t.Errorf("PIN for a missing account: %v", err)
	}
}

func TestConcurrentPINRequestsRespectTheLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := gatehousetest.Store(t)
	acct, err := st.CreateAccount(ctx, "otp race")
	if err != nil {
		t.Fatal(err)
	}
	const requests, limit = 12, 4
	errs := make([]error, requests)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = st.CreateOTP(ctx, acct.ID, "race@example.test", access.HashSecret("1"), time.Minute, limit, time.Hour)
		}()
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case access.KindOf(err) != access.ERateLimited:
			t.Fatalf("create: %v", err)
		}
	}
	if created != limit {
		t.Errorf("%d PINs created concurrently, want %d", created, limit)
	}
}
