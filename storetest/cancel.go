package storetest

// A call whose context is already cancelled: the same answer from every store.

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/sessiondb/sessiondb"
)

// testCancelledContext calls every Store method with a context cancelled
// before the call. Each returns the context's own error, context.Canceled,
// not wrapped as a store failure (ErrUnavailable): callers, metrics and
// sessiond then treat a caller that gave up alike on every store, and never
// as an outage. Nothing changes: no record, index or counter.
func testCancelledContext(e *env) {
	s := e.create("cancel", time.Hour, map[string]string{"ip": "192.0.2.7"})
	e.create("cancel", time.Second, nil)
	spare := e.create("cancel", time.Hour, nil)
	e.clock.Advance(time.Second) // the second session has expired: Cleanup would remove it
	now := e.clock.Now()
	rec, err := e.store.Get(e.ctx, s.ID, now)
	if err != nil {
		e.t.Fatalf("Get: %v", err)
	}
	// A record that is not in the store, for Insert and Restore.
	spareRec, err := e.store.Delete(e.ctx, spare.ID, now)
	if err != nil {
		e.t.Fatalf("Delete: %v", err)
	}
	before := e.stats()
	ids := e.userIDs("cancel")

	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	check := func(method string, err error) {
		e.t.Helper()
		switch {
		case !errors.Is(err, context.Canceled):
			e.t.Errorf("%s with a cancelled context = %v, want context.Canceled", method, err)
		case errors.Is(err, sessiondb.ErrUnavailable):
			e.t.Errorf("%s with a cancelled context = %v, want context.Canceled, not a store failure", method, err)
		case err.Error() != context.Canceled.Error():
			e.t.Errorf("%s with a cancelled context = %q, want %q as is", method, err, context.Canceled)
		}
	}
	_, err = e.store.Insert(ctx, spareRec, sessiondb.Limit{}, now)
	check("Insert", err)
	_, err = e.store.Get(ctx, s.ID, now)
	check("Get", err)
	touched := rec.Clone()
	touched.LastSeenAt = now
	check("Replace", e.store.Replace(ctx, rec, touched, now))
	_, err = e.store.Delete(ctx, s.ID, now)
	check("Delete", err)
	_, err = e.store.ListUser(ctx, "cancel", now)
	check("ListUser", err)
	_, err = e.store.DeleteUser(ctx, "cancel", "", now)
	check("DeleteUser", err)
	_, err = e.store.Cleanup(ctx, now)
	check("Cleanup", err)
	_, err = e.store.Stats(ctx, now)
	check("Stats", err)
	walked := 0
	check("Walk", e.store.Walk(ctx, now, func(*sessiondb.Record) error { walked++; return nil }))
	if walked != 0 {
		e.t.Errorf("Walk with a cancelled context called fn %d times", walked)
	}
	_, err = e.store.Restore(ctx, spareRec, now)
	check("Restore", err)
	check("Ping", e.store.Ping(ctx))

	// Nothing changed.
	e.wantStats(before)
	if got, err := e.store.Get(e.ctx, s.ID, now); err != nil || !got.Equal(rec) {
		e.t.Errorf("Get after the cancelled calls = %+v, %v; want %+v", got, err, rec)
	}
	if _, err := e.store.Get(e.ctx, spare.ID, now); !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Errorf("Get(removed session) after a cancelled Insert and Restore = %v, want ErrNotFound", err)
	}
	if got := e.userIDs("cancel"); !slices.Equal(got, ids) {
		e.t.Errorf("UserSessions after the cancelled calls = %v, want %v", got, ids)
	}
}
