package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// An organization write reaches the edges: the change feed carries the
// account's organization in its new state, and a full load has it.
// Concurrent first writes create one organization, not two.
func TestOrganizationInTheChangeFeed(t *testing.T) {
	st := ownStore(t)
	ctx := context.Background()
	acct, err := st.CreateAccount(ctx, "org")
	if err != nil {
		t.Fatal(err)
	}
	actor := access.Actor{Name: "test"}
	since, err := st.ConfigVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	set := func(d string) func(access.OrganizationSpec, bool) (access.OrganizationSpec, error) {
		return func(cur access.OrganizationSpec, _ bool) (access.OrganizationSpec, error) {
			cur.SessionDuration = d
			cur.LoginDesign = &access.LoginDesign{HeaderText: "Hi " + d}
			return cur, nil
		}
	}
	errs := make(chan error, 4)
	for _, d := range []string{"1h", "2h", "3h", "4h"} {
		go func() {
			_, err := st.PutOrganization(ctx, actor, acct.ID, store.UpsertOrganization, 0, set(d))
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	o, err := st.GetOrganization(ctx, acct.ID)
	if err != nil || o.Revision != 4 {
		t.Fatalf("after four concurrent writes: %+v, %v", o, err)
	}
	d, err := st.Changes(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Organizations) != 1 || d.Organizations[0].AccountID != acct.ID || d.Empty() {
		t.Fatalf("delta: %+v", d.Organizations)
	}
	want := o.Edge()
	if d.Organizations[0] != want || want.SessionDuration < time.Hour || want.LoginDesign.HeaderText == "" {
		t.Errorf("delta has %+v, stored %+v", d.Organizations[0], want)
	}
	cfg, err := st.LoadConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Organizations) != 1 || cfg.Organizations[0] != want {
		t.Errorf("full load: %+v", cfg.Organizations)
	}
	if _, err := st.PutOrganization(ctx, actor, acct.ID, store.CreateOrganization, 0, set("5h")); access.KindOf(err) != access.EConflict {
		t.Errorf("create over an existing one: %v", err)
	}
	if _, err := st.PutOrganization(ctx, actor, acct.ID, store.UpsertOrganization, 1, set("5h")); access.KindOf(err) != access.EPreconditionFailed {
		t.Errorf("stale revision: %v", err)
	}
}
