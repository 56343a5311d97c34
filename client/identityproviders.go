package client

// IdentityProviders is the account's login methods
// (access/identity_providers).
func (a *Account) IdentityProviders() Collection {
	return a.Collection("access/identity_providers")
}
