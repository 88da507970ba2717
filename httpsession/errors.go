package httpsession

import (
	"errors"
	"net/http"

	"github.com/sessiondb/sessiondb"
)

var (
	// ErrCrossOrigin is returned by Login, Logout and the other helpers that
	// change state when a cookie-carrying request comes from another origin
	// (see the package documentation). Answer it with 403.
	ErrCrossOrigin = errors.New("httpsession: cross-origin request refused")

	// ErrInsecureCookie is returned by Login under InsecureLoopbackHTTP when
	// the request did not arrive at a loopback address: a cookie without
	// Secure must not travel over a real network.
	ErrInsecureCookie = errors.New("httpsession: InsecureLoopbackHTTP allows logins on a loopback address only; serve HTTPS")

	// ErrNoSession is returned by the helpers that need the current session
	// (LogoutEverywhere, LogoutSession, Rotate) when the request has none. It
	// matches sessiondb.ErrNotFound.
	ErrNoSession error = noSessionError{}
)

type noSessionError struct{}

func (noSessionError) Error() string        { return "httpsession: the request has no valid session" }
func (noSessionError) Is(target error) bool { return target == sessiondb.ErrNotFound }

// isNotFound reports whether err means "no such session" rather than a
// failure: unknown, expired, revoked or malformed tokens and ids.
func isNotFound(err error) bool {
	return errors.Is(err, sessiondb.ErrNotFound) || errors.Is(err, sessiondb.ErrInvalidArgument)
}

// The JSON error answers, in the shape of sessiond's API errors.
var (
	bodyUnauthenticated = []byte(`{"error":{"code":"unauthenticated","message":"a valid session is required; log in"}}` + "\n")
	bodyUnavailable     = []byte(`{"error":{"code":"unavailable","message":"the session store is unavailable; retry"}}` + "\n")
	bodyCrossOrigin     = []byte(`{"error":{"code":"permission_denied","message":"cross-origin request refused"}}` + "\n")
)

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body)
}

func (c *config) unauthenticated(w http.ResponseWriter, r *http.Request) {
	if c.Source != FromCookie {
		w.Header().Set("WWW-Authenticate", `Bearer`)
	}
	writeJSON(w, http.StatusUnauthorized, bodyUnauthenticated)
}

func unavailable(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, bodyUnavailable)
}

func crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusForbidden, bodyCrossOrigin)
}

// StatusCode returns the HTTP status that answers an error of Login, Logout
// and the other helpers: 403 for ErrCrossOrigin and ErrInsecureCookie, 401
// for ErrNoSession, 404 for another sessiondb.ErrNotFound (an id that names
// no session of the user), 400 for sessiondb.ErrInvalidArgument, 409 for
// sessiondb.ErrSessionLimit, and 503 for anything else (the session store
// is unavailable: retry). It returns 200 for nil.
func StatusCode(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrCrossOrigin), errors.Is(err, ErrInsecureCookie):
		return http.StatusForbidden
	case errors.Is(err, ErrNoSession):
		return http.StatusUnauthorized
	case errors.Is(err, sessiondb.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, sessiondb.ErrInvalidArgument):
		return http.StatusBadRequest
	case errors.Is(err, sessiondb.ErrSessionLimit):
		return http.StatusConflict
	}
	return http.StatusServiceUnavailable
}
