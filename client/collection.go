package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// Collection is a list of resources below an account that are created,
// read, replaced and deleted the same way, such as access/apps.
type Collection struct {
	a    *Account
	path string // below the account, no slashes at either end
}

// Collection returns the collection at path below the account, for
// resources this package has no method for.
func (a *Account) Collection(path string) Collection { return Collection{a: a, path: path} }

// Path is the collection's path below the account.
func (c Collection) Path() string { return c.path }

func (c Collection) item(id string) string { return c.path + "/" + url.PathEscape(id) }

// List returns the collection's items: every page unless opts names one.
func (c Collection) List(ctx context.Context, opts *ListOptions) ([]json.RawMessage, error) {
	return c.a.List(ctx, c.path, opts)
}

// Get returns one item; its ETag is the revision to pass to IfMatch.
func (c Collection) Get(ctx context.Context, id string) (*Response, error) {
	return c.a.Do(ctx, http.MethodGet, c.item(id), nil, nil)
}

// Create adds an item from body and returns it.
func (c Collection) Create(ctx context.Context, body any) (*Response, error) {
	return c.a.Do(ctx, http.MethodPost, c.path, nil, body)
}

// Update replaces an item with body and returns it. With IfMatch the API
// refuses (412) if the item changed since that ETag.
func (c Collection) Update(ctx context.Context, id string, body any, opts ...RequestOption) (*Response, error) {
	return c.a.Do(ctx, http.MethodPut, c.item(id), nil, body, opts...)
}

// Delete removes an item. With IfMatch the API refuses (412) if the item
// changed since that ETag.
func (c Collection) Delete(ctx context.Context, id string, opts ...RequestOption) (*Response, error) {
	return c.a.Do(ctx, http.MethodDelete, c.item(id), nil, nil, opts...)
}

// Action posts body (nil for none) to an item's action, such as a service
// token's "rotate".
func (c Collection) Action(ctx context.Context, id, action string, body any) (*Response, error) {
	return c.a.Do(ctx, http.MethodPost, c.item(id)+"/"+action, nil, body)
}
