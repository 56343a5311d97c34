package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// API is what Run needs of the control-plane API.
type API interface {
	// Current reads the account's service tokens, reusable policies and
	// apps.
	Current(ctx context.Context) (Current, error)
	Batcher
}

// Batcher runs operations as one batch of the API
// (POST /accounts/{account_id}/gatehouse/batch): all of them or none; a
// dry run runs them and rolls back. It returns each operation's result.
// When the API refused an operation, the error implements
// FailedOperation.
type Batcher interface {
	Batch(ctx context.Context, dryRun bool, ops []Operation) ([]json.RawMessage, error)
}

// FailedOperation is implemented by a Batcher's error that names the
// operation (its index in the batch) the API refused.
type FailedOperation interface {
	error
	FailedOperation() int
}

// Result is what Run did (or, in a dry run, would do).
type Result struct {
	DryRun bool
	Steps  []Step
	// Created are the service tokens the run created, with their
	// secrets, which the API shows only once.
	Created []access.ServiceToken
	// Sent is set once the real batch was sent: if it then failed with
	// no answer, it may or may not have been applied.
	Sent bool
}

// StepError is a step the API refused. Nothing of the run was applied.
type StepError struct {
	Step Step
	Err  error
}

func (e *StepError) Error() string {
	where := e.Step.Entry
	if where == "" {
		where = "not in the file"
	}
	return fmt.Sprintf("%s (%s): %v", where, e.Step, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// PlanError is a file that cannot be planned: it names a policy or
// service token that does not exist.
type PlanError struct{ Err error }

func (e *PlanError) Error() string { return e.Err.Error() }
func (e *PlanError) Unwrap() error { return e.Err }

// Run plans f against the account and has the API validate the whole
// plan with a dry-run batch (the same handlers and normalisation as the
// real writes). Unless dryRun, it then sends the plan as one batch, which
// the API applies all or nothing. An error leaves the account unchanged.
func Run(ctx context.Context, api API, f File, dryRun bool) (Result, error) {
	res := Result{DryRun: dryRun}
	cur, err := api.Current(ctx)
	if err != nil {
		return res, err
	}
	steps, err := Plan(f, cur)
	if err != nil {
		return res, &PlanError{err}
	}
	res.Steps = steps
	if len(steps) == 0 {
		return res, nil
	}
	ops := make([]Operation, len(steps))
	for i, s := range steps {
		ops[i] = s.Op
	}
	if _, err := api.Batch(ctx, true, ops); err != nil {
		return res, stepError(steps, err)
	}
	if dryRun {
		return res, nil
	}
	res.Sent = true
	results, err := api.Batch(ctx, false, ops)
	if err != nil {
		return res, stepError(steps, err)
	}
	for i, s := range steps {
		if s.Kind != "service_token" || s.Action != Create || i >= len(results) {
			continue
		}
		var t access.ServiceToken
		if err := json.Unmarshal(results[i], &t); err != nil {
			return res, fmt.Errorf("apply: the result of %s: %w", s, err)
		}
		res.Created = append(res.Created, t)
	}
	return res, nil
}

// stepError names the step of the operation the API refused.
func stepError(steps []Step, err error) error {
	var fo FailedOperation
	if errors.As(err, &fo) {
		if i := fo.FailedOperation(); i >= 0 && i < len(steps) {
			return &StepError{Step: steps[i], Err: err}
		}
	}
	return err
}
