package client

// Groups is the account's Access groups (access/groups): rule sets that
// policies use with a group rule.
func (a *Account) Groups() Collection { return a.Collection("access/groups") }
