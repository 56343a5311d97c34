package client

import (
	"context"
	"net/url"
)

// Apps is the account's Access applications (access/apps).
func (a *Account) Apps() Collection { return a.Collection("access/apps") }

// AppPolicies is one app's policies (access/apps/{id}/policies): its own,
// and the reusable ones it links. Deleting a reusable one only unlinks it.
func (a *Account) AppPolicies(appID string) Collection {
	return a.Collection("access/apps/" + url.PathEscape(appID) + "/policies")
}

// RevokeAppTokens ends every session on the app: its users must log in
// again.
func (a *Account) RevokeAppTokens(ctx context.Context, appID string) (*Response, error) {
	return a.Apps().Action(ctx, appID, "revoke_tokens", nil)
}
