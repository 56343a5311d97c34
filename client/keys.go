package client

import (
	"context"
	"net/http"
)

const keysPath = "access/keys"

// Keys returns the account's signing key rotation period and schedule
// (access/keys).
func (a *Account) Keys(ctx context.Context) (*Response, error) {
	return a.Do(ctx, http.MethodGet, keysPath, nil, nil)
}

// SetKeyRotationInterval sets the rotation period, 21 to 365 days.
func (a *Account) SetKeyRotationInterval(ctx context.Context, days int) (*Response, error) {
	return a.Do(ctx, http.MethodPut, keysPath, nil, map[string]int{"key_rotation_interval_days": days})
}

// RotateKeys rotates the signing key now; the previous key keeps
// verifying for 7 days.
func (a *Account) RotateKeys(ctx context.Context) (*Response, error) {
	return a.Do(ctx, http.MethodPost, keysPath+"/rotate", nil, nil)
}
