package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Limits of a batch (POST /accounts/{account_id}/gatehouse/batch).
const (
	MaxBatchOperations = 1000
	MaxBatchBodyBytes  = 8 << 20
)

// batchResources are the paths (relative to the account) a batch may
// write: those whose writes are database writes only, so that rolling
// back the transaction undoes all of them.
var batchResources = []string{
	"access/apps", "access/policies", "access/service_tokens", "access/identity_providers",
	"access/certificates", "access/groups", "access/organizations",
}

var refName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// refPrefix starts a string that names an earlier operation's result.
const refPrefix = "$ref:"

// BatchRequest is the body of a batch.
type BatchRequest struct {
	DryRun     bool             `json:"dry_run"`
	Operations []BatchOperation `json:"operations"`
}

// BatchOperation is one write of a batch: a request to Path (relative to
// the account, e.g. "access/apps") as the API would take it alone.
type BatchOperation struct {
	Ref     string          `json:"ref,omitempty"`
	Method  string          `json:"method"`
	Path    string          `json:"path"`
	IfMatch string          `json:"if_match,omitempty"`
	Body    json.RawMessage `json:"body,omitempty"`
}

// BatchResult and BatchOperationResult, the answer of a batch that
// succeeded (or would have: a dry run), are the client package's: the wire
// format is defined once.
type (
	BatchResult          = client.BatchResult
	BatchOperationResult = client.BatchOperationResult
)

// batchFailure is the result of a failed batch's error envelope: which
// operation failed. Its errors are in the envelope's errors.
type batchFailure struct {
	FailedOperation struct {
		Index  int    `json:"index"`
		Ref    string `json:"ref,omitempty"`
		Method string `json:"method"`
		Path   string `json:"path"`
		Status int    `json:"status"`
	} `json:"failed_operation"`
}

// batchCallerKey marks the request of one operation of a batch, carrying
// the API token that authenticated the batch.
const batchCallerKey ctxKey = 100

// batch runs a list of writes through the API's own routes (so with their
// validation and normalisation) in one database transaction: all of them
// happen, or none does. A dry run always rolls back.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) error {
	var req BatchRequest
	if err := decodeLimited(w, r, &req, false, outputOnly{}, MaxBatchBodyBytes); err != nil {
		return err
	}
	if err := checkBatch(req); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store") // results may hold new service tokens' secrets
	out := BatchResult{DryRun: req.DryRun, Operations: make([]BatchOperationResult, 0, len(req.Operations))}
	var failed *opFailure
	err := s.store.Batch(r.Context(), !req.DryRun, func(ctx context.Context) error {
		results := map[string]any{}
		for i, op := range req.Operations {
			res, f, err := s.runOperation(ctx, r, i, op, results)
			if err != nil {
				return err
			}
			if f != nil {
				failed = f
				return f
			}
			if req.DryRun {
				res.Result = withoutSecret(res.Result)
			}
			out.Operations = append(out.Operations, res)
		}
		return nil
	})
	if failed != nil {
		if failed.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", strconv.Itoa(RetryAfterUnavailable))
		}
		writeJSON(w, failed.status, envelope{Success: false, Errors: failed.errors, Messages: []errorObject{}, Result: failed.result})
		return nil
	}
	if err != nil {
		return err
	}
	writeResult(w, out)
	return nil
}

// checkBatch refuses a batch whose shape is wrong before anything runs.
func checkBatch(req BatchRequest) error {
	if len(req.Operations) == 0 {
		return access.Invalid("operations", "must list at least one operation")
	}
	if len(req.Operations) > MaxBatchOperations {
		return access.Invalid("operations", "must list at most %d operations", MaxBatchOperations)
	}
	refs := map[string]bool{}
	var fields []access.FieldError
	bad := func(i int, field, format string, args ...any) {
		fields = append(fields, access.FieldError{Field: fmt.Sprintf("operations[%d].%s", i, field), Message: fmt.Sprintf(format, args...)})
	}
	for i, op := range req.Operations {
		switch op.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			bad(i, "method", "must be POST, PUT, PATCH or DELETE")
		}
		if msg := checkBatchPath(op.Path, refs); msg != "" {
			bad(i, "path", "%s", msg)
		}
		if op.Ref != "" {
			switch {
			case !refName.MatchString(op.Ref):
				bad(i, "ref", "must be 1 to 64 letters, digits, _ or -")
			case refs[op.Ref]:
				bad(i, "ref", "%q names an earlier operation already", op.Ref)
			}
			refs[op.Ref] = true
		}
	}
	return access.InvalidFields(fields)
}

// checkBatchPath says what is wrong with an operation's path, or "".
// refs are the refs of the operations before it.
func checkBatchPath(path string, refs map[string]bool) string {
	if path == "" || strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#%\\") {
		return "must be a path relative to the account, such as access/apps/{app_id}, without a query"
	}
	allowed := false
	for _, p := range batchResources {
		if path == p || strings.HasPrefix(path, p+"/") {
			allowed = true
		}
	}
	if !allowed {
		return "must be under " + strings.Join(batchResources, ", ")
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "must not hold empty, . or .. segments"
		}
		if name, ok := strings.CutPrefix(seg, refPrefix); ok {
			name, _, _ = strings.Cut(name, ".")
			if !refs[name] {
				return fmt.Sprintf("%q names no earlier operation", seg)
			}
		}
	}
	return ""
}

// opFailure is an operation that failed, as the batch answers it.
type opFailure struct {
	status int
	errors []errorObject
	result batchFailure
}

func (f *opFailure) Error() string { return "batch operation failed" }

// runOperation runs one operation through the API's routes, in ctx's
// batch. An operation the API refused comes back as an opFailure; err is
// for the batch itself failing.
func (s *Server) runOperation(ctx context.Context, outer *http.Request, i int, op BatchOperation, results map[string]any) (BatchOperationResult, *opFailure, error) {
	fail := func(status int, errs []errorObject) *opFailure {
		f := &opFailure{status: status}
		f.result.FailedOperation.Index, f.result.FailedOperation.Ref = i, op.Ref
		f.result.FailedOperation.Method, f.result.FailedOperation.Path = op.Method, op.Path
		f.result.FailedOperation.Status = status
		where := fmt.Sprintf("operations[%d]", i)
		if op.Ref != "" {
			where += fmt.Sprintf(" (ref %q)", op.Ref)
		}
		for _, e := range errs {
			field := fmt.Sprintf("operations[%d]", i)
			if e.Field != "" {
				field += ".body." + e.Field
			}
			f.errors = append(f.errors, errorObject{Code: e.Code, Message: where + ": " + e.Message, Field: field, Source: errorSource{Pointer: jsonPointer(field)}})
		}
		return f
	}
	path, err := resolvePath(op.Path, results)
	if err != nil {
		return BatchOperationResult{}, fail(http.StatusBadRequest, []errorObject{{Code: CodeValidation, Message: "path: " + err.Error()}}), nil
	}
	var body []byte
	if len(op.Body) > 0 && string(op.Body) != "null" {
		if body, err = resolveBody(op.Body, results); err != nil {
			return BatchOperationResult{}, fail(http.StatusBadRequest, []errorObject{{Code: CodeValidation, Message: "body: " + err.Error()}}), nil
		}
	}
	// A fresh chi route context: the operation is routed from the root.
	ctx = context.WithValue(context.WithValue(ctx, chi.RouteCtxKey, nil), batchCallerKey, caller(outer.Context()))
	req, err := http.NewRequestWithContext(ctx, op.Method, "/client/v4/accounts/"+url.PathEscape(accountID(outer))+"/"+path, bytes.NewReader(body))
	if err != nil {
		return BatchOperationResult{}, fail(http.StatusBadRequest, []errorObject{{Code: CodeValidation, Message: "path: " + err.Error()}}), nil
	}
	req.RemoteAddr = outer.RemoteAddr
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if op.IfMatch != "" {
		req.Header.Set("If-Match", op.IfMatch)
	}
	rec := &opRecorder{header: http.Header{}, status: http.StatusOK}
	s.routes().ServeHTTP(rec, req)
	var env struct {
		Success bool            `json:"success"`
		Errors  []errorObject   `json:"errors"`
		Result  json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(rec.body.Bytes(), &env); err != nil {
		return BatchOperationResult{}, nil, fmt.Errorf("batch: operation %d: decode response: %w", i, err)
	}
	if rec.status >= 300 || !env.Success {
		if len(env.Errors) == 0 {
			env.Errors = []errorObject{{Code: CodeInternal, Message: http.StatusText(rec.status)}}
		}
		return BatchOperationResult{}, fail(rec.status, env.Errors), nil
	}
	if len(env.Result) == 0 {
		env.Result = json.RawMessage("null")
	}
	if op.Ref != "" {
		var v any
		dec := json.NewDecoder(bytes.NewReader(env.Result))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return BatchOperationResult{}, nil, fmt.Errorf("batch: operation %d: decode result: %w", i, err)
		}
		results[op.Ref] = v
	}
	return BatchOperationResult{Index: i, Ref: op.Ref, Status: rec.status, Result: env.Result}, nil, nil
}

// lookupRef returns the value a "$ref:NAME" or "$ref:NAME.field.sub"
// string names: the result's id, or the field.
func lookupRef(s string, results map[string]any) (any, error) {
	ref := strings.TrimPrefix(s, refPrefix)
	name, field, hasField := strings.Cut(ref, ".")
	v, ok := results[name]
	if !ok {
		return nil, fmt.Errorf("%q names no earlier operation with that ref", s)
	}
	if !hasField {
		field = "id"
	}
	for _, f := range strings.Split(field, ".") {
		m, isObj := v.(map[string]any)
		if !isObj {
			return nil, fmt.Errorf("%q: the result of %q has no field %q", s, name, field)
		}
		if v, ok = m[f]; !ok {
			return nil, fmt.Errorf("%q: the result of %q has no field %q", s, name, field)
		}
	}
	return v, nil
}

func resolvePath(path string, results map[string]any) (string, error) {
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if !strings.HasPrefix(seg, refPrefix) {
			continue
		}
		v, err := lookupRef(seg, results)
		if err != nil {
			return "", err
		}
		switch v := v.(type) {
		case string:
			segs[i] = url.PathEscape(v)
		case json.Number:
			segs[i] = v.String()
		default:
			return "", fmt.Errorf("%q is not a string or a number", seg)
		}
	}
	return strings.Join(segs, "/"), nil
}

// resolveBody replaces every string of body that is exactly a ref.
func resolveBody(body json.RawMessage, results map[string]any) ([]byte, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var walk func(v any) (any, error)
	walk = func(v any) (any, error) {
		switch v := v.(type) {
		case string:
			if strings.HasPrefix(v, refPrefix) {
				return lookupRef(v, results)
			}
		case map[string]any:
			for k, e := range v {
				r, err := walk(e)
				if err != nil {
					return nil, err
				}
				v[k] = r
			}
		case []any:
			for k, e := range v {
				r, err := walk(e)
				if err != nil {
					return nil, err
				}
				v[k] = r
			}
		}
		return v, nil
	}
	v, err := walk(v)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// withoutSecret blanks a service token's client_secret in a dry run's
// result: the token was never stored, so its secret is worth nothing.
func withoutSecret(result json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(result, &m) != nil {
		return result
	}
	if _, ok := m["client_secret"]; !ok {
		return result
	}
	m["client_secret"] = json.RawMessage(`""`)
	b, err := json.Marshal(m)
	if err != nil {
		return result
	}
	return b
}

// opRecorder captures one operation's response.
type opRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (o *opRecorder) Header() http.Header { return o.header }

func (o *opRecorder) WriteHeader(code int) {
	if !o.wrote {
		o.status, o.wrote = code, true
	}
}

func (o *opRecorder) Write(b []byte) (int, error) {
	o.wrote = true
	return o.body.Write(b)
}
