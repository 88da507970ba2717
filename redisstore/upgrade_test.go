package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/storetest"
)

// The first layout's scripts, as released: index members are the id hash
// alone, and counters are written one field per effect.
var (
	//go:embed testdata/layout1/lib.lua
	layout1Lib string
	//go:embed testdata/layout1/insert.lua
	layout1InsertLua string
	//go:embed testdata/layout1/replace.lua
	layout1ReplaceLua string

	layout1Insert  = layout1Script(layout1InsertLua)
	layout1Replace = layout1Script(layout1ReplaceLua)
)

func layout1Script(src string) *rueidis.Lua {
	shebang, body, _ := strings.Cut(src, "\n")
	return rueidis.NewLuaScript(shebang + "\n" + layout1Lib + body)
}

// layout1Store writes as the first layout did: a Manager over it makes the
// data a store of an earlier version left in Redis.
type layout1Store struct{ *Store }

func (s layout1Store) Insert(ctx context.Context, rec *sessiondb.Record, lim sessiondb.Limit, now time.Time) (int, error) {
	shard := sessiondb.UserShard(rec.UserID)
	flags := "e"
	if lim.Policy == sessiondb.PolicyReject {
		flags = "r"
	}
	max, limited := lim.Sessions()
	if !limited {
		max = 0 // the script's "no limit"
	}
	reply, err := layout1Insert.Exec(ctx, s.client,
		[]string{s.keys.session(rec.ID), s.keys.user(shard, rec.UserID), s.keys.queue(shard.Bucket, shard.Sub), s.keys.counters(shard.Bucket)},
		[]string{ms(now), string(encode(rec)), msCeil(rec.EffectiveExpiry()), strconv.Itoa(max), flags},
	).AsStrSlice()
	if err != nil {
		return 0, wrap(err)
	}
	return len(reply) - 1, nil
}

func (s layout1Store) Replace(ctx context.Context, old, rec *sessiondb.Record, now time.Time) error {
	shard := sessiondb.UserShard(rec.UserID)
	n, err := layout1Replace.Exec(ctx, s.client,
		[]string{s.keys.session(old.ID), s.keys.session(rec.ID), s.keys.user(shard, rec.UserID), s.keys.queue(shard.Bucket, shard.Sub)},
		[]string{ms(now), string(encode(old)), string(encode(rec)), msCeil(rec.EffectiveExpiry())},
	).AsInt64()
	if err != nil {
		return wrap(err)
	}
	if n != 1 {
		return sessiondb.ErrConflict
	}
	return nil
}

// TestUpgradeFromLayout1 leaves sessions in Redis as the first layout wrote
// them, then serves them with the current scripts: every operation works on
// the old entries (evict-oldest reads their creation times from the values),
// counters carry on, touched and rotated entries move to the current layout,
// and the store stays consistent at every step.
func TestUpgradeFromLayout1(t *testing.T) {
	srv := redistest.Start(t)
	c := DialTest(t, srv.Addr())
	st, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	clock := storetest.NewClock()
	opt := sessiondb.Options{Clock: clock.Now, IdleTimeout: time.Hour, TouchInterval: time.Minute}
	old, err := sessiondb.New(layout1Store{st}, opt)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string) {
		t.Helper()
		if err := st.CheckConsistency(ctx, clock.Now()); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	create := func(m *sessiondb.Manager, user string, ttl time.Duration) *sessiondb.Session {
		t.Helper()
		clock.Advance(time.Millisecond)
		s, err := m.Create(ctx, user, ttl, map[string]string{"ip": "192.0.2.1"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The oldest of alice's sessions lives longest: evict-oldest must go by
	// creation time, which the old entries do not carry.
	alice := []*sessiondb.Session{create(old, "alice", 3*time.Hour)}
	for range 4 {
		alice = append(alice, create(old, "alice", time.Hour))
	}
	bob := []*sessiondb.Session{create(old, "bob", time.Hour), create(old, "bob", time.Hour), create(old, "bob", time.Hour)}
	carol := create(old, "carol", time.Minute)
	clock.Advance(2 * time.Minute)
	if _, err := old.Validate(ctx, string(bob[2].Token)); err != nil { // touched by the old replace.lua
		t.Fatal(err)
	}
	n, err := c.Do(ctx, c.B().Zcard().Key(st.keys.user(sessiondb.UserShard("alice"), "alice")).Build()).AsInt64()
	if err != nil || n != 5 {
		t.Fatalf("alice's index holds %d entries, %v", n, err)
	}
	check("after the first layout wrote")

	m, err := sessiondb.New(st, opt)
	if err != nil {
		t.Fatal(err)
	}
	valid := func(s *sessiondb.Session) {
		t.Helper()
		if _, err := m.Validate(ctx, string(s.Token)); err != nil {
			t.Fatalf("Validate(%s): %v", s.ID, err)
		}
	}
	gone := func(s *sessiondb.Session) {
		t.Helper()
		if _, err := m.Validate(ctx, string(s.Token)); !errors.Is(err, sessiondb.ErrNotFound) {
			t.Fatalf("Validate(%s) = %v, want ErrNotFound", s.ID, err)
		}
	}
	wantStats := func(step string, want sessiondb.Stats) {
		t.Helper()
		got, err := m.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got.MemoryUsed, got.MemoryMax = 0, 0
		if got != want {
			t.Fatalf("%s: Stats = %+v, want %+v", step, got, want)
		}
		check(step)
	}
	wantStats("upgraded", sessiondb.Stats{Total: 9, Active: 8, Expired: 1, Users: 3, Created: 9})

	// Validations touch (a minute passed): the old entries move to the
	// current layout one by one.
	valid(alice[1])
	valid(bob[0])
	check("touched")

	// A sixth session for alice evicts her oldest, the long-lived one.
	a6 := create(m, "alice", time.Hour)
	gone(alice[0])
	for _, s := range alice[1:] {
		valid(s)
	}
	valid(a6)
	check("evicted")

	// Rotation and logout of entries of both layouts.
	r, err := m.Rotate(ctx, string(bob[1].Token))
	if err != nil {
		t.Fatal(err)
	}
	gone(bob[1])
	valid(r)
	if err := m.Invalidate(ctx, string(bob[2].Token)); err != nil {
		t.Fatal(err)
	}
	if err := m.InvalidateByID(ctx, alice[2].ID); err != nil {
		t.Fatal(err)
	}
	gone(bob[2])
	gone(alice[2])
	if ss, err := m.UserSessions(ctx, "alice"); err != nil || len(ss) != 4 || ss[0].ID != a6.ID {
		t.Fatalf("UserSessions(alice) = %d sessions, %v; want 4, newest first", len(ss), err)
	}
	wantStats("rotated and invalidated", sessiondb.Stats{Total: 7, Active: 6, Expired: 1, Users: 3, Created: 10, Invalidated: 2, Evicted: 1})

	if n, err := m.InvalidateUser(ctx, "alice", alice[3].ID); err != nil || n != 3 {
		t.Fatalf("InvalidateUser = %d, %v; want 3", n, err)
	}
	valid(alice[3])
	if n, err := m.Cleanup(ctx); err != nil || n != 1 {
		t.Fatalf("Cleanup = %d, %v; want carol's expired session", n, err)
	}
	gone(carol)
	wantStats("cleaned up", sessiondb.Stats{Total: 3, Active: 3, Users: 2, Created: 10, Invalidated: 5, Evicted: 1})
}
