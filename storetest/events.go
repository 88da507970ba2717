package storetest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
)

// EventStoreMaker makes a new, empty store that records events with the
// given options (sessiondb.EventLog).
type EventStoreMaker func(tb testing.TB, opt sessiondb.EventOptions) sessiondb.Store

// RunEvents runs the event log's conformance suite: every change records
// its events, and only its events, with the right fields; readers resume
// from any cursor without skipping; retention holds by count and by age;
// Validate tells why a session ended; and under a concurrent mixed load the
// events rebuild every user's sessions exactly.
func RunEvents(t *testing.T, newStore EventStoreMaker) {
	tests := []struct {
		name string
		ev   sessiondb.EventOptions
		opt  sessiondb.Options
		fn   func(*env)
	}{
		{"Lifecycle", sessiondb.EventOptions{}, sessiondb.Options{MaxSessionsPerUser: 3}, testEventsLifecycle},
		{"Resume", sessiondb.EventOptions{}, sessiondb.Options{MaxSessionsPerUser: -1}, testEventsResume},
		{"Filters", sessiondb.EventOptions{}, sessiondb.Options{}, testEventsFilters},
		{"EndReasons", sessiondb.EventOptions{RevocationMemory: time.Hour}, sessiondb.Options{MaxSessionsPerUser: 1}, testEventsEndReasons},
		{"RetentionCount", sessiondb.EventOptions{MaxLen: 3 * sessiondb.Buckets}, sessiondb.Options{MaxSessionsPerUser: -1}, testEventsRetentionCount},
		{"RetentionAge", sessiondb.EventOptions{MaxAge: time.Hour}, sessiondb.Options{MaxSessionsPerUser: -1}, testEventsRetentionAge},
		{"Reconcile", sessiondb.EventOptions{}, sessiondb.Options{MaxSessionsPerUser: 3}, testEventsReconcile},
		{"ReconcileReject", sessiondb.EventOptions{}, sessiondb.Options{MaxSessionsPerUser: 2, LimitPolicy: sessiondb.PolicyReject}, testEventsReconcile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := tc.ev
			e := newEnv(t, func(tb testing.TB) sessiondb.Store { return newStore(tb, ev) }, tc.opt)
			if !e.m.EventsEnabled() {
				t.Fatal("the store records no events: the maker must return a store with events on")
			}
			tc.fn(e)
		})
	}
}

// allEvents reads the whole log from since. Stores return only final
// events (Redis: a change a settle time old by the server's clock), so it
// reads until two reads a moment apart agree, a bounded number of times.
func (e *env) allEvents(since string, f sessiondb.EventFilter) []sessiondb.Event {
	e.t.Helper()
	var prev []sessiondb.Event
	for attempt := 0; attempt < 200; attempt++ {
		var got []sessiondb.Event
		for ev, err := range e.m.Events(e.ctx, since, f) {
			if err != nil {
				e.t.Fatalf("Events(%q): %v", since, err)
			}
			got = append(got, ev)
		}
		if attempt > 0 && len(got) == len(prev) {
			return got
		}
		prev = got
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("the event log kept growing after the changes ended")
	return nil
}

// waitEvents reads the log from since until it holds at least n events.
func (e *env) waitEvents(since string, f sessiondb.EventFilter, n int) []sessiondb.Event {
	e.t.Helper()
	for attempt := 0; ; attempt++ {
		got := e.allEvents(since, f)
		if len(got) >= n || attempt == 10 {
			return got
		}
	}
}

type wantEvent struct {
	typ    sessiondb.EventType
	cause  sessiondb.Cause
	sid    string
	newSID string
	user   string
	actor  string
	md     map[string]string
}

// checkEvents checks the events against the changes that should have
// recorded them, change by change, user by user: the log orders each user's
// changes exactly, and changes of different users by time only. The events
// of one change share an entry (their ids differ only in the index), in any
// order.
func (e *env) checkEvents(got []sessiondb.Event, want [][]wantEvent) {
	e.t.Helper()
	users := make(map[string]bool)
	for _, w := range want {
		users[w[0].user] = true
	}
	for _, ev := range got {
		if !users[ev.UserID] {
			e.t.Fatalf("an event of user %q, who made no change:\n%s", ev.UserID, eventsText(got))
		}
	}
	for _, u := range slices.Sorted(maps.Keys(users)) {
		var g []sessiondb.Event
		for _, ev := range got {
			if ev.UserID == u {
				g = append(g, ev)
			}
		}
		var w [][]wantEvent
		for _, c := range want {
			if c[0].user == u {
				w = append(w, c)
			}
		}
		e.checkUserEvents(g, w)
	}
}

func (e *env) checkUserEvents(got []sessiondb.Event, want [][]wantEvent) {
	e.t.Helper()
	var groups [][]sessiondb.Event
	for i, ev := range got {
		if i > 0 && entryOf(ev.ID) == entryOf(got[i-1].ID) {
			groups[len(groups)-1] = append(groups[len(groups)-1], ev)
		} else {
			groups = append(groups, []sessiondb.Event{ev})
		}
	}
	if len(groups) != len(want) {
		e.t.Fatalf("%d changes recorded, want %d:\n%s", len(groups), len(want), eventsText(got))
	}
	for i, w := range want {
		g := slices.Clone(groups[i])
		w = slices.Clone(w)
		slices.SortFunc(g, func(a, b sessiondb.Event) int {
			return strings.Compare(string(a.Type)+a.SessionID, string(b.Type)+b.SessionID)
		})
		slices.SortFunc(w, func(a, b wantEvent) int { return strings.Compare(string(a.typ)+a.sid, string(b.typ)+b.sid) })
		if len(g) != len(w) {
			e.t.Fatalf("change %d recorded %d events, want %d:\n%s", i, len(g), len(w), eventsText(got))
		}
		for k := range w {
			if !w[k].matches(g[k]) {
				e.t.Fatalf("change %d: event %s\nwant %+v\nall:\n%s", i, eventText(g[k]), w[k], eventsText(got))
			}
		}
	}
}

func (w wantEvent) matches(g sessiondb.Event) bool {
	return g.Type == w.typ && g.Cause == w.cause && g.SessionID == w.sid && g.NewSessionID == w.newSID &&
		g.UserID == w.user && g.Actor == w.actor && maps.Equal(g.Metadata, w.md)
}

// entryOf is the entry part of an event id: all but the index.
func entryOf(id string) string { return id[:strings.LastIndexByte(id, '-')] }

func eventText(ev sessiondb.Event) string {
	return fmt.Sprintf("%s %s cause=%q session=%s new=%s user=%q actor=%q md=%v at %s",
		ev.ID, ev.Type, ev.Cause, ev.SessionID, ev.NewSessionID, ev.UserID, ev.Actor, ev.Metadata, ev.Time.Format(time.RFC3339Nano))
}

func eventsText(evs []sessiondb.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString("  " + eventText(ev) + "\n")
	}
	return b.String()
}

// checkOrder checks that ids are unique, strictly increasing and parse.
func (e *env) checkOrder(evs []sessiondb.Event) {
	e.t.Helper()
	var prev sessiondb.EventCursor
	for i, ev := range evs {
		c, err := sessiondb.ParseEventCursor(ev.ID)
		if err != nil || c.At || c.String() != ev.ID {
			e.t.Fatalf("event id %q: %v", ev.ID, err)
		}
		if i > 0 && c.Compare(prev) <= 0 {
			e.t.Fatalf("event %d (%s) is not after event %d (%s)", i, ev.ID, i-1, prev)
		}
		prev = c
	}
}
