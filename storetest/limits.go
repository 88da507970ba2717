package storetest

// The per-user session limit under both policies, alone and racing.

import (
	"errors"
	"sync"
	"time"

	"github.com/sessiondb/sessiondb"
)

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
