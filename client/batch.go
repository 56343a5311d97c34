package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// BatchOperation is one write of a batch: a request to Path, below the
// account (such as "access/apps/ID"), as the API would take it alone. A
// string "$ref:REF" (or "$ref:REF.field") in Path or Body stands for the
// id (or that field) of the result of the earlier operation whose Ref is
// REF.
type BatchOperation struct {
	Ref     string `json:"ref,omitempty"`
	Method  string `json:"method"`
	Path    string `json:"path"`
	IfMatch string `json:"if_match,omitempty"`
	Body    any    `json:"body,omitempty"`
}

// BatchResult is what a batch's operations answered, in order.
type BatchResult struct {
	DryRun     bool                   `json:"dry_run"`
	Operations []BatchOperationResult `json:"operations"`
}

// BatchOperationResult is one operation's answer.
type BatchOperationResult struct {
	Index  int             `json:"index"`
	Ref    string          `json:"ref,omitempty"`
	Status int             `json:"status"`
	Result json.RawMessage `json:"result"`
}

// BatchError is a batch the API refused because of one operation, which
// it names; nothing of the batch was applied. It wraps the *APIError,
// whose Errors have fields such as "operations[2].body.domain".
type BatchError struct {
	*APIError
	Index int    // the failed operation's index in the batch
	Ref   string // its Ref
}

func (e *BatchError) Unwrap() error { return e.APIError }

// Error names the operation.
func (e *BatchError) Error() string {
	return fmt.Sprintf("operation %d: %v", e.Index, e.APIError)
}

// Batch sends ops as one batch (POST gatehouse/batch): the API runs them
// in one transaction, all or nothing; a dry run runs them and rolls back,
// answering what each would return. A batch refused because of one
// operation is a *BatchError; otherwise errors are as for Do.
func (a *Account) Batch(ctx context.Context, dryRun bool, ops []BatchOperation) (BatchResult, error) {
	res, err := As[BatchResult](a.Do(ctx, http.MethodPost, "gatehouse/batch", nil,
		map[string]any{"dry_run": dryRun, "operations": ops}))
	var ae *APIError
	if err != nil && errors.As(err, &ae) && ae.Result != nil {
		var failed struct {
			FailedOperation *struct {
				Index int    `json:"index"`
				Ref   string `json:"ref"`
			} `json:"failed_operation"`
		}
		if json.Unmarshal(ae.Result, &failed) == nil && failed.FailedOperation != nil {
			return res, &BatchError{APIError: ae, Index: failed.FailedOperation.Index, Ref: failed.FailedOperation.Ref}
		}
	}
	return res, err
}
