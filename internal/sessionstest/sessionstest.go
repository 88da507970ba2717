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

func testCreateValidate(e *env) {
	md := map[string]string{"ip": "192.0.2.1", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "note": "é \"quoted\" \u2028"}
	s := e.create("user123", 2*time.Hour, md)
	switch {
	case !strings.HasPrefix(string(s.Token), sessiondb.TokenPrefix):
		e.t.Errorf("token does not start with %q", sessiondb.TokenPrefix)
	case s.Token.String() != sessiondb.TokenPrefix+"[redacted]":
		e.t.Errorf("Token.String() = %q, want it redacted", s.Token.String())
	}
	if id, err := sessiondb.IDFromToken(string(s.Token)); err != nil || id != s.ID {
		e.t.Errorf("IDFromToken(token) = %q, %v, want the session id %q", id, err, s.ID)
	}
	if s.UserID != "user123" || !maps.Equal(s.Metadata, md) {
		e.t.Errorf("Create = user %q metadata %v, want user123 %v", s.UserID, s.Metadata, md)
	}
	if !near(s.CreatedAt) || !s.LastSeenAt.Equal(s.CreatedAt) || s.ExpiresAt.Sub(s.CreatedAt) != 2*time.Hour {
		e.t.Errorf("Create times: created %v, last seen %v, expires %v; want now, now, now+2h",
			s.CreatedAt, s.LastSeenAt, s.ExpiresAt)
	}
	if s.CreatedAt.Location() != time.UTC {
		e.t.Errorf("CreatedAt is in %v, want UTC", s.CreatedAt.Location())
	}
	md["ip"] = "changed after Create"
	v := e.validate(s.Token)
	if v.Token != "" {
		e.t.Errorf("Validate returned a token")
	}
	md["ip"] = "192.0.2.1"
	e.sameSession("Validate", v, s)
	if !v.LastSeenAt.Equal(s.LastSeenAt) {
		// The last-seen time is written back at most once a minute.
		e.t.Errorf("Validate right after Create: LastSeenAt %v, want %v", v.LastSeenAt, s.LastSeenAt)
	}

	// No or empty metadata is nil, as the library keeps it.
	for _, md := range []map[string]string{nil, {}} {
		s := e.create("user123", 0, md)
		if s.Metadata != nil {
			e.t.Errorf("Create with metadata %#v: Metadata = %#v, want nil", md, s.Metadata)
		}
		if v := e.validate(s.Token); v.Metadata != nil {
			e.t.Errorf("Validate: Metadata = %#v, want nil", v.Metadata)
		}
	}
}

func testDefaultTTL(e *env) {
	s := e.create("u", 0, nil)
	if got := s.ExpiresAt.Sub(s.CreatedAt); got != sessiondb.DefaultTTL {
		e.t.Errorf("Create with ttl 0 lasts %v, want the default %v", got, sessiondb.DefaultTTL)
	}
}

func testGet(e *env) {
	s := e.create("u", 0, map[string]string{"k": "v"})
	got, err := e.s.Get(e.ctx, s.ID)
	if err != nil {
		e.t.Fatalf("Get: %v", err)
	}
	if got.Token != "" {
		e.t.Errorf("Get returned a token")
	}
	e.sameSession("Get", got, s)
	for _, id := range []string{"", "nope", s.ID + "x", strings.ToUpper(s.ID), string(s.Token)} {
		_, err := e.s.Get(e.ctx, id)
		e.wantNotFound(fmt.Sprintf("Get(%.24q)", id), err)
	}
	dead := e.deadToken()
	deadID, _ := sessiondb.IDFromToken(string(dead))
	_, err = e.s.Get(e.ctx, deadID)
	e.wantNotFound("Get of an ended session", err)
}

func testNotFound(e *env) {
	s := e.create("u", 0, nil)
	// The token with its last character changed: its checksum no longer holds.
	last := "A"
	if strings.HasSuffix(string(s.Token), last) {
		last = "B"
	}
	for _, tok := range []string{"", "garbage", sessiondb.TokenPrefix, s.ID, string(s.Token) + "x",
		string(s.Token[:len(s.Token)-1]) + last, strings.Repeat("a", 10000), string(e.deadToken())} {
		_, err := e.s.Validate(e.ctx, tok)
		e.wantNotFound(fmt.Sprintf("Validate(%.24q)", tok), err)
		_, err = e.s.Refresh(e.ctx, tok, 0)
		e.wantNotFound("Refresh", err)
		_, err = e.s.Rotate(e.ctx, tok)
		e.wantNotFound("Rotate", err)
		_, err = e.s.UpdateMetadata(e.ctx, tok, func(map[string]string) error { return nil })
		e.wantNotFound("UpdateMetadata", err)
		e.wantNotFound("Invalidate", e.s.Invalidate(e.ctx, tok))
	}
	e.validate(s.Token) // the live one was never touched
}

// waitExpired polls until the token no longer validates.
func (e *env) waitExpired(tok sessiondb.Token) {
	e.t.Helper()
	deadline := time.Now().Add(maxExpiryWait)
	for {
		_, err := e.s.Validate(e.ctx, string(tok))
		if errors.Is(err, sessiondb.ErrNotFound) {
			return
		}
		if err != nil {
			e.t.Fatalf("Validate while waiting for expiry: %v", err)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the session still validates %v after it should have expired", maxExpiryWait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func testExpiry(e *env) {
	if n, err := e.s.Cleanup(e.ctx); err != nil || n != 0 {
		e.t.Errorf("Cleanup with nothing expired = %d, %v, want 0", n, err)
	}
	// untouched is created first, so it has expired by the time short has;
	// nothing reads it, since stores may drop what they find expired.
	untouched := e.create("untouched", time.Second, nil)
	short := e.create("expiring", time.Second, nil)
	long := e.create("staying", time.Hour, nil)
	e.waitExpired(short.Token)
	_, err := e.s.Get(e.ctx, short.ID)
	e.wantNotFound("Get of an expired session", err)
	_, err = e.s.Refresh(e.ctx, string(short.Token), time.Hour)
	e.wantNotFound("Refresh of an expired session", err)
	_, err = e.s.Rotate(e.ctx, string(short.Token))
	e.wantNotFound("Rotate of an expired session", err)
	_, err = e.s.UpdateMetadata(e.ctx, string(short.Token), func(map[string]string) error { return nil })
	e.wantNotFound("UpdateMetadata of an expired session", err)
	e.wantNotFound("Invalidate of an expired session", e.s.Invalidate(e.ctx, string(short.Token)))
	if ids := e.ids("expiring"); len(ids) != 0 {
		e.t.Errorf("UserSessions lists expired sessions: %v", ids)
	}
	if st := e.stats(); st.Expired < 1 || st.Active != 1 || st.Total != st.Active+st.Expired {
		e.t.Errorf("Stats before cleanup: active %d expired %d total %d, want 1, at least 1, their sum", st.Active, st.Expired, st.Total)
	}
	if n, err := e.s.Cleanup(e.ctx); err != nil || n < 1 || n > 2 {
		e.t.Errorf("Cleanup = %d, %v, want the expired sessions (1 or 2)", n, err)
	}
	if n, err := e.s.Cleanup(e.ctx); err != nil || n != 0 {
		e.t.Errorf("second Cleanup = %d, %v, want 0", n, err)
	}
	if st := e.stats(); st.Expired != 0 || st.Active != 1 || st.Total != 1 || st.Users != 1 {
		e.t.Errorf("Stats after cleanup: active %d expired %d total %d users %d, want 1 0 1 1", st.Active, st.Expired, st.Total, st.Users)
	}
	_, err = e.s.Validate(e.ctx, string(untouched.Token))
	e.wantNotFound("Validate of a cleaned-up session", err)
	e.validate(long.Token)
}

func testIdleTimeout(e *env) {
	s := e.create("u", 3*time.Hour, nil)
	// The effective end is the idle deadline, the earlier of the two.
	if got, want := s.EffectiveExpiry(), s.LastSeenAt.Add(time.Hour); !got.Equal(want) {
		e.t.Errorf("EffectiveExpiry = %v, want last seen + idle timeout %v", got, want)
	}
	v := e.validate(s.Token)
	if got, want := v.EffectiveExpiry(), v.LastSeenAt.Add(time.Hour); !got.Equal(want) {
		e.t.Errorf("Validate: EffectiveExpiry = %v, want %v", got, want)
	}
}

func testRefresh(e *env) {
	s := e.create("u", time.Hour, map[string]string{"k": "v"})
	got, err := e.s.Refresh(e.ctx, string(s.Token), 2*time.Hour)
	if err != nil {
		e.t.Fatalf("Refresh: %v", err)
	}
	if got.Token != "" {
		e.t.Errorf("Refresh returned a token")
	}
	if got.ID != s.ID || !got.CreatedAt.Equal(s.CreatedAt) || !maps.Equal(got.Metadata, s.Metadata) {
		e.t.Errorf("Refresh changed the session: %+v, was %+v", got.Record, s.Record)
	}
	if got.LastSeenAt.Before(s.LastSeenAt) || got.ExpiresAt.Sub(got.LastSeenAt) != 2*time.Hour {
		e.t.Errorf("Refresh(2h): last seen %v, expires %v; want expiry 2h after last seen", got.LastSeenAt, got.ExpiresAt)
	}
	if v := e.validate(s.Token); !v.ExpiresAt.Equal(got.ExpiresAt) {
		e.t.Errorf("Validate after Refresh: expires %v, want %v", v.ExpiresAt, got.ExpiresAt)
	}

	// 0 means the TTL the session was created with.
	got, err = e.s.Refresh(e.ctx, string(s.Token), 0)
	if err != nil {
		e.t.Fatalf("Refresh(0): %v", err)
	}
	if d := got.ExpiresAt.Sub(got.LastSeenAt); d != time.Hour {
		e.t.Errorf("Refresh(0) extends by %v, want the session's own 1h", d)
	}

	// Never past the maximum lifetime, counted from creation.
	long := e.create("u", 29*24*time.Hour, nil)
	got, err = e.s.Refresh(e.ctx, string(long.Token), 30*24*time.Hour)
	if err != nil {
		e.t.Fatalf("Refresh(30 days): %v", err)
	}
	if want := long.CreatedAt.Add(sessiondb.DefaultMaxTTL); !got.ExpiresAt.Equal(want) {
		e.t.Errorf("Refresh(30 days) expires %v, want capped at creation + max TTL %v", got.ExpiresAt, want)
	}

	for _, ttl := range []time.Duration{-time.Second, sessiondb.DefaultMaxTTL + 24*time.Hour} {
		_, err := e.s.Refresh(e.ctx, string(s.Token), ttl)
		e.wantInvalid(fmt.Sprintf("Refresh(%v)", ttl), err, "ttl_seconds")
	}
}

func testRotate(e *env) {
	s := e.create("u", time.Hour, map[string]string{"k": "v"})
	r, err := e.s.Rotate(e.ctx, string(s.Token))
	if err != nil {
		e.t.Fatalf("Rotate: %v", err)
	}
	e.remember(r.Token)
	if r.Token == "" || r.Token == s.Token || r.ID == s.ID {
		e.t.Fatalf("Rotate kept the token or id")
	}
	if id, _ := sessiondb.IDFromToken(string(r.Token)); id != r.ID {
		e.t.Errorf("the new token names %q, want the new id %q", id, r.ID)
	}
	if r.UserID != s.UserID || !r.CreatedAt.Equal(s.CreatedAt) || !r.ExpiresAt.Equal(s.ExpiresAt) || !maps.Equal(r.Metadata, s.Metadata) {
		e.t.Errorf("Rotate = %+v, want the same user, creation, expiry and metadata as %+v", r.Record, s.Record)
	}
	_, err = e.s.Validate(e.ctx, string(s.Token))
	e.wantNotFound("Validate of the old token", err)
	_, err = e.s.Get(e.ctx, s.ID)
	e.wantNotFound("Get of the old id", err)
	e.sameSession("Validate of the new token", e.validate(r.Token), r)
	if ids := e.ids("u"); len(ids) != 1 || ids[0] != r.ID {
		e.t.Errorf("UserSessions after Rotate = %v, want [%s]", ids, r.ID)
	}
	_, err = e.s.Rotate(e.ctx, string(s.Token))
	e.wantNotFound("Rotate of the old token", err)
}

func testUpdateMetadata(e *env) {
	s := e.create("u", 0, map[string]string{"keep": "1", "change": "old", "drop": "x"})
	got, err := e.s.UpdateMetadata(e.ctx, string(s.Token), func(md map[string]string) error {
		md["change"] = "new"
		md["add"] = "a"
		delete(md, "drop")
		return nil
	})
	if err != nil {
		e.t.Fatalf("UpdateMetadata: %v", err)
	}
	want := map[string]string{"keep": "1", "change": "new", "add": "a"}
	if !maps.Equal(got.Metadata, want) || got.ID != s.ID || got.Token != "" {
		e.t.Errorf("UpdateMetadata = %v (id %s), want %v (id %s)", got.Metadata, got.ID, want, s.ID)
	}
	if got.LastSeenAt.Before(s.LastSeenAt) || !got.ExpiresAt.Equal(s.ExpiresAt) {
		e.t.Errorf("UpdateMetadata times: last seen %v expires %v, was %v %v", got.LastSeenAt, got.ExpiresAt, s.LastSeenAt, s.ExpiresAt)
	}
	if v := e.validate(s.Token); !maps.Equal(v.Metadata, want) {
		e.t.Errorf("Validate after UpdateMetadata = %v, want %v", v.Metadata, want)
	}

	// The map change gets is a copy that is never nil.
	empty := e.create("u", 0, nil)
	got, err = e.s.UpdateMetadata(e.ctx, string(empty.Token), func(md map[string]string) error {
		if md == nil {
			return errors.New("nil map")
		}
		md["first"] = "1"
		return nil
	})
	if err != nil || !maps.Equal(got.Metadata, map[string]string{"first": "1"}) {
		e.t.Errorf("UpdateMetadata of a session without metadata = %v, %v", got, err)
	}
	// Deleting every key leaves nil metadata.
	got, err = e.s.UpdateMetadata(e.ctx, string(empty.Token), func(md map[string]string) error {
		clear(md)
		return nil
	})
	if err != nil || got.Metadata != nil {
		e.t.Errorf("UpdateMetadata deleting every key = %v, %v; want nil metadata", got, err)
	}
	// A change that changes nothing is fine.
	if _, err := e.s.UpdateMetadata(e.ctx, string(s.Token), func(map[string]string) error { return nil }); err != nil {
		e.t.Errorf("UpdateMetadata without a change: %v", err)
	}
	if v := e.validate(s.Token); !maps.Equal(v.Metadata, want) {
		e.t.Errorf("Validate after a no-op update = %v, want %v", v.Metadata, want)
	}
}

func testUpdateMetadataByID(e *env) {
	s := e.create("u", 0, map[string]string{"a": "1"})
	got, err := e.s.UpdateMetadataByID(e.ctx, s.ID, func(md map[string]string) error {
		md["b"] = "2"
		delete(md, "a")
		return nil
	})
	if err != nil {
		e.t.Fatalf("UpdateMetadataByID: %v", err)
	}
	if want := map[string]string{"b": "2"}; !maps.Equal(got.Metadata, want) || got.ID != s.ID {
		e.t.Errorf("UpdateMetadataByID = %v, want %v", got.Metadata, want)
	}
	if v := e.validate(s.Token); v.Metadata["b"] != "2" || len(v.Metadata) != 1 {
		e.t.Errorf("Validate after UpdateMetadataByID = %v", v.Metadata)
	}
	for _, id := range []string{"", "nope", string(s.Token)} {
		_, err := e.s.UpdateMetadataByID(e.ctx, id, func(map[string]string) error { return nil })
		e.wantNotFound(fmt.Sprintf("UpdateMetadataByID(%.24q)", id), err)
	}
	dead := e.deadToken()
	deadID, _ := sessiondb.IDFromToken(string(dead))
	_, err = e.s.UpdateMetadataByID(e.ctx, deadID, func(map[string]string) error { return nil })
	e.wantNotFound("UpdateMetadataByID of an ended session", err)
	_, err = e.s.UpdateMetadataByID(e.ctx, s.ID, nil)
	e.wantInvalid("UpdateMetadataByID(nil)", err, "metadata")
}

func testUpdateMetadataRefused(e *env) {
	orig := map[string]string{"a": "1"}
	s := e.create("u", 0, orig)
	refused := errors.New("refused by the change function")
	_, err := e.s.UpdateMetadata(e.ctx, string(s.Token), func(md map[string]string) error {
		md["a"] = "changed"
		return refused
	})
	if !errors.Is(err, refused) {
		e.t.Errorf("UpdateMetadata with a failing change = %v, want its error", err)
	}
	_, err = e.s.UpdateMetadata(e.ctx, string(s.Token), nil)
	e.wantInvalid("UpdateMetadata(nil)", err, "metadata")
	for name, change := range map[string]func(map[string]string) error{
		"oversized":    func(md map[string]string) error { md["big"] = strings.Repeat("x", 5000); return nil },
		"empty key":    func(md map[string]string) error { md[""] = "v"; return nil },
		"invalid UTF8": func(md map[string]string) error { md["k"] = "\xff"; return nil },
	} {
		_, err := e.s.UpdateMetadata(e.ctx, string(s.Token), change)
		e.wantInvalid("UpdateMetadata "+name, err, "metadata")
	}
	if v := e.validate(s.Token); !maps.Equal(v.Metadata, orig) {
		e.t.Errorf("refused updates wrote something: metadata %v, want %v", v.Metadata, orig)
	}
}

func testUpdateMetadataConcurrentKeys(e *env) {
	s := e.create("u", 0, map[string]string{"base": "0"})
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			key, val := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)
			change := func(md map[string]string) error { md[key] = val; return nil }
			var err error
			if i%2 == 0 {
				_, err = e.s.UpdateMetadata(e.ctx, string(s.Token), change)
			} else {
				_, err = e.s.UpdateMetadataByID(e.ctx, s.ID, change)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			e.t.Errorf("concurrent UpdateMetadata: %v", err)
		}
	}
	v := e.validate(s.Token)
	want := map[string]string{"base": "0"}
	for i := range writers {
		want[fmt.Sprintf("k%d", i)] = fmt.Sprintf("v%d", i)
	}
	if !maps.Equal(v.Metadata, want) {
		e.t.Errorf("after concurrent updates of different keys: %v, want every key %v", v.Metadata, want)
	}
}

func testInvalidate(e *env) {
	s := e.create("u", 0, nil)
	other := e.create("u", 0, nil)
	if err := e.s.Invalidate(e.ctx, string(s.Token)); err != nil {
		e.t.Fatalf("Invalidate: %v", err)
	}
	_, err := e.s.Validate(e.ctx, string(s.Token))
	e.wantNotFound("Validate after Invalidate", err)
	e.wantNotFound("second Invalidate", e.s.Invalidate(e.ctx, string(s.Token)))
	if ids := e.ids("u"); len(ids) != 1 || ids[0] != other.ID {
		e.t.Errorf("UserSessions after Invalidate = %v, want [%s]", ids, other.ID)
	}
	e.validate(other.Token)
}

func testInvalidateByID(e *env) {
	s := e.create("u", 0, nil)
	if err := e.s.InvalidateByID(e.ctx, s.ID); err != nil {
		e.t.Fatalf("InvalidateByID: %v", err)
	}
	_, err := e.s.Validate(e.ctx, string(s.Token))
	e.wantNotFound("Validate after InvalidateByID", err)
	e.wantNotFound("second InvalidateByID", e.s.InvalidateByID(e.ctx, s.ID))
	for _, id := range []string{"", "nope", string(s.Token)} {
		e.wantNotFound(fmt.Sprintf("InvalidateByID(%.24q)", id), e.s.InvalidateByID(e.ctx, id))
	}
}

func testInvalidateUser(e *env) {
	a := e.create("alice", 0, nil)
	b := e.create("alice", 0, nil)
	c := e.create("alice", 0, nil)
	bob := e.create("bob", 0, nil)
	n, err := e.s.InvalidateUser(e.ctx, "alice", b.ID)
	if err != nil || n != 2 {
		e.t.Fatalf("InvalidateUser(alice, except b) = %d, %v, want 2", n, err)
	}
	for _, s := range []*sessiondb.Session{a, c} {
		_, err := e.s.Validate(e.ctx, string(s.Token))
		e.wantNotFound("Validate of an invalidated session", err)
	}
	e.validate(b.Token)
	e.validate(bob.Token)
	if ids := e.ids("alice"); len(ids) != 1 || ids[0] != b.ID {
		e.t.Errorf("UserSessions(alice) = %v, want [%s]", ids, b.ID)
	}
	if n, err := e.s.InvalidateUser(e.ctx, "alice", ""); err != nil || n != 1 {
		e.t.Errorf("InvalidateUser(alice) = %d, %v, want 1", n, err)
	}
	if n, err := e.s.InvalidateUser(e.ctx, "nobody", ""); err != nil || n != 0 {
		e.t.Errorf("InvalidateUser(unknown user) = %d, %v, want 0", n, err)
	}
	_, err = e.s.InvalidateUser(e.ctx, "bob", "not-an-id")
	e.wantInvalid("InvalidateUser with a malformed except", err, "except")
	_, err = e.s.InvalidateUser(e.ctx, "bob", string(bob.Token))
	e.wantInvalid("InvalidateUser with a token as except", err, "except")
	_, err = e.s.InvalidateUser(e.ctx, "", "")
	e.wantInvalid("InvalidateUser(\"\")", err, "user_id")
	e.validate(bob.Token)
}

func testUserSessionsNewestFirst(e *env) {
	if ids := e.ids("carol"); len(ids) != 0 {
		e.t.Errorf("UserSessions of an unknown user = %v, want none", ids)
	}
	var want []string
	for i := range 4 {
		s := e.create("carol", 0, map[string]string{"n": fmt.Sprint(i)})
		want = append([]string{s.ID}, want...)
		time.Sleep(2 * time.Millisecond) // distinct creation times, even at millisecond precision
	}
	list := e.userSessions("carol")
	var got []string
	for i, s := range list {
		got = append(got, s.ID)
		if s.UserID != "carol" || s.Metadata["n"] != fmt.Sprint(len(list)-1-i) {
			e.t.Errorf("UserSessions[%d] = %+v", i, s.Record)
		}
		if i > 0 && s.CreatedAt.After(list[i-1].CreatedAt) {
			e.t.Errorf("UserSessions not newest first: %v after %v", s.CreatedAt, list[i-1].CreatedAt)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		e.t.Errorf("UserSessions = %v, want newest first %v", got, want)
	}
}

// testUserIDs checks that user ids with characters special in URLs work
// end to end, and only for their own user.
func testUserIDs(e *env) {
	users := []string{"team/alice", ".", "..", "a b?c=d&e#f", "%41", "ü\u2028", "user@example.com", strings.Repeat("u", sessiondb.MaxUserIDBytes)}
	byUser := map[string]*sessiondb.Session{}
	for _, u := range users {
		byUser[u] = e.create(u, 0, nil)
	}
	for _, u := range users {
		if ids := e.ids(u); len(ids) != 1 || ids[0] != byUser[u].ID {
			e.t.Errorf("UserSessions(%q) = %v, want [%s]", u, ids, byUser[u].ID)
		}
		if v := e.validate(byUser[u].Token); v.UserID != u {
			e.t.Errorf("Validate: UserID = %q, want %q", v.UserID, u)
		}
	}
	for _, u := range users {
		if n, err := e.s.InvalidateUser(e.ctx, u, ""); err != nil || n != 1 {
			e.t.Errorf("InvalidateUser(%q) = %d, %v, want 1", u, n, err)
		}
	}
	if st := e.stats(); st.Active != 0 {
		e.t.Errorf("after invalidating every user: %d active sessions, want 0", st.Active)
	}
}

func testLimitEvict(e *env) {
	s1 := e.create("u", 0, nil)
	time.Sleep(2 * time.Millisecond)
	s2 := e.create("u", 0, nil)
	time.Sleep(2 * time.Millisecond)
	s3 := e.create("u", 0, nil)
	_, err := e.s.Validate(e.ctx, string(s1.Token))
	e.wantNotFound("Validate of the evicted oldest session", err)
	e.validate(s2.Token)
	e.validate(s3.Token)
	if ids := e.ids("u"); fmt.Sprint(ids) != fmt.Sprint([]string{s3.ID, s2.ID}) {
		e.t.Errorf("UserSessions = %v, want [%s %s]", ids, s3.ID, s2.ID)
	}
	if st := e.stats(); st.Evicted != 1 || st.Active != 2 || st.Created != 3 {
		e.t.Errorf("Stats: evicted %d active %d created %d, want 1 2 3", st.Evicted, st.Active, st.Created)
	}
	e.create("other", 0, nil) // another user's limit is their own
	e.validate(s2.Token)
}

func testLimitReject(e *env) {
	s1 := e.create("u", 0, nil)
	e.create("u", 0, nil)
	_, err := e.s.Create(e.ctx, "u", 0, nil)
	e.wantErr("Create over the limit", err, sessiondb.ErrSessionLimit)
	if errors.Is(err, sessiondb.ErrInvalidArgument) || errors.Is(err, sessiondb.ErrUnavailable) {
		e.t.Errorf("Create over the limit = %v, also matches another sentinel", err)
	}
	if ids := e.ids("u"); len(ids) != 2 {
		e.t.Errorf("a refused Create left %d sessions, want 2", len(ids))
	}
	if err := e.s.Invalidate(e.ctx, string(s1.Token)); err != nil {
		e.t.Fatal(err)
	}
	e.create("u", 0, nil) // room again
	if st := e.stats(); st.Created != 3 || st.Evicted != 0 {
		e.t.Errorf("Stats: created %d evicted %d, want 3 0", st.Created, st.Evicted)
	}
}

func testNoLimit(e *env) {
	var toks []sessiondb.Token
	for range sessiondb.DefaultMaxSessionsPerUser + 3 {
		toks = append(toks, e.create("u", 0, nil).Token)
	}
	for _, tok := range toks {
		e.validate(tok)
	}
}

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
