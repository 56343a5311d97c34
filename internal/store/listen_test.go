package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestListenerReceivesTheVersionOfEveryCommittedChange(t *testing.T) {
	t.Parallel()
	st := gatehousetest.Store(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := st.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acct, err := st.CreateAccount(ctx, "listen")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateServiceToken(ctx, access.Actor{Name: "test"}, acct.ID, access.ServiceTokenSpec{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	want, err := st.ConfigVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Other tests write to the same database: wait for this version.
	for {
		v, err := ln.Wait(ctx)
		if err != nil {
			t.Fatalf("waiting for version %d: %v", want, err)
		}
		if v >= want {
			break
		}
	}

	// Wait fails when its context ends.
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	for {
		if _, err := ln.Wait(short); err != nil {
			break
		}
	}
}
