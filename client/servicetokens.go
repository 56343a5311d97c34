package client

import "context"

// ServiceTokens is the account's service tokens (access/service_tokens).
// A token's client secret is in the result of Create and Rotate only.
func (a *Account) ServiceTokens() ServiceTokenCollection {
	return ServiceTokenCollection{a.Collection("access/service_tokens")}
}

// ServiceTokenCollection is a Collection with the service tokens' actions.
type ServiceTokenCollection struct{ Collection }

// Rotate gives a token a new client secret, returned in the result; the
// old one stops working.
func (c ServiceTokenCollection) Rotate(ctx context.Context, id string) (*Response, error) {
	return c.Action(ctx, id, "rotate", nil)
}

// Refresh extends a token: it expires one duration from now.
func (c ServiceTokenCollection) Refresh(ctx context.Context, id string) (*Response, error) {
	return c.Action(ctx, id, "refresh", nil)
}
