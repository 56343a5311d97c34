package api_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/api"
	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/pgcluster"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestDatabaseHungOrDownIs503WithRetryAfter hangs the database (SIGSTOP
// of every PostgreSQL process of a cluster of the test's own), takes it
// away (connections refused and reset) and kills it (SIGKILL, then a
// restart on the same data): every API call, read or write, answers 503
// with Retry-After in the error envelope within the request's database
// bound, and once the database is back the data written before is intact
// and writes work again.
func TestDatabaseHungOrDownIs503WithRetryAfter(t *testing.T) {
	t.Parallel()
	cluster, dbURL := gatehousetest.PrivateDatabase(t)
	st, cutter := gatehousetest.StoreThrough(t, dbURL, store.WithMasterKey(gatehousetest.MasterKey))
	const bound = time.Second
	a := gatehousetest.NewAPIOn(t, st, api.WithDBTimeout(bound))
	var before access.App
	a.MustCall(t, "POST", "access/apps", appBody("kept", "kept.example.test"), &before)

	faults := []struct {
		name       string
		fail, heal func()
	}{
		{"hung (SIGSTOP)", func() { mustSignal(t, cluster.Signal(syscall.SIGSTOP)) }, func() { mustSignal(t, cluster.Signal(syscall.SIGCONT)) }},
		{"down (refused)", cutter.Cut, cutter.Restore},
		// Last: the cluster is replaced by a restarted one.
		{"killed (SIGKILL), then restarted", func() {
			// The test cluster trades durability for speed (fsync and
			// synchronous_commit off): a checkpoint first puts what was
			// committed where a production server's commit would.
			checkpoint(t, dbURL)
			mustSignal(t, cluster.Signal(syscall.SIGKILL))
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(cluster.Port), time.Second); err != nil {
					break
				} else {
					c.Close()
				}
				if time.Now().After(deadline) {
					t.Fatal("postgres still listening after SIGKILL")
				}
			}
		}, func() {
			restarted, err := pgcluster.Start(context.Background(), cluster.Dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = restarted.Stop() })
			cutter.Retarget("127.0.0.1:" + strconv.Itoa(restarted.Port))
		}},
	}
	calls := []gatehousetest.Request{
		{Method: "POST", Path: "access/apps", Body: appBody("during", "during.example.test")},
		{Method: "PUT", Path: "access/apps/" + before.ID, Body: appBody("renamed", "kept.example.test")},
		{Method: "DELETE", Path: "access/apps/" + before.ID},
		{Method: "POST", Path: "access/service_tokens", Body: map[string]any{"name": "during"}},
		{Method: "GET", Path: "access/apps"},
		{Method: "GET", Path: "access/apps/" + before.ID},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			f.fail()
			for _, c := range calls {
				start := time.Now()
				r := a.Do(t, c)
				took := time.Since(start)
				if r.Status != 503 || r.Header.Get("Retry-After") != "5" || len(r.Env.Errors) != 1 || r.Env.Errors[0].Code != api.CodeUnavailable {
					t.Errorf("%s %s: %d Retry-After %q %s", c.Method, c.Path, r.Status, r.Header.Get("Retry-After"), r.Body)
				}
				// The bound, plus slack for a shared machine.
				if took > bound+3*time.Second {
					t.Errorf("%s %s: answered after %v, bound %v", c.Method, c.Path, took, bound)
				}
				t.Logf("%s %s: %d after %v", c.Method, c.Path, r.Status, took.Round(time.Millisecond))
			}
			f.heal()
			deadline := time.Now().Add(30 * time.Second)
			for a.Call(t, "GET", "access/apps", nil).Status != 200 {
				if time.Now().After(deadline) {
					t.Fatal("the API did not recover")
				}
				time.Sleep(100 * time.Millisecond)
			}
			var got access.App
			a.MustCall(t, "GET", "access/apps/"+before.ID, nil, &got)
			if got.Name != "kept" || got.Domain != before.Domain {
				t.Errorf("after recovery the app is %q %q", got.Name, got.Domain)
			}
			// A write the client saw fail may have committed (its COMMIT
			// was on the wire) or not, but never in part: the app and its
			// audit entry go together.
			var apps []access.App
			a.MustCall(t, "GET", "access/apps", nil, &apps)
			for _, app := range apps {
				if app.Name == "during" {
					audit := a.Call(t, "GET", "/client/v4/accounts/"+a.AccountID+"/audit_logs?resource_id="+app.ID, nil)
					if !strings.Contains(string(audit.Body), app.ID) {
						t.Errorf("app %s exists without its audit entry", app.ID)
					}
					a.MustCall(t, "DELETE", "access/apps/"+app.ID, nil, nil)
				}
			}
			a.MustCall(t, "POST", "access/service_tokens", map[string]any{"name": "after " + f.name}, nil)
		})
	}
}

func mustSignal(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkpoint writes every committed change to the cluster's files.
func checkpoint(t *testing.T, dbURL string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
}
