package storetest

// Walk and Restore, what backups are made of.

import (
	"errors"
	"fmt"
	"time"

	"github.com/sessiondb/sessiondb"
)

func testWalkRestore(e *env) {
	want := make(map[string]*sessiondb.Session)
	for i := range 50 {
		s := e.create(fmt.Sprintf("w%d", i%10), time.Hour, map[string]string{"ip": "192.0.2.1", "n": fmt.Sprint(i)})
		want[s.ID] = s
		e.clock.Advance(time.Millisecond)
	}
	e.create("w-short", time.Second, nil)
	e.clock.Advance(time.Second)
	var got []*sessiondb.Record
	err := e.store.Walk(e.ctx, e.clock.Now(), func(r *sessiondb.Record) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		e.t.Fatalf("Walk: %v", err)
	}
	if len(got) != len(want) {
		e.t.Fatalf("Walk saw %d records, want the %d live ones", len(got), len(want))
	}
	for _, r := range got {
		if w := want[r.ID]; w == nil || !w.Equal(r) {
			e.t.Fatalf("Walk returned %+v, not a live session", r)
		}
	}
	stop := errors.New("stop")
	if err := e.store.Walk(e.ctx, e.clock.Now(), func(*sessiondb.Record) error { return stop }); err != stop {
		e.t.Fatalf("Walk did not return fn's error: %v", err)
	}

	// Restoring what is there changes nothing.
	before := e.stats()
	for _, r := range got {
		if ok, err := e.store.Restore(e.ctx, r, e.clock.Now()); err != nil || ok {
			e.t.Fatalf("Restore(existing) = %v, %v; want false", ok, err)
		}
	}
	// Restoring after a loss brings the sessions back, tokens and indexes.
	if n, err := e.m.InvalidateUser(e.ctx, "w3", ""); err != nil || n != 5 {
		e.t.Fatalf("InvalidateUser = %d, %v", n, err)
	}
	restored := 0
	for _, r := range got {
		ok, err := e.store.Restore(e.ctx, r, e.clock.Now())
		if err != nil {
			e.t.Fatalf("Restore: %v", err)
		}
		if ok {
			restored++
			e.valid(want[r.ID].Token)
		}
	}
	if restored != 5 || len(e.userIDs("w3")) != 5 {
		e.t.Fatalf("restored %d, user has %d sessions; want 5 and 5", restored, len(e.userIDs("w3")))
	}
	after := e.stats()
	if after.Total != before.Total || after.Created != before.Created || after.Users != before.Users {
		e.t.Fatalf("Stats after restore = %+v, want totals of %+v", after, before)
	}
	old := got[0].Clone()
	e.clock.Advance(time.Hour)
	if ok, err := e.store.Restore(e.ctx, old, e.clock.Now()); err != nil || ok {
		e.t.Fatalf("Restore(expired) = %v, %v; want skipped", ok, err)
	}
}
