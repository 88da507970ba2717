package sessionstest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sessiondb/sessiondb"
)

func testStats(e *env) {
	st := e.stats()
	st.MemoryUsed, st.MemoryMax = 0, 0 // a store's own figures
	if st != (sessiondb.Stats{}) {
		e.t.Errorf("Stats of a fresh store = %+v, want zeros", st)
	}
	a := e.create("u1", 0, nil)
	e.create("u1", 0, nil)
	e.create("u2", 0, nil)
	if err := e.s.Invalidate(e.ctx, string(a.Token)); err != nil {
		e.t.Fatal(err)
	}
	st = e.stats()
	want := sessiondb.Stats{Total: 2, Active: 2, Users: 2, Created: 3, Invalidated: 1}
	st.MemoryUsed, st.MemoryMax = 0, 0
	if st != want {
		e.t.Errorf("Stats = %+v, want %+v", st, want)
	}
}

func testPing(e *env) {
	if err := e.s.Ping(e.ctx); err != nil {
		e.t.Errorf("Ping: %v", err)
	}
}

func testBadInput(e *env) {
	s := e.create("u", 0, nil)
	before := e.stats().Created
	for _, c := range []struct {
		user  string
		ttl   time.Duration
		md    map[string]string
		field string
	}{
		{"", 0, nil, "user_id"},
		{"a\x00b", 0, nil, "user_id"},
		{"a\nb", 0, nil, "user_id"},
		{"\xff", 0, nil, "user_id"},
		{strings.Repeat("u", sessiondb.MaxUserIDBytes+1), 0, nil, "user_id"},
		{"u", -time.Second, nil, "ttl_seconds"},
		{"u", sessiondb.DefaultMaxTTL + time.Hour, nil, "ttl_seconds"},
		{"u", 0, map[string]string{"": "v"}, "metadata"},
		{"u", 0, map[string]string{"k": "\xff"}, "metadata"},
		{"u", 0, map[string]string{"\xfe": "v"}, "metadata"},
		{"u", 0, map[string]string{"big": strings.Repeat("x", sessiondb.DefaultMaxMetadataBytes)}, "metadata"},
		// Past the limit of a request body of sessiond (16 KiB) too.
		{"u", 0, map[string]string{"huge": strings.Repeat("x", 20000)}, "metadata"},
	} {
		_, err := e.s.Create(e.ctx, c.user, c.ttl, c.md)
		e.wantInvalid(fmt.Sprintf("Create(%.20q, %v, %d keys)", c.user, c.ttl, len(c.md)), err, c.field)
	}
	for _, u := range []string{"", "a\tb"} {
		_, err := e.s.UserSessions(e.ctx, u)
		e.wantInvalid(fmt.Sprintf("UserSessions(%q)", u), err, "user_id")
	}
	if got := e.stats().Created; got != before {
		e.t.Errorf("bad input created %d sessions", got-before)
	}
	e.validate(s.Token)
}

func testCancelledContext(e *env) {
	s := e.create("u", 0, nil)
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	check := func(what string, err error) {
		e.t.Helper()
		e.checkErr(what, err)
		if !errors.Is(err, context.Canceled) {
			e.t.Errorf("%s with a cancelled context = %v, want an error matching context.Canceled", what, err)
		}
	}
	_, err := e.s.Create(ctx, "u", 0, nil)
	check("Create", err)
	_, err = e.s.Validate(ctx, string(s.Token))
	check("Validate", err)
	_, err = e.s.Rotate(ctx, string(s.Token))
	check("Rotate", err)
	check("Invalidate", e.s.Invalidate(ctx, string(s.Token)))
	_, err = e.s.UserSessions(ctx, "u")
	check("UserSessions", err)
	// Nothing happened.
	e.validate(s.Token)
	if ids := e.ids("u"); len(ids) != 1 {
		e.t.Errorf("calls with a cancelled context changed the sessions: %v", ids)
	}
}

func testConcurrent(e *env) {
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			user := fmt.Sprintf("worker%d", w)
			for range each {
				s, err := e.s.Create(e.ctx, user, 0, map[string]string{"w": user})
				if err != nil {
					errs <- fmt.Errorf("create: %w", err)
					return
				}
				e.remember(s.Token)
				v, err := e.s.Validate(e.ctx, string(s.Token))
				if err != nil || v.UserID != user {
					errs <- fmt.Errorf("validate = %v, %v", v, err)
					return
				}
				if err := e.s.Invalidate(e.ctx, string(s.Token)); err != nil {
					errs <- fmt.Errorf("invalidate: %w", err)
					return
				}
			}
			// One left per worker.
			if _, err := e.s.Create(e.ctx, user, 0, nil); err != nil {
				errs <- fmt.Errorf("create: %w", err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.checkErr("concurrent calls", err)
		e.t.Error(err)
	}
	st := e.stats()
	if st.Created != workers*(each+1) || st.Invalidated != workers*each || st.Active != workers || st.Users != workers {
		e.t.Errorf("Stats after the concurrent calls = %+v, want created %d invalidated %d active %d users %d",
			st, workers*(each+1), workers*each, workers, workers)
	}
}
