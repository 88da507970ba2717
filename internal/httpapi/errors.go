package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/sessiondb/sessiondb"
)

// The error codes of the API: one per status, but for 500, which is either
// a bug (internal) or a store that refuses sessiond (store_misconfigured).
const (
	CodeInvalidArgument      = "invalid_argument"       // 400
	CodeUnauthenticated      = "unauthenticated"        // 401
	CodePermissionDenied     = "permission_denied"      // 403
	CodeNotFound             = "not_found"              // 404
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeSessionLimit         = "session_limit"          // 409
	CodeEventsOff            = "events_off"             // 409
	CodeTooLarge             = "too_large"              // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeInternal             = "internal"               // 500
	CodeStoreMisconfigured   = "store_misconfigured"    // 500
	CodeUnavailable          = "unavailable"            // 503
)

// retryAfterSeconds is the Retry-After of 503 answers: the store reconnects
// in the background about twice a second.
const retryAfterSeconds = "1"

// apiError is an error as the API reports it.
type apiError struct {
	status  int
	code    string
	message string
	field   string // the one request field at fault, if any
	reason  string // why the session ended (not_found of a validation), if known
	allow   string // the Allow header of a 405
	cause   error  // the underlying failure of a 5xx, for the log only
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func invalidArgument(field, message string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeInvalidArgument, field: field, message: message}
}

func methodNotAllowed(allow string) *apiError {
	return &apiError{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed, allow: allow,
		message: "method not allowed; allowed: " + allow}
}

var (
	errNoRoute = &apiError{status: http.StatusNotFound, code: CodeNotFound,
		message: "no such route; GET /openapi.json describes the API"}
	errNoKey = &apiError{status: http.StatusUnauthorized, code: CodeUnauthenticated,
		message: "missing API key: send Authorization: Bearer <key>"}
	errNotBearer = &apiError{status: http.StatusUnauthorized, code: CodeUnauthenticated,
		message: "the Authorization header must use Bearer: send Authorization: Bearer <key> (Basic and other schemes are not accepted)"}
	errBadKey = &apiError{status: http.StatusUnauthorized, code: CodeUnauthenticated,
		message: "invalid API key"}
	errForbidden = &apiError{status: http.StatusForbidden, code: CodePermissionDenied,
		message: "this call needs an admin API key"}
	errNotReady = &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable,
		message: "shutting down"}
	errEventsOff = &apiError{status: http.StatusConflict, code: CodeEventsOff,
		message: "this sessiond records no events: start it with SESSION_EVENTS=true"}
)

// toAPIError maps any error a handler returns to its status, code and
// message. It is the only place where errors meet HTTP status codes.
func toAPIError(err error) *apiError {
	var ae *apiError
	var inv *sessiondb.InvalidArgumentError
	var ended *sessiondb.EndedError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ended):
		return &apiError{status: http.StatusNotFound, code: CodeNotFound, reason: string(ended.Reason),
			message: "session not found: it ended (" + string(ended.Reason) + ")"}
	case errors.Is(err, sessiondb.ErrEventsOff):
		return errEventsOff
	case errors.As(err, &inv):
		return invalidArgument(inv.Field, "invalid "+inv.Field+": "+inv.Reason)
	case errors.Is(err, sessiondb.ErrInvalidArgument):
		return invalidArgument("", "invalid argument")
	case errors.Is(err, sessiondb.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: CodeNotFound, message: "session not found"}
	case errors.Is(err, sessiondb.ErrSessionLimit):
		return &apiError{status: http.StatusConflict, code: CodeSessionLimit,
			message: "the user already holds the maximum number of sessions"}
	case errors.Is(err, sessiondb.ErrStoreAuth):
		// Not 503: a refused password or command stays refused until an
		// operator fixes the configuration, and 503 with Retry-After asks
		// every client to retry at once, for nothing.
		return &apiError{status: http.StatusInternalServerError, code: CodeStoreMisconfigured, cause: err,
			message: "the session store refuses sessiond's credentials or commands: a configuration error that retrying does not fix"}
	case errors.Is(err, sessiondb.ErrStoreFull):
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, cause: err,
			message: "the session store is full; existing sessions still work"}
	case errors.Is(err, sessiondb.ErrConflict):
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, cause: err,
			message: "the session is being changed by many calls at once; retry"}
	case errors.Is(err, sessiondb.ErrUnavailable), errors.Is(err, sessiondb.ErrClosed),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, cause: err,
			message: "the session store is unavailable; retry later"}
	}
	return &apiError{status: http.StatusInternalServerError, code: CodeInternal, cause: err,
		message: "internal error"}
}

// writeError writes err as the API's error object and returns what it wrote.
func writeError(w http.ResponseWriter, err error) *apiError {
	e := toAPIError(err)
	h := w.Header()
	switch e.status {
	case http.StatusUnauthorized:
		if e == errBadKey {
			h.Set("WWW-Authenticate", `Bearer realm="sessiond", error="invalid_token"`)
		} else {
			h.Set("WWW-Authenticate", `Bearer realm="sessiond"`)
		}
	case http.StatusMethodNotAllowed:
		h.Set("Allow", e.allow)
	case http.StatusServiceUnavailable:
		if e.code == CodeUnavailable {
			h.Set("Retry-After", retryAfterSeconds)
		}
	}
	b := make([]byte, 0, 128)
	b = append(b, `{"error":{"code":`...)
	b = appendString(b, e.code)
	b = append(b, `,"message":`...)
	b = appendString(b, e.message)
	if e.field != "" {
		b = append(b, `,"field":`...)
		b = appendString(b, e.field)
	}
	if e.reason != "" {
		b = append(b, `,"reason":`...)
		b = appendString(b, e.reason)
	}
	b = append(b, "}}\n"...)
	writeJSON(w, e.status, b)
	return e
}
