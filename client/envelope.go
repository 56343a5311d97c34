package client

// Envelope is the response wrapper of every /client/v4 call, as
// Cloudflare's API defines it. The server encodes Envelope[any]; a client
// decodes Envelope[json.RawMessage] and then the result into its own type.
type Envelope[T any] struct {
	Success    bool          `json:"success"`
	Errors     []ErrorObject `json:"errors"`
	Messages   []ErrorObject `json:"messages"`
	Result     T             `json:"result"`
	ResultInfo *ResultInfo   `json:"result_info,omitempty"`
}

// ErrorObject is one entry of an envelope's errors (or messages). For a
// validation error, Field names the offending input field as a path such
// as "cors_headers.allowed_origins[1]" and Source points at it; both are
// empty (and left out of the JSON) otherwise.
type ErrorObject struct {
	Code    int         `json:"code"`
	Message string      `json:"message"`
	Field   string      `json:"field,omitempty"`
	Source  ErrorSource `json:"source,omitzero"`
}

// ErrorSource locates an error in the request body.
type ErrorSource struct {
	Pointer string `json:"pointer"` // an RFC 6901 JSON pointer, such as /cors_headers/allowed_origins/1
}

// ResultInfo describes one page of a list.
type ResultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}
