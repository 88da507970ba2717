// Package sessionstest is one body of behaviour tests for sessiondb.Sessions,
// run against every implementation: the Manager on each store, and
// sessiondclient.Client against a real sessiond on each store. Passing it is
// what lets a service switch between the embedded library and a remote
// sessiond by changing one constructor.
//
// The tests use the real clock, as a sessiond in another process does: short
// TTLs where expiry must be seen (waited for by polling, with a generous
// bound), and no assertion on how long anything takes.
package sessionstest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
)

// Config is what a test needs of the implementation it gets. The zero value
// means the defaults of both the library and sessiond: a 1h TTL, 30 days'
// maximum, 5 sessions per user with the oldest evicted, no idle timeout,
// 4096 bytes of metadata.
type Config struct {
	MaxSessionsPerUser int              // 0: the default (5); negative: no limit
	LimitPolicy        sessiondb.Policy // "": evict-oldest
	IdleTimeout        time.Duration    // 0: none; whole seconds
}

// Harness makes the implementation under test.
type Harness struct {
	// New returns a fresh implementation configured as cfg says, with no
	// sessions, and stops it when the test ends.
	New func(t *testing.T, cfg Config) sessiondb.Sessions
}

// maxExpiryWait bounds the wait for a short-TTL session to expire.
const maxExpiryWait = 20 * time.Second

// Run runs every test against h, each in a subtest with an implementation of
// its own.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		cfg  Config
		fn   func(*env)
	}{
		{"CreateValidate", Config{}, testCreateValidate},
		{"DefaultTTL", Config{}, testDefaultTTL},
		{"Get", Config{}, testGet},
		{"NotFound", Config{}, testNotFound},
		{"Expiry", Config{}, testExpiry},
		{"IdleTimeout", Config{IdleTimeout: time.Hour}, testIdleTimeout},
		{"Refresh", Config{}, testRefresh},
		{"Rotate", Config{}, testRotate},
		{"UpdateMetadata", Config{}, testUpdateMetadata},
		{"UpdateMetadataByID", Config{}, testUpdateMetadataByID},
		{"UpdateMetadataRefused", Config{}, testUpdateMetadataRefused},
		{"UpdateMetadataConcurrentKeys", Config{}, testUpdateMetadataConcurrentKeys},
		{"Invalidate", Config{}, testInvalidate},
		{"InvalidateByID", Config{}, testInvalidateByID},
		{"InvalidateUser", Config{}, testInvalidateUser},
		{"UserSessionsNewestFirst", Config{}, testUserSessionsNewestFirst},
		{"UserIDs", Config{}, testUserIDs},
		{"LimitEvictOldest", Config{MaxSessionsPerUser: 2}, testLimitEvict},
		{"LimitReject", Config{MaxSessionsPerUser: 2, LimitPolicy: sessiondb.PolicyReject}, testLimitReject},
		{"NoLimit", Config{MaxSessionsPerUser: -1}, testNoLimit},
		{"Stats", Config{}, testStats},
		{"Ping", Config{}, testPing},
		{"BadInput", Config{}, testBadInput},
		{"CancelledContext", Config{}, testCancelledContext},
		{"Concurrent", Config{}, testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{t: t, s: h.New(t, tc.cfg), ctx: context.Background()}
			tc.fn(e)
		})
	}
}

// env is one test's implementation and the tokens it has seen, which no
// error text may hold.
type env struct {
	t   *testing.T
	s   sessiondb.Sessions
	ctx context.Context

	mu     sync.Mutex
	tokens []string
}

func (e *env) remember(tok sessiondb.Token) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens = append(e.tokens, string(tok))
}

// checkErr fails the test if err's text holds a token.
func (e *env) checkErr(what string, err error) {
	e.t.Helper()
	if err == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	msg := err.Error() + fmt.Sprintf(" %v %+v %#v", err, err, err)
	for _, tok := range e.tokens {
		if strings.Contains(msg, tok) {
			e.t.Errorf("%s: the error's text holds a token: %s", what, msg)
		}
	}
}

func (e *env) create(user string, ttl time.Duration, md map[string]string) *sessiondb.Session {
	e.t.Helper()
	s, err := e.s.Create(e.ctx, user, ttl, md)
	if err != nil {
		e.t.Fatalf("Create(%q, %v, %v): %v", user, ttl, md, err)
	}
	if s.Token == "" {
		e.t.Fatalf("Create(%q) returned no token", user)
	}
	e.remember(s.Token)
	return s
}

func (e *env) validate(tok sessiondb.Token) *sessiondb.Session {
	e.t.Helper()
	s, err := e.s.Validate(e.ctx, string(tok))
	if err != nil {
		e.t.Fatalf("Validate: %v", err)
	}
	return s
}

// wantErr fails the test unless err matches target.
func (e *env) wantErr(what string, err, target error) {
	e.t.Helper()
	e.checkErr(what, err)
	if !errors.Is(err, target) {
		e.t.Errorf("%s = %v, want an error matching %v", what, err, target)
	}
}

// wantInvalid fails the test unless err is an *InvalidArgumentError for
// field that also matches ErrInvalidArgument and nothing else.
func (e *env) wantInvalid(what string, err error, field string) {
	e.t.Helper()
	e.checkErr(what, err)
	var inv *sessiondb.InvalidArgumentError
	switch {
	case !errors.As(err, &inv):
		e.t.Errorf("%s = %v, want an *InvalidArgumentError for %s", what, err, field)
	case inv.Field != field:
		e.t.Errorf("%s: Field = %q, want %q (%v)", what, inv.Field, field, err)
	case !errors.Is(err, sessiondb.ErrInvalidArgument):
		e.t.Errorf("%s = %v, does not match ErrInvalidArgument", what, err)
	case errors.Is(err, sessiondb.ErrNotFound), errors.Is(err, sessiondb.ErrUnavailable):
		e.t.Errorf("%s = %v, also matches another sentinel", what, err)
	}
}

func (e *env) wantNotFound(what string, err error) {
	e.t.Helper()
	e.wantErr(what, err, sessiondb.ErrNotFound)
	if errors.Is(err, sessiondb.ErrInvalidArgument) || errors.Is(err, sessiondb.ErrUnavailable) {
		e.t.Errorf("%s = %v, also matches another sentinel", what, err)
	}
}

func (e *env) userSessions(user string) []*sessiondb.Session {
	e.t.Helper()
	list, err := e.s.UserSessions(e.ctx, user)
	if err != nil {
		e.t.Fatalf("UserSessions(%q): %v", user, err)
	}
	if list == nil {
		e.t.Fatalf("UserSessions(%q) = nil, want a slice (empty when none)", user)
	}
	return list
}

func (e *env) ids(user string) []string {
	e.t.Helper()
	var out []string
	for _, s := range e.userSessions(user) {
		if s.Token != "" {
			e.t.Errorf("UserSessions(%q) returned a token", user)
		}
		out = append(out, s.ID)
	}
	return out
}

func (e *env) stats() sessiondb.Stats {
	e.t.Helper()
	st, err := e.s.Stats(e.ctx)
	if err != nil {
		e.t.Fatalf("Stats: %v", err)
	}
	return st
}

// deadToken returns a well-formed token of a session that has ended.
func (e *env) deadToken() sessiondb.Token {
	e.t.Helper()
	s := e.create("dead-token-owner", 0, nil)
	if err := e.s.Invalidate(e.ctx, string(s.Token)); err != nil {
		e.t.Fatalf("Invalidate: %v", err)
	}
	return s.Token
}

// sameSession fails the test unless got and want describe the same session
// (token aside).
func (e *env) sameSession(what string, got, want *sessiondb.Session) {
	e.t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.EffectiveExpiry().Equal(want.EffectiveExpiry()) || !maps.Equal(got.Metadata, want.Metadata) {
		e.t.Errorf("%s = %+v, want %+v", what, got.Record, want.Record)
	}
}

// near reports whether t is within a minute of the local clock: sessions are
// stamped by the implementation's clock, the same machine's.
func near(t time.Time) bool {
	d := time.Since(t)
	return d > -time.Minute && d < time.Minute
}
