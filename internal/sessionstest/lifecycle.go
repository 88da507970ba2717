package sessionstest

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
)

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
