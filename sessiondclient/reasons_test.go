package sessiondclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/memstore"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// TestEndReasons: with SESSION_EVENTS=true, Validate of the token of a
// session that ended is an error that matches sessiondb.ErrNotFound and is
// a *sessiondb.EndedError with the reason, as the library's; an unknown
// token is not found without a reason. On the embedded store and on Redis.
func TestEndReasons(t *testing.T) {
	env := map[string]string{"SESSION_EVENTS": "true", "MAX_SESSIONS_PER_USER": "1"}
	t.Run("embedded", func(t *testing.T) { testEndReasons(t, newClient(t, sessiondtest.StartWithKeys(t, env))) })
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		renv := map[string]string{"REDIS_URL": srv.URL()}
		for k, v := range env {
			renv[k] = v
		}
		testEndReasons(t, newClient(t, sessiondtest.StartWithKeys(t, renv)))
	})
}

func testEndReasons(t *testing.T, c *sessiondclient.Client) {
	ctx := context.Background()
	endedAs := func(tok sessiondb.Token, want sessiondb.EndReason) {
		t.Helper()
		_, err := c.Validate(ctx, string(tok))
		if !errors.Is(err, sessiondb.ErrNotFound) {
			t.Fatalf("Validate = %v, want ErrNotFound", err)
		}
		var ended *sessiondb.EndedError
		switch ok := errors.As(err, &ended); {
		case want == "" && ok:
			t.Fatalf("Validate = %v, want no reason", err)
		case want != "" && (!ok || ended.Reason != want):
			t.Fatalf("Validate = %v, want the reason %q", err, want)
		}
		var ce *sessiondclient.Error
		if !errors.As(err, &ce) || ce.Status != 404 || ce.Code != "not_found" {
			t.Fatalf("Validate = %#v, want a 404 not_found *sessiondclient.Error", err)
		}
	}
	create := func(user string, ttl time.Duration) *sessiondb.Session {
		t.Helper()
		s, err := c.Create(ctx, user, ttl, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := create("why", time.Hour)
	b := create("why", time.Hour) // the limit is 1: evicts a
	endedAs(a.Token, sessiondb.EndEvicted)
	r, err := c.Rotate(ctx, string(b.Token))
	if err != nil {
		t.Fatal(err)
	}
	endedAs(b.Token, sessiondb.EndRotated)
	if err := c.Invalidate(ctx, string(r.Token)); err != nil {
		t.Fatal(err)
	}
	endedAs(r.Token, sessiondb.EndRevoked)
	d := create("why-else", time.Hour)
	if err := c.InvalidateByID(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	endedAs(d.Token, sessiondb.EndRevoked)

	// Expired: a one-second session, once cleanup has found it (bounded
	// wait: the session's end is a second away).
	e := create("why-not", time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := c.Cleanup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the one-second session was not cleaned up in 20 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	endedAs(e.Token, sessiondb.EndExpired)

	// A token sessiond never made, and a live one.
	other, err := sessiondb.New(memstore.New(), sessiondb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.Create(ctx, "why", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	endedAs(stranger.Token, "")
	live := create("why-live", time.Hour)
	if _, err := c.Validate(ctx, string(live.Token)); err != nil {
		t.Fatalf("Validate(live) = %v", err)
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Revocations != 5 || st.RevocationBytes <= 0 || st.EventEntries <= 0 || st.EventBytes <= 0 {
		t.Fatalf("Stats = %+v, want 5 revocations and the event log's entries and memory", st)
	}
}
