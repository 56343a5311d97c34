package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
)

// The typed results are the server's own types: a real API's answers
// decode into them, and a result read, changed and sent back is an
// update that changes only what was changed.
func TestTypedResultsDecodeAndGoBackAsUpdates(t *testing.T) {
	ctx := context.Background()
	_, acct, _ := newAccount(t)
	domain := fmt.Sprintf("typed-%d.client.example.test", time.Now().UnixNano())

	pol, err := client.As[client.Policy](acct.Policies().Create(ctx, map[string]any{
		"name": "staff", "decision": "allow",
		"include": []any{map[string]any{"email_domain": map[string]string{"domain": "example.test"}}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if pol.ID == "" || pol.Decision != "allow" || !pol.Reusable || len(pol.Include) != 1 ||
		pol.Include[0].EmailDomain == nil || pol.Include[0].EmailDomain.Domain != "example.test" {
		t.Fatalf("policy decoded as %+v", pol)
	}

	created, err := client.As[client.App](acct.Apps().Create(ctx, map[string]any{
		"name": "typed", "domain": domain, "type": "self_hosted", "origin": "http://127.0.0.1:9",
		"cors_headers": map[string]any{"allowed_origins": []string{"https://web.example.test"}, "allowed_methods": []string{"GET"}, "max_age": 600},
		"policies":     []any{map[string]any{"id": pol.ID, "precedence": 1}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	apps, err := client.ListAs[client.App](ctx, acct.Apps(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got *client.App
	for i := range apps {
		if apps[i].ID == created.ID {
			got = &apps[i]
		}
	}
	if got == nil || got.Domain != domain || got.AUD == "" || got.CORSHeaders == nil || got.CORSHeaders.MaxAge != 600 ||
		len(got.Policies) != 1 || got.Policies[0].ID != pol.ID {
		t.Fatalf("listed app %+v", got)
	}

	res, err := acct.Apps().Get(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	app, err := client.As[client.App](res, nil)
	if err != nil {
		t.Fatal(err)
	}
	app.CORSHeaders.MaxAge = 900
	updated, err := client.As[client.App](acct.Apps().Update(ctx, app.ID, app, client.IfMatch(res.ETag())))
	if err != nil {
		t.Fatalf("the app read back as a client.App, sent as the update: %v", err)
	}
	if updated.CORSHeaders == nil || updated.CORSHeaders.MaxAge != 900 || updated.Domain != domain ||
		updated.AUD != created.AUD || len(updated.Policies) != 1 || updated.Policies[0].ID != pol.ID ||
		len(updated.CORSHeaders.AllowedOrigins) != 1 {
		t.Errorf("after the update: %+v", updated)
	}
}
