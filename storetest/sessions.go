package storetest

// Creating, reading, rotating and invalidating sessions.

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/sessiondb/sessiondb"
)

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
