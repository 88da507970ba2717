package storetest

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/memstore"
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

func testEventsLifecycle(e *env) {
	ctx := sessiondb.WithActor(e.ctx, "frontend")
	md := map[string]string{"ip": "192.0.2.10", "user_agent": "Mozilla/5.0", "tenant": "acme"}
	start := e.clock.Now()
	a, err := e.m.Create(ctx, "alice", time.Hour, md)
	if err != nil {
		e.t.Fatal(err)
	}
	// A validation, and a touch of the last-seen time, record nothing; a
	// refresh within TouchInterval of the last activity neither.
	e.valid(a.Token)
	e.clock.Advance(2 * time.Minute)
	e.valid(a.Token) // touches
	if _, err := e.m.Refresh(e.ctx, string(a.Token), 0); err != nil {
		e.t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	if _, err := e.m.Refresh(e.ctx, string(a.Token), 0); err != nil { // recorded
		e.t.Fatal(err)
	}
	if _, err := e.m.UpdateMetadata(e.ctx, string(a.Token), func(m map[string]string) error {
		delete(m, "tenant")
		m["role"] = "admin"
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	r, err := e.m.Rotate(ctx, string(a.Token))
	if err != nil {
		e.t.Fatal(err)
	}
	b := e.create("alice", time.Hour, nil)
	c := e.create("alice", time.Hour, nil)
	x := e.create("alice", time.Hour, nil) // the limit is 3: evicts r, the oldest
	if err := e.m.Invalidate(ctx, string(b.Token)); err != nil {
		e.t.Fatal(err)
	}
	if err := e.m.InvalidateByID(sessiondb.WithActor(e.ctx, "ops"), c.ID); err != nil {
		e.t.Fatal(err)
	}
	// Unknown or repeated calls change nothing and record nothing.
	if err := e.m.Invalidate(ctx, string(b.Token)); !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Fatalf("second Invalidate = %v", err)
	}
	if _, err := e.m.Rotate(ctx, string(a.Token)); !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Fatalf("Rotate(old token) = %v", err)
	}
	d := e.create("bob", time.Hour, nil)
	f := e.create("bob", time.Hour, nil)
	g := e.create("bob", time.Minute, nil)
	if n, err := e.m.InvalidateUser(ctx, "bob", f.ID); err != nil || n != 2 {
		e.t.Fatalf("InvalidateUser(except) = %d, %v", n, err)
	}
	if n, err := e.m.InvalidateUser(ctx, "bob", ""); err != nil || n != 1 {
		e.t.Fatalf("InvalidateUser = %d, %v", n, err)
	}
	h := e.create("carol", time.Minute, map[string]string{"device": "phone"})
	e.clock.Advance(time.Minute)
	if n, err := e.m.Cleanup(e.ctx); err != nil || n != 1 {
		e.t.Fatalf("Cleanup = %d, %v", n, err)
	}
	// A restore records restored.
	if ok, err := e.store.Restore(sessiondb.WithActor(e.ctx, "restore-job"), &b.Record, e.clock.Now()); err != nil || !ok {
		e.t.Fatalf("Restore = %v, %v", ok, err)
	}

	got := e.allEvents("", sessiondb.EventFilter{})
	e.checkOrder(got)
	lib := sessiondb.ActorLibrary
	w := func(typ sessiondb.EventType, s *sessiondb.Session, actor string) wantEvent {
		return wantEvent{typ: typ, sid: s.ID, user: s.UserID, actor: actor}
	}
	inv := func(cause sessiondb.Cause, s *sessiondb.Session, actor string) wantEvent {
		return wantEvent{typ: sessiondb.EventInvalidated, cause: cause, sid: s.ID, user: s.UserID, actor: actor}
	}
	withMD := func(x wantEvent, md map[string]string) wantEvent { x.md = md; return x }
	rot := w(sessiondb.EventRotated, a, "frontend")
	rot.newSID = r.ID
	e.checkEvents(got, [][]wantEvent{
		{withMD(w(sessiondb.EventCreated, a, "frontend"), md)},
		{w(sessiondb.EventRefreshed, a, lib)},
		{withMD(w(sessiondb.EventUpdated, a, lib), map[string]string{"ip": "192.0.2.10", "user_agent": "Mozilla/5.0", "role": "admin"})},
		{rot},
		{w(sessiondb.EventCreated, b, lib)},
		{w(sessiondb.EventCreated, c, lib)},
		{w(sessiondb.EventCreated, x, lib), w(sessiondb.EventEvicted, r, lib)},
		{inv(sessiondb.CauseLogout, b, "frontend")},
		{inv(sessiondb.CauseAdmin, c, "ops")},
		{w(sessiondb.EventCreated, d, lib)},
		{w(sessiondb.EventCreated, f, lib)},
		{w(sessiondb.EventCreated, g, lib)},
		{inv(sessiondb.CauseRevokeOthers, d, "frontend"), inv(sessiondb.CauseRevokeOthers, g, "frontend")},
		{inv(sessiondb.CauseRevokeAll, f, "frontend")},
		{withMD(w(sessiondb.EventCreated, h, lib), map[string]string{"device": "phone"})},
		{w(sessiondb.EventExpired, h, lib)},
		{w(sessiondb.EventRestored, b, "restore-job")},
	})
	if want := start.Truncate(time.Millisecond).UTC(); !got[0].Time.Equal(want) || got[0].Time.Location() != time.UTC {
		e.t.Fatalf("the first event's time is %v, want %v (the clock at the change, in UTC)", got[0].Time, want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].UserID == got[i-1].UserID && got[i].Time.Before(got[i-1].Time) {
			e.t.Fatalf("event %d's time %v is before event %d's %v: the clock only moves forward here", i, got[i].Time, i-1, got[i-1].Time)
		}
	}
	// No token is in the log.
	text := fmt.Sprintf("%+v", got)
	for _, tok := range []sessiondb.Token{a.Token, r.Token, b.Token, c.Token, x.Token, d.Token, f.Token, g.Token, h.Token} {
		if strings.Contains(text, string(tok)) || strings.Contains(text, string(tok)[4:20]) {
			e.t.Fatal("an event holds a token")
		}
	}
	// Stats count the log.
	if st := e.stats(); st.EventEntries != 17 || st.EventBytes <= 0 {
		e.t.Fatalf("Stats: %d event entries (%d bytes), want 17 (and some bytes)", st.EventEntries, st.EventBytes)
	}
}

func testEventsResume(e *env) {
	var sessions []*sessiondb.Session
	for i := range 30 {
		sessions = append(sessions, e.create(fmt.Sprintf("res-%d", i%6), time.Hour, map[string]string{"n": fmt.Sprint(i)}))
		if i%4 == 3 {
			if err := e.m.Invalidate(e.ctx, string(sessions[i-1].Token)); err != nil {
				e.t.Fatal(err)
			}
		}
		if i%10 == 9 {
			e.clock.Advance(time.Second)
		}
	}
	all := e.allEvents("", sessiondb.EventFilter{})
	if len(all) != 37 {
		e.t.Fatalf("%d events, want 37 (30 created, 7 invalidated)", len(all))
	}
	e.checkOrder(all)
	ids := func(evs []sessiondb.Event) string {
		var b strings.Builder
		for _, ev := range evs {
			b.WriteString(ev.ID + " ")
		}
		return b.String()
	}

	// Pages of every size, each read from the previous page's Next.
	for _, limit := range []int{1, 2, 5, 36, 37, 1000} {
		var got []sessiondb.Event
		since := ""
		for pages := 0; ; pages++ {
			if pages > 100 {
				e.t.Fatalf("limit %d: more than 100 pages", limit)
			}
			p, err := e.m.ReadEvents(e.ctx, since, sessiondb.EventFilter{}, limit)
			if err != nil {
				e.t.Fatalf("ReadEvents(%q, %d): %v", since, limit, err)
			}
			if len(p.Events) > limit {
				e.t.Fatalf("ReadEvents(limit %d) returned %d events", limit, len(p.Events))
			}
			got = append(got, p.Events...)
			if p.Next == "" {
				e.t.Fatal("a page without Next")
			}
			since = p.Next
			if !p.More {
				break
			}
		}
		if ids(got) != ids(all) {
			e.t.Fatalf("pages of %d:\n%s\nwant\n%s", limit, ids(got), ids(all))
		}
		// Nothing new since the last Next.
		if p, err := e.m.ReadEvents(e.ctx, since, sessiondb.EventFilter{}, limit); err != nil || len(p.Events) != 0 || p.More {
			e.t.Fatalf("ReadEvents(last Next) = %d events, more %v, %v; want none", len(p.Events), p.More, err)
		}
	}

	// Resuming after any event gives the events after it.
	for k := range all {
		var got []sessiondb.Event
		for ev, err := range e.m.Events(e.ctx, all[k].ID, sessiondb.EventFilter{}) {
			if err != nil {
				e.t.Fatal(err)
			}
			got = append(got, ev)
		}
		if ids(got) != ids(all[k+1:]) {
			e.t.Fatalf("Events(after %s):\n%s\nwant\n%s", all[k].ID, ids(got), ids(all[k+1:]))
		}
	}

	// From a time: the events whose id is at or after that millisecond.
	c, _ := sessiondb.ParseEventCursor(all[20].ID)
	from := 0
	for from < len(all) {
		d, _ := sessiondb.ParseEventCursor(all[from].ID)
		if d.Millis >= c.Millis {
			break
		}
		from++
	}
	for _, since := range []string{fmt.Sprint(c.Millis), time.UnixMilli(c.Millis).UTC().Format(time.RFC3339Nano)} {
		p, err := e.m.ReadEvents(e.ctx, since, sessiondb.EventFilter{}, 1000)
		if err != nil || ids(p.Events) != ids(all[from:]) {
			e.t.Fatalf("ReadEvents(since %s) = %s, %v\nwant %s", since, ids(p.Events), err, ids(all[from:]))
		}
	}

	// New changes after a Next are read from it, and only they.
	p, err := e.m.ReadEvents(e.ctx, "", sessiondb.EventFilter{}, 1000)
	if err != nil || p.More {
		e.t.Fatalf("ReadEvents = more %v, %v", p.More, err)
	}
	late := e.create("res-late", time.Hour, nil)
	got := e.allEvents(p.Next, sessiondb.EventFilter{})
	if len(got) != 1 || got[0].SessionID != late.ID {
		e.t.Fatalf("after Next: %s, want the one create", eventsText(got))
	}

	// Bad cursors and limits are refused.
	var ia *sessiondb.InvalidArgumentError
	for _, since := range []string{"x", "1-2", "1-2-3", "1-2-zzz-0", "1-2-400-0", "-1", "1-2-03-0", "1-+2-003-0", "2024-13-01T00:00:00Z"} {
		if _, err := e.m.ReadEvents(e.ctx, since, sessiondb.EventFilter{}, 10); !errors.As(err, &ia) || ia.Field != "since" {
			e.t.Errorf("ReadEvents(since %q) = %v, want an InvalidArgumentError on since", since, err)
		}
	}
	for _, limit := range []int{-1, sessiondb.MaxEventPageLimit + 1} {
		if _, err := e.m.ReadEvents(e.ctx, "", sessiondb.EventFilter{}, limit); !errors.As(err, &ia) || ia.Field != "limit" {
			e.t.Errorf("ReadEvents(limit %d) = %v, want an InvalidArgumentError on limit", limit, err)
		}
	}
	if p, err := e.m.ReadEvents(e.ctx, "", sessiondb.EventFilter{}, 0); err != nil || len(p.Events) != sessiondb.DefaultEventPageLimit && len(p.Events) != len(all)+1 {
		e.t.Fatalf("ReadEvents(limit 0) = %d events, %v", len(p.Events), err)
	}
}

func testEventsFilters(e *env) {
	for i := range 12 {
		s := e.create(fmt.Sprintf("flt-%d", i%3), time.Hour, nil)
		switch i % 4 {
		case 1:
			if err := e.m.Invalidate(e.ctx, string(s.Token)); err != nil {
				e.t.Fatal(err)
			}
		case 2:
			if _, err := e.m.Rotate(e.ctx, string(s.Token)); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	all := e.allEvents("", sessiondb.EventFilter{})
	filter := func(f func(sessiondb.Event) bool) []sessiondb.Event {
		var out []sessiondb.Event
		for _, ev := range all {
			if f(ev) {
				out = append(out, ev)
			}
		}
		return out
	}
	same := func(a, b []sessiondb.Event) bool {
		return slices.EqualFunc(a, b, func(x, y sessiondb.Event) bool { return x.ID == y.ID })
	}
	for _, f := range []sessiondb.EventFilter{
		{UserID: "flt-1"},
		{Types: []sessiondb.EventType{sessiondb.EventInvalidated}},
		{Types: []sessiondb.EventType{sessiondb.EventRotated, sessiondb.EventCreated}},
		{UserID: "flt-2", Types: []sessiondb.EventType{sessiondb.EventCreated}},
		{UserID: "nobody"},
	} {
		want := filter(func(ev sessiondb.Event) bool {
			return (f.UserID == "" || ev.UserID == f.UserID) && (len(f.Types) == 0 || slices.Contains(f.Types, ev.Type))
		})
		if got := e.allEvents("", f); !same(got, want) {
			e.t.Fatalf("filter %+v:\n%s\nwant\n%s", f, eventsText(got), eventsText(want))
		}
		// Page by page, resuming from Next.
		var got []sessiondb.Event
		since := ""
		for range 50 {
			p, err := e.m.ReadEvents(e.ctx, since, f, 2)
			if err != nil {
				e.t.Fatal(err)
			}
			got = append(got, p.Events...)
			since = p.Next
			if !p.More {
				break
			}
		}
		if !same(got, want) {
			e.t.Fatalf("filter %+v, pages of 2:\n%s\nwant\n%s", f, eventsText(got), eventsText(want))
		}
	}
	var ia *sessiondb.InvalidArgumentError
	if _, err := e.m.ReadEvents(e.ctx, "", sessiondb.EventFilter{Types: []sessiondb.EventType{"logged_in"}}, 10); !errors.As(err, &ia) || ia.Field != "type" {
		e.t.Fatalf("ReadEvents(type logged_in) = %v, want an InvalidArgumentError on type", err)
	}
	if _, err := e.m.ReadEvents(e.ctx, "", sessiondb.EventFilter{UserID: "bad\x00user"}, 10); !errors.As(err, &ia) || ia.Field != "user_id" {
		e.t.Fatalf("ReadEvents(bad user) = %v, want an InvalidArgumentError on user_id", err)
	}
}

// endedAs checks that validating tok fails with ErrNotFound and, when want
// is not "", with an *EndedError of that reason (and without one when it is).
func (e *env) endedAs(tok sessiondb.Token, want sessiondb.EndReason) {
	e.t.Helper()
	_, err := e.m.Validate(e.ctx, string(tok))
	if !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Fatalf("Validate = %v, want ErrNotFound", err)
	}
	var ended *sessiondb.EndedError
	switch ok := errors.As(err, &ended); {
	case want == "" && ok:
		e.t.Fatalf("Validate = %v, want no reason", err)
	case want != "" && (!ok || ended.Reason != want):
		e.t.Fatalf("Validate = %v, want the reason %q", err, want)
	}
}

func testEventsEndReasons(e *env) {
	a := e.create("why", time.Hour, nil)
	e.clock.Advance(time.Millisecond)
	b := e.create("why", time.Hour, nil) // the limit is 1: evicts a
	e.endedAs(a.Token, sessiondb.EndEvicted)
	r, err := e.m.Rotate(e.ctx, string(b.Token))
	if err != nil {
		e.t.Fatal(err)
	}
	e.endedAs(b.Token, sessiondb.EndRotated)
	if err := e.m.Invalidate(e.ctx, string(r.Token)); err != nil {
		e.t.Fatal(err)
	}
	e.endedAs(r.Token, sessiondb.EndRevoked)
	c := e.create("why-not", time.Minute, nil)
	d := e.create("why-else", time.Hour, nil)
	if n, err := e.m.InvalidateUser(e.ctx, "why-else", ""); err != nil || n != 1 {
		e.t.Fatalf("InvalidateUser = %d, %v", n, err)
	}
	e.endedAs(d.Token, sessiondb.EndRevoked)
	e.clock.Advance(time.Minute)
	if n, err := e.m.Cleanup(e.ctx); err != nil || n != 1 {
		e.t.Fatalf("Cleanup = %d, %v", n, err)
	}
	e.endedAs(c.Token, sessiondb.EndExpired)
	// A live session validates; a token this store never saw, or a
	// malformed one, is not found without a reason.
	live := e.create("why-live", 3*time.Hour, nil)
	e.valid(live.Token)
	other, err := sessiondb.New(memstore.New(), sessiondb.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	stranger, err := other.Create(e.ctx, "why", time.Hour, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.endedAs(stranger.Token, "")
	e.endedAs("sdb_nonsense", "")
	if st := e.stats(); st.Revocations != 5 || st.RevocationBytes <= 0 {
		e.t.Fatalf("Stats: %d revocations remembered (%d bytes), want 5", st.Revocations, st.RevocationBytes)
	}
	// The memory is an hour here: then the reasons are forgotten, and
	// Cleanup drops them.
	e.clock.Advance(time.Hour)
	e.endedAs(b.Token, "")
	e.endedAs(c.Token, sessiondb.EndExpired) // ended a minute later
	e.clock.Advance(time.Minute)
	e.endedAs(c.Token, "")
	if _, err := e.m.Cleanup(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	if st := e.stats(); st.Revocations != 0 {
		e.t.Fatalf("Stats after the memory passed and Cleanup: %d revocations remembered, want 0", st.Revocations)
	}
}

func testEventsRetentionCount(e *env) {
	// Three entries a bucket here.
	var toks []sessiondb.Token
	for range 5 {
		toks = append(toks, e.create("ret", time.Hour, nil).Token)
	}
	got := e.waitEvents("", sessiondb.EventFilter{UserID: "ret"}, 3)
	if len(got) != 3 {
		e.t.Fatalf("%d events kept of one user's 5 creates, want the last 3:\n%s", len(got), eventsText(got))
	}
	for i, ev := range got {
		if id, _ := sessiondb.IDFromToken(string(toks[i+2])); ev.SessionID != id {
			e.t.Fatalf("kept %s, want the last three creates", eventsText(got))
		}
	}
	// Many users: each bucket keeps its last three entries.
	perBucket := make(map[int]int)
	perBucket[sessiondb.UserShard("ret").Bucket] = 5
	for i := range 200 {
		u := fmt.Sprintf("ret-%d", i%50)
		e.create(u, time.Hour, nil)
		perBucket[sessiondb.UserShard(u).Bucket]++
	}
	want := 0
	for _, n := range perBucket {
		want += min(n, 3)
	}
	if got := e.allEvents("", sessiondb.EventFilter{}); len(got) != want {
		e.t.Fatalf("%d events kept, want %d (three a bucket)", len(got), want)
	}
	if st := e.stats(); st.EventEntries != int64(want) {
		e.t.Fatalf("Stats: %d event entries, want %d", st.EventEntries, want)
	}
}

func testEventsRetentionAge(e *env) {
	// MaxAge is an hour here; ages are judged by the clock of the change.
	for range 3 {
		e.create("old", time.Hour*3, nil)
	}
	e.clock.Advance(30 * time.Minute)
	var recent []string
	for range 2 {
		recent = append(recent, e.create("old", time.Hour*3, nil).ID)
	}
	if got := e.waitEvents("", sessiondb.EventFilter{}, 5); len(got) != 5 {
		e.t.Fatalf("%d events, want 5", len(got))
	}
	e.clock.Advance(31 * time.Minute)
	check := func() {
		e.t.Helper()
		got := e.allEvents("", sessiondb.EventFilter{})
		if len(got) != 2 || got[0].SessionID != recent[0] || got[1].SessionID != recent[1] {
			e.t.Fatalf("events younger than an hour:\n%s\nwant the last two creates", eventsText(got))
		}
	}
	check()
	if _, err := e.m.Cleanup(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	check()
}

// reconcileCounts are the changes the workers of testEventsReconcile saw
// succeed, by event type and cause.
type reconcileCounts map[string]int

func (c reconcileCounts) key(t sessiondb.EventType, cause sessiondb.Cause) string {
	return string(t) + "/" + string(cause)
}

func testEventsReconcile(e *env) {
	// Bounded concurrent mixed load: creates past the limit (evicting, or
	// refused under reject), rotations, refreshes, metadata updates,
	// logouts, revocations by id, of all and of other sessions, and cleanup
	// while the clock moves on. Then the events must rebuild every user's
	// sessions exactly, and their counts match the changes made.
	const workers, rounds, users = 6, 80, 7
	var mu sync.Mutex
	counts := reconcileCounts{}
	count := func(t sessiondb.EventType, cause sessiondb.Cause, n int) {
		mu.Lock()
		counts[counts.key(t, cause)] += n
		mu.Unlock()
	}
	ok := func(err error) bool {
		if err != nil && !errors.Is(err, sessiondb.ErrNotFound) && !errors.Is(err, sessiondb.ErrSessionLimit) {
			e.t.Errorf("unexpected error: %v", err)
		}
		return err == nil
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			ctx := sessiondb.WithActor(e.ctx, fmt.Sprintf("worker-%d", w))
			var held []*sessiondb.Session
			pick := func() (*sessiondb.Session, int) {
				if len(held) == 0 {
					return nil, -1
				}
				i := rng.IntN(len(held))
				return held[i], i
			}
			for range rounds {
				user := fmt.Sprintf("rec-%d", rng.IntN(users))
				s, i := pick()
				switch op := rng.IntN(12); {
				case op < 4 || s == nil:
					ttl := 10 * time.Hour
					if op%2 == 0 {
						ttl = time.Minute
					}
					n, err := e.m.Create(ctx, user, ttl, map[string]string{"ip": "203.0.113.7", "w": fmt.Sprint(w)})
					if ok(err) {
						count(sessiondb.EventCreated, "", 1)
						held = append(held, n)
					}
				case op == 4:
					r, err := e.m.Rotate(ctx, string(s.Token))
					if ok(err) {
						count(sessiondb.EventRotated, "", 1)
						held[i] = r
					}
				case op == 5:
					if ok(e.m.Invalidate(ctx, string(s.Token))) {
						count(sessiondb.EventInvalidated, sessiondb.CauseLogout, 1)
					}
				case op == 6:
					if ok(e.m.InvalidateByID(ctx, s.ID)) {
						count(sessiondb.EventInvalidated, sessiondb.CauseAdmin, 1)
					}
				case op == 7:
					n, err := e.m.InvalidateUser(ctx, s.UserID, s.ID)
					if ok(err) {
						count(sessiondb.EventInvalidated, sessiondb.CauseRevokeOthers, n)
					}
				case op == 8:
					n, err := e.m.InvalidateUser(ctx, user, "")
					if ok(err) {
						count(sessiondb.EventInvalidated, sessiondb.CauseRevokeAll, n)
					}
				case op == 9:
					_, err := e.m.UpdateMetadata(ctx, string(s.Token), func(md map[string]string) error {
						md["seen"] = fmt.Sprint(rng.IntN(100))
						return nil
					})
					if ok(err) {
						count(sessiondb.EventUpdated, "", 1)
					}
				case op == 10:
					ok2 := ok
					if _, err := e.m.Refresh(ctx, string(s.Token), 0); !ok2(err) {
						break
					}
					_, err := e.m.Validate(ctx, string(s.Token))
					ok(err)
				default:
					if w == 0 {
						e.clock.Advance(20 * time.Second)
					}
					_, err := e.m.Cleanup(ctx)
					ok(err)
				}
			}
		})
	}
	wg.Wait()
	if e.t.Failed() {
		return
	}
	// The short sessions expire (a few more make sure there are some);
	// Cleanup takes them out of the indexes.
	for u := range 3 {
		user := fmt.Sprintf("rec-%d", u)
		n, err := e.m.InvalidateUser(e.ctx, user, "") // room under the reject policy
		if err != nil {
			e.t.Fatal(err)
		}
		count(sessiondb.EventInvalidated, sessiondb.CauseRevokeAll, n)
		e.create(user, time.Minute, nil)
		count(sessiondb.EventCreated, "", 1)
	}
	e.clock.Advance(2 * time.Minute)
	if _, err := e.m.Cleanup(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	st := e.stats()
	var all []sessiondb.Event
	for attempt := 0; ; attempt++ {
		all = e.allEvents("", sessiondb.EventFilter{})
		n := 0
		for _, ev := range all {
			if ev.Type == sessiondb.EventCreated {
				n++
			}
		}
		if int64(n) >= st.Created || attempt == 10 {
			break
		}
	}
	e.checkOrder(all)

	// Rebuild every user's sessions from the events.
	sets := make(map[string]map[string]bool)
	got := reconcileCounts{}
	for _, ev := range all {
		if ev.Actor != sessiondb.ActorLibrary && !strings.HasPrefix(ev.Actor, "worker-") {
			e.t.Fatalf("event %s: unknown actor", eventText(ev))
		}
		got[got.key(ev.Type, ev.Cause)]++
		set := sets[ev.UserID]
		if set == nil {
			set = make(map[string]bool)
			sets[ev.UserID] = set
		}
		switch ev.Type {
		case sessiondb.EventCreated, sessiondb.EventRestored:
			if set[ev.SessionID] {
				e.t.Fatalf("event %s: the session exists already", eventText(ev))
			}
			set[ev.SessionID] = true
		case sessiondb.EventRotated:
			if !set[ev.SessionID] || set[ev.NewSessionID] {
				e.t.Fatalf("event %s: rotates a session that is not there, or to one that is", eventText(ev))
			}
			delete(set, ev.SessionID)
			set[ev.NewSessionID] = true
		case sessiondb.EventInvalidated, sessiondb.EventEvicted, sessiondb.EventExpired:
			if !set[ev.SessionID] {
				e.t.Fatalf("event %s: ends a session that is not there", eventText(ev))
			}
			delete(set, ev.SessionID)
		case sessiondb.EventRefreshed, sessiondb.EventUpdated:
			if !set[ev.SessionID] {
				e.t.Fatalf("event %s: changes a session that is not there", eventText(ev))
			}
		}
	}
	total := 0
	for u := range users {
		user := fmt.Sprintf("rec-%d", u)
		var have []string
		for id := range sets[user] {
			have = append(have, id)
		}
		slices.Sort(have)
		live := e.userIDs(user)
		slices.Sort(live)
		if !slices.Equal(have, live) {
			e.t.Fatalf("user %s: the events rebuild %v, the store holds %v", user, have, live)
		}
		total += len(live)
	}
	if int64(total) != st.Total || st.Total != st.Active {
		e.t.Fatalf("the events rebuild %d sessions; Stats = %+v", total, st)
	}
	// Counts by type and cause: those of the calls that succeeded, and the
	// store's counters.
	for _, k := range []string{
		counts.key(sessiondb.EventCreated, ""), counts.key(sessiondb.EventRotated, ""),
		counts.key(sessiondb.EventUpdated, ""),
		counts.key(sessiondb.EventInvalidated, sessiondb.CauseLogout), counts.key(sessiondb.EventInvalidated, sessiondb.CauseAdmin),
		counts.key(sessiondb.EventInvalidated, sessiondb.CauseRevokeAll), counts.key(sessiondb.EventInvalidated, sessiondb.CauseRevokeOthers),
	} {
		if got[k] != counts[k] {
			e.t.Errorf("%s: %d events, %d such changes made", k, got[k], counts[k])
		}
	}
	invalidated := 0
	for _, c := range []sessiondb.Cause{sessiondb.CauseLogout, sessiondb.CauseAdmin, sessiondb.CauseRevokeAll, sessiondb.CauseRevokeOthers} {
		invalidated += got[got.key(sessiondb.EventInvalidated, c)]
	}
	if int64(got[got.key(sessiondb.EventCreated, "")]) != st.Created || int64(invalidated) != st.Invalidated ||
		int64(got[got.key(sessiondb.EventEvicted, "")]) != st.Evicted {
		e.t.Errorf("events: %d created, %d invalidated, %d evicted; Stats: %+v", got[got.key(sessiondb.EventCreated, "")], invalidated, got[got.key(sessiondb.EventEvicted, "")], st)
	}
	if got[got.key(sessiondb.EventExpired, "")] == 0 || got[got.key(sessiondb.EventCreated, "")] < 50 {
		e.t.Errorf("the load made too few changes to mean much: %v", got)
	}
	if e.m.Options().LimitPolicy == sessiondb.PolicyEvictOldest && got[got.key(sessiondb.EventEvicted, "")] == 0 {
		e.t.Errorf("no create went past the limit: %v", got)
	}
	e.t.Logf("%d events: %v", len(all), got)
}
