package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/internal/webhooks"
)

// TestState runs one set of checks on every State: in memory, in a
// standalone Redis, and in a Redis Cluster (where a script that reached
// keys of two slots would fail with CROSSSLOT).
func TestState(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		runStateTests(t, func(t *testing.T) webhooks.State { return webhooks.NewMemState(nil) })
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		n := 0
		runStateTests(t, func(t *testing.T) webhooks.State {
			n++
			return newRedisState(t, []string{srv.Addr()}, fmt.Sprintf("t%d:", n))
		})
	})
	t.Run("cluster", func(t *testing.T) {
		cl := redistest.StartCluster(t, 3)
		n := 0
		runStateTests(t, func(t *testing.T) webhooks.State {
			n++
			return newRedisState(t, cl.Addrs(), fmt.Sprintf("t%d:", n))
		})
	})
}

func newRedisState(t *testing.T, addrs []string, prefix string) *webhooks.RedisState {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return webhooks.NewRedisState(func() (rueidis.Client, error) { return c, nil }, prefix)
}

func runStateTests(t *testing.T, newState func(*testing.T) webhooks.State) {
	ctx := context.Background()
	const ttl = time.Minute
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	dead := func(id string, at time.Time) *webhooks.DeadLetter {
		return &webhooks.DeadLetter{Endpoint: "ep", ID: id, Event: json.RawMessage(`{"id":"` + id + `","metadata":{"ua":"<a&b> é"}}`),
			Attempts: 3, Error: "HTTP 500 Internal Server Error", DeadAt: at.UTC().Truncate(time.Millisecond)}
	}

	t.Run("lease", func(t *testing.T) {
		s := newState(t)
		check := func(what string, got bool, err error, want bool) {
			t.Helper()
			if err != nil || got != want {
				t.Errorf("%s = %v, %v; want %v", what, got, err, want)
			}
		}
		ok, err := s.Acquire(ctx, "ep", "a", ttl)
		check("Acquire(a)", ok, err, true)
		ok, err = s.Acquire(ctx, "ep", "b", ttl)
		check("Acquire(b) while a holds it", ok, err, false)
		ok, err = s.Renew(ctx, "ep", "b", ttl)
		check("Renew(b)", ok, err, false)
		ok, err = s.Renew(ctx, "ep", "a", ttl)
		check("Renew(a)", ok, err, true)
		ok, err = s.Acquire(ctx, "other", "b", ttl)
		check("Acquire(b) of another endpoint", ok, err, true)
		must(t, s.Release(ctx, "ep", "b")) // not b's: no effect
		ok, err = s.Acquire(ctx, "ep", "b", ttl)
		check("Acquire(b) after b's release of a's lease", ok, err, false)
		must(t, s.Release(ctx, "ep", "a"))
		ok, err = s.Renew(ctx, "ep", "a", ttl)
		check("Renew(a) after release", ok, err, false)
		ok, err = s.Acquire(ctx, "ep", "b", ttl)
		check("Acquire(b) after a's release", ok, err, true)
	})

	t.Run("lease runs out: fenced writes change nothing", func(t *testing.T) {
		s := newState(t)
		must(t, s.Register(ctx, []string{"ep"}, time.Now()))
		start, err := s.Start(ctx, "ep", "100")
		must(t, err)
		if ok, err := s.Acquire(ctx, "ep", "a", 100*time.Millisecond); !ok || err != nil {
			t.Fatalf("Acquire = %v, %v", ok, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			ok, err := s.Acquire(ctx, "ep", "b", ttl)
			must(t, err)
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a lease of 100ms still held after 10s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		held, _, err := s.Advance(ctx, "ep", "a", ttl, "200-0-000-0", dead("200-0-000-0", time.Now()))
		if held || err != nil {
			t.Errorf("Advance by the old holder = %v, %v; want false", held, err)
		}
		if ok, err := s.Pause(ctx, "ep", "a", ttl, "gone"); ok || err != nil {
			t.Errorf("Pause by the old holder = %v, %v; want false", ok, err)
		}
		st, err := s.Status(ctx, "ep", time.Now())
		must(t, err)
		if st.Cursor != start || st.Dead != 0 || st.Paused != "" || st.Holder != "b" {
			t.Errorf("after the old holder's writes: %+v; want cursor %s, nothing dead, not paused, held by b", st, start)
		}
	})

	t.Run("cursor", func(t *testing.T) {
		s := newState(t)
		c, err := s.Start(ctx, "ep", "1000")
		if c != "1000" || err != nil {
			t.Fatalf("Start = %q, %v", c, err)
		}
		c, err = s.Start(ctx, "ep", "2000")
		if c != "1000" || err != nil {
			t.Fatalf("Start again = %q, %v; want the first start kept", c, err)
		}
		if ok, err := s.Acquire(ctx, "ep", "a", ttl); !ok || err != nil {
			t.Fatal(ok, err)
		}
		held, dropped, err := s.Advance(ctx, "ep", "a", ttl, "1500-0-00a-1", nil)
		if !held || dropped != 0 || err != nil {
			t.Fatalf("Advance = %v, %d, %v", held, dropped, err)
		}
		if c, _ := s.Start(ctx, "ep", "3000"); c != "1500-0-00a-1" {
			t.Errorf("cursor after Advance = %q", c)
		}
	})

	t.Run("dead letters, retry, bound", func(t *testing.T) {
		s := newState(t)
		webhooks.SetMaxDead(s, 3)
		must(t, s.Register(ctx, []string{"ep"}, time.Now()))
		if _, err := s.Dead(ctx, "nope"); !errors.Is(err, webhooks.ErrUnknownEndpoint) {
			t.Errorf("Dead(unknown) = %v", err)
		}
		if _, err := s.Status(ctx, "nope", time.Now()); !errors.Is(err, webhooks.ErrUnknownEndpoint) {
			t.Errorf("Status(unknown) = %v", err)
		}
		if _, err := s.Retry(ctx, "nope", nil, time.Now()); !errors.Is(err, webhooks.ErrUnknownEndpoint) {
			t.Errorf("Retry(unknown) = %v", err)
		}
		if ok, err := s.Acquire(ctx, "ep", "a", ttl); !ok || err != nil {
			t.Fatal(ok, err)
		}
		base := time.Now()
		var ids []string
		total := 0
		for i := range 5 {
			id := fmt.Sprintf("%d-0-000-0", 1000+i)
			ids = append(ids, id)
			held, dropped, err := s.Advance(ctx, "ep", "a", ttl, id, dead(id, base.Add(time.Duration(i)*time.Second)))
			if !held || err != nil {
				t.Fatal(held, err)
			}
			total += dropped
		}
		if total != 2 {
			t.Errorf("dropped %d dead letters past a bound of 3 after 5, want 2", total)
		}
		got, err := s.Dead(ctx, "ep")
		must(t, err)
		if len(got) != 3 || got[0].ID != ids[2] || got[2].ID != ids[4] {
			t.Fatalf("Dead = %+v, want the last 3 of %v, oldest first", got, ids)
		}
		if want := dead(ids[2], base.Add(2*time.Second)); string(got[0].Event) != string(want.Event) ||
			got[0].Attempts != 3 || got[0].Error != want.Error || !got[0].DeadAt.Equal(want.DeadAt) || got[0].Endpoint != "ep" {
			t.Errorf("Dead[0] = %+v (event %s), want %+v (event %s)", got[0], got[0].Event, want, want.Event)
		}

		queued, err := s.Retry(ctx, "ep", []string{ids[3], "9-9-999-9"}, time.Now())
		if err != nil || !slices.Equal(queued, []string{ids[3]}) {
			t.Fatalf("Retry(one known, one unknown) = %v, %v", queued, err)
		}
		paused, first, err := s.Peek(ctx, "ep")
		if err != nil || paused != "" || first == nil || first.ID != ids[3] || string(first.Event) != string(dead(ids[3], base).Event) {
			t.Fatalf("Peek = %q, %+v, %v", paused, first, err)
		}
		st, err := s.Status(ctx, "ep", time.Now())
		if err != nil || st.Dead != 2 || st.Queued != 1 || st.Holder != "a" || st.LeaseSeconds <= 0 {
			t.Errorf("Status = %+v, %v; want 2 dead, 1 queued, held by a", st, err)
		}
		// Delivered on retry: gone.
		if held, _, err := s.FinishRetry(ctx, "ep", "a", ttl, ids[3], nil); !held || err != nil {
			t.Fatal(held, err)
		}
		if _, first, _ := s.Peek(ctx, "ep"); first != nil {
			t.Errorf("Peek after FinishRetry = %+v", first)
		}
		// All the rest; one dies again.
		queued, err = s.Retry(ctx, "ep", nil, time.Now())
		if err != nil || len(queued) != 2 {
			t.Fatalf("Retry(all) = %v, %v", queued, err)
		}
		again := dead(queued[0], time.Now())
		again.Retries = 1
		if held, _, err := s.FinishRetry(ctx, "ep", "b", ttl, queued[0], again); held || err != nil {
			t.Errorf("FinishRetry by a non-holder = %v, %v", held, err)
		}
		if held, _, err := s.FinishRetry(ctx, "ep", "a", ttl, queued[0], again); !held || err != nil {
			t.Fatal(held, err)
		}
		got, _ = s.Dead(ctx, "ep")
		if len(got) != 1 || got[0].ID != queued[0] || got[0].Retries != 1 {
			t.Errorf("Dead after a retry died again = %+v", got)
		}
		st, _ = s.Status(ctx, "ep", time.Now())
		if st.Dead != 1 || st.Queued != 1 {
			t.Errorf("Status = %+v, want 1 dead, 1 queued", st)
		}
	})

	t.Run("pause", func(t *testing.T) {
		s := newState(t)
		must(t, s.Register(ctx, []string{"ep"}, time.Now()))
		if ok, err := s.Acquire(ctx, "ep", "a", ttl); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, err := s.Pause(ctx, "ep", "a", ttl, "HTTP 410 Gone"); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if p, _, err := s.Peek(ctx, "ep"); p != "HTTP 410 Gone" || err != nil {
			t.Errorf("Peek = %q, %v", p, err)
		}
		if was, err := s.Resume(ctx, "ep"); !was || err != nil {
			t.Errorf("Resume = %v, %v", was, err)
		}
		if was, err := s.Resume(ctx, "ep"); was || err != nil {
			t.Errorf("Resume again = %v, %v; want false", was, err)
		}
		if p, _, _ := s.Peek(ctx, "ep"); p != "" {
			t.Errorf("Peek after Resume = %q", p)
		}
		names, err := s.Endpoints(ctx)
		if err != nil || !slices.Equal(names, []string{"ep"}) {
			t.Errorf("Endpoints = %v, %v", names, err)
		}
	})
}
