package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// isolatedStore is a store on a database of its own: no other test
// writes to it, so its config version and notifications are this test's.
func isolatedStore(t *testing.T) *store.Store {
	t.Helper()
	url := gatehousetest.NewDatabase(t)
	if err := store.MigrateUp(url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// noNotification fails if a notification arrives within a short while.
func noNotification(t *testing.T, ctx context.Context, ln *store.Listener) {
	t.Helper()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if v, err := ln.Wait(short); err == nil {
		t.Errorf("notified of version %d", v)
	}
}

func TestBatchIsVisibleOnlyAtCommitAndRollsBackOtherwise(t *testing.T) {
	t.Parallel()
	st := isolatedStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acct, err := st.CreateAccount(ctx, "batch")
	if err != nil {
		t.Fatal(err)
	}
	v0, err := st.ConfigVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := st.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	actor := access.Actor{Name: "test"}

	// Committed: inside, the batch sees its writes and nobody else does.
	var ids []string
	err = st.Batch(ctx, true, func(ctx context.Context) error {
		for _, name := range []string{"a", "b"} {
			tok, err := st.CreateServiceToken(ctx, actor, acct.ID, access.ServiceTokenSpec{Name: name})
			if err != nil {
				return err
			}
			ids = append(ids, tok.ID)
		}
		if _, err := st.GetServiceToken(ctx, acct.ID, ids[0]); err != nil {
			t.Errorf("the batch does not see its own token: %v", err)
		}
		if v, _ := st.ConfigVersion(ctx); v != v0+2 {
			t.Errorf("inside the batch the version is %d, want %d", v, v0+2)
		}
		outside := context.Background()
		if _, err := st.GetServiceToken(outside, acct.ID, ids[0]); access.KindOf(err) != access.ENotFound {
			t.Errorf("outside the batch the token is visible before commit: %v", err)
		}
		if v, _ := st.ConfigVersion(outside); v != v0 {
			t.Errorf("outside the batch the version is %d before commit, want %d", v, v0)
		}
		noNotification(t, ctx, ln)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int64{v0 + 1, v0 + 2} {
		if v, err := ln.Wait(ctx); err != nil || v != want {
			t.Fatalf("after commit: notified of %d (%v), want %d", v, err, want)
		}
	}
	if _, err := st.GetServiceToken(ctx, acct.ID, ids[1]); err != nil {
		t.Errorf("after commit: %v", err)
	}

	// Not committed (a dry run), or failed: nothing stays, nobody hears.
	failure := errors.New("an operation failed")
	for _, c := range []struct {
		commit bool
		err    error
	}{{false, nil}, {true, failure}} {
		var id string
		err := st.Batch(ctx, c.commit, func(ctx context.Context) error {
			tok, err := st.CreateServiceToken(ctx, actor, acct.ID, access.ServiceTokenSpec{Name: "gone"})
			id = tok.ID
			if err != nil {
				return err
			}
			return c.err
		})
		if !errors.Is(err, c.err) {
			t.Fatalf("commit %v: err %v", c.commit, err)
		}
		if _, err := st.GetServiceToken(ctx, acct.ID, id); access.KindOf(err) != access.ENotFound {
			t.Errorf("commit %v, fn error %v: the token stayed: %v", c.commit, c.err, err)
		}
		if v, _ := st.ConfigVersion(ctx); v != v0+2 {
			t.Errorf("commit %v, fn error %v: version %d, want %d", c.commit, c.err, v, v0+2)
		}
		noNotification(t, ctx, ln)
	}

	// A failed write rolls back to its savepoint; the batch goes on.
	err = st.Batch(ctx, true, func(ctx context.Context) error {
		if _, err := st.CreateServiceToken(ctx, actor, acct.ID, access.ServiceTokenSpec{Name: "a"}); access.KindOf(err) != access.EConflict {
			t.Errorf("duplicate name in a batch: %v", err)
		}
		_, err := st.CreateServiceToken(ctx, actor, acct.ID, access.ServiceTokenSpec{Name: "c"})
		return err
	})
	if err != nil {
		t.Fatalf("a batch after a refused write: %v", err)
	}
	if err := st.Batch(ctx, true, func(ctx context.Context) error {
		return st.Batch(ctx, true, func(context.Context) error { return nil })
	}); err == nil {
		t.Error("a batch inside a batch ran")
	}
}
