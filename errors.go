package sessiondb

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is; the errors the package returns
// wrap them with the operation that failed.
var (
	// ErrNotFound reports an unknown, expired, revoked or malformed token or id.
	// Not finding a session is an outcome, not a failure of the store.
	ErrNotFound = errors.New("sessiondb: session not found")

	// ErrSessionLimit reports that the user already holds the maximum number of
	// sessions and the limit policy is PolicyReject.
	ErrSessionLimit = errors.New("sessiondb: session limit reached")

	// ErrInvalidArgument reports bad input: an empty or oversized user id, a TTL
	// out of range, oversized metadata. Errors that wrap it are *InvalidArgumentError.
	ErrInvalidArgument = errors.New("sessiondb: invalid argument")

	// ErrUnavailable reports that the store could not be reached or did not
	// answer in time. The call may be retried.
	ErrUnavailable = errors.New("sessiondb: store unavailable")

	// ErrStoreAuth reports that the store refused the client's credentials
	// or a command it needs: a wrong password, an unknown or disabled user, no
	// login where one is required, or an ACL that lacks a permission (Redis:
	// WRONGPASS, NOAUTH, NOPERM). It is a configuration error: retrying does
	// not help until the credentials or the ACL are fixed, so it does not
	// match ErrUnavailable.
	ErrStoreAuth = errors.New("sessiondb: store access denied")

	// ErrStoreFull reports that the store refused a write because it is out of
	// memory. It matches ErrUnavailable too: reads and deletes keep working.
	ErrStoreFull error = storeFullError{}

	// ErrConflict is returned by a Store when a compare-and-swap finds that the
	// stored session changed since it was read. The Manager retries; callers
	// see it only when a session changed under them many times in a row, and
	// may then retry the call.
	ErrConflict = errors.New("sessiondb: concurrent update")

	// ErrExists is returned by a Store when an id is already taken. With 96-bit
	// ids it does not happen in practice; the Manager retries with a new token.
	ErrExists = errors.New("sessiondb: session id already exists")

	// ErrClosed is returned after the store has been closed.
	ErrClosed = errors.New("sessiondb: store closed")
)

type storeFullError struct{}

func (storeFullError) Error() string        { return "sessiondb: store full (out of memory)" }
func (storeFullError) Is(target error) bool { return target == ErrUnavailable }

// InvalidArgumentError describes one bad input. It matches ErrInvalidArgument.
type InvalidArgumentError struct {
	Field  string // the argument at fault, as named in the HTTP API: user_id, ttl_seconds, metadata, token, id, except
	Reason string // what is wrong with it, without echoing secret input
}

func (e *InvalidArgumentError) Error() string {
	return fmt.Sprintf("sessiondb: invalid %s: %s", e.Field, e.Reason)
}

// Is reports whether target is ErrInvalidArgument.
func (e *InvalidArgumentError) Is(target error) bool { return target == ErrInvalidArgument }

func invalid(field, format string, args ...any) error {
	return &InvalidArgumentError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
