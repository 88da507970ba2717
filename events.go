package sessiondb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file holds the event log's types: what an event says, the cursor
// that orders and resumes events, what travels from a caller to the store
// with each change (the actor, the cause), and the store's side of the log
// (EventLog). The readers are in events_read.go; docs/events.md describes
// the log as a whole.

// EventType says what happened to a session.
type EventType string

// The event types. Every change to the set of a user's sessions is one
// event: created and restored add a session, rotated replaces one id by
// another, invalidated, evicted and expired remove one. refreshed and
// updated change a session in place.
const (
	EventCreated     EventType = "created"     // Create
	EventRestored    EventType = "restored"    // Store.Restore (sessionctl restore)
	EventRotated     EventType = "rotated"     // Rotate: SessionID ended, NewSessionID began
	EventRefreshed   EventType = "refreshed"   // Refresh, at most once per TouchInterval per session
	EventUpdated     EventType = "updated"     // UpdateMetadata, UpdateMetadataByID
	EventInvalidated EventType = "invalidated" // Invalidate, InvalidateByID, InvalidateUser; see Cause
	EventEvicted     EventType = "evicted"     // ended by the per-user limit (evict-oldest)
	EventExpired     EventType = "expired"     // an expired session taken out of its user's index
)

// EventTypes lists every event type.
var EventTypes = []EventType{EventCreated, EventRestored, EventRotated, EventRefreshed,
	EventUpdated, EventInvalidated, EventEvicted, EventExpired}

// ParseEventType returns the event type named s.
func ParseEventType(s string) (EventType, error) {
	for _, t := range EventTypes {
		if string(t) == s {
			return t, nil
		}
	}
	return "", invalid("type", "unknown event type %q (want one of %s)", s, eventTypeList())
}

func eventTypeList() string {
	names := make([]string, len(EventTypes))
	for i, t := range EventTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// Cause says why a session was invalidated. Events of other types have no
// cause ("").
type Cause string

// The causes of an invalidation.
const (
	CauseLogout       Cause = "logout"        // Invalidate: the session's own token
	CauseAdmin        Cause = "admin"         // InvalidateByID: by id (sessionctl revoke, DELETE /v1/sessions/{id})
	CauseRevokeAll    Cause = "revoke_all"    // InvalidateUser without an exception
	CauseRevokeOthers Cause = "revoke_others" // InvalidateUser keeping one session
)

// ActorLibrary is the actor of changes made without one in their context:
// by a program using the library directly.
const ActorLibrary = "library"

// Event is one entry of the event log. It never holds a token.
type Event struct {
	// ID orders the event and resumes a reader after it (see EventCursor).
	ID string
	// Type says what happened.
	Type EventType
	// Time is when the change was made, by the clock of the process that
	// made it, to the millisecond.
	Time time.Time
	// SessionID is the session the event is about; for rotated, the id that
	// ended.
	SessionID string
	// NewSessionID is, for rotated only, the session's new id.
	NewSessionID string
	// UserID is the session's user.
	UserID string
	// Cause is, for invalidated only, why.
	Cause Cause
	// Actor made the change: the name of sessiond's API key, or "library".
	Actor string
	// Metadata is, for created, restored and updated, the session's metadata
	// after the change (nil when it has none, and for other types).
	Metadata map[string]string
}

// EventOptions configure the event log of a store (redisstore.Options.Events,
// memstore.Options.Events). Zero fields mean the defaults.
type EventOptions struct {
	// MaxLen bounds the log: at most MaxLen entries in all, kept as Buckets
	// logs of MaxLen/Buckets entries (rounded up) each, one per bucket of
	// users, so a user's events compete for room only with the users of its
	// bucket. An entry is one change: one event, or several for a create that
	// evicts, a revocation of many sessions or a batch of cleanup. Default
	// DefaultEventsMaxLen.
	MaxLen int
	// MaxAge bounds the age of events: readers skip older ones, and Cleanup
	// removes them. Default DefaultEventsMaxAge.
	MaxAge time.Duration
	// RevocationMemory is how long the reason a session ended is kept after
	// it ended, for Validate to report it (EndedError). Default
	// DefaultRevocationMemory; negative: not kept.
	RevocationMemory time.Duration
}

// Defaults of EventOptions.
const (
	DefaultEventsMaxLen     = 1 << 20
	DefaultEventsMaxAge     = 7 * 24 * time.Hour
	DefaultRevocationMemory = 24 * time.Hour
)

// WithDefaults returns o with its zero fields set to the defaults. It
// returns an error for negative or out-of-range values.
func (o EventOptions) WithDefaults() (EventOptions, error) {
	if o.MaxLen == 0 {
		o.MaxLen = DefaultEventsMaxLen
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultEventsMaxAge
	}
	if o.RevocationMemory == 0 {
		o.RevocationMemory = DefaultRevocationMemory
	}
	if o.RevocationMemory < 0 {
		o.RevocationMemory = 0
	}
	switch {
	case o.MaxLen < 0:
		return o, fmt.Errorf("sessiondb: negative events MaxLen %d", o.MaxLen)
	case o.MaxAge < time.Second:
		return o, fmt.Errorf("sessiondb: events MaxAge %v is below a second", o.MaxAge)
	}
	return o, nil
}

// PerBucket is the number of entries each bucket's log keeps: MaxLen/Buckets,
// rounded up.
func (o EventOptions) PerBucket() int { return (o.MaxLen + Buckets - 1) / Buckets }

// EndReason says why a session that no longer exists ended.
type EndReason string

// The reasons Validate reports for a token whose session ended (EndedError).
const (
	EndEvicted EndReason = "evicted" // the per-user limit ended it for a newer session
	EndRevoked EndReason = "revoked" // invalidated: logout, by id, or with all of its user's sessions
	EndRotated EndReason = "rotated" // its token was replaced by Rotate
	EndExpired EndReason = "expired" // it expired, and Cleanup (or its user's next login) found it
)

// EndedError is the error Validate returns for the token of a session that
// ended within the store's revocation memory: it matches ErrNotFound and
// tells why the session ended. Find it with errors.As.
type EndedError struct {
	Reason EndReason
}

func (e *EndedError) Error() string {
	return "sessiondb: session not found: it ended (" + string(e.Reason) + ")"
}

// Is reports whether target is ErrNotFound.
func (e *EndedError) Is(target error) bool { return target == ErrNotFound }

// ErrEventsOff is returned by the event readers when the store records no
// events (SESSION_EVENTS is not true).
var ErrEventsOff = errors.New("sessiondb: the store records no events (set SESSION_EVENTS=true, or Options.Events of the store)")

// Change tells a store that records events who makes a change and why. The
// Manager puts it in the context of each store call that changes sessions;
// stores read it with ChangeFrom.
type Change struct {
	// Actor made the change: an API key's name, or ActorLibrary.
	Actor string
	// Event is, for a Replace that keeps the id, the event to record:
	// EventRefreshed, EventUpdated, or "" for none (a touch of the last-seen
	// time, or a refresh within TouchInterval of the last activity).
	// Insert, Restore, a rotation, Delete, DeleteUser and Cleanup always
	// record their events.
	Event EventType
	// Cause is, for Delete, the cause of the invalidation: CauseLogout or
	// CauseAdmin (the default).
	Cause Cause
}

type changeKey struct{}

// WithActor returns a context whose changes are recorded as made by actor
// (sessiond passes the name of the request's API key). An empty actor means
// ActorLibrary.
func WithActor(ctx context.Context, actor string) context.Context {
	c := ChangeFrom(ctx)
	c.Actor = actor
	return WithChange(ctx, c)
}

// WithChange returns a context carrying c, for a store call.
func WithChange(ctx context.Context, c Change) context.Context {
	return context.WithValue(ctx, changeKey{}, c)
}

// ChangeFrom returns the Change in ctx; its Actor is ActorLibrary when none
// was given.
func ChangeFrom(ctx context.Context) Change {
	c, _ := ctx.Value(changeKey{}).(Change)
	if c.Actor == "" {
		c.Actor = ActorLibrary
	}
	return c
}

// EventCursor is a position in the event log. The log is ordered by
// (Millis, Seq, Bucket, Index): Millis and Seq are those of the change's
// entry in its bucket's log (Redis: the stream entry id, whose time is the
// Redis server's clock), Index the event's place among the events of that
// change. The events of one user are in one bucket, in the order their
// changes were made.
//
// A cursor is either an event's (At false) — a reader resumes after that
// event — or a time (At true, only Millis set): a reader starts with the
// first event whose Millis is at or after it. Its text form is the event id,
// "<millis>-<seq>-<bucket as 3 hex digits>-<index>", or "<millis>" for a
// time. The zero cursor is the start of the log.
type EventCursor struct {
	Millis int64
	Seq    uint64
	Bucket int
	Index  int
	At     bool
}

// String returns the cursor's text form: an event id, or "<millis>".
func (c EventCursor) String() string {
	if c.At {
		return strconv.FormatInt(c.Millis, 10)
	}
	b := make([]byte, 0, 40)
	b = strconv.AppendInt(b, c.Millis, 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, c.Seq, 10)
	b = append(b, '-')
	b = append(b, bucketTag(c.Bucket)...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(c.Index), 10)
	return string(b)
}

// IsZero reports whether c is the start of the log.
func (c EventCursor) IsZero() bool { return c == EventCursor{} || (c.At && c.Millis == 0) }

// Compare orders cursors: -1 if c comes before d, 0 if they are the same
// position, +1 if after. A time comes before every event of its
// millisecond.
func (c EventCursor) Compare(d EventCursor) int {
	switch {
	case c.Millis != d.Millis:
		return cmpInt(c.Millis, d.Millis)
	case c.At || d.At:
		if c.At == d.At {
			return 0
		}
		if c.At {
			return -1
		}
		return 1
	case c.Seq != d.Seq:
		if c.Seq < d.Seq {
			return -1
		}
		return 1
	case c.Bucket != d.Bucket:
		return cmpInt(int64(c.Bucket), int64(d.Bucket))
	}
	return cmpInt(int64(c.Index), int64(d.Index))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ParseEventCursor reads a cursor: "" (the start of the log), an event id,
// "<millis>", or a time in RFC 3339 (the events from that time on). Its
// errors are *InvalidArgumentError on the field "since".
func ParseEventCursor(s string) (EventCursor, error) {
	if s == "" {
		return EventCursor{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return EventCursor{Millis: max(t.UnixMilli(), 0), At: true}, nil
	}
	bad := func() (EventCursor, error) {
		return EventCursor{}, invalid("since", "want an event id (<millis>-<seq>-<bucket>-<index>), a time in milliseconds since 1970, or an RFC 3339 time")
	}
	parts := strings.Split(s, "-")
	ms, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || ms < 0 || parts[0] == "" || parts[0][0] == '+' {
		return bad()
	}
	if len(parts) == 1 {
		return EventCursor{Millis: ms, At: true}, nil
	}
	if len(parts) != 4 {
		return bad()
	}
	seq, err1 := strconv.ParseUint(parts[1], 10, 64)
	b, err2 := strconv.ParseUint(parts[2], 16, 16)
	idx, err3 := strconv.ParseUint(parts[3], 10, 31)
	if errors.Join(err1, err2, err3) != nil || b >= Buckets || parts[2] != bucketTag(int(b)) ||
		parts[1][0] == '+' || parts[3][0] == '+' {
		return bad()
	}
	return EventCursor{Millis: ms, Seq: seq, Bucket: int(b), Index: int(idx)}, nil
}

// EventLog is implemented by stores that can record events: memstore and
// redisstore, with Options.Events set. A store records the events of a
// change in the same atomic step as the change (the same Lua script in
// Redis, under the same lock in memory), so a crash can neither lose the
// events of a change that was made nor record one that was not.
type EventLog interface {
	// EventsEnabled reports whether the store records events.
	EventsEnabled() bool

	// ReadEvents returns up to limit events after the cursor, in the log's
	// order, of the user userID only when it is not empty; the cursor to
	// read on from (after every event returned and every event passed over:
	// another user's, or one older than MaxAge); and whether more events are
	// ready now. It returns only events that are final: no event can
	// appear later before the returned cursor. now is the caller's clock,
	// for MaxAge.
	ReadEvents(ctx context.Context, after EventCursor, userID string, limit int, now time.Time) (events []Event, next EventCursor, more bool, err error)

	// EndReason returns why the session with this id ended, if it ended
	// within the revocation memory before now; "" when the store does not
	// know (the id never existed, ended earlier, or the session is live).
	EndReason(ctx context.Context, id string, now time.Time) (EndReason, error)
}

// eventLogOf returns the event log behind a store, looking through wrappers
// that have an Unwrap method (sessiond's instrumented store), or nil when
// the store records no events.
func eventLogOf(s Store) EventLog {
	for range 8 {
		if el, ok := s.(EventLog); ok {
			if el.EventsEnabled() {
				return el
			}
			return nil
		}
		u, ok := s.(interface{ Unwrap() Store })
		if !ok {
			return nil
		}
		s = u.Unwrap()
	}
	return nil
}
