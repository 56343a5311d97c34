package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// defaultPerPage is the page size List asks for when walking every page.
const defaultPerPage = 100

// ListOptions select what a list returns. Without a Page (or with nil
// options) List returns every item, walking the pages by result_info.
type ListOptions struct {
	Page    int        // only this page (from 1)
	PerPage int        // the page size (1-1000); default 100 when walking, the API's for one Page
	Query   url.Values // filters, such as search or name; List sets page and per_page
}

// List gets the list at path below the account: every item, page after
// page, unless opts names one page.
func (a *Account) List(ctx context.Context, path string, opts *ListOptions) ([]json.RawMessage, error) {
	var o ListOptions
	if opts != nil {
		o = *opts
	}
	query := url.Values{}
	for k, v := range o.Query {
		query[k] = v
	}
	page, perPage := o.Page, o.PerPage
	single := page > 0
	if !single {
		page = 1
	}
	if perPage == 0 && !single {
		perPage = defaultPerPage
	}
	if perPage > 0 {
		query.Set("per_page", strconv.Itoa(perPage))
	}
	all := []json.RawMessage{}
	for {
		query.Set("page", strconv.Itoa(page))
		resp, err := a.Do(ctx, http.MethodGet, path, query, nil)
		if err != nil {
			return nil, err
		}
		var items []json.RawMessage
		if err := resp.Decode(&items); err != nil {
			return nil, err
		}
		all = append(all, items...)
		if single || resp.ResultInfo == nil || len(items) == 0 || page >= resp.ResultInfo.TotalPages {
			return all, nil
		}
		page++
	}
}

// ListAs is List decoding each item into a T.
func ListAs[T any](ctx context.Context, c Collection, opts *ListOptions) ([]T, error) {
	raws, err := c.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return nil, &DecodeError{Method: http.MethodGet, Path: c.a.base + c.path, Err: err}
		}
	}
	return out, nil
}
