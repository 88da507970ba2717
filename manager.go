package sessiondb

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Manager is the session API. It checks input, makes tokens, keeps time and
// leaves storage to a Store. It is safe for concurrent use.
type Manager struct {
	store  Store
	opt    Options
	events EventLog // nil when the store records no events
}

// New returns a Manager over store. It returns an error if store is nil or an
// option is out of range.
func New(store Store, opt Options) (*Manager, error) {
	if store == nil {
		return nil, errors.New("sessiondb: nil store")
	}
	o, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Manager{store: store, opt: o, events: eventLogOf(store)}, nil
}

// change returns ctx carrying c, with the actor of ctx, for a store call
// that changes sessions; ctx itself when the store records no events.
func (m *Manager) change(ctx context.Context, c Change) context.Context {
	if m.events == nil {
		return ctx
	}
	c.Actor = ChangeFrom(ctx).Actor
	return WithChange(ctx, c)
}

// Options returns the manager's options, defaults filled in.
func (m *Manager) Options() Options { return m.opt }

// Store returns the manager's store.
func (m *Manager) Store() Store { return m.store }

// now returns the clock's time at the microsecond precision stores keep.
func (m *Manager) now() time.Time { return m.opt.Clock().UTC().Truncate(time.Microsecond) }

func (m *Manager) limit() Limit {
	return Limit{Max: m.opt.MaxSessionsPerUser, Policy: m.opt.LimitPolicy}
}

// Create starts a session for userID that lasts ttl (0 means the default TTL)
// and carries metadata. It returns the session with its token, which is shown
// only here. At the per-user limit it ends the user's oldest sessions, or
// returns ErrSessionLimit under PolicyReject. Bad input returns an
// *InvalidArgumentError and changes nothing.
func (m *Manager) Create(ctx context.Context, userID string, ttl time.Duration, metadata map[string]string) (*Session, error) {
	if err := CheckUserID(userID); err != nil {
		return nil, err
	}
	if ttl == 0 {
		ttl = m.opt.TTL
	}
	if err := m.checkTTL(ttl); err != nil {
		return nil, err
	}
	if err := m.checkMetadata(metadata); err != nil {
		return nil, err
	}
	if len(metadata) == 0 {
		metadata = nil
	}
	shard := UserShard(userID)
	ctx = m.change(ctx, Change{})
	for attempt := 0; ; attempt++ {
		now := m.now()
		tok, id := newToken(shard.Bucket)
		rec := &Record{
			ID: id, UserID: userID,
			CreatedAt: now, ExpiresAt: now.Add(ttl), LastSeenAt: now,
			TTL: ttl, IdleTimeout: m.opt.IdleTimeout,
			Metadata: maps.Clone(metadata),
		}
		_, err := m.store.Insert(ctx, rec, m.limit(), now)
		if errors.Is(err, ErrExists) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create session: %w", err)
		}
		return &Session{Record: *rec, Token: tok}, nil
	}
}

// Validate returns the live session a token names, or an error matching
// ErrNotFound for unknown, expired, revoked and malformed tokens. A malformed
// token is rejected without any I/O. The common case is a single read: the
// last-seen time is written back at most once per TouchInterval.
func (m *Manager) Validate(ctx context.Context, token string) (*Session, error) {
	id, err := IDFromToken(token)
	if err != nil {
		return nil, err
	}
	now := m.now()
	rec, err := m.store.Get(ctx, id, now)
	if err != nil {
		return nil, fmt.Errorf("validate session: %w", m.ended(ctx, id, now, err))
	}
	if now.Sub(rec.LastSeenAt) >= m.opt.TouchInterval {
		touched := rec.Clone()
		touched.LastSeenAt = now
		// A touch records no event: see Change.Event.
		switch err := m.store.Replace(m.change(ctx, Change{}), rec, touched, now); {
		case err == nil:
			rec = touched
		case errors.Is(err, ErrNotFound):
			// Revoked between the read and the touch: it is gone now.
			return nil, fmt.Errorf("validate session: %w", m.ended(ctx, id, now, err))
		default:
			// A concurrent touch won, or the store refused the write (full):
			// the session is valid all the same.
		}
	}
	return &Session{Record: *rec}, nil
}

// Get returns the live session with the given id, without its token, or an
// error matching ErrNotFound. It is for administrative views and does not
// count as activity.
func (m *Manager) Get(ctx context.Context, id string) (*Session, error) {
	if _, err := ParseID(id); err != nil {
		return nil, err
	}
	rec, err := m.store.Get(ctx, id, m.now())
	if err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	return &Session{Record: *rec}, nil
}

// Refresh extends a session: it then expires ttl from now (0 means the TTL
// the session was created with), but never later than CreatedAt+MaxTTL. It
// also counts as activity for the idle timeout.
func (m *Manager) Refresh(ctx context.Context, token string, ttl time.Duration) (*Session, error) {
	if ttl != 0 {
		if err := m.checkTTL(ttl); err != nil {
			return nil, err
		}
	}
	id, err := IDFromToken(token)
	if err != nil {
		return nil, err
	}
	rec, err := m.update(ctx, id, EventRefreshed, func(rec *Record, now time.Time) (*Record, error) {
		d := ttl
		if d == 0 {
			d = rec.TTL
		}
		next := rec.Clone()
		next.ExpiresAt = now.Add(d)
		if limit := rec.CreatedAt.Add(m.opt.MaxTTL); next.ExpiresAt.After(limit) {
			next.ExpiresAt = limit
		}
		next.LastSeenAt = now
		return next, nil
	})
	if err != nil {
		return nil, fmt.Errorf("refresh session: %w", err)
	}
	return &Session{Record: *rec}, nil
}

// Rotate replaces a session's token: the returned session has a new token and
// id and the same user, metadata, creation time and absolute expiry. The old
// token stops working at once. Use it after a privilege change (login,
// step-up) against session fixation.
func (m *Manager) Rotate(ctx context.Context, token string) (*Session, error) {
	id, err := IDFromToken(token)
	if err != nil {
		return nil, err
	}
	var tok Token
	rec, err := m.update(ctx, id, EventRotated, func(rec *Record, now time.Time) (*Record, error) {
		var newID string
		tok, newID = newToken(UserShard(rec.UserID).Bucket)
		next := rec.Clone()
		next.ID = newID
		next.LastSeenAt = now
		return next, nil
	})
	if err != nil {
		return nil, fmt.Errorf("rotate session: %w", err)
	}
	return &Session{Record: *rec, Token: tok}, nil
}

// UpdateMetadata changes the metadata of the session a token names. It reads
// the live session and calls change with a copy of its metadata (never nil),
// which change edits in place; the result is stored with a compare-and-swap,
// so a concurrent update is never lost: when one wins in between, change is
// called again on a fresh copy. The result is held to the limits of Create
// (an *InvalidArgumentError, with nothing written, when it breaks them), and
// the update counts as activity. An error from change is returned as it is,
// with nothing written. It returns the updated session, or an error matching
// ErrNotFound if the token names no live session.
func (m *Manager) UpdateMetadata(ctx context.Context, token string, change func(map[string]string) error) (*Session, error) {
	id, err := IDFromToken(token)
	if err != nil {
		return nil, err
	}
	return m.updateMetadata(ctx, id, change)
}

// UpdateMetadataByID is UpdateMetadata for the session with the given id, for
// administrative use.
func (m *Manager) UpdateMetadataByID(ctx context.Context, id string, change func(map[string]string) error) (*Session, error) {
	if _, err := ParseID(id); err != nil {
		return nil, err
	}
	return m.updateMetadata(ctx, id, change)
}

func (m *Manager) updateMetadata(ctx context.Context, id string, change func(map[string]string) error) (*Session, error) {
	if change == nil {
		return nil, invalid("metadata", "no change function")
	}
	rec, err := m.update(ctx, id, EventUpdated, func(rec *Record, now time.Time) (*Record, error) {
		md := maps.Clone(rec.Metadata)
		if md == nil {
			md = make(map[string]string)
		}
		if err := change(md); err != nil {
			return nil, errChangeRefused{err}
		}
		if err := m.checkMetadata(md); err != nil {
			return nil, err
		}
		next := rec.Clone()
		next.Metadata = md
		if len(md) == 0 {
			next.Metadata = nil
		}
		next.LastSeenAt = now
		return next, nil
	})
	var refused errChangeRefused
	if errors.As(err, &refused) {
		return nil, refused.err
	}
	if err != nil {
		return nil, fmt.Errorf("update session metadata: %w", err)
	}
	return &Session{Record: *rec}, nil
}

// errChangeRefused carries the error of a caller's change function through
// update unwrapped.
type errChangeRefused struct{ err error }

func (e errChangeRefused) Error() string { return e.err.Error() }

// updateAttempts bounds the compare-and-swap retries of update.
const updateAttempts = 16

// update reads the live record id, applies change and swaps the result in,
// retrying when a concurrent update wins, with a short random pause once
// contention shows. After updateAttempts lost races it gives up with an error
// matching ErrConflict, which callers may retry. The swap records an event
// of type ev; a refresh records one only when the session's last activity is
// at least TouchInterval old (throttled like the activity touch of Validate).
func (m *Manager) update(ctx context.Context, id string, ev EventType, change func(*Record, time.Time) (*Record, error)) (*Record, error) {
	for attempt := 1; ; attempt++ {
		now := m.now()
		rec, err := m.store.Get(ctx, id, now)
		if err != nil {
			return nil, err
		}
		next, err := change(rec, now)
		if err != nil {
			return nil, err
		}
		c := Change{Event: ev}
		if ev == EventRefreshed && now.Sub(rec.LastSeenAt) < m.opt.TouchInterval {
			c.Event = ""
		}
		err = m.store.Replace(m.change(ctx, c), rec, next, now)
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrExists) {
			if attempt == updateAttempts {
				return nil, fmt.Errorf("%w: the session changed %d times while being updated; retry", ErrConflict, attempt)
			}
			if attempt > 2 {
				if err := pause(ctx, attempt); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return next, nil
	}
}

// pause waits a random time that grows with the attempt (up to about 13 ms
// at the 16th), so that racing writers spread out.
func pause(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(50*time.Microsecond) << min(attempt, 8)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Invalidate ends the session a token names. It returns an error matching
// ErrNotFound if there was no live session to end.
func (m *Manager) Invalidate(ctx context.Context, token string) error {
	id, err := IDFromToken(token)
	if err != nil {
		return err
	}
	if _, err := m.store.Delete(m.change(ctx, Change{Cause: CauseLogout}), id, m.now()); err != nil {
		return fmt.Errorf("invalidate session: %w", err)
	}
	return nil
}

// InvalidateByID ends the session with the given id, for administrative use.
// It returns an error matching ErrNotFound if there was no live session.
func (m *Manager) InvalidateByID(ctx context.Context, id string) error {
	if _, err := ParseID(id); err != nil {
		return err
	}
	if _, err := m.store.Delete(m.change(ctx, Change{Cause: CauseAdmin}), id, m.now()); err != nil {
		return fmt.Errorf("invalidate session: %w", err)
	}
	return nil
}

// InvalidateUser ends every session of a user but the one with id except, if
// except is not empty (the "log out other devices" button), and returns how
// many live sessions it ended. An unknown user has none: the result is 0.
func (m *Manager) InvalidateUser(ctx context.Context, userID, except string) (int, error) {
	if err := CheckUserID(userID); err != nil {
		return 0, err
	}
	if except != "" {
		if _, err := ParseID(except); err != nil {
			return 0, invalid("except", "not a session id")
		}
	}
	cause := CauseRevokeAll
	if except != "" {
		cause = CauseRevokeOthers
	}
	n, err := m.store.DeleteUser(m.change(ctx, Change{Cause: cause}), userID, except, m.now())
	if err != nil {
		return 0, fmt.Errorf("invalidate user sessions: %w", err)
	}
	return n, nil
}

// UserSessions returns a user's live sessions, newest first, without tokens.
// An unknown user has none.
func (m *Manager) UserSessions(ctx context.Context, userID string) ([]*Session, error) {
	if err := CheckUserID(userID); err != nil {
		return nil, err
	}
	now := m.now()
	recs, err := m.store.ListUser(ctx, userID, now)
	if err != nil {
		return nil, fmt.Errorf("list user sessions: %w", err)
	}
	out := make([]*Session, 0, len(recs))
	for _, r := range recs {
		if r.Live(now) {
			out = append(out, &Session{Record: *r})
		}
	}
	slices.SortFunc(out, func(a, b *Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Cleanup removes expired sessions from every index and returns how many it
// removed. It works in bounded batches and is safe to run from many processes
// at once.
func (m *Manager) Cleanup(ctx context.Context) (int, error) {
	n, err := m.store.Cleanup(m.change(ctx, Change{}), m.now())
	if err != nil {
		return n, fmt.Errorf("cleanup: %w", err)
	}
	return n, nil
}

// Stats are session statistics.
type Stats struct {
	Total       int64 // sessions in the indexes, live or expired
	Active      int64 // live sessions
	Expired     int64 // expired sessions not yet removed by Cleanup
	Users       int64 // users with at least one session in the index
	Created     int64 // sessions created, ever
	Invalidated int64 // sessions ended by Invalidate, InvalidateByID or InvalidateUser
	Evicted     int64 // sessions ended by the per-user limit
	MemoryUsed  int64 // store memory in use, in bytes (0 when unknown)
	MemoryMax   int64 // store memory limit, in bytes (0 when none)

	// With events on (EventsEnabled): the entries of the event log (an entry
	// is a change: one event or several), the ended sessions whose reason is
	// remembered, and the memory of each, in bytes (estimates).
	EventEntries    int64
	EventBytes      int64
	Revocations     int64
	RevocationBytes int64
}

// MemoryRatio is MemoryUsed/MemoryMax, or 0 when there is no limit.
func (s Stats) MemoryRatio() float64 {
	if s.MemoryMax <= 0 {
		return 0
	}
	return float64(s.MemoryUsed) / float64(s.MemoryMax)
}

// Stats returns session statistics. Its cost does not depend on the number of
// sessions.
func (m *Manager) Stats(ctx context.Context) (Stats, error) {
	st, err := m.store.Stats(ctx, m.now())
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	return Stats{
		Total: st.Total, Active: st.Total - st.Expired, Expired: st.Expired,
		Users: st.Users, Created: st.Created, Invalidated: st.Invalidated, Evicted: st.Evicted,
		MemoryUsed: st.MemoryUsed, MemoryMax: st.MemoryMax,
		EventEntries: st.EventEntries, EventBytes: st.EventBytes,
		Revocations: st.Revocations, RevocationBytes: st.RevocationBytes,
	}, nil
}

// Ping checks that the store answers.
func (m *Manager) Ping(ctx context.Context) error { return m.store.Ping(ctx) }

// ended turns the not-found error of a validation into an *EndedError when
// the store remembers why the session ended; other errors, and not-found
// errors the store knows nothing more of, are returned as they are.
func (m *Manager) ended(ctx context.Context, id string, now time.Time, err error) error {
	if m.events == nil || !errors.Is(err, ErrNotFound) {
		return err
	}
	reason, rerr := m.events.EndReason(ctx, id, now)
	if rerr != nil || reason == "" {
		return err // the reason is a courtesy: its lookup failing changes nothing
	}
	return &EndedError{Reason: reason}
}
