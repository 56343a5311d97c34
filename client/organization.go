package client

import (
	"context"
	"net/http"
)

const organizationPath = "access/organizations"

// Organization returns the account's organization (access/organizations).
func (a *Account) Organization(ctx context.Context) (*Response, error) {
	return a.Do(ctx, http.MethodGet, organizationPath, nil, nil)
}

// SetOrganization changes the fields body holds (a null removes one), and
// creates the organization if there is none.
func (a *Account) SetOrganization(ctx context.Context, body any) (*Response, error) {
	return a.Do(ctx, http.MethodPut, organizationPath, nil, body)
}

// RevokeUser ends every session of the user with this email.
func (a *Account) RevokeUser(ctx context.Context, email string) (*Response, error) {
	return a.Do(ctx, http.MethodPost, organizationPath+"/revoke_user", nil, map[string]string{"email": email})
}
