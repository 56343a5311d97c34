package apply

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// recordedAPI is an API holding an account's state and answering
// batches as told: the executor's logic without a server (the CLI tests
// run it against a real one).
type recordedAPI struct {
	cur     Current
	failAt  int // the operation index a batch refuses, or -1
	batches []bool
}

type refused struct{ index int }

func (r refused) Error() string        { return "refused" }
func (r refused) FailedOperation() int { return r.index }

func (a *recordedAPI) Current(context.Context) (Current, error) { return a.cur, nil }

func (a *recordedAPI) Batch(_ context.Context, dryRun bool, ops []Operation) ([]json.RawMessage, error) {
	a.batches = append(a.batches, dryRun)
	if a.failAt >= 0 {
		return nil, refused{a.failAt}
	}
	out := make([]json.RawMessage, len(ops))
	for i, op := range ops {
		out[i] = json.RawMessage(`{"id": "` + op.Ref + `", "name": "n", "client_id": "c.access", "client_secret": "s3cret"}`)
	}
	return out, nil
}

func TestRunValidatesWithADryRunThenAppliesOneBatch(t *testing.T) {
	api := &recordedAPI{failAt: -1}
	res, err := Run(context.Background(), api, mustParse(t, fullFile), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(api.batches) != 2 || !api.batches[0] || api.batches[1] || !res.Sent {
		t.Errorf("batches (dry run?) %v, sent %v", api.batches, res.Sent)
	}
	if len(res.Created) != 1 || res.Created[0].ClientSecret != "s3cret" || res.Created[0].ID != "token-0" {
		t.Errorf("created: %+v", res.Created)
	}

	api = &recordedAPI{failAt: -1}
	if res, err := Run(context.Background(), api, mustParse(t, fullFile), true); err != nil || len(api.batches) != 1 || !api.batches[0] || res.Sent || len(res.Steps) != 4 {
		t.Errorf("dry run: batches %v, %+v, %v", api.batches, res, err)
	}

	api = &recordedAPI{cur: current(t), failAt: -1}
	if res, err := Run(context.Background(), api, mustParse(t, fullFile), false); err != nil || len(api.batches) != 0 || len(res.Steps) != 0 {
		t.Errorf("no changes: batches %v, %+v, %v", api.batches, res, err)
	}
}

func TestRunNamesTheFileEntryOfARefusedOperation(t *testing.T) {
	api := &recordedAPI{failAt: 2}
	res, err := Run(context.Background(), api, mustParse(t, fullFile), false)
	var se *StepError
	if !errors.As(err, &se) || se.Step.Entry != "apps[0]" || !strings.HasPrefix(err.Error(), "apps[0] (+ create app api): refused") {
		t.Fatalf("err = %v", err)
	}
	if len(api.batches) != 1 || res.Sent || len(res.Created) != 0 {
		t.Errorf("after a refused dry run: batches %v, %+v", api.batches, res)
	}
	if _, err := Run(context.Background(), &recordedAPI{failAt: -1}, mustParse(t, `{"apps": [{"name": "x", "policies": ["nobody"]}]}`), false); !errors.As(err, new(*PlanError)) {
		t.Errorf("unknown policy: %v", err)
	}
}
