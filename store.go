package sessiondb

import (
	"context"
	"fmt"
	"time"
)

// Policy says what Create does when a user already holds the maximum number
// of sessions.
type Policy string

// The limit policies.
const (
	PolicyEvictOldest Policy = "evict-oldest" // end the user's oldest session(s) to make room (the default)
	PolicyReject      Policy = "reject"       // refuse the new session with ErrSessionLimit
)

// ParsePolicy parses "evict-oldest" or "reject".
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case PolicyEvictOldest, PolicyReject:
		return p, nil
	}
	return "", fmt.Errorf("sessiondb: unknown limit policy %q (want %q or %q)", s, PolicyEvictOldest, PolicyReject)
}

// NoLimit, as a limit of sessions per user, means none.
const NoLimit = -1

// Limit is the per-user session limit a Store enforces on Insert. Max
// follows the rule of Options.MaxSessionsPerUser: 0 means
// DefaultMaxSessionsPerUser, a negative value (NoLimit) no limit. Stores
// read it with Sessions.
type Limit struct {
	Max    int    // live sessions a user may hold
	Policy Policy // what to do at the limit
}

// Sessions returns how many live sessions a user may hold, and false when
// there is no limit.
func (l Limit) Sessions() (max int, limited bool) {
	switch {
	case l.Max < 0:
		return 0, false
	case l.Max == 0:
		return DefaultMaxSessionsPerUser, true
	}
	return l.Max, true
}

// StoreStats are the counters a Store keeps. Total counts the sessions in the
// indexes, live or expired; Expired counts those past their expiry that Cleanup
// has not removed yet. Created, Invalidated and Evicted count events since the
// store was first used.
type StoreStats struct {
	Total       int64
	Expired     int64
	Users       int64 // users with at least one session in the index
	Created     int64
	Invalidated int64
	Evicted     int64

	// Memory pressure, for stores that have a memory limit (0 when unknown).
	MemoryUsed int64 // bytes in use
	MemoryMax  int64 // the limit in bytes; 0 means none

	// The event log and the revocation memory (EventLog), when the store
	// keeps them: entries kept and their memory in bytes (an estimate).
	EventEntries    int64
	EventBytes      int64
	Revocations     int64
	RevocationBytes int64
}

// Store keeps session records. Implementations must be safe for concurrent
// use and make every method atomic: a concurrent reader sees a record and its
// index entries either before or after a change, never half of it.
//
// Every method takes now, the caller's clock, and judges expiry by it: a
// record is live while now is before its EffectiveExpiry. Stores may also
// drop records some time after they expire (Redis key expiry), never before.
// Stores never see tokens.
//
// Methods return errors matching ErrNotFound, ErrSessionLimit, ErrConflict,
// ErrExists or ErrUnavailable as documented; the conformance suite in package
// storetest checks these contracts.
type Store interface {
	// Insert adds a new record and indexes it under its user, enforcing lim
	// atomically: at most lim.Max live sessions remain for the user. Under
	// PolicyEvictOldest it removes the user's oldest sessions (by CreatedAt)
	// and returns how many; under PolicyReject it returns ErrSessionLimit and
	// changes nothing. It returns ErrExists if the id is taken.
	Insert(ctx context.Context, rec *Record, lim Limit, now time.Time) (evicted int, err error)

	// Get returns the live record with the given id, or ErrNotFound.
	Get(ctx context.Context, id string, now time.Time) (*Record, error)

	// Replace swaps old (as returned by Get) for rec, which has the same user
	// and may have another id (rotation). It returns ErrNotFound if old is gone
	// or expired, ErrConflict if it changed since it was read, and ErrExists if
	// rec's new id is taken.
	Replace(ctx context.Context, old, rec *Record, now time.Time) error

	// Delete removes the live record with the given id and returns it, or
	// returns ErrNotFound. It counts as an invalidation.
	Delete(ctx context.Context, id string, now time.Time) (*Record, error)

	// ListUser returns the user's live records, in no particular order.
	ListUser(ctx context.Context, userID string, now time.Time) ([]*Record, error)

	// DeleteUser removes every record of the user but the one with id except
	// (if not empty) and returns how many live records it removed.
	DeleteUser(ctx context.Context, userID, except string, now time.Time) (int, error)

	// Cleanup removes expired records from every index, in bounded batches,
	// and returns how many it removed. Concurrent calls never remove a record
	// twice.
	Cleanup(ctx context.Context, now time.Time) (int, error)

	// Stats returns the store's counters as of now. Its cost does not grow
	// with the number of sessions.
	Stats(ctx context.Context, now time.Time) (StoreStats, error)

	// Walk calls fn with every live record, in no particular order, holding
	// only a batch of records in memory at a time. It stops at fn's first
	// error and returns it. Records changed during the walk may be seen in
	// either version, or not at all if they are created or removed meanwhile.
	Walk(ctx context.Context, now time.Time, fn func(*Record) error) error

	// Restore adds a record from a backup unless its id is already present,
	// indexing it under its user. It enforces no limit and counts no
	// creation. It reports whether it added the record; a record expired at
	// now is skipped (false, nil).
	Restore(ctx context.Context, rec *Record, now time.Time) (bool, error)

	// Ping checks that the store answers.
	Ping(ctx context.Context) error

	// Close releases the store's resources.
	Close() error
}
