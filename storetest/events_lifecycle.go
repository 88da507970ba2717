package storetest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/memstore"
)

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
