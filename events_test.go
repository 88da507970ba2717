package sessiondb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/memstore"
)

// TestFollowEvents: FollowEvents from EventsNow yields the changes made
// after it, in order and filtered, waits for more once caught up, and ends
// with ctx's error when ctx is done.
func TestFollowEvents(t *testing.T) {
	st, err := memstore.NewWithOptions(memstore.Options{Events: &sessiondb.EventOptions{}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := sessiondb.New(st, sessiondb.Options{MaxSessionsPerUser: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.Create(ctx, "alice", time.Hour, nil); err != nil { // before the follower starts
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the log's clock passes that change
	since := m.EventsNow()

	followCtx, stop := context.WithCancel(ctx)
	type got struct {
		ev  sessiondb.Event
		err error
	}
	events := make(chan got)
	go func() {
		defer close(events)
		for ev, err := range m.FollowEvents(followCtx, since, sessiondb.EventFilter{UserID: "alice"}, 10*time.Millisecond) {
			events <- got{ev, err}
		}
	}()
	next := func() got {
		t.Helper()
		select {
		case g := <-events:
			return g
		case <-ctx.Done():
			t.Fatal("no event from FollowEvents within 10 s")
			return got{}
		}
	}

	a, err := m.Create(ctx, "alice", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, "bob", time.Hour, nil); err != nil { // filtered out
		t.Fatal(err)
	}
	if g := next(); g.err != nil || g.ev.Type != sessiondb.EventCreated || g.ev.SessionID != a.ID {
		t.Fatalf("first event = %+v, %v; want alice's create of %s", g.ev, g.err, a.ID)
	}
	// Caught up, it waits; a later change still arrives.
	time.Sleep(50 * time.Millisecond)
	if err := m.Invalidate(ctx, string(a.Token)); err != nil {
		t.Fatal(err)
	}
	if g := next(); g.err != nil || g.ev.Type != sessiondb.EventInvalidated || g.ev.Cause != sessiondb.CauseLogout || g.ev.SessionID != a.ID {
		t.Fatalf("second event = %+v, %v; want the logout of %s", g.ev, g.err, a.ID)
	}

	stop()
	if g := next(); !errors.Is(g.err, context.Canceled) {
		t.Fatalf("after cancel: %+v, %v; want context.Canceled", g.ev, g.err)
	}
	if g, ok := <-events; ok {
		t.Fatalf("FollowEvents went on after ctx's error: %+v, %v", g.ev, g.err)
	}
}

// TestFollowEventsRefuses: a store without events, a bad cursor or a bad
// filter end FollowEvents at once with the error.
func TestFollowEventsRefuses(t *testing.T) {
	off, err := sessiondb.New(memstore.New(), sessiondb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := memstore.NewWithOptions(memstore.Options{Events: &sessiondb.EventOptions{}})
	if err != nil {
		t.Fatal(err)
	}
	on, err := sessiondb.New(st, sessiondb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		m     *sessiondb.Manager
		since string
		f     sessiondb.EventFilter
		want  error
	}{
		{"events off", off, "", sessiondb.EventFilter{}, sessiondb.ErrEventsOff},
		{"bad since", on, "yesterday", sessiondb.EventFilter{}, sessiondb.ErrInvalidArgument},
		{"bad type", on, "", sessiondb.EventFilter{Types: []sessiondb.EventType{"login"}}, sessiondb.ErrInvalidArgument},
	} {
		n := 0
		for _, err := range tc.m.FollowEvents(context.Background(), tc.since, tc.f, 0) {
			n++
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		if n != 1 {
			t.Errorf("%s: %d yields, want the one error", tc.name, n)
		}
	}
}
