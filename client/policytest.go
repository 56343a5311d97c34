package client

import (
	"context"
	"net/http"
)

// TestPolicy runs the policy tester (gatehouse/policy_test): which apps
// the user body describes would be let into, and why.
func (a *Account) TestPolicy(ctx context.Context, body any) (*Response, error) {
	return a.Do(ctx, http.MethodPost, "gatehouse/policy_test", nil, body)
}
