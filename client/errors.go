package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinels an *APIError matches with errors.Is, by HTTP status.
var (
	// ErrPreconditionFailed: an update or delete sent with IfMatch found
	// the resource changed since that ETag was read (HTTP 412).
	ErrPreconditionFailed = errors.New("client: precondition failed (the resource changed since it was read)")
	// ErrNotFound: the resource does not exist (HTTP 404).
	ErrNotFound = errors.New("client: not found")
)

// APIError is a response the API sent that was not a success: any status
// of 300 or more, or a body that is not a successful envelope. Errors holds
// the envelope's errors when the body was one; Body holds the start of the
// body otherwise.
type APIError struct {
	Method     string // the request's method
	Path       string // the request's path below /client/v4, such as accounts/ID/access/apps
	StatusCode int    // HTTP status, such as 400
	Status     string // HTTP status line, such as "400 Bad Request"
	Errors     []ErrorObject
	Body       string // the body's first 200 bytes when it held no envelope errors
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: API answered %s", e.Method, e.Path, e.Status)
	if len(e.Errors) == 0 {
		if e.Body != "" {
			b.WriteString(": " + e.Body)
		}
		return b.String()
	}
	for i, o := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(o.Text())
	}
	return b.String()
}

// Is reports whether the error is ErrPreconditionFailed (412) or
// ErrNotFound (404).
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrPreconditionFailed:
		return e.StatusCode == http.StatusPreconditionFailed
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	}
	return false
}

// Refused reports whether the API refused the request (a 4xx status):
// sending it again unchanged will fail again. Otherwise the API failed
// (5xx) or answered with something that is not the API's.
func (e *APIError) Refused() bool { return e.StatusCode >= 400 && e.StatusCode < 500 }

// Fields returns the input fields the errors name, in order.
func (e *APIError) Fields() []string {
	var out []string
	for _, o := range e.Errors {
		if o.Field != "" {
			out = append(out, o.Field)
		}
	}
	return out
}

// Text is the error's message, prefixed with its field unless the message
// already starts with it.
func (o ErrorObject) Text() string {
	if o.Field != "" && !strings.HasPrefix(o.Message, o.Field) {
		return o.Field + ": " + o.Message
	}
	return o.Message
}

// NetworkError is a request that got no complete response: the API could
// not be reached, the connection broke, or the context ended.
type NetworkError struct {
	Method string
	Path   string // below /client/v4
	Err    error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("%s %s: cannot reach the API: %v", e.Method, e.Path, e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }
