package client

// Policies is the account's reusable policies (access/policies). An app's
// own policies are AppPolicies.
func (a *Account) Policies() Collection { return a.Collection("access/policies") }
