// Package storetest is the conformance suite every sessiondb.Store passes.
// A store's tests call Run with a function that makes a fresh, empty store;
// the suite drives it through a sessiondb.Manager with a fake clock and
// checks the behaviours the Store interface documents.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
)

// Checker is implemented by stores that can verify that their indexes and
// counters agree with the records they hold. Run calls it at the end of
// every test.
type Checker interface {
	CheckConsistency(ctx context.Context, now time.Time) error
}

// env is one test's store, clock and manager.
type env struct {
	t     *testing.T
	store sessiondb.Store
	clock *Clock
	m     *sessiondb.Manager
	ctx   context.Context
}

func newEnv(t *testing.T, newStore func(testing.TB) sessiondb.Store, opt sessiondb.Options) *env {
	t.Helper()
	e := &env{t: t, store: newStore(t), clock: NewClock(), ctx: context.Background()}
	opt.Clock = e.clock.Now
	m, err := sessiondb.New(e.store, opt)
	if err != nil {
		t.Fatalf("sessiondb.New: %v", err)
	}
	e.m = m
	t.Cleanup(func() {
		if c, ok := e.store.(Checker); ok && !t.Failed() {
			if err := c.CheckConsistency(e.ctx, e.clock.Now()); err != nil && !errors.Is(err, sessiondb.ErrClosed) {
				t.Errorf("store inconsistent at the end of the test: %v", err)
			}
		}
		e.store.Close()
	})
	return e
}

func (e *env) create(user string, ttl time.Duration, md map[string]string) *sessiondb.Session {
	e.t.Helper()
	s, err := e.m.Create(e.ctx, user, ttl, md)
	if err != nil {
		e.t.Fatalf("Create(%q, %v): %v", user, ttl, err)
	}
	return s
}

func (e *env) valid(tok sessiondb.Token) *sessiondb.Session {
	e.t.Helper()
	s, err := e.m.Validate(e.ctx, string(tok))
	if err != nil {
		e.t.Fatalf("Validate: %v", err)
	}
	return s
}

func (e *env) gone(tok sessiondb.Token) {
	e.t.Helper()
	if _, err := e.m.Validate(e.ctx, string(tok)); !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Fatalf("Validate = %v, want ErrNotFound", err)
	}
}

func (e *env) stats() sessiondb.Stats {
	e.t.Helper()
	st, err := e.m.Stats(e.ctx)
	if err != nil {
		e.t.Fatalf("Stats: %v", err)
	}
	return st
}

func (e *env) wantStats(want sessiondb.Stats) {
	e.t.Helper()
	got := e.stats()
	got.MemoryUsed, got.MemoryMax = 0, 0
	if got != want {
		e.t.Fatalf("Stats = %+v\n                want %+v", got, want)
	}
}

func (e *env) userIDs(user string) []string {
	e.t.Helper()
	ss, err := e.m.UserSessions(e.ctx, user)
	if err != nil {
		e.t.Fatalf("UserSessions(%q): %v", user, err)
	}
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}

// Run runs the conformance suite. newStore must return a new, empty store
// each time it is called; the suite closes it.
func Run(t *testing.T, newStore func(testing.TB) sessiondb.Store) {
	tests := []struct {
		name string
		opt  sessiondb.Options
		fn   func(*env)
	}{
		{"CreateValidate", sessiondb.Options{}, testCreateValidate},
		{"GetByID", sessiondb.Options{}, testGetByID},
		{"Expiry", sessiondb.Options{}, testExpiry},
		{"IdleTimeout", sessiondb.Options{IdleTimeout: 10 * time.Second}, testIdleTimeout},
		{"Refresh", sessiondb.Options{MaxTTL: 2 * time.Hour}, testRefresh},
		{"Rotate", sessiondb.Options{}, testRotate},
		{"RotateRace", sessiondb.Options{}, testRotateRace},
		{"UpdateMetadata", sessiondb.Options{}, testUpdateMetadata},
		{"UpdateMetadataConcurrent", sessiondb.Options{}, testUpdateMetadataConcurrent},
		{"Invalidate", sessiondb.Options{}, testInvalidate},
		{"InvalidateUser", sessiondb.Options{MaxSessionsPerUser: 10}, testInvalidateUser},
		{"UserSessions", sessiondb.Options{}, testUserSessions},
		{"LimitEvictOldest", sessiondb.Options{}, testLimitEvictOldest},
		{"LimitReject", sessiondb.Options{LimitPolicy: sessiondb.PolicyReject}, testLimitReject},
		{"LimitConcurrent", sessiondb.Options{}, testLimitConcurrent},
		{"LimitConcurrentReject", sessiondb.Options{LimitPolicy: sessiondb.PolicyReject}, testLimitConcurrentReject},
		{"LimitIgnoresExpired", sessiondb.Options{MaxSessionsPerUser: 2}, testLimitIgnoresExpired},
		{"Cleanup", sessiondb.Options{}, testCleanup},
		{"CleanupConcurrent", sessiondb.Options{MaxSessionsPerUser: -1}, testCleanupConcurrent},
		{"StatsManyUsers", sessiondb.Options{}, testStatsManyUsers},
		{"BadInput", sessiondb.Options{}, testBadInput},
		{"MixedConcurrent", sessiondb.Options{MaxSessionsPerUser: 3, IdleTimeout: time.Minute}, testMixedConcurrent},
		{"WalkRestore", sessiondb.Options{}, testWalkRestore},
		{"Closed", sessiondb.Options{}, testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(newEnv(t, newStore, tc.opt))
		})
	}
}

func testCreateValidate(e *env) {
	md := map[string]string{"ip": "192.0.2.10", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/145.0"}
	s := e.create("user123", time.Hour, md)
	tok := string(s.Token)
	if !strings.HasPrefix(tok, sessiondb.TokenPrefix) || len(tok) < 47 {
		e.t.Fatalf("token %d bytes, prefix %q: want the %q prefix and at least 256 bits", len(tok), tok[:4], sessiondb.TokenPrefix)
	}
	if strings.Contains(s.ID, tok) || s.ID == "" {
		e.t.Fatalf("id %q must be derived from the token, not contain it", s.ID)
	}
	id, err := sessiondb.IDFromToken(tok)
	if err != nil || id != s.ID {
		e.t.Fatalf("IDFromToken = %q, %v; want %q", id, err, s.ID)
	}
	now := e.clock.Now()
	if !s.CreatedAt.Equal(now) || !s.ExpiresAt.Equal(now.Add(time.Hour)) || !s.LastSeenAt.Equal(now) {
		e.t.Fatalf("times = %v %v %v, want created=last seen=%v, expires an hour later", s.CreatedAt, s.ExpiresAt, s.LastSeenAt, now)
	}
	got := e.valid(s.Token)
	if got.Token != "" {
		e.t.Fatal("Validate returned a token")
	}
	if !got.Equal(&s.Record) {
		e.t.Fatalf("Validate = %+v, want %+v", got.Record, s.Record)
	}
	other := e.create("user123", 0, nil)
	if other.Token == s.Token || other.ID == s.ID {
		e.t.Fatal("two sessions share a token or an id")
	}
	if other.Metadata != nil {
		e.t.Fatalf("metadata = %v, want nil", other.Metadata)
	}
	if d := other.ExpiresAt.Sub(other.CreatedAt); d != sessiondb.DefaultTTL {
		e.t.Fatalf("ttl 0 gave a lifetime of %v, want the default %v", d, sessiondb.DefaultTTL)
	}
	e.wantStats(sessiondb.Stats{Total: 2, Active: 2, Users: 1, Created: 2})
}

func testGetByID(e *env) {
	s := e.create("alice", time.Hour, map[string]string{"ip": "2001:db8::1"})
	got, err := e.m.Get(e.ctx, s.ID)
	if err != nil {
		e.t.Fatalf("Get: %v", err)
	}
	if got.Token != "" || !got.Equal(&s.Record) {
		e.t.Fatalf("Get = %+v (token %v), want %+v without a token", got.Record, got.Token != "", s.Record)
	}
	for _, id := range []string{"", "nope", s.ID[:len(s.ID)-1], s.ID + "x", "fff" + s.ID[3:], strings.ToUpper(s.ID)} {
		if _, err := e.m.Get(e.ctx, id); !errors.Is(err, sessiondb.ErrNotFound) {
			e.t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
	}
	e.clock.Advance(time.Hour)
	if _, err := e.m.Get(e.ctx, s.ID); !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Fatalf("Get after expiry = %v, want ErrNotFound", err)
	}
}

func testExpiry(e *env) {
	short := e.create("u1", 10*time.Second, nil)
	long := e.create("u1", time.Hour, nil)
	e.clock.Advance(9*time.Second + 999*time.Millisecond)
	e.valid(short.Token)
	e.clock.Advance(time.Millisecond)
	e.gone(short.Token)
	e.valid(long.Token)
	if ids := e.userIDs("u1"); len(ids) != 1 || ids[0] != long.ID {
		e.t.Fatalf("UserSessions = %v, want only %s", ids, long.ID)
	}
	e.wantStats(sessiondb.Stats{Total: 2, Active: 1, Expired: 1, Users: 1, Created: 2})
	if err := e.m.Invalidate(e.ctx, string(short.Token)); !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Fatalf("Invalidate(expired) = %v, want ErrNotFound", err)
	}
	e.wantStats(sessiondb.Stats{Total: 1, Active: 1, Users: 1, Created: 2})
	e.clock.Advance(time.Hour)
	e.gone(long.Token)
	e.wantStats(sessiondb.Stats{Total: 1, Expired: 1, Users: 1, Created: 2})
	if n, err := e.m.Cleanup(e.ctx); err != nil || n != 1 {
		e.t.Fatalf("Cleanup = %d, %v; want 1", n, err)
	}
	e.wantStats(sessiondb.Stats{Created: 2})
}

func testIdleTimeout(e *env) {
	s := e.create("idler", time.Minute, nil)
	if s.IdleTimeout != 10*time.Second {
		e.t.Fatalf("IdleTimeout = %v, want 10s", s.IdleTimeout)
	}
	e.clock.Advance(6 * time.Second)
	if got := e.valid(s.Token); !got.LastSeenAt.Equal(e.clock.Now()) {
		e.t.Fatalf("LastSeenAt = %v, want %v (touched)", got.LastSeenAt, e.clock.Now())
	}
	e.clock.Advance(9 * time.Second) // 15s after creation, 9s after the touch
	e.valid(s.Token)
	e.clock.Advance(10 * time.Second) // idle for 10s
	e.gone(s.Token)
	e.wantStats(sessiondb.Stats{Total: 1, Expired: 1, Users: 1, Created: 1})

	// Activity never extends the absolute lifetime.
	a := e.create("idler", 20*time.Second, nil)
	for range 4 {
		e.clock.Advance(5 * time.Second)
		if e.clock.Now().Before(a.ExpiresAt) {
			e.valid(a.Token)
		}
	}
	e.gone(a.Token)
}

func testRefresh(e *env) {
	s := e.create("r", 10*time.Minute, nil)
	e.clock.Advance(5 * time.Minute)
	got, err := e.m.Refresh(e.ctx, string(s.Token), 0)
	if err != nil {
		e.t.Fatalf("Refresh: %v", err)
	}
	now := e.clock.Now()
	if !got.ExpiresAt.Equal(now.Add(10*time.Minute)) || !got.LastSeenAt.Equal(now) || got.Token != "" {
		e.t.Fatalf("Refresh = expires %v, last seen %v; want %v, %v", got.ExpiresAt, got.LastSeenAt, now.Add(10*time.Minute), now)
	}
	if v := e.valid(s.Token); !v.ExpiresAt.Equal(got.ExpiresAt) {
		e.t.Fatalf("Validate after Refresh: expires %v, want %v", v.ExpiresAt, got.ExpiresAt)
	}
	e.clock.Advance(9 * time.Minute) // past the original expiry
	e.valid(s.Token)
	got, err = e.m.Refresh(e.ctx, string(s.Token), time.Hour)
	if err != nil || !got.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		e.t.Fatalf("Refresh(1h) = %v, %v", got, err)
	}
	// MaxTTL (2h here) caps the lifetime counted from creation.
	e.clock.Advance(50 * time.Minute)
	got, err = e.m.Refresh(e.ctx, string(s.Token), time.Hour)
	if err != nil || !got.ExpiresAt.Equal(s.CreatedAt.Add(2*time.Hour)) {
		e.t.Fatalf("Refresh past MaxTTL = %v, %v; want expiry at %v", got, err, s.CreatedAt.Add(2*time.Hour))
	}
	for _, ttl := range []time.Duration{-time.Second, 3 * time.Hour} {
		if _, err := e.m.Refresh(e.ctx, string(s.Token), ttl); !errors.Is(err, sessiondb.ErrInvalidArgument) {
			e.t.Fatalf("Refresh(ttl %v) = %v, want ErrInvalidArgument", ttl, err)
		}
	}
	if _, err := e.m.Refresh(e.ctx, "sdb_garbage", 0); !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Fatalf("Refresh(malformed) = %v, want ErrNotFound", err)
	}
	e.clock.Advance(2 * time.Hour)
	if _, err := e.m.Refresh(e.ctx, string(s.Token), 0); !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Fatalf("Refresh(expired) = %v, want ErrNotFound", err)
	}
	e.wantStats(sessiondb.Stats{Total: 1, Expired: 1, Users: 1, Created: 1})
}

func testRotate(e *env) {
	s := e.create("rot", time.Hour, map[string]string{"ip": "198.51.100.7", "tenant": "acme"})
	e.clock.Advance(time.Minute)
	r, err := e.m.Rotate(e.ctx, string(s.Token))
	if err != nil {
		e.t.Fatalf("Rotate: %v", err)
	}
	if r.Token == "" || r.Token == s.Token || r.ID == s.ID {
		e.t.Fatal("Rotate must return a new token and id")
	}
	if r.UserID != s.UserID || !r.CreatedAt.Equal(s.CreatedAt) || !r.ExpiresAt.Equal(s.ExpiresAt) || r.Metadata["tenant"] != "acme" || r.Metadata["ip"] != "198.51.100.7" {
		e.t.Fatalf("Rotate = %+v, want the user, metadata and lifetime of %+v", r.Record, s.Record)
	}
	e.gone(s.Token)
	e.valid(r.Token)
	if _, err := e.m.Get(e.ctx, s.ID); !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Fatalf("Get(old id) = %v, want ErrNotFound", err)
	}
	if _, err := e.m.Rotate(e.ctx, string(s.Token)); !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Fatalf("Rotate(old token) = %v, want ErrNotFound", err)
	}
	if ids := e.userIDs("rot"); len(ids) != 1 || ids[0] != r.ID {
		e.t.Fatalf("UserSessions = %v, want [%s]", ids, r.ID)
	}
	e.wantStats(sessiondb.Stats{Total: 1, Active: 1, Users: 1, Created: 1})
}

func testRotateRace(e *env) {
	s := e.create("race", time.Hour, nil)
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []*sessiondb.Session
	for range n {
		wg.Go(func() {
			r, err := e.m.Rotate(e.ctx, string(s.Token))
			if err == nil {
				mu.Lock()
				winners = append(winners, r)
				mu.Unlock()
			} else if !errors.Is(err, sessiondb.ErrNotFound) {
				e.t.Errorf("Rotate: %v", err)
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		e.t.Fatalf("%d concurrent rotations of one token succeeded, want exactly 1", len(winners))
	}
	e.valid(winners[0].Token)
	e.gone(s.Token)
	if ids := e.userIDs("race"); len(ids) != 1 {
		e.t.Fatalf("UserSessions = %v, want one session", ids)
	}
}

func testInvalidate(e *env) {
	a := e.create("inv", time.Hour, nil)
	b := e.create("inv", time.Hour, nil)
	if err := e.m.Invalidate(e.ctx, string(a.Token)); err != nil {
		e.t.Fatalf("Invalidate: %v", err)
	}
	e.gone(a.Token)
	e.valid(b.Token)
	if err := e.m.Invalidate(e.ctx, string(a.Token)); !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Fatalf("second Invalidate = %v, want ErrNotFound", err)
	}
	if err := e.m.InvalidateByID(e.ctx, b.ID); err != nil {
		e.t.Fatalf("InvalidateByID: %v", err)
	}
	e.gone(b.Token)
	if err := e.m.InvalidateByID(e.ctx, b.ID); !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Fatalf("second InvalidateByID = %v, want ErrNotFound", err)
	}
	for _, tok := range []string{"", "sdb_", "nope", string(a.Token) + "x"} {
		if err := e.m.Invalidate(e.ctx, tok); !errors.Is(err, sessiondb.ErrNotFound) {
			e.t.Fatalf("Invalidate(%q) = %v, want ErrNotFound", tok, err)
		}
	}
	if ids := e.userIDs("inv"); len(ids) != 0 {
		e.t.Fatalf("UserSessions = %v, want none", ids)
	}
	e.wantStats(sessiondb.Stats{Created: 2, Invalidated: 2})
}

func testInvalidateUser(e *env) {
	var keep *sessiondb.Session
	for i := range 4 {
		s := e.create("many", time.Hour, nil)
		if i == 2 {
			keep = s
		}
		e.clock.Advance(time.Millisecond)
	}
	other := e.create("someone-else", time.Hour, nil)
	expiring := e.create("many", time.Second, nil)
	e.clock.Advance(time.Second)
	e.gone(expiring.Token)

	n, err := e.m.InvalidateUser(e.ctx, "many", keep.ID)
	if err != nil || n != 3 {
		e.t.Fatalf("InvalidateUser(except) = %d, %v; want 3", n, err)
	}
	e.valid(keep.Token)
	e.valid(other.Token)
	if ids := e.userIDs("many"); len(ids) != 1 || ids[0] != keep.ID {
		e.t.Fatalf("UserSessions = %v, want [%s]", ids, keep.ID)
	}
	n, err = e.m.InvalidateUser(e.ctx, "many", "")
	if err != nil || n != 1 {
		e.t.Fatalf("InvalidateUser = %d, %v; want 1", n, err)
	}
	e.gone(keep.Token)
	if n, err := e.m.InvalidateUser(e.ctx, "nobody", ""); err != nil || n != 0 {
		e.t.Fatalf("InvalidateUser(unknown) = %d, %v; want 0", n, err)
	}
	if _, err := e.m.InvalidateUser(e.ctx, "many", "not-an-id"); !errors.Is(err, sessiondb.ErrInvalidArgument) {
		e.t.Fatalf("InvalidateUser(bad except) = %v, want ErrInvalidArgument", err)
	}
	e.wantStats(sessiondb.Stats{Total: 1, Active: 1, Users: 1, Created: 6, Invalidated: 4})
}

func testUserSessions(e *env) {
	var want []string
	for range 4 {
		s := e.create("lister", time.Hour, nil)
		want = append([]string{s.ID}, want...)
		e.clock.Advance(time.Second)
	}
	// A session created with a short ttl expires and drops out.
	short := e.create("lister", 2*time.Second, nil)
	if got := e.userIDs("lister"); len(got) != 5 || got[0] != short.ID {
		e.t.Fatalf("UserSessions = %v, want %s first", got, short.ID)
	}
	e.clock.Advance(2 * time.Second)
	got := e.userIDs("lister")
	if strings.Join(got, ",") != strings.Join(want, ",") {
		e.t.Fatalf("UserSessions = %v, want newest first %v", got, want)
	}
	if got := e.userIDs("unknown-user"); len(got) != 0 {
		e.t.Fatalf("UserSessions(unknown) = %v, want empty", got)
	}
	ss, _ := e.m.UserSessions(e.ctx, "lister")
	for _, s := range ss {
		if s.Token != "" {
			e.t.Fatal("UserSessions returned a token")
		}
	}
}

func testLimitEvictOldest(e *env) {
	// Oldest by creation, not by expiry: the first session lives longest.
	first := e.create("limited", 2*time.Hour, nil)
	var rest []*sessiondb.Session
	for range 4 {
		e.clock.Advance(time.Millisecond)
		rest = append(rest, e.create("limited", time.Hour, nil))
	}
	e.clock.Advance(time.Millisecond)
	sixth := e.create("limited", time.Hour, nil)
	e.gone(first.Token)
	for _, s := range rest {
		e.valid(s.Token)
	}
	e.valid(sixth.Token)
	if ids := e.userIDs("limited"); len(ids) != 5 || ids[0] != sixth.ID {
		e.t.Fatalf("UserSessions = %v, want 5 with %s first", ids, sixth.ID)
	}
	e.wantStats(sessiondb.Stats{Total: 5, Active: 5, Users: 1, Created: 6, Evicted: 1})
}

func testLimitReject(e *env) {
	var all []*sessiondb.Session
	for range 5 {
		all = append(all, e.create("strict", time.Hour, nil))
	}
	before := e.stats()
	if _, err := e.m.Create(e.ctx, "strict", time.Hour, nil); !errors.Is(err, sessiondb.ErrSessionLimit) {
		e.t.Fatalf("Create over the limit = %v, want ErrSessionLimit", err)
	}
	after := e.stats()
	before.MemoryUsed, after.MemoryUsed = 0, 0
	if after != before {
		e.t.Fatalf("a rejected Create changed the stats: %+v -> %+v", before, after)
	}
	for _, s := range all {
		e.valid(s.Token)
	}
	if err := e.m.Invalidate(e.ctx, string(all[0].Token)); err != nil {
		e.t.Fatal(err)
	}
	e.create("strict", time.Hour, nil)
}

func testLimitConcurrent(e *env) {
	const n = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	var toks []sessiondb.Token
	for range n {
		wg.Go(func() {
			s, err := e.m.Create(e.ctx, "crowd", time.Hour, nil)
			if err != nil {
				e.t.Errorf("Create: %v", err)
				return
			}
			mu.Lock()
			toks = append(toks, s.Token)
			mu.Unlock()
		})
	}
	wg.Wait()
	live := 0
	for _, tok := range toks {
		if _, err := e.m.Validate(e.ctx, string(tok)); err == nil {
			live++
		}
	}
	ids := e.userIDs("crowd")
	if live != 5 || len(ids) != 5 {
		e.t.Fatalf("after %d concurrent creates: %d valid tokens, %d indexed sessions; want exactly 5 of each", n, live, len(ids))
	}
	e.wantStats(sessiondb.Stats{Total: 5, Active: 5, Users: 1, Created: n, Evicted: n - 5})
}

func testLimitConcurrentReject(e *env) {
	const n = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, rejected := 0, 0
	for range n {
		wg.Go(func() {
			_, err := e.m.Create(e.ctx, "crowd", time.Hour, nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, sessiondb.ErrSessionLimit):
				rejected++
			default:
				e.t.Errorf("Create: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 5 || rejected != n-5 || len(e.userIDs("crowd")) != 5 {
		e.t.Fatalf("%d created, %d rejected; want 5 and %d", ok, rejected, n-5)
	}
	e.wantStats(sessiondb.Stats{Total: 5, Active: 5, Users: 1, Created: 5})
}

func testLimitIgnoresExpired(e *env) {
	a := e.create("lim2", time.Second, nil)
	b := e.create("lim2", time.Second, nil)
	e.clock.Advance(time.Second)
	c := e.create("lim2", time.Hour, nil)
	d := e.create("lim2", time.Hour, nil)
	e.gone(a.Token)
	e.gone(b.Token)
	e.valid(c.Token)
	e.valid(d.Token)
	// The expired entries left the index when the user next logged in.
	e.wantStats(sessiondb.Stats{Total: 2, Active: 2, Users: 1, Created: 4})
}

func testCleanup(e *env) {
	for i := range 40 { // 7 users, 5 of them over the limit by one
		e.create(fmt.Sprintf("user-%d", i%7), time.Minute, nil)
	}
	keep := e.create("keeper", time.Hour, nil)
	if n, err := e.m.Cleanup(e.ctx); err != nil || n != 0 {
		e.t.Fatalf("Cleanup with nothing expired = %d, %v; want 0", n, err)
	}
	e.clock.Advance(time.Minute)
	st := e.stats()
	if st.Total != 36 || st.Expired != 35 || st.Active != 1 || st.Users != 8 || st.Evicted != 5 {
		e.t.Fatalf("Stats before cleanup = %+v", st)
	}
	n, err := e.m.Cleanup(e.ctx)
	if err != nil || n != 35 {
		e.t.Fatalf("Cleanup = %d, %v; want 35", n, err)
	}
	if n, err := e.m.Cleanup(e.ctx); err != nil || n != 0 {
		e.t.Fatalf("second Cleanup = %d, %v; want 0", n, err)
	}
	e.valid(keep.Token)
	e.wantStats(sessiondb.Stats{Total: 1, Active: 1, Users: 1, Created: 41, Evicted: 5})
}

func testCleanupConcurrent(e *env) {
	const users, per = 40, 25
	for u := range users {
		for range per {
			e.create(fmt.Sprintf("c%d", u), time.Minute, nil)
		}
	}
	e.clock.Advance(time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 4 {
		wg.Go(func() {
			n, err := e.m.Cleanup(e.ctx)
			if err != nil {
				e.t.Errorf("Cleanup: %v", err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != users*per {
		e.t.Fatalf("concurrent cleanups removed %d in all, want %d", total, users*per)
	}
	e.wantStats(sessiondb.Stats{Created: users * per})
}

func testStatsManyUsers(e *env) {
	// Spread over many buckets, with expiries at different times, counted
	// across several Stats calls.
	const users = 300
	for u := range users {
		e.create(fmt.Sprintf("su-%d", u), time.Duration(1+u%3)*time.Minute, nil)
	}
	e.wantStats(sessiondb.Stats{Total: users, Active: users, Users: users, Created: users})
	e.clock.Advance(time.Minute)
	e.wantStats(sessiondb.Stats{Total: users, Active: 200, Expired: 100, Users: users, Created: users})
	e.clock.Advance(time.Minute)
	e.wantStats(sessiondb.Stats{Total: users, Active: 100, Expired: 200, Users: users, Created: users})
	if n, err := e.m.Cleanup(e.ctx); err != nil || n != 200 {
		e.t.Fatalf("Cleanup = %d, %v; want 200", n, err)
	}
	e.wantStats(sessiondb.Stats{Total: 100, Active: 100, Users: 100, Created: users})
}

func testBadInput(e *env) {
	long := strings.Repeat("x", sessiondb.MaxUserIDBytes+1)
	badUsers := []string{"", long, "bad\xffutf8", "tab\there", "nul\x00", "newline\n", "del\x7f", "c1\u0085"}
	for _, u := range badUsers {
		if _, err := e.m.Create(e.ctx, u, time.Hour, nil); !errors.Is(err, sessiondb.ErrInvalidArgument) {
			e.t.Errorf("Create(user %q) = %v, want ErrInvalidArgument", u, err)
		}
		if _, err := e.m.UserSessions(e.ctx, u); !errors.Is(err, sessiondb.ErrInvalidArgument) {
			e.t.Errorf("UserSessions(%q) = %v, want ErrInvalidArgument", u, err)
		}
		if _, err := e.m.InvalidateUser(e.ctx, u, ""); !errors.Is(err, sessiondb.ErrInvalidArgument) {
			e.t.Errorf("InvalidateUser(%q) = %v, want ErrInvalidArgument", u, err)
		}
	}
	var ia *sessiondb.InvalidArgumentError
	if _, err := e.m.Create(e.ctx, "", time.Hour, nil); !errors.As(err, &ia) || ia.Field != "user_id" {
		e.t.Errorf("Create(empty user) = %v, want an InvalidArgumentError on user_id", err)
	}
	// The longest accepted user id, and unicode.
	e.create(strings.Repeat("x", sessiondb.MaxUserIDBytes), time.Hour, nil)
	e.create("josé@例え.jp {tag} *", time.Hour, nil)

	for _, ttl := range []time.Duration{-time.Second, sessiondb.DefaultMaxTTL + time.Second} {
		if _, err := e.m.Create(e.ctx, "u", ttl, nil); !errors.As(err, &ia) || ia.Field != "ttl_seconds" {
			e.t.Errorf("Create(ttl %v) = %v, want an InvalidArgumentError on ttl_seconds", ttl, err)
		}
	}
	big := map[string]string{"blob": strings.Repeat("y", sessiondb.DefaultMaxMetadataBytes)}
	quoted := map[string]string{"q": strings.Repeat("\"", sessiondb.DefaultMaxMetadataBytes/2)}
	for _, md := range []map[string]string{big, quoted, {"": "empty key"}, {"k": "bad\xff"}} {
		if _, err := e.m.Create(e.ctx, "u", time.Hour, md); !errors.As(err, &ia) || ia.Field != "metadata" {
			e.t.Errorf("Create(metadata of %d keys) = %v, want an InvalidArgumentError on metadata", len(md), err)
		}
	}
	for _, tok := range []string{"", "sdb_", "Bearer x", strings.Repeat("a", 55), "sdb_" + strings.Repeat("A", 51), "sdb_" + strings.Repeat("_", 200)} {
		if _, err := e.m.Validate(e.ctx, tok); !errors.Is(err, sessiondb.ErrNotFound) {
			e.t.Errorf("Validate(%q) = %v, want ErrNotFound", tok, err)
		}
	}
	// Nothing was written by the rejected calls.
	e.wantStats(sessiondb.Stats{Total: 2, Active: 2, Users: 2, Created: 2})
}

func testMixedConcurrent(e *env) {
	// Creates, validations, refreshes, rotations and invalidations race on a
	// few users; the store must stay consistent (checked at the end) and the
	// limit must hold.
	const workers, rounds = 8, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			user := fmt.Sprintf("mix-%d", w%3)
			for i := range rounds {
				s, err := e.m.Create(e.ctx, user, time.Hour, map[string]string{"ip": "203.0.113.9"})
				if err != nil {
					e.t.Errorf("Create: %v", err)
					return
				}
				tok := s.Token
				switch i % 4 {
				case 0:
					_, err = e.m.Validate(e.ctx, string(tok))
				case 1:
					_, err = e.m.Refresh(e.ctx, string(tok), 0)
				case 2:
					var r *sessiondb.Session
					if r, err = e.m.Rotate(e.ctx, string(tok)); err == nil {
						err = e.m.Invalidate(e.ctx, string(r.Token))
					}
				case 3:
					_, err = e.m.InvalidateUser(e.ctx, user, s.ID)
				}
				if err != nil && !errors.Is(err, sessiondb.ErrNotFound) {
					e.t.Errorf("op %d: %v", i%4, err)
				}
			}
		})
	}
	wg.Wait()
	for u := range 3 {
		if ids := e.userIDs(fmt.Sprintf("mix-%d", u)); len(ids) > 3 {
			e.t.Errorf("user mix-%d has %d sessions, over the limit of 3", u, len(ids))
		}
	}
	st := e.stats()
	if st.Created != workers*rounds || st.Total != st.Active || st.Total > 9 {
		e.t.Fatalf("Stats = %+v", st)
	}
}

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

func testClosed(e *env) {
	s := e.create("closer", time.Hour, nil)
	if err := e.store.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	if _, err := e.m.Validate(e.ctx, string(s.Token)); !errors.Is(err, sessiondb.ErrClosed) {
		e.t.Fatalf("Validate after Close = %v, want ErrClosed", err)
	}
	if _, err := e.m.Create(e.ctx, "closer", time.Hour, nil); !errors.Is(err, sessiondb.ErrClosed) {
		e.t.Fatalf("Create after Close = %v, want ErrClosed", err)
	}
}
