package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sessiondb/sessiondb"
)

// reconcileCounts are the changes the workers of testEventsReconcile saw
// succeed, by event type and cause.
type reconcileCounts map[string]int

func (c reconcileCounts) key(t sessiondb.EventType, cause sessiondb.Cause) string {
	return string(t) + "/" + string(cause)
}

func testEventsReconcile(e *env) {
	// Bounded concurrent mixed load: creates past the limit (evicting, or
	// refused under reject), rotations, refreshes, metadata updates,
	// logouts, revocations by id, of all and of other sessions, and cleanup
	// while the clock moves on. Then the events must rebuild every user's
	// sessions exactly, and their counts match the changes made.
	const workers, rounds, users = 6, 80, 7
	var mu sync.Mutex
	counts := reconcileCounts{}
	count := func(t sessiondb.EventType, cause sessiondb.Cause, n int) {
		mu.Lock()
		counts[counts.key(t, cause)] += n
		mu.Unlock()
	}
	ok := func(err error) bool {
		if err != nil && !errors.Is(err, sessiondb.ErrNotFound) && !errors.Is(err, sessiondb.ErrSessionLimit) {
			e.t.Errorf("unexpected error: %v", err)
		}
		return err == nil
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			ctx := sessiondb.WithActor(e.ctx, fmt.Sprintf("worker-%d", w))
			var held []*sessiondb.Session
			pick := func() (*sessiondb.Session, int) {
				if len(held) == 0 {
					return nil, -1
				}
				i := rng.IntN(len(held))
				return held[i], i
			}
			for range rounds {
				user := fmt.Sprintf("rec-%d", rng.IntN(users))
				s, i := pick()
				switch op := rng.IntN(12); {
				case op < 4 || s == nil:
					ttl := 10 * time.Hour
					if op%2 == 0 {
						ttl = time.Minute
					}
					n, err := e.m.Create(ctx, user, ttl, map[string]string{"ip": "203.0.113.7", "w": fmt.Sprint(w)})
					if ok(err) {
						count(sessiondb.EventCreated, "", 1)
						held = append(held, n)
					}
				case op == 4:
					r, err := e.m.Rotate(ctx, string(s.Token))
					if ok(err) {
						count(sessiondb.EventRotated, "", 1)
						held[i] = r
					}
				case op == 5:
					if ok(e.m.Invalidate(ctx, string(s.Token))) {
						count(sessiondb.EventInvalidated, sessiondb.CauseLogout, 1)
					}
				case op == 6:
					if ok(e.m.InvalidateByID(ctx, s.ID)) {
						count(sessiondb.EventInvalidated, sessiondb.CauseAdmin, 1)
					}
				case op == 7:
					n, err := e.m.InvalidateUser(ctx, s.UserID, s.ID)
					if ok(err) {
						count(sessiondb.EventInvalidated, sessiondb.CauseRevokeOthers, n)
					}
				case op == 8:
					n, err := e.m.InvalidateUser(ctx, user, "")
					if ok(err) {
						count(sessiondb.EventInvalidated, sessiondb.CauseRevokeAll, n)
					}
				case op == 9:
					_, err := e.m.UpdateMetadata(ctx, string(s.Token), func(md map[string]string) error {
						md["seen"] = fmt.Sprint(rng.IntN(100))
						return nil
					})
					if ok(err) {
						count(sessiondb.EventUpdated, "", 1)
					}
				case op == 10:
					ok2 := ok
					if _, err := e.m.Refresh(ctx, string(s.Token), 0); !ok2(err) {
						break
					}
					_, err := e.m.Validate(ctx, string(s.Token))
					ok(err)
				default:
					if w == 0 {
						e.clock.Advance(20 * time.Second)
					}
					_, err := e.m.Cleanup(ctx)
					ok(err)
				}
			}
		})
	}
	wg.Wait()
	if e.t.Failed() {
		return
	}
	// The short sessions expire (a few more make sure there are some);
	// Cleanup takes them out of the indexes.
	for u := range 3 {
		user := fmt.Sprintf("rec-%d", u)
		n, err := e.m.InvalidateUser(e.ctx, user, "") // room under the reject policy
		if err != nil {
			e.t.Fatal(err)
		}
		count(sessiondb.EventInvalidated, sessiondb.CauseRevokeAll, n)
		e.create(user, time.Minute, nil)
		count(sessiondb.EventCreated, "", 1)
	}
	e.clock.Advance(2 * time.Minute)
	if _, err := e.m.Cleanup(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	st := e.stats()
	var all []sessiondb.Event
	for attempt := 0; ; attempt++ {
		all = e.allEvents("", sessiondb.EventFilter{})
		n := 0
		for _, ev := range all {
			if ev.Type == sessiondb.EventCreated {
				n++
			}
		}
		if int64(n) >= st.Created || attempt == 10 {
			break
		}
	}
	e.checkOrder(all)

	// Rebuild every user's sessions from the events.
	sets := make(map[string]map[string]bool)
	got := reconcileCounts{}
	for _, ev := range all {
		if ev.Actor != sessiondb.ActorLibrary && !strings.HasPrefix(ev.Actor, "worker-") {
			e.t.Fatalf("event %s: unknown actor", eventText(ev))
		}
		got[got.key(ev.Type, ev.Cause)]++
		set := sets[ev.UserID]
		if set == nil {
			set = make(map[string]bool)
			sets[ev.UserID] = set
		}
		switch ev.Type {
		case sessiondb.EventCreated, sessiondb.EventRestored:
			if set[ev.SessionID] {
				e.t.Fatalf("event %s: the session exists already", eventText(ev))
			}
			set[ev.SessionID] = true
		case sessiondb.EventRotated:
			if !set[ev.SessionID] || set[ev.NewSessionID] {
				e.t.Fatalf("event %s: rotates a session that is not there, or to one that is", eventText(ev))
			}
			delete(set, ev.SessionID)
			set[ev.NewSessionID] = true
		case sessiondb.EventInvalidated, sessiondb.EventEvicted, sessiondb.EventExpired:
			if !set[ev.SessionID] {
				e.t.Fatalf("event %s: ends a session that is not there", eventText(ev))
			}
			delete(set, ev.SessionID)
		case sessiondb.EventRefreshed, sessiondb.EventUpdated:
			if !set[ev.SessionID] {
				e.t.Fatalf("event %s: changes a session that is not there", eventText(ev))
			}
		}
	}
	total := 0
	for u := range users {
		user := fmt.Sprintf("rec-%d", u)
		var have []string
		for id := range sets[user] {
			have = append(have, id)
		}
		slices.Sort(have)
		live := e.userIDs(user)
		slices.Sort(live)
		if !slices.Equal(have, live) {
			e.t.Fatalf("user %s: the events rebuild %v, the store holds %v", user, have, live)
		}
		total += len(live)
	}
	if int64(total) != st.Total || st.Total != st.Active {
		e.t.Fatalf("the events rebuild %d sessions; Stats = %+v", total, st)
	}
	// Counts by type and cause: those of the calls that succeeded, and the
	// store's counters.
	for _, k := range []string{
		counts.key(sessiondb.EventCreated, ""), counts.key(sessiondb.EventRotated, ""),
		counts.key(sessiondb.EventUpdated, ""),
		counts.key(sessiondb.EventInvalidated, sessiondb.CauseLogout), counts.key(sessiondb.EventInvalidated, sessiondb.CauseAdmin),
		counts.key(sessiondb.EventInvalidated, sessiondb.CauseRevokeAll), counts.key(sessiondb.EventInvalidated, sessiondb.CauseRevokeOthers),
	} {
		if got[k] != counts[k] {
			e.t.Errorf("%s: %d events, %d such changes made", k, got[k], counts[k])
		}
	}
	invalidated := 0
	for _, c := range []sessiondb.Cause{sessiondb.CauseLogout, sessiondb.CauseAdmin, sessiondb.CauseRevokeAll, sessiondb.CauseRevokeOthers} {
		invalidated += got[got.key(sessiondb.EventInvalidated, c)]
	}
	if int64(got[got.key(sessiondb.EventCreated, "")]) != st.Created || int64(invalidated) != st.Invalidated ||
		int64(got[got.key(sessiondb.EventEvicted, "")]) != st.Evicted {
		e.t.Errorf("events: %d created, %d invalidated, %d evicted; Stats: %+v", got[got.key(sessiondb.EventCreated, "")], invalidated, got[got.key(sessiondb.EventEvicted, "")], st)
	}
	if got[got.key(sessiondb.EventExpired, "")] == 0 || got[got.key(sessiondb.EventCreated, "")] < 50 {
		e.t.Errorf("the load made too few changes to mean much: %v", got)
	}
	if e.m.Options().LimitPolicy == sessiondb.PolicyEvictOldest && got[got.key(sessiondb.EventEvicted, "")] == 0 {
		e.t.Errorf("no create went past the limit: %v", got)
	}
	e.t.Logf("%d events: %v", len(all), got)
}
