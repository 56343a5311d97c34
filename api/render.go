package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Error codes. They are stable: scripts may depend on them, and
// openapi.yaml lists them.
const (
	CodeInternal           = 1000
	CodeInvalidJSON        = 1001
	CodeValidation         = 1002
	CodeUnsupportedMedia   = 1003
	CodeBodyTooLarge       = 1004
	CodeNotFound           = 1005
	CodeConflict           = 1006
	CodePreconditionFailed = 1007
	CodeMethodNotAllowed   = 1008
	CodeUnavailable        = 1009
	CodeRateLimited        = 1010
	CodeUnauthenticated    = 10000
	CodeForbidden          = 10001
)

// RetryAfterUnavailable is the Retry-After (seconds) of a 503: the
// database did not answer within the request's bound.
const RetryAfterUnavailable = 5

// The envelope's wire types are the client package's, so that the server
// and every Go client encode and decode the same structs.
type (
	envelope    = client.Envelope[any]
	errorObject = client.ErrorObject
	errorSource = client.ErrorSource
)

// httpError is a transport-level failure that has no domain kind
// (wrong content type, body too large, unknown route).
type httpError struct {
	status  int
	code    int
	message string
}

func (e *httpError) Error() string { return e.message }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeResult writes a successful envelope.
func writeResult(w http.ResponseWriter, result any) {
	writeJSON(w, http.StatusOK, envelope{Success: true, Errors: []errorObject{}, Messages: []errorObject{}, Result: result})
}

// writeList writes a successful envelope for one page of a list.
func writeList(w http.ResponseWriter, result any, info access.ListInfo) {
	writeJSON(w, http.StatusOK, envelope{Success: true, Errors: []errorObject{}, Messages: []errorObject{}, Result: result, ResultInfo: (*client.ResultInfo)(&info)})
}

// writeWithETag writes a single resource with its revision as ETag.
func writeWithETag(w http.ResponseWriter, revision int64, result any) {
	w.Header().Set("ETag", etag(revision))
	writeResult(w, result)
}

func etag(revision int64) string { return `"` + strconv.FormatInt(revision, 10) + `"` }

// kindStatus is the one place a domain error kind becomes an HTTP status
// and an error code.
func kindStatus(k access.ErrorKind) (int, int) {
	switch k {
	case access.EInvalid:
		return http.StatusBadRequest, CodeValidation
	case access.ENotFound:
		return http.StatusNotFound, CodeNotFound
	case access.EConflict:
		return http.StatusConflict, CodeConflict
	case access.EPreconditionFailed:
		return http.StatusPreconditionFailed, CodePreconditionFailed
	case access.EUnauthorized:
		return http.StatusUnauthorized, CodeUnauthenticated
	case access.EForbidden:
		return http.StatusForbidden, CodeForbidden
	case access.ERateLimited:
		return http.StatusTooManyRequests, CodeRateLimited
	case access.EUnavailable:
		return http.StatusServiceUnavailable, CodeUnavailable
	}
	return http.StatusInternalServerError, CodeInternal
}

// writeError writes err as an error envelope. Internal errors are logged
// with their detail and shown only as "internal error" with the request id.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var he *httpError
	if errors.As(err, &he) {
		writeJSON(w, he.status, failure(errorObject{Code: he.code, Message: he.message}))
		return
	}
	var ae *access.Error
	if !errors.As(err, &ae) {
		rid := requestID(r.Context())
		log.ErrorContext(r.Context(), "internal error", "err", err, "request_id", rid, "path", r.URL.Path)
		writeJSON(w, http.StatusInternalServerError, failure(errorObject{Code: CodeInternal, Message: "internal error (request id " + rid + ")"}))
		return
	}
	status, code := kindStatus(ae.Kind)
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
	case http.StatusServiceUnavailable:
		log.WarnContext(r.Context(), "unavailable", "err", ae.Cause, "request_id", requestID(r.Context()), "path", r.URL.Path)
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterUnavailable))
	}
	if len(ae.Fields) == 0 {
		writeJSON(w, status, failure(errorObject{Code: code, Message: ae.Message}))
		return
	}
	objs := make([]errorObject, len(ae.Fields))
	for i, f := range ae.Fields {
		objs[i] = errorObject{Code: code, Message: f.Field + ": " + f.Message, Field: f.Field, Source: errorSource{Pointer: jsonPointer(f.Field)}}
	}
	writeJSON(w, status, failure(objs...))
}

func failure(errs ...errorObject) envelope {
	return envelope{Success: false, Errors: errs, Messages: []errorObject{}, Result: nil}
}

// jsonPointer turns a field path such as "cors_headers.allowed_origins[1]"
// into the RFC 6901 pointer "/cors_headers/allowed_origins/1".
func jsonPointer(field string) string {
	out := make([]byte, 0, len(field)+2)
	out = append(out, '/')
	for i := 0; i < len(field); i++ {
		switch c := field[i]; c {
		case '.', '[':
			out = append(out, '/')
		case ']':
		case '~':
			out = append(out, '~', '0')
		case '/':
			out = append(out, '~', '1')
		default:
			out = append(out, c)
		}
	}
	return string(out)
}
