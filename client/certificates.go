package client

// Certificates is the account's mutual TLS CA certificates
// (access/certificates).
func (a *Account) Certificates() Collection { return a.Collection("access/certificates") }
