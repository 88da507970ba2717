package sessiondclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
)

// Errors of the client's own, for answers that have no counterpart in the
// library. The errors of a call wrap them; match them with errors.Is.
var (
	// ErrUnauthorized reports that sessiond refused the call's API key: none
	// was sent, or sessiond does not know it (401). Set Options.APIKey to a
	// key listed in sessiond's SESSIOND_API_KEYS or SESSIOND_API_KEYS_FILE.
	ErrUnauthorized = errors.New("sessiondclient: unauthorized: sessiond refused the API key")

	// ErrForbidden reports that the API key's role does not allow the call
	// (403): Stats and Cleanup need an admin key.
	ErrForbidden = errors.New("sessiondclient: forbidden: the API key's role does not allow this call")
)

// Error is a failed call to sessiond: an error answer, or no answer at all.
// It matches (errors.Is, errors.As) what the library returns in the same
// case:
//
//   - not_found (404): sessiondb.ErrNotFound; when the answer names why
//     the session ended (validation of the token of a session that ended
//     within sessiond's SESSION_REVOCATION_MEMORY_SECONDS), also a
//     *sessiondb.EndedError carrying that Reason, as the library returns
//   - invalid_argument (400), too_large (413), unsupported_media_type (415):
//     a *sessiondb.InvalidArgumentError with the Field sessiond named (for a
//     413, "metadata", the one field that makes a request large), which
//     matches sessiondb.ErrInvalidArgument
//   - session_limit (409): sessiondb.ErrSessionLimit
//   - unavailable (503), and 429, 502, 503 and 504 answers of a proxy in
//     between: sessiondb.ErrUnavailable, with RetryAfter set from the
//     answer's Retry-After header
//   - no answer (connection refused or reset, TLS failure, timeout, a
//     cancelled context): sessiondb.ErrUnavailable and the cause, such as
//     context.Canceled
//   - store_misconfigured (500): sessiondb.ErrStoreAuth (Redis refuses
//     sessiond's credentials or commands; not retried)
//   - unauthenticated (401): ErrUnauthorized; permission_denied (403):
//     ErrForbidden
//
// An error code newer than this package is judged by its status alone (400,
// 413 and 415 as invalid arguments, 401, 403, and 429, 502, 503 and 504 as
// unavailable) and is never retried. Other answers (500 internal, a 404 or
// 405 for a route sessiond does not have, a page that is not sessiond's)
// match none of these, and the message says what was answered. Tokens are
// never part of an Error's text: they travel in request bodies, which errors
// never quote.
type Error struct {
	Op         string        // the method that failed, in lower case: "validate", "create", ...
	Status     int           // the answer's HTTP status; 0 when there was no answer
	Code       string        // the API's error code ("not_found", ...); "" when the answer had none
	Message    string        // the answer's message, or the status text
	Field      string        // the request field at fault, if sessiond named one
	RetryAfter time.Duration // the wait a 503 (or 429) asked for; 0 when none
	Err        error         // the cause when there was no answer

	kind        error // the library or client error it matches, if any
	notSessiond bool  // the answer suggests a wrong base URL
}

// Error describes the failure without any token or key.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("sessiondclient: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Status == 0 {
		b.WriteString("no answer from sessiond")
		if e.Err != nil {
			b.WriteString(": ")
			b.WriteString(e.Err.Error())
		}
		if isCertError(e.Err) {
			b.WriteString("; if sessiond's certificate is signed by a private CA, set Options.CAFile")
		}
		return b.String()
	}
	b.WriteString(e.Message)
	fmt.Fprintf(&b, " (%d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	b.WriteString(")")
	switch {
	case e.kind == ErrUnauthorized:
		b.WriteString("; set Options.APIKey to a key that sessiond knows")
	case e.notSessiond:
		b.WriteString("; is the base URL that of sessiond, with the right scheme?")
	case e.RetryAfter > 0:
		fmt.Fprintf(&b, "; retry after %v", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the errors e matches: the library's or the client's error
// for the answer, and the cause of a failure without an answer.
func (e *Error) Unwrap() []error {
	out := make([]error, 0, 2)
	if e.kind != nil {
		out = append(out, e.kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// apiErrorBody is the error object of sessiond's answers.
type apiErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
		Reason  string `json:"reason"`
	} `json:"error"`
}

// answerError builds the Error of an error answer and says whether the
// call may be retried. code is "" when the body was not sessiond's error
// object (a proxy's page, say).
func answerError(op string, status int, body apiErrorBody, retryAfter time.Duration) (err *Error, retry bool) {
	e := &Error{
		Op: op, Status: status, Code: body.Error.Code, Message: body.Error.Message,
		Field: body.Error.Field, RetryAfter: retryAfter,
	}
	if e.Message == "" {
		e.Message = strings.ToLower(http.StatusText(status))
		if e.Message == "" {
			e.Message = "unexpected answer"
		}
	}
	switch e.Code {
	case "not_found":
		// sessiond also answers not_found for a path it has no route for:
		// a wrong base URL is not a missing session.
		switch {
		case strings.HasPrefix(e.Message, "no such route"):
			e.notSessiond = true
		case body.Error.Reason != "":
			// Why the session ended; an *EndedError matches ErrNotFound.
			e.kind = &sessiondb.EndedError{Reason: sessiondb.EndReason(body.Error.Reason)}
		default:
			e.kind = sessiondb.ErrNotFound
		}
	case "invalid_argument", "too_large", "unsupported_media_type":
		e.kind = invalidAnswer(e)
	case "unauthenticated":
		e.kind = ErrUnauthorized
	case "permission_denied":
		e.kind = ErrForbidden
	case "session_limit":
		e.kind = sessiondb.ErrSessionLimit
	case "unavailable":
		e.kind = sessiondb.ErrUnavailable
		retry = true
	case "store_misconfigured":
		e.kind = sessiondb.ErrStoreAuth
	case "method_not_allowed":
		e.notSessiond = true
	case "internal":
	case "":
		// Not sessiond's error object: a proxy in between, or not sessiond
		// at all. Only the answers that proxies give for their own reasons
		// are judged by the status.
		switch status {
		case http.StatusUnauthorized:
			e.kind = ErrUnauthorized
		case http.StatusForbidden:
			e.kind = ErrForbidden
		case http.StatusRequestEntityTooLarge:
			e.kind = invalidAnswer(e)
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			e.kind = sessiondb.ErrUnavailable
			retry = true
		default:
			e.notSessiond = true
		}
	default:
		// A code newer than this package: judge by the status, without
		// retrying, since a new code is there to say something more
		// specific than "unavailable".
		switch status {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			e.kind = invalidAnswer(e)
		case http.StatusUnauthorized:
			e.kind = ErrUnauthorized
		case http.StatusForbidden:
			e.kind = ErrForbidden
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			e.kind = sessiondb.ErrUnavailable
		}
	}
	return e, retry
}

// invalidAnswer is the *sessiondb.InvalidArgumentError of a 400, 413 or 415
// answer. sessiond's messages start with "invalid <field>: ", which the
// error's own text adds back.
func invalidAnswer(e *Error) *sessiondb.InvalidArgumentError {
	reason := e.Message
	if e.Field != "" {
		reason = strings.TrimPrefix(reason, "invalid "+e.Field+": ")
	}
	return &sessiondb.InvalidArgumentError{Field: e.Field, Reason: reason}
}

// noAnswer is the Error of a call that got no answer.
func noAnswer(op string, cause error) *Error {
	return &Error{Op: op, Err: cause, kind: sessiondb.ErrUnavailable}
}

// isCertError reports whether err is a failure to verify the server's
// certificate, which retrying does not mend.
func isCertError(err error) bool {
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var cerr x509.CertificateInvalidError
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr)
}

// invalid returns the library's error for a bad argument found before any
// request is made, as the Manager reports it.
func invalid(field, reason string) error {
	return &sessiondb.InvalidArgumentError{Field: field, Reason: reason}
}
