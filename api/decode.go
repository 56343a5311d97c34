package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/input"
)

// MaxBodyBytes caps every request body.
const MaxBodyBytes = 1 << 20

// Pagination limits.
const (
	DefaultPerPage = 25
	MaxPerPage     = 1000
)

// decode reads a JSON request body into v, strictly: the content type must
// be JSON, unknown fields are refused, no string anywhere in the body may
// hold a NUL character, and the body is size-capped. When
// optional is true an empty body leaves v as it is.
func decode(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	return decodeInput(w, r, v, optional, outputOnly{})
}

// decodeInput is decode for a resource body: the resource's output-only
// fields, sent back from a GET, are ignored.
func decodeInput(w http.ResponseWriter, r *http.Request, v any, optional bool, ignore outputOnly) error {
	return decodeLimited(w, r, v, optional, ignore, MaxBodyBytes)
}

// decodeLimited is decodeInput with a body of up to max bytes.
func decodeLimited(w http.ResponseWriter, r *http.Request, v any, optional bool, ignore outputOnly, max int64) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return &httpError{http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("request body is larger than %d bytes", max)}
		}
		return &httpError{http.StatusBadRequest, CodeInvalidJSON, "could not read request body"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return &httpError{http.StatusBadRequest, CodeInvalidJSON, "request body is required (a JSON object)"}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &httpError{http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json"}
		}
	} else {
		return &httpError{http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json"}
	}
	if field, ok := input.NULString(body); ok {
		return access.Invalid(field, "must not contain a NUL character (\\u0000)")
	}
	dec := json.NewDecoder(bytes.NewReader(ignore.strip(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return &httpError{http.StatusBadRequest, CodeInvalidJSON, "request body must hold exactly one JSON value"}
	}
	return nil
}

// jsonError turns a decoding failure into a field error where it can.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return &httpError{http.StatusBadRequest, CodeInvalidJSON, fmt.Sprintf("invalid JSON at byte %d: %v", syntax.Offset, syntax)}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return &httpError{http.StatusBadRequest, CodeInvalidJSON, "request body must be a JSON object"}
		}
		return access.Invalid(field, "must be %s, not %s", jsonTypeName(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &httpError{http.StatusBadRequest, CodeInvalidJSON, "invalid JSON: unexpected end of body"}
	}
	// encoding/json reports unknown fields only in its message.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field, _ := strconv.Unquote(name)
		return access.Invalid(field, "is not a known field")
	}
	return &httpError{http.StatusBadRequest, CodeInvalidJSON, "invalid request body: " + err.Error()}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "a number"
}

// pageParams reads page and per_page.
func pageParams(r *http.Request) (access.Page, error) {
	p := access.Page{Page: 1, PerPage: DefaultPerPage}
	q := r.URL.Query()
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1_000_000 {
			return p, access.Invalid("page", "must be a whole number from 1")
		}
		p.Page = n
	}
	if s := q.Get("per_page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPerPage {
			return p, access.Invalid("per_page", "must be a whole number from 1 to %d", MaxPerPage)
		}
		p.PerPage = n
	}
	return p, nil
}

// idParam returns a UUID path parameter in canonical form. A malformed id
// cannot name anything, so it is "not found".
func idParam(r *http.Request, name, what string) (string, error) {
	id, err := uuid.Parse(chi.URLParam(r, name))
	if err != nil {
		return "", access.Errorf(access.ENotFound, "%s not found", what)
	}
	return id.String(), nil
}

// ifMatch returns the revision named by an If-Match header, or 0 when
// there is none (or it is "*"). A value that is not one of our ETags can
// never match.
func ifMatch(r *http.Request) (int64, error) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" || v == "*" {
		return 0, nil
	}
	v = strings.TrimPrefix(v, "W/")
	n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
	if err != nil || n < 1 {
		return 0, access.Errorf(access.EPreconditionFailed, "If-Match does not match the resource's ETag")
	}
	return n, nil
}

// ascending reads the direction parameter: desc (the default) or asc.
func ascending(q url.Values) (bool, error) {
	switch q.Get("direction") {
	case "", "desc":
		return false, nil
	case "asc":
		return true, nil
	}
	return false, access.Invalid("direction", "must be asc or desc")
}

// timeParams reads optional RFC 3339 query parameters into dst.
func timeParams(q url.Values, dst map[string]*time.Time) error {
	for name, t := range dst {
		v := q.Get(name)
		if v == "" {
			continue
		}
		parsed, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return access.Invalid(name, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		*t = parsed
	}
	return nil
}
