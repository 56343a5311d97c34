package client

import "github.com/gatehouse-dev/gatehouse/internal/access"

// The API's resources as the server itself encodes them: aliases of the
// server's own types (defined in an internal package, usable here), so
// that a program gets typed results with no second set of structs to
// drift from the server's. Decode into them with As and ListAs:
//
//	apps, err := client.ListAs[client.App](ctx, acct.Apps(), nil)
//	pol, err := client.As[client.Policy](acct.Policies().Get(ctx, id))
//
// They describe results. Request bodies are JSON objects as openapi.yaml
// describes them (a map or the caller's own struct); output-only fields
// of a result sent back are ignored by the API, so a result read, changed
// and sent back as a whole is a valid update.
type (
	App              = access.App
	CORSSettings     = access.CORSSettings
	Destination      = access.Destination
	PolicyLink       = access.PolicyLink
	Policy           = access.Policy
	Rule             = access.Rule
	ServiceToken     = access.ServiceToken
	IdentityProvider = access.IdentityProvider
	Group            = access.Group
	Certificate      = access.Certificate
	Organization     = access.Organization
	LoginDesign      = access.LoginDesign
	KeyStatus        = access.KeyStatus
	EdgeList         = access.EdgeList
	EdgeStatus       = access.EdgeStatus
	AccessLogEntry   = access.AccessLogEntry
	AccessLogSummary = access.AccessLogSummary
	AuditEntry       = access.AuditEntry
	Decision         = access.Decision
)
