package sessiondb

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"time"
)

// This file holds the Manager's event readers. Each is resumable: a reader
// that keeps the id of the last event it handled (or the Next of the last
// page) and starts again from it sees every later event, once, in order,
// and never skips one.

// EventFilter selects events. The zero value selects all.
type EventFilter struct {
	UserID string      // only this user's events
	Types  []EventType // only events of these types
}

func (f EventFilter) check() error {
	if f.UserID != "" {
		if err := CheckUserID(f.UserID); err != nil {
			return err
		}
	}
	for _, t := range f.Types {
		if _, err := ParseEventType(string(t)); err != nil {
			return err
		}
	}
	return nil
}

func (f EventFilter) match(e *Event) bool {
	return len(f.Types) == 0 || slices.Contains(f.Types, e.Type)
}

// EventPage is a page of events and where to read on.
type EventPage struct {
	// Events are the events read, oldest first.
	Events []Event
	// Next is the cursor to pass as since to read on: it is after every
	// event of the page and after the events the page passed over (those
	// the filter left out). It moves on even when the page is empty, as
	// time passes. Keep it (in a file, in Redis) to resume after a restart.
	Next string
	// More reports that more events are ready now: read again at once
	// rather than after a pause.
	More bool
}

// Limits of a page of events.
const (
	DefaultEventPageLimit = 100
	MaxEventPageLimit     = 1000
)

// storeReadsPerPage bounds the store reads of one ReadEvents when a type
// filter leaves most events out: the page then ends early with More set.
const storeReadsPerPage = 8

// EventsEnabled reports whether the manager's store records events.
func (m *Manager) EventsEnabled() bool { return m.events != nil }

// ReadEvents returns the events after since that f selects, oldest first, at
// most limit (0 means DefaultEventPageLimit; at most MaxEventPageLimit), and
// the cursor to read on from. since is "" (the oldest event kept), an event
// id or a Next (resume after it), a time in milliseconds since 1970 or in
// RFC 3339 (the events from then on). It returns ErrEventsOff when the store
// records no events, and an *InvalidArgumentError for a bad since, user id,
// type or limit.
//
// The log is ordered exactly per user (the order in which the user's changes
// were made) and across users by time: the time of the Redis server (or, in
// memory, of the process) that took the change, to the millisecond. Only
// final events are returned: an event is never added before a cursor a
// reader was given, so resuming from Next, or from the id of the last event
// handled, never skips an event. With Redis, a change is final once it is a
// second old by the clock of the server that took it (the settle time,
// redisstore.Options.EventSettle), so readers trail the changes by about
// that much. docs/events.md has the details.
func (m *Manager) ReadEvents(ctx context.Context, since string, f EventFilter, limit int) (EventPage, error) {
	if m.events == nil {
		return EventPage{}, ErrEventsOff
	}
	cur, err := ParseEventCursor(since)
	if err != nil {
		return EventPage{}, err
	}
	if err := f.check(); err != nil {
		return EventPage{}, err
	}
	switch {
	case limit == 0:
		limit = DefaultEventPageLimit
	case limit < 0 || limit > MaxEventPageLimit:
		return EventPage{}, invalid("limit", "want 1 to %d", MaxEventPageLimit)
	}
	return m.readEvents(ctx, cur, f, limit)
}

func (m *Manager) readEvents(ctx context.Context, cur EventCursor, f EventFilter, limit int) (EventPage, error) {
	var page EventPage
	for range storeReadsPerPage {
		evs, next, more, err := m.events.ReadEvents(ctx, cur, f.UserID, limit, m.now())
		if err != nil {
			return EventPage{}, fmt.Errorf("read events: %w", err)
		}
		for i := range evs {
			if !f.match(&evs[i]) {
				continue
			}
			page.Events = append(page.Events, evs[i])
			if len(page.Events) == limit && i < len(evs)-1 {
				// Full before the end of what the store returned: resume
				// after this event.
				c, _ := ParseEventCursor(evs[i].ID)
				page.Next, page.More = c.String(), true
				return page, nil
			}
		}
		if next.Compare(cur) > 0 {
			cur = next
		}
		page.Next, page.More = cur.String(), more
		if !more || len(page.Events) == limit {
			return page, nil
		}
	}
	return page, nil
}

// eventBatch is the page size of the iterators.
const eventBatch = 500

// Events returns the events after since that f selects, oldest first, as
// they are now: the sequence ends with the last final event (see
// ReadEvents for since, the order and finality). An error ends the
// sequence. To resume later, keep the ID of the last event handled.
func (m *Manager) Events(ctx context.Context, since string, f EventFilter) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		cur, err := m.startEvents(since, f)
		if err != nil {
			yield(Event{}, err)
			return
		}
		for {
			page, err := m.readEvents(ctx, cur, f, eventBatch)
			if err != nil {
				yield(Event{}, err)
				return
			}
			for _, e := range page.Events {
				if !yield(e, nil) {
					return
				}
			}
			if !page.More {
				return
			}
			cur, _ = ParseEventCursor(page.Next)
		}
	}
}

// DefaultEventPoll is how often FollowEvents looks for new events when it
// has caught up.
const DefaultEventPoll = 500 * time.Millisecond

// FollowEvents is Events that does not end: once caught up it looks for new
// events every poll (0 means DefaultEventPoll) until ctx is done, when it
// yields ctx's error and ends. A store error is yielded too; if the loop
// goes on, FollowEvents tries again after poll, from where it was.
func (m *Manager) FollowEvents(ctx context.Context, since string, f EventFilter, poll time.Duration) iter.Seq2[Event, error] {
	if poll <= 0 {
		poll = DefaultEventPoll
	}
	return func(yield func(Event, error) bool) {
		cur, err := m.startEvents(since, f)
		if err != nil {
			yield(Event{}, err)
			return
		}
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				yield(Event{}, ctx.Err())
				return
			case <-t.C:
			}
			page, err := m.readEvents(ctx, cur, f, eventBatch)
			if err != nil {
				if ctx.Err() != nil {
					yield(Event{}, ctx.Err())
					return
				}
				if !yield(Event{}, err) {
					return
				}
				t.Reset(poll)
				continue
			}
			for _, e := range page.Events {
				if !yield(e, nil) {
					return
				}
			}
			cur, _ = ParseEventCursor(page.Next)
			if page.More {
				t.Reset(0)
			} else {
				t.Reset(poll)
			}
		}
	}
}

func (m *Manager) startEvents(since string, f EventFilter) (EventCursor, error) {
	if m.events == nil {
		return EventCursor{}, ErrEventsOff
	}
	cur, err := ParseEventCursor(since)
	if err != nil {
		return cur, err
	}
	return cur, f.check()
}

// EventsNow returns the cursor of the present: reading from it returns only
// events made from now on (more exactly, from the moment the log's clock
// passes the present). Followers that want only new events start there.
func (m *Manager) EventsNow() string {
	return EventCursor{Millis: m.now().UnixMilli(), At: true}.String()
}
