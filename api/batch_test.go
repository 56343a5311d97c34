package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

type batchOpResult struct {
	Index  int             `json:"index"`
	Ref    string          `json:"ref"`
	Status int             `json:"status"`
	Result json.RawMessage `json:"result"`
}

type batchResult struct {
	DryRun     bool            `json:"dry_run"`
	Operations []batchOpResult `json:"operations"`
}

type batchFailure struct {
	FailedOperation struct {
		Index  int    `json:"index"`
		Ref    string `json:"ref"`
		Method string `json:"method"`
		Path   string `json:"path"`
		Status int    `json:"status"`
	} `json:"failed_operation"`
}

func op(ref, method, path string, body any) map[string]any {
	m := map[string]any{"method": method, "path": path}
	if ref != "" {
		m["ref"] = ref
	}
	if body != nil {
		m["body"] = body
	}
	return m
}

// tokenPolicyAppOps creates a service token, a reusable policy naming
// it, an app linked to the policy and an app-scoped policy of the app.
func tokenPolicyAppOps(t *testing.T) []any {
	return []any{
		op("tok", "POST", "access/service_tokens", map[string]any{"name": "ci", "duration": "720h"}),
		op("pol", "POST", "access/policies", map[string]any{"name": "robots", "decision": "non_identity",
			"include": []any{map[string]any{"service_token": map[string]any{"token_id": "$ref:tok"}}}}),
		op("app", "POST", "access/apps", map[string]any{"type": "self_hosted", "name": "api", "domain": uniq(t, "Batch.Example.test"),
			"origin": "http://127.0.0.1:9000", "policies": []any{map[string]any{"id": "$ref:pol", "precedence": 1}}}),
		op("", "POST", "access/apps/$ref:app/policies", map[string]any{"name": "staff", "decision": "allow",
			"include": []any{map[string]any{"email_domain": map[string]any{"domain": "Example.com"}}}}),
	}
}

// isolatedAPI is an API on a database of its own, whose config version
// no other test moves.
func isolatedAPI(t *testing.T) *gatehousetest.API {
	t.Helper()
	url := gatehousetest.NewDatabase(t)
	if err := store.MigrateUp(url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), url, store.WithMasterKey(gatehousetest.MasterKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return gatehousetest.NewAPIOn(t, st)
}

func configVersion(t *testing.T, a *gatehousetest.API) int64 {
	t.Helper()
	v, err := a.Store.ConfigVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestBatchCreatesTokenPolicyAndAppThatNameEachOther(t *testing.T) {
	t.Parallel()
	a := isolatedAPI(t)
	before := configVersion(t, a)
	resp := a.Call(t, "POST", "gatehouse/batch", map[string]any{"operations": tokenPolicyAppOps(t)})
	if resp.Status != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("batch: %d %s", resp.Status, resp.Body)
	}
	var res batchResult
	resp.Decode(t, &res)
	if res.DryRun || len(res.Operations) != 4 {
		t.Fatalf("result: %s", resp.Body)
	}
	var tok access.ServiceToken
	var app access.App
	if err := json.Unmarshal(res.Operations[0].Result, &tok); err != nil || tok.ClientSecret == "" {
		t.Fatalf("token result %s: %v", res.Operations[0].Result, err)
	}
	if err := json.Unmarshal(res.Operations[2].Result, &app); err != nil {
		t.Fatal(err)
	}
	// The stored app links the reusable policy, which names the token,
	// and its own policy after it.
	var got access.App
	a.MustCall(t, "GET", "access/apps/"+app.ID, nil, &got)
	if len(got.Policies) != 2 || got.Policies[0].Name != "robots" || got.Policies[1].Name != "staff" ||
		got.Policies[0].Include[0].ServiceToken == nil || got.Policies[0].Include[0].ServiceToken.TokenID != tok.ID {
		t.Fatalf("app's policies: %+v", got.Policies)
	}
	// Every operation is audited as if sent alone, with the batch's
	// request id, and bumped the config version once.
	var entries []access.AuditEntry
	a.MustCall(t, "GET", "audit_logs", nil, &entries)
	want := []string{"policy.create", "app.create", "policy.create", "service_token.create"}
	if len(entries) != len(want) {
		t.Fatalf("%d audit entries: %+v", len(entries), entries)
	}
	for i, e := range entries {
		if e.Action.Type != want[i] || e.RequestID != resp.Header.Get("X-Request-Id") || e.Actor.Name != "token rw" {
			t.Errorf("entry %d: %s request %q actor %q", i, e.Action.Type, e.RequestID, e.Actor.Name)
		}
	}
	if after := configVersion(t, a); after != before+4 {
		t.Errorf("config version %d -> %d, want +4", before, after)
	}
}

func TestBatchWithAFailingOperationLeavesNothing(t *testing.T) {
	t.Parallel()
	a := isolatedAPI(t)
	before := configVersion(t, a)
	ops := tokenPolicyAppOps(t)
	ops[2].(map[string]any)["body"].(map[string]any)["domain"] = "not a host"
	resp := a.Call(t, "POST", "gatehouse/batch", map[string]any{"operations": ops})
	if resp.Status != 400 {
		t.Fatalf("batch: %d %s", resp.Status, resp.Body)
	}
	var f batchFailure
	resp.Decode(t, &f)
	if f.FailedOperation.Index != 2 || f.FailedOperation.Ref != "app" || f.FailedOperation.Status != 400 || f.FailedOperation.Path != "access/apps" {
		t.Errorf("failed operation: %s", resp.Body)
	}
	if fields := resp.Fields(); len(fields) != 1 || fields[0] != "operations[2].body.domain" ||
		!strings.HasPrefix(resp.Env.Errors[0].Message, `operations[2] (ref "app"): domain: `) {
		t.Errorf("errors: %s", resp.Body)
	}
	assertEmptyAccount(t, a, before)
}

// assertEmptyAccount checks that nothing was written: no tokens,
// policies, apps or audit entries, and (version >= 0, on an isolatedAPI)
// the config version unchanged.
func assertEmptyAccount(t *testing.T, a *gatehousetest.API, version int64) {
	t.Helper()
	for _, path := range []string{"access/service_tokens", "access/policies", "access/apps", "audit_logs"} {
		var items []json.RawMessage
		a.MustCall(t, "GET", path, nil, &items)
		if len(items) != 0 {
			t.Errorf("%s after a batch that changed nothing: %d items", path, len(items))
		}
	}
	if v := configVersion(t, a); version >= 0 && v != version {
		t.Errorf("config version %d -> %d", version, v)
	}
}

// varying removes what differs between two writes of the same thing.
func varying(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range []string{"id", "aud", "created_at", "updated_at", "expires_at", "client_id", "client_secret", "token_id"} {
			delete(v, k)
		}
		for k, e := range v {
			v[k] = varying(e)
		}
	case []any:
		for i, e := range v {
			v[i] = varying(e)
		}
	}
	return v
}

func TestBatchDryRunWritesNothingAndAnswersAsTheRealBatch(t *testing.T) {
	t.Parallel()
	a := isolatedAPI(t)
	before := configVersion(t, a)
	ops := tokenPolicyAppOps(t)
	var dry, real batchResult
	resp := a.MustCall(t, "POST", "gatehouse/batch", map[string]any{"dry_run": true, "operations": ops}, &dry)
	if !dry.DryRun || len(dry.Operations) != 4 {
		t.Fatalf("dry run: %s", resp.Body)
	}
	var tok access.ServiceToken
	if err := json.Unmarshal(dry.Operations[0].Result, &tok); err != nil || tok.ClientSecret != "" || tok.ClientID == "" {
		t.Errorf("a dry run's token shows a secret or lacks its client id: %s", dry.Operations[0].Result)
	}
	assertEmptyAccount(t, a, before)

	a.MustCall(t, "POST", "gatehouse/batch", map[string]any{"operations": ops}, &real)
	for i := range ops {
		var d, r any
		if err := json.Unmarshal(dry.Operations[i].Result, &d); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(real.Operations[i].Result, &r); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(varying(d), varying(r)) {
			t.Errorf("operation %d: dry run answered\n%s\nthe real batch\n%s", i, dry.Operations[i].Result, real.Operations[i].Result)
		}
	}
}

func TestBatchRefusesReadOnlyToken(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	resp := a.Do(t, gatehousetest.Request{Method: "POST", Path: "gatehouse/batch", Token: a.ReadOnlyToken,
		Body: map[string]any{"operations": tokenPolicyAppOps(t)}})
	if resp.Status != 403 {
		t.Fatalf("read-only token: %d %s", resp.Status, resp.Body)
	}
	assertEmptyAccount(t, a, -1)
}

func TestBatchConflictInsideTheBatchIs409NamingTheOperation(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	pol := map[string]any{"name": "twice", "decision": "allow", "include": []any{map[string]any{"everyone": map[string]any{}}}}
	resp := a.Call(t, "POST", "gatehouse/batch", map[string]any{"operations": []any{
		op("first", "POST", "access/policies", pol),
		op("second", "POST", "access/policies", pol),
	}})
	if resp.Status != 409 {
		t.Fatalf("duplicate name: %d %s", resp.Status, resp.Body)
	}
	var f batchFailure
	resp.Decode(t, &f)
	if f.FailedOperation.Index != 1 || f.FailedOperation.Ref != "second" || f.FailedOperation.Status != 409 ||
		!strings.HasPrefix(resp.Env.Errors[0].Message, `operations[1] (ref "second")`) || !strings.HasPrefix(resp.Env.Errors[0].Field, "operations[1]") {
		t.Errorf("failure: %s", resp.Body)
	}
	assertEmptyAccount(t, a, -1)
}

func TestBatchRefusesABadShapeBeforeRunning(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	tooMany := make([]any, 1001)
	for i := range tooMany {
		tooMany[i] = op("", "DELETE", "access/apps/x", nil)
	}
	for _, c := range []struct {
		name  string
		ops   []any
		field string
	}{
		{"fail/get", []any{op("", "GET", "access/apps", nil)}, "operations[0].method"},
		{"fail/absolute path", []any{op("", "POST", "/client/v4/accounts/x/access/apps", map[string]any{})}, "operations[0].path"},
		{"fail/query", []any{op("", "POST", "access/apps?x=1", map[string]any{})}, "operations[0].path"},
		{"fail/dot dot", []any{op("", "DELETE", "access/apps/../keys", nil)}, "operations[0].path"},
		{"fail/not a batch resource", []any{op("", "POST", "access/keys/rotate", nil)}, "operations[0].path"},
		{"fail/nested batch", []any{op("", "POST", "gatehouse/batch", map[string]any{})}, "operations[0].path"},
		{"fail/unknown ref in path", []any{op("", "DELETE", "access/apps/$ref:ghost", nil)}, "operations[0].path"},
		{"fail/duplicate ref", []any{op("a", "DELETE", "access/apps/x", nil), op("a", "DELETE", "access/apps/y", nil)}, "operations[1].ref"},
		{"fail/bad ref", []any{op("a.b", "DELETE", "access/apps/x", nil)}, "operations[0].ref"},
		{"fail/none", []any{}, "operations"},
		{"fail/too many", tooMany, "operations"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := a.Call(t, "POST", "gatehouse/batch", map[string]any{"operations": c.ops})
			if resp.Status != 400 || len(resp.Fields()) == 0 || resp.Fields()[0] != c.field {
				t.Errorf("%d %s, want 400 on %s", resp.Status, resp.Body, c.field)
			}
		})
	}
	// A ref in a body to nothing fails that operation (the whole batch).
	resp := a.Call(t, "POST", "gatehouse/batch", map[string]any{"operations": []any{
		op("tok", "POST", "access/service_tokens", map[string]any{"name": "t"}),
		op("", "POST", "access/policies", map[string]any{"name": "p", "decision": "non_identity",
			"include": []any{map[string]any{"service_token": map[string]any{"token_id": "$ref:tok.nothing"}}}}),
	}})
	if resp.Status != 400 || !strings.Contains(string(resp.Body), `has no field \"nothing\"`) {
		t.Errorf("unknown field in a ref: %d %s", resp.Status, resp.Body)
	}
	assertEmptyAccount(t, a, -1)
}

func TestBatchRunsBesideConcurrentSingleWrites(t *testing.T) {
	t.Parallel()
	a := gatehousetest.NewAPI(t)
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for g := range 3 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 4 {
				resp := a.Call(t, "POST", "gatehouse/batch", map[string]any{"operations": []any{
					op("tok", "POST", "access/service_tokens", map[string]any{"name": fmt.Sprintf("b%d-%d", g, i)}),
					op("", "POST", "access/policies", map[string]any{"name": fmt.Sprintf("b%d-%d", g, i), "decision": "non_identity",
						"include": []any{map[string]any{"service_token": map[string]any{"token_id": "$ref:tok"}}}}),
				}})
				if resp.Status != 200 {
					errs <- fmt.Sprintf("batch: %d %s", resp.Status, resp.Body)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 4 {
				resp := a.Call(t, "POST", "access/service_tokens", map[string]any{"name": fmt.Sprintf("s%d-%d", g, i)})
				if resp.Status != 200 {
					errs <- fmt.Sprintf("single write: %d %s", resp.Status, resp.Body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	var tokens []access.ServiceToken
	a.MustCall(t, "GET", "access/service_tokens?per_page=100", nil, &tokens)
	var policies []access.Policy
	a.MustCall(t, "GET", "access/policies?per_page=100", nil, &policies)
	if len(tokens) != 24 || len(policies) != 12 {
		t.Errorf("%d tokens and %d policies, want 24 and 12", len(tokens), len(policies))
	}
}
