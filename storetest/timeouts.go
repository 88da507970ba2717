package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
)

// CheckTimeouts drives schedules random sessions through random sequences of
// validations, refreshes, rotations, metadata updates and admin reads, with
// random options and clock steps, and checks after every step the timeout
// properties a session store promises:
//
//   - a session is never valid at or after its absolute expiry, and never
//     valid once it has been idle for the idle timeout;
//   - it is always valid while it has been idle for less than the idle
//     timeout minus the touch interval and its absolute expiry is ahead, so
//     throttled last-seen writes end a session early by less than a touch
//     interval, never late;
//   - activity (validate, update, rotate) never moves the absolute expiry;
//   - refresh sets it to now+ttl but never past creation + MaxTTL;
//   - a session that ended never comes back.
//
// The seed is random and logged; SESSIONDB_PROPERTY_SEED=n replays a run.
func CheckTimeouts(t *testing.T, newStore func(testing.TB) sessiondb.Store, schedules int) {
	seed := rand.Uint64()
	if s := os.Getenv("SESSIONDB_PROPERTY_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("SESSIONDB_PROPERTY_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (SESSIONDB_PROPERTY_SEED=%d replays this run)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	store := newStore(t)
	t.Cleanup(func() { store.Close() })
	clock := NewClock()
	steps := 0
	for i := range schedules {
		n, err := timeoutSchedule(rng, store, clock, fmt.Sprintf("prop-%d", i))
		steps += n
		if err != nil {
			t.Fatalf("seed %d, schedule %d: %v", seed, i, err)
		}
	}
	t.Logf("%d schedules, %d steps, every property held", schedules, steps)
}

// timeoutModel is what the schedule knows about its session.
type timeoutModel struct {
	created, expires time.Time // absolute expiry, as the last refresh set it
	activity         time.Time // last validate, refresh, rotate or update
	ended            bool
}

func timeoutSchedule(rng *rand.Rand, store sessiondb.Store, clock *Clock, user string) (int, error) {
	ctx := context.Background()
	sec := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo+1)) * time.Second }
	opt := sessiondb.Options{Clock: clock.Now, TTL: sec(1, 7200)}
	opt.MaxTTL = opt.TTL + sec(0, 7200)
	if rng.IntN(4) > 0 {
		opt.IdleTimeout = sec(1, 3600)
	}
	if rng.IntN(2) == 0 {
		opt.TouchInterval = sec(1, 120)
	}
	m, err := sessiondb.New(store, opt)
	if err != nil {
		return 0, err
	}
	o := m.Options()
	s, err := m.Create(ctx, user, 0, map[string]string{"n": "0"})
	if err != nil {
		return 0, fmt.Errorf("create: %w", err)
	}
	tok := string(s.Token)
	md := model(s)
	// Clock steps are drawn on the scales that matter: the touch interval,
	// the idle timeout and the TTL.
	scales := []time.Duration{o.TouchInterval, o.TTL}
	if o.IdleTimeout > 0 {
		scales = append(scales, o.IdleTimeout)
	}
	steps := 10 + rng.IntN(40)
	for step := range steps {
		d := scales[rng.IntN(len(scales))]
		clock.Advance(time.Duration(rng.Int64N(int64(d)*5/4 + 1)).Truncate(time.Millisecond))
		now := clock.Now()
		mustLive, mayLive := md.expect(now, o)
		var got *sessiondb.Session
		var err error
		action := rng.IntN(10)
		switch {
		case action < 5:
			got, err = m.Validate(ctx, tok)
		case action < 6:
			ttl := time.Duration(0)
			if rng.IntN(2) == 0 {
				ttl = sec(1, int(o.MaxTTL/time.Second))
			}
			got, err = m.Refresh(ctx, tok, ttl)
			if err == nil {
				want := now.Add(ttl)
				if ttl == 0 {
					want = now.Add(o.TTL)
				}
				if limit := md.created.Add(o.MaxTTL); want.After(limit) {
					want = limit
				}
				if !got.ExpiresAt.Equal(want) {
					return step, fmt.Errorf("step %d: Refresh(%v) set expiry %v, want %v (created %v, MaxTTL %v)", step, ttl, got.ExpiresAt, want, md.created, o.MaxTTL)
				}
				md.expires = want
			}
		case action < 7:
			got, err = m.Rotate(ctx, tok)
			if err == nil {
				tok = string(got.Token)
			}
		case action < 8:
			got, err = m.UpdateMetadata(ctx, tok, func(x map[string]string) error {
				x["n"] = strconv.Itoa(step)
				return nil
			})
		default:
			// An admin read is not activity.
			if _, err := m.Get(ctx, s.ID); err != nil && !errors.Is(err, sessiondb.ErrNotFound) {
				return step, fmt.Errorf("step %d: Get: %w", step, err)
			}
			continue
		}
		switch {
		case err == nil && !mayLive:
			return step, fmt.Errorf("step %d at +%v: session valid past its end (absolute %v, idle %v since %v, touch %v)",
				step, now.Sub(md.created), md.expires.Sub(md.created), o.IdleTimeout, md.activity.Sub(md.created), o.TouchInterval)
		case errors.Is(err, sessiondb.ErrNotFound) && mustLive:
			return step, fmt.Errorf("step %d at +%v: session ended early (absolute %v, idle %v since %v, touch %v)",
				step, now.Sub(md.created), md.expires.Sub(md.created), o.IdleTimeout, md.activity.Sub(md.created), o.TouchInterval)
		case errors.Is(err, sessiondb.ErrNotFound):
			md.ended = true
		case err != nil:
			return step, fmt.Errorf("step %d: %w", step, err)
		default:
			if !got.ExpiresAt.Equal(md.expires) {
				return step, fmt.Errorf("step %d: absolute expiry %v, want %v: activity moved it", step, got.ExpiresAt, md.expires)
			}
			if got.LastSeenAt.After(now) || now.Sub(got.LastSeenAt) >= o.TouchInterval {
				return step, fmt.Errorf("step %d: last seen %v ago, want less than the touch interval %v", step, now.Sub(got.LastSeenAt), o.TouchInterval)
			}
			md.activity = now
		}
	}
	return steps, nil
}

func model(s *sessiondb.Session) timeoutModel {
	return timeoutModel{created: s.CreatedAt, expires: s.ExpiresAt, activity: s.LastSeenAt}
}

// expect says whether the session must be live at now, and whether it may be.
func (md *timeoutModel) expect(now time.Time, o sessiondb.Options) (must, may bool) {
	if md.ended || !now.Before(md.expires) {
		return false, false
	}
	if o.IdleTimeout == 0 {
		return true, true
	}
	idle := now.Sub(md.activity)
	return idle < o.IdleTimeout-o.TouchInterval, idle < o.IdleTimeout
}
