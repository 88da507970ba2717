package sessiondb

import (
	"context"
	"time"
)

// Sessions is the session API that *Manager and sessiondclient.Client both
// provide: code written against it runs on the embedded library or on a
// remote sessiond, switching by one constructor.
//
// The methods behave alike on both and return the same error values
// (ErrNotFound, ErrSessionLimit, *InvalidArgumentError, ErrUnavailable), with
// the differences that a network in between brings, which package
// sessiondclient documents: sessions read over HTTP carry their times at
// millisecond precision and no TTL or IdleTimeout, and UpdateMetadata over
// HTTP is a read followed by a merge of the difference rather than a
// compare-and-swap.
type Sessions interface {
	// Create starts a session for userID that lasts ttl (0 means the default)
	// and carries metadata, and returns it with its token.
	Create(ctx context.Context, userID string, ttl time.Duration, metadata map[string]string) (*Session, error)
	// Validate returns the live session a token names, or an error matching
	// ErrNotFound.
	Validate(ctx context.Context, token string) (*Session, error)
	// Get returns the live session with the given id, without its token.
	Get(ctx context.Context, id string) (*Session, error)
	// Refresh extends a session to ttl from now (0 means its own TTL).
	Refresh(ctx context.Context, token string, ttl time.Duration) (*Session, error)
	// Rotate replaces a session's token and id and returns the new token.
	Rotate(ctx context.Context, token string) (*Session, error)
	// UpdateMetadata changes the metadata of the session a token names:
	// change edits a copy in place.
	UpdateMetadata(ctx context.Context, token string, change func(map[string]string) error) (*Session, error)
	// UpdateMetadataByID is UpdateMetadata for the session with the given id.
	UpdateMetadataByID(ctx context.Context, id string, change func(map[string]string) error) (*Session, error)
	// Invalidate ends the session a token names.
	Invalidate(ctx context.Context, token string) error
	// InvalidateByID ends the session with the given id.
	InvalidateByID(ctx context.Context, id string) error
	// InvalidateUser ends every session of a user but the one with id except
	// (if not empty) and returns how many it ended.
	InvalidateUser(ctx context.Context, userID, except string) (int, error)
	// UserSessions returns a user's live sessions, newest first.
	UserSessions(ctx context.Context, userID string) ([]*Session, error)
	// Cleanup removes expired sessions from the indexes and returns how many.
	Cleanup(ctx context.Context) (int, error)
	// Stats returns session statistics.
	Stats(ctx context.Context) (Stats, error)
	// Ping checks that the sessions can be reached.
	Ping(ctx context.Context) error
}

var _ Sessions = (*Manager)(nil)
