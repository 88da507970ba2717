package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/internal/webhooks"
	"github.com/sessiondb/sessiondb/internal/webhooks/webhooktest"
	"github.com/sessiondb/sessiondb/memstore"
	"github.com/sessiondb/sessiondb/redisstore"
	"github.com/sessiondb/sessiondb/webhook"
)

// encode is the tests' event body: an object with the event's id, as the
// receiver checks.
func encode(e *sessiondb.Event) []byte {
	b, _ := json.Marshal(map[string]any{"id": e.ID, "type": e.Type, "session_id": e.SessionID, "user_id": e.UserID})
	return b
}

func memManager(t *testing.T) *sessiondb.Manager {
	t.Helper()
	st, err := memstore.NewWithOptions(memstore.Options{Events: &sessiondb.EventOptions{}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := sessiondb.New(st, sessiondb.Options{MaxSessionsPerUser: 3})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func endpoint(t *testing.T, name string, r *webhooktest.Receiver, types ...sessiondb.EventType) webhooks.Endpoint {
	t.Helper()
	eps, err := webhooks.ParseEndpoints(name+" "+r.URL+" * "+r.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	eps[0].Types = types
	return eps[0]
}

// fastOptions retries at once and often: the tests count, never time.
func fastOptions() webhooks.Options {
	return webhooks.Options{Timeout: 2 * time.Second, MaxAttempts: 40, RetryDelay: time.Millisecond,
		RetryMax: 20 * time.Millisecond, Lease: 3 * time.Second, Poll: 20 * time.Millisecond, Encode: encode}
}

// run starts d until the test ends (or stop is called).
func run(t *testing.T, d *webhooks.Dispatcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("the dispatcher did not stop within 30s of its context's end")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// load makes a bounded mixed load of changes: creates past the limit,
// rotations, logouts, revocations. It returns nothing: the event log is
// the record of what happened.
func load(t *testing.T, m *sessiondb.Manager, users, rounds int) {
	t.Helper()
	ctx := context.Background()
	for r := range rounds {
		for u := range users {
			user := fmt.Sprintf("user%d", u)
			s, err := m.Create(ctx, user, 0, map[string]string{"round": fmt.Sprint(r)})
			if err != nil {
				t.Fatal(err)
			}
			switch r % 4 {
			case 1:
				if _, err := m.Rotate(ctx, string(s.Token)); err != nil {
					t.Fatal(err)
				}
			case 2:
				if err := m.Invalidate(ctx, string(s.Token)); err != nil {
					t.Fatal(err)
				}
			case 3:
				if _, err := m.InvalidateUser(ctx, user, s.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// eventIDs returns the ids of the events after since that f selects.
func eventIDs(t *testing.T, m *sessiondb.Manager, since string, f sessiondb.EventFilter) []string {
	t.Helper()
	var ids []string
	for e, err := range m.Events(context.Background(), since, f) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

func checkSigned(t *testing.T, r *webhooktest.Receiver) {
	t.Helper()
	if bad := r.Refused(); len(bad) > 0 {
		t.Errorf("the receiver refused %d requests: %v", len(bad), bad[:min(len(bad), 5)])
	}
}

// TestFlakyReceiverGetsEverything: a receiver that fails half of its
// requests (error statuses, timeouts, cut connections) still gets every
// event, in the log's order of first delivery, each signed.
func TestFlakyReceiverGetsEverything(t *testing.T) {
	m := memManager(t)
	r := webhooktest.Start(t)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	failed := 0
	r.Decide(func(id string, n int) webhooktest.Answer {
		mu.Lock()
		defer mu.Unlock()
		if rng.IntN(2) == 0 {
			return webhooktest.Answer{}
		}
		failed++
		switch failed % 10 {
		case 0:
			return webhooktest.Answer{Hang: 500 * time.Millisecond} // past the 200ms timeout below
		case 1, 2:
			return webhooktest.Answer{Cut: true}
		case 3:
			return webhooktest.Answer{Status: http.StatusTooManyRequests}
		}
		return webhooktest.Answer{Status: http.StatusInternalServerError}
	})
	opt := fastOptions()
	opt.Timeout = 200 * time.Millisecond
	opt.Start = m.EventsNow()
	d, err := webhooks.New(m, webhooks.NewMemState(nil), []webhooks.Endpoint{endpoint(t, "flaky", r)}, opt)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	load(t, m, 10, 8)
	want := eventIDs(t, m, opt.Start, sessiondb.EventFilter{})
	if len(want) < 100 {
		t.Fatalf("the load made %d events", len(want))
	}
	r.WaitTaken(t, want, 60*time.Second)
	checkSigned(t, r)
	if got := r.Order(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events first taken out of the log's order")
	}
	mu.Lock()
	t.Logf("%d events taken, %d requests failed on purpose", len(want), failed)
	mu.Unlock()
	if failed < len(want)/4 {
		t.Errorf("only %d failures for %d events: the receiver did not fail half the time", failed, len(want))
	}
	// The body is the event object.
	var ev struct{ ID, Type string }
	if err := json.Unmarshal(r.Body(want[0]), &ev); err != nil || ev.ID != want[0] || ev.Type != "created" {
		t.Errorf("body of %s: %s", want[0], r.Body(want[0]))
	}
}

// TestDeadLetterThenRetry: an endpoint that refuses an event MaxAttempts
// times gets it dead-lettered, and delivery goes on with the next event;
// queued for retry, the dead letter is delivered once the endpoint takes it.
func TestDeadLetterThenRetry(t *testing.T) {
	m := memManager(t)
	r := webhooktest.Start(t)
	ctx := context.Background()
	state := webhooks.NewMemState(nil)
	opt := fastOptions()
	opt.MaxAttempts = 3
	opt.Start = m.EventsNow()
	var mu sync.Mutex
	poison := map[string]bool{}
	r.Decide(func(id string, n int) webhooktest.Answer {
		mu.Lock()
		defer mu.Unlock()
		if poison[id] {
			return webhooktest.Answer{Status: http.StatusUnprocessableEntity}
		}
		return webhooktest.Answer{}
	})
	s1, _ := m.Create(ctx, "alice", 0, nil)
	if _, err := m.Create(ctx, "bob", 0, nil); err != nil {
		t.Fatal(err)
	}
	ids := eventIDs(t, m, opt.Start, sessiondb.EventFilter{})
	if len(ids) != 2 {
		t.Fatalf("%d events", len(ids))
	}
	mu.Lock()
	poison[ids[0]] = true
	mu.Unlock()
	d, err := webhooks.New(m, state, []webhooks.Endpoint{endpoint(t, "ep", r)}, opt)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	r.WaitTaken(t, ids[1:], 30*time.Second)
	dead := waitDead(t, state, "ep", 1)
	if dead[0].ID != ids[0] || dead[0].Attempts != 3 || !strings.Contains(dead[0].Error, "422") {
		t.Errorf("dead letter %+v; want %s after 3 attempts, HTTP 422", dead[0], ids[0])
	}
	if !bytes.Equal(dead[0].Event, encode(&sessiondb.Event{ID: ids[0], Type: "created", SessionID: s1.ID, UserID: "alice"})) {
		t.Errorf("dead letter's event %s", dead[0].Event)
	}
	mu.Lock()
	poison[ids[0]] = false
	mu.Unlock()
	if q, err := state.Retry(ctx, "ep", []string{ids[0]}, time.Now()); err != nil || len(q) != 1 {
		t.Fatalf("Retry = %v, %v", q, err)
	}
	r.WaitTaken(t, ids, 30*time.Second)
	waitDead(t, state, "ep", 0)
	checkSigned(t, r)
}

func waitDead(t *testing.T, s webhooks.State, ep string, n int) []webhooks.DeadLetter {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		dead, err := s.Dead(context.Background(), ep)
		if err == nil && len(dead) == n {
			if st, _ := s.Status(context.Background(), ep, time.Now()); st.Queued == 0 {
				return dead
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters (%v), want %d", len(dead), err, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedirectNotFollowed: a 3xx is a failure; the target of the redirect
// never sees the request.
func TestRedirectNotFollowed(t *testing.T) {
	m := memManager(t)
	target := webhooktest.Start(t)
	r := webhooktest.Start(t)
	r.Decide(func(string, int) webhooktest.Answer {
		return webhooktest.Answer{Status: http.StatusTemporaryRedirect, Location: target.URL}
	})
	state := webhooks.NewMemState(nil)
	opt := fastOptions()
	opt.MaxAttempts = 2
	opt.Start = m.EventsNow()
	d, err := webhooks.New(m, state, []webhooks.Endpoint{endpoint(t, "ep", r)}, opt)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	if _, err := m.Create(context.Background(), "alice", 0, nil); err != nil {
		t.Fatal(err)
	}
	dead := waitDead(t, state, "ep", 1)
	if !strings.Contains(dead[0].Error, "307") || !strings.Contains(dead[0].Error, "redirects are not followed") {
		t.Errorf("dead letter error %q", dead[0].Error)
	}
	if n := target.Requests(); n != 0 {
		t.Errorf("the redirect's target got %d requests", n)
	}
	if n := r.Requests(); n != 2 {
		t.Errorf("the endpoint got %d requests, want 2 (MaxAttempts)", n)
	}
}

// TestGonePausesUntilResumed: 410 Gone pauses delivery, without a dead
// letter; resumed, delivery goes on with that event.
func TestGonePausesUntilResumed(t *testing.T) {
	m := memManager(t)
	r := webhooktest.Start(t)
	var mu sync.Mutex
	gone := true
	r.Decide(func(string, int) webhooktest.Answer {
		mu.Lock()
		defer mu.Unlock()
		if gone {
			return webhooktest.Answer{Status: http.StatusGone}
		}
		return webhooktest.Answer{}
	})
	state := webhooks.NewMemState(nil)
	opt := fastOptions()
	opt.Start = m.EventsNow()
	d, err := webhooks.New(m, state, []webhooks.Endpoint{endpoint(t, "ep", r)}, opt)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	ctx := context.Background()
	m.Create(ctx, "alice", 0, nil)
	m.Create(ctx, "bob", 0, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := state.Status(ctx, "ep", time.Now())
		if err == nil && st.Paused != "" {
			if !strings.Contains(st.Paused, "410") {
				t.Errorf("paused for %q", st.Paused)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not paused after 410: %+v %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := r.Requests(); n != 1 {
		t.Errorf("%d requests after a 410, want 1: delivery goes on while paused", n)
	}
	mu.Lock()
	gone = false
	mu.Unlock()
	if was, err := state.Resume(ctx, "ep"); !was || err != nil {
		t.Fatal(was, err)
	}
	r.WaitTaken(t, eventIDs(t, m, opt.Start, sessiondb.EventFilter{}), 30*time.Second)
	if dead, _ := state.Dead(ctx, "ep"); len(dead) != 0 {
		t.Errorf("dead letters after a pause: %+v", dead)
	}
}

// TestTypesAndSecrets: an endpoint gets only its types; a request carries a
// signature per secret, each valid on its own (rotation).
func TestTypesAndSecrets(t *testing.T) {
	m := memManager(t)
	r := webhooktest.Start(t)
	old := webhook.NewSecret()
	eps, err := webhooks.ParseEndpoints("ep "+r.URL+" invalidated,evicted "+r.Secret+","+old, "")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sigs []string
	opt := fastOptions()
	opt.Start = m.EventsNow()
	opt.Transport = roundTripFunc(func(req *http.Request) (*http.Response, error) {
		mu.Lock()
		sigs = append(sigs, req.Header.Get(webhook.HeaderSignature))
		mu.Unlock()
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		// The old secret alone verifies the request too.
		if err := webhook.Verify(old, req.Header, body, time.Now()); err != nil {
			t.Errorf("the old secret does not verify: %v", err)
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		return http.DefaultTransport.RoundTrip(req)
	})
	d, err := webhooks.New(m, webhooks.NewMemState(nil), eps, opt)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	load(t, m, 4, 4)
	want := eventIDs(t, m, opt.Start, sessiondb.EventFilter{Types: []sessiondb.EventType{"invalidated", "evicted"}})
	all := eventIDs(t, m, opt.Start, sessiondb.EventFilter{})
	if len(want) == 0 || len(want) == len(all) {
		t.Fatalf("%d of %d events selected", len(want), len(all))
	}
	r.WaitTaken(t, want, 30*time.Second)
	checkSigned(t, r)
	if got := len(r.Taken()); got != len(want) {
		t.Errorf("%d events taken, want the %d of the types", got, len(want))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range sigs {
		if parts := strings.Fields(s); len(parts) != 2 || !strings.HasPrefix(parts[0], "v1,") || !strings.HasPrefix(parts[1], "v1,") {
			t.Errorf("webhook-signature %q: want two v1 signatures", s)
			break
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestTwoDispatchersOneRedis: two sessiond-like dispatchers (each its own
// Manager and client) on one Redis deliver each event once; when the
// holder stops, the other takes over from the cursor, skipping nothing.
func TestTwoDispatchersOneRedis(t *testing.T) {
	srv := redistest.Start(t)
	r := webhooktest.Start(t)
	newSide := func(owner string) (*sessiondb.Manager, *webhooks.Dispatcher) {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		st, err := redisstore.New(c, redisstore.Options{Events: &sessiondb.EventOptions{}, EventSettle: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		m, err := sessiondb.New(st, sessiondb.Options{MaxSessionsPerUser: 3})
		if err != nil {
			t.Fatal(err)
		}
		opt := fastOptions()
		opt.Owner = owner
		opt.Start = "1" // every event of this fresh Redis
		opt.Logger = slog.New(slog.DiscardHandler)
		d, err := webhooks.New(m, webhooks.NewRedisState(st.Client, st.Prefix()), []webhooks.Endpoint{endpoint(t, "ep", r)}, opt)
		if err != nil {
			t.Fatal(err)
		}
		return m, d
	}
	ma, da := newSide("a")
	mb, db := newSide("b")
	stopA := run(t, da)
	run(t, db)
	load(t, ma, 5, 4)
	load(t, mb, 5, 4)
	// Readers see an event once it is final: EventSettle (50 ms) of the
	// server's time after its change.
	const settled = 250 * time.Millisecond
	time.Sleep(settled)
	first := eventIDs(t, ma, "1", sessiondb.EventFilter{})
	r.WaitTaken(t, first, 60*time.Second)
	for id, n := range r.Taken() {
		if n != 1 {
			t.Errorf("event %s delivered %d times while both ran", id, n)
		}
	}
	// One stops (gracefully: it gives its lease up); the other goes on.
	stopA()
	load(t, mb, 5, 4)
	time.Sleep(settled)
	all := eventIDs(t, mb, "1", sessiondb.EventFilter{})
	if len(all) <= len(first) {
		t.Fatalf("no new events: %d then %d", len(first), len(all))
	}
	r.WaitTaken(t, all, 60*time.Second)
	dup := 0
	for _, n := range r.Taken() {
		dup += n - 1
	}
	t.Logf("%d events, %d delivered twice", len(all), dup)
	if dup != 0 {
		t.Errorf("%d duplicates after a graceful hand-over", dup)
	}
	checkSigned(t, r)
}
