package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/storetest"
)

// TestRefusalReadsFirst: under the reject policy, a user refused once is
// refused again on one plain read of the index, without the script, and
// the read never refuses a create the script would allow: after a logout in
// another process, after an entry expires, and when the mark of counted
// expirations is later than now.
func TestRefusalReadsFirst(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	clock := storetest.NewClock()
	opt := sessiondb.Options{Clock: clock.Now, MaxSessionsPerUser: 2, LimitPolicy: sessiondb.PolicyReject}
	manager := func() (*Store, *sessiondb.Manager) {
		st, err := New(DialTest(t, srv.Addr()), Options{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := sessiondb.New(st, opt)
		if err != nil {
			t.Fatal(err)
		}
		return st, m
	}
	a, ma := manager() // two processes on one Redis
	_, mb := manager()
	create := func(m *sessiondb.Manager, ttl time.Duration) (*sessiondb.Session, error) {
		clock.Advance(time.Millisecond)
		return m.Create(ctx, "alice", ttl, nil)
	}
	mustCreate := func(m *sessiondb.Manager, ttl time.Duration) *sessiondb.Session {
		t.Helper()
		s, err := create(m, ttl)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		return s
	}
	refused := func(step string) {
		t.Helper()
		if _, err := create(ma, time.Hour); !errors.Is(err, sessiondb.ErrSessionLimit) {
			t.Fatalf("%s: Create = %v, want ErrSessionLimit", step, err)
		}
	}
	consistent := func(step string) {
		t.Helper()
		if err := a.CheckConsistency(ctx, clock.Now()); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	calls := func() (scripts, reads int64) {
		t.Helper()
		n := srv.CommandCalls(t)
		return n["evalsha"] + n["eval"], n["zrange"]
	}

	short := mustCreate(ma, 30*time.Second)
	kept := mustCreate(ma, time.Hour)
	s0, r0 := calls()
	refused("the first refusal")
	s1, r1 := calls()
	if s1-s0 != 1 || r1 != r0 {
		t.Fatalf("the first refusal ran %d scripts and %d ZRANGE, want the script alone", s1-s0, r1-r0)
	}
	for i := range 3 {
		refused("a refusal of a user refused before")
		s2, r2 := calls()
		if s2 != s1 || r2-r1 != int64(i+1) {
			t.Fatalf("refusal %d after the first ran %d scripts and %d ZRANGE, want one ZRANGE", i+2, s2-s1, r2-r1)
		}
	}
	consistent("after the refusals")

	// A logout through the other process frees a place at once.
	if err := mb.Invalidate(ctx, string(kept.Token)); err != nil {
		t.Fatal(err)
	}
	mustCreate(ma, time.Hour)
	refused("at the limit again")
	consistent("after a logout elsewhere")

	// So does an entry's expiry, which changes nothing in Redis's index
	// (within refusalMemory: alice is still read first).
	clock.Advance(40 * time.Second)
	if _, err := ma.Validate(ctx, string(short.Token)); !errors.Is(err, sessiondb.ErrNotFound) {
		t.Fatalf("Validate of an expired session = %v", err)
	}
	mustCreate(ma, time.Hour)
	refused("at the limit after the expiry")
	consistent("after an expiry")

	// A mark later than now (this clock behind the one that counted): the
	// read cannot decide, and the script does, by the later clock.
	uidx := a.keys.user(sessiondb.UserShard("alice"), "alice")
	ahead := clock.Now().Add(2 * time.Hour)
	if err := a.client.Do(ctx, a.client.B().Zadd().Key(uidx).ScoreMember().ScoreMember(float64(ahead.UnixMilli()), mark).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	s3, _ := calls()
	if _, err := create(ma, 3*time.Hour); err != nil {
		t.Fatalf("Create with every entry expired by the mark's clock: %v", err)
	}
	if s4, _ := calls(); s4 == s3 {
		t.Fatal("the create with the mark ahead did not run the script")
	}
}

// TestRefusalsBounded: the memory of refused users stays within its bound
// and forgets users after refusalMemory.
func TestRefusalsBounded(t *testing.T) {
	var r refusals
	now := time.Now()
	for i := range refusalUsers + 100 {
		r.add(string(rune('a'+i%26))+time.Duration(i).String(), now)
	}
	if n := len(r.at); n != refusalUsers {
		t.Fatalf("%d users remembered, want %d", n, refusalUsers)
	}
	r.add("bob", now)
	if !r.recent("bob", now.Add(refusalMemory-time.Millisecond)) {
		t.Fatal("bob forgotten within refusalMemory")
	}
	if r.recent("bob", now.Add(refusalMemory)) {
		t.Fatal("bob remembered after refusalMemory")
	}
	r.add("carol", now)
	r.forget("carol")
	if r.recent("carol", now) {
		t.Fatal("carol remembered after forget")
	}
}
