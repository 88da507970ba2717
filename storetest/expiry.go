package storetest

// Absolute and idle expiry, refresh, and the cleanup of expired records.

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sessiondb/sessiondb"
)

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
