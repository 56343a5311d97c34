package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// Accounts returns the accounts the token can use (one: a token belongs
// to an account).
func (c *Client) Accounts(ctx context.Context) ([]json.RawMessage, error) {
	r, err := c.Do(ctx, http.MethodGet, "accounts", nil, nil)
	if err != nil {
		return nil, err
	}
	var out []json.RawMessage
	return out, r.Decode(&out)
}

// VerifyToken checks the client's token (user/tokens/verify): its id and
// status when it is valid, an *APIError with status 401 when not.
func (c *Client) VerifyToken(ctx context.Context) (*Response, error) {
	return c.Do(ctx, http.MethodGet, "user/tokens/verify", nil, nil)
}
