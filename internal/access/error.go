package access

import (
	"errors"
	"fmt"
)

// ErrorKind classifies an error for the caller. The domain picks the kind;
// only the API layer maps kinds to HTTP statuses.
type ErrorKind string

// Error kinds.
const (
	EInvalid            ErrorKind = "invalid"
	ENotFound           ErrorKind = "not_found"
	EConflict           ErrorKind = "conflict"
	EPreconditionFailed ErrorKind = "precondition_failed"
	EUnauthorized       ErrorKind = "unauthorized"
	EForbidden          ErrorKind = "forbidden"
	ERateLimited        ErrorKind = "rate_limited"
	EInternal           ErrorKind = "internal"
)

// FieldError names one input field (as its JSON path, e.g.
// "cors_headers.allowed_origins[1]") and what is wrong with it.
type FieldError struct {
	Field   string
	Message string
	// Value is the offending value when the field may be one of several
	// request fields (an app's domain: domain, destinations[i].uri or
	// self_hosted_domains[i]), for the API to name the one it came from.
	Value string
}

// Error is a domain error: a kind, a message safe to show to the caller and,
// for invalid input, the fields at fault.
type Error struct {
	Kind    ErrorKind
	Message string
	Fields  []FieldError
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("%s: %s", e.Kind, e.Message)
	}
	return fmt.Sprintf("%s: %s: %s: %s", e.Kind, e.Message, e.Fields[0].Field, e.Fields[0].Message)
}

// Errorf returns an Error of the given kind.
func Errorf(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EInvalid error about one field.
func Invalid(field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Kind: EInvalid, Message: msg, Fields: []FieldError{{Field: field, Message: msg}}}
}

// InvalidFields returns an EInvalid error listing every bad field, or nil
// when there are none.
func InvalidFields(fields []FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	return &Error{Kind: EInvalid, Message: "validation failed", Fields: fields}
}

// Conflict returns an EConflict error about one field.
func Conflict(field, format string, args ...any) *Error {
	e := Invalid(field, format, args...)
	e.Kind = EConflict
	return e
}

// KindOf returns the kind of err, or EInternal for anything that is not an *Error.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return EInternal
}
