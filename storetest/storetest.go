// Package storetest is the conformance suite every sessiondb.Store passes.
// A store's tests call Run with a function that makes a fresh, empty store;
// the suite drives it through a sessiondb.Manager with a fake clock and
// checks the behaviours the Store interface documents.
package storetest

import (
	"context"
	"errors"
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
	want.MemoryUsed, want.MemoryMax = 0, 0
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
		{"CancelledContext", sessiondb.Options{}, testCancelledContext},
		{"Closed", sessiondb.Options{}, testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(newEnv(t, newStore, tc.opt))
		})
	}
}
