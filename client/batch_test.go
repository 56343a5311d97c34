package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client"
)

func TestBatchRunsAllOrNothingAndNamesTheFailedOperation(t *testing.T) {
	ctx := context.Background()
	_, acct, _ := newAccount(t)
	ops := []client.BatchOperation{
		{Ref: "tok", Method: "POST", Path: "access/service_tokens", Body: map[string]string{"name": "ci"}},
		{Method: "POST", Path: "access/policies", Body: map[string]any{"name": "robots", "decision": "non_identity",
			"include": []any{map[string]any{"service_token": map[string]any{"token_id": "$ref:tok"}}}}},
	}
	res, err := acct.Batch(ctx, true, ops)
	if err != nil || !res.DryRun || len(res.Operations) != 2 {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	if toks, err := client.ListAs[token](ctx, acct.ServiceTokens().Collection, nil); err != nil || len(toks) != 0 {
		t.Fatalf("a dry run left tokens: %v %v", toks, err)
	}

	// The same name twice: the second policy is refused, nothing is kept.
	failing := append(ops, ops[1])
	_, err = acct.Batch(ctx, false, failing)
	var be *client.BatchError
	var ae *client.APIError
	if !errors.As(err, &be) || be.Index != 2 || be.StatusCode != 409 || !errors.As(err, &ae) || len(ae.Fields()) == 0 {
		t.Fatalf("failing batch: %v", err)
	}
	if toks, err := client.ListAs[token](ctx, acct.ServiceTokens().Collection, nil); err != nil || len(toks) != 0 {
		t.Fatalf("a failed batch left tokens: %v %v", toks, err)
	}

	res, err = acct.Batch(ctx, false, ops)
	if err != nil || res.DryRun || len(res.Operations) != 2 {
		t.Fatalf("batch: %+v %v", res, err)
	}
	tok, err := client.As[token](&client.Response{Result: res.Operations[0].Result}, nil)
	if err != nil || tok.ClientSecret == "" {
		t.Fatalf("token: %+v %v", tok, err)
	}
}
