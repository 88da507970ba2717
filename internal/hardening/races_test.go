package hardening

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// raceIterationsEnv sets the iterations of both race tests (the full runs:
// 10000).
const raceIterationsEnv = "SESSIONDB_RACE_ITERATIONS"

// raceTimeBound ends a race test's loop early whatever its count, so that a
// machine far slower than expected cannot keep it running: a run cut short
// says so in its log and judges the iterations it made.
const raceTimeBound = 2 * time.Hour

// raceCaches are the two configurations of both race tests: without and with
// the client-side cache. Each starts two sessiond processes on one Redis:
// the cache is per process, so a revocation through one must reach the
// other's cache too.
var raceCaches = []string{"0", "60"}

// raceEnv is sessiond's configuration in the race tests: no per-user limit
// (no creation evicts another, so every survivor is the revocation's
// doing) and the cache setting.
func raceEnv(cache string) map[string]string {
	return map[string]string{"MAX_SESSIONS_PER_USER": "0", "REDIS_CLIENT_CACHE_SECONDS": cache}
}

// raceErrors keeps the unexpected failures of a race test (a transport
// error, a 5xx, an unexpected answer), which fail it.
type raceErrors struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (e *raceErrors) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.first) < 10 {
		e.first = append(e.first, fmt.Sprintf(format, args...))
	}
}

func (e *raceErrors) check(t *testing.T) {
	t.Helper()
	if e.n > 0 {
		t.Errorf("%d unexpected failures; the first: %s", e.n, strings.Join(e.first, "; "))
	}
}

// Creates are classed by their order with the revocation, as the test's
// client saw it:
const (
	createdBefore  = iota // the create's answer arrived before the revocation was sent: must be gone afterwards
	createdAfter          // the create was sent after the revocation's answer arrived: must be live afterwards
	createdOverlap        // the two overlapped: either outcome is right
)

var className = [...]string{"before", "after", "overlapping"}

// Reads through the process that did not revoke are judged apart. Without
// the client-side cache they must agree with the revoking process. With it,
// that process learns of the revocation from Redis's invalidation message,
// which reaches it asynchronously: a read served from its cache before it
// has processed the message is stale. Such reads are counted, and the read
// is then repeated (convergeTries times at most) until it agrees: a
// revocation must reach every process's cache.
const convergeTries = 2000

// converge repeats read until it reports not found, and says whether it did.
func converge(read func() error) (bool, error) {
	for range convergeTries {
		switch err := read(); {
		case errors.Is(err, sessiondb.ErrNotFound):
			return true, nil
		case err != nil:
			return false, err
		}
		time.Sleep(time.Millisecond)
	}
	return false, nil
}

// revokeAllTally is what TestRevokeAllRacesLogins saw.
type revokeAllTally struct {
	cached  bool
	class   [3]struct{ created, survived int }
	revoked int // sessions the revocations reported
	// Reads of the sessions afterwards through the other process, and how
	// many of them were stale (cache on only).
	otherReads, staleOther int
}

// TestRevokeAllRacesLogins: in each iteration, four goroutines log a fresh
// user in again and again (each new token validated at once through the
// other sessiond, which caches it when the cache is on) while DELETE
// /v1/users/{id}/sessions, through one of the two processes in turn,
// revokes all of the user's sessions after a random number of those logins
// have answered. Each goroutine stops after its first login sent once the
// revocation had returned. Then, through the process that revoked: every
// session whose create answered before the revocation was sent must be gone
// (validate by token, read by id, the user's list), every session created
// after the revocation returned must be live, and the others may be either,
// but the three reads must agree. Through the other process the same reads
// must agree with those (see converge for the cache).
func TestRevokeAllRacesLogins(t *testing.T) {
	iterations := envInt(t, raceIterationsEnv, 200)
	for _, cache := range raceCaches {
		t.Run("cache="+cache, func(t *testing.T) {
			c := startCluster(t, 2, raceEnv(cache))
			var errs raceErrors
			tally := &revokeAllTally{cached: cache != "0"}
			ctx := context.Background()
			start := time.Now()
			done := 0
			for ; done < iterations && time.Since(start) < raceTimeBound && errs.n == 0; done++ {
				revokeAllRace(ctx, c.clients, fmt.Sprintf("revoke-%s-%d", cache, done), done, tally, &errs)
			}
			if done < iterations && errs.n == 0 {
				t.Logf("stopped after %d of %d iterations: the time bound (%v) passed", done, iterations, raceTimeBound)
			}
			b, o, a := tally.class[createdBefore], tally.class[createdOverlap], tally.class[createdAfter]
			t.Logf("cache=%s: %d iterations; sessions created before the revocation was sent: %d, survivors %d; "+
				"created overlapping it: %d, survivors %d; created after it returned: %d, live afterwards %d; "+
				"sessions revoked %d; reads afterwards through the other process %d, stale %d",
				cache, done, b.created, b.survived, o.created, o.survived, a.created, a.survived,
				tally.revoked, tally.otherReads, tally.staleOther)
			errs.check(t)
			if b.survived > 0 {
				t.Errorf("%d sessions created before the revocation was sent survived it", b.survived)
			}
			if a.survived != a.created {
				t.Errorf("%d of %d sessions created after the revocation returned were not live afterwards", a.created-a.survived, a.created)
			}
			if b.created == 0 || a.created == 0 {
				t.Errorf("the races never had a create on both sides of the revocation: nothing was tested")
			}
		})
	}
}

// revokeAllRace is one iteration of TestRevokeAllRacesLogins.
func revokeAllRace(ctx context.Context, clients []*sessiondclient.Client, user string, iter int, tally *revokeAllTally, errs *raceErrors) {
	const creators, maxPerCreator = 4, 20
	rng := rand.New(rand.NewPCG(uint64(iter), 7))
	revokeAt := rng.IntN(7) // revoke once this many creates have answered
	revoker, other := clients[iter%2], clients[(iter+1)%2]
	type session struct {
		tok, id string
		class   int
	}
	var (
		sent, returned atomic.Bool
		answered       atomic.Int64
		ready          = make(chan struct{})
		readyOnce      sync.Once
		mu             sync.Mutex
		created        []session
	)
	if revokeAt == 0 {
		close(ready)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ready:
		case <-time.After(time.Minute):
			errs.add("%s: the creates did not answer within a minute", user)
		}
		sent.Store(true)
		n, err := revoker.InvalidateUser(ctx, user, "")
		returned.Store(true)
		if err != nil {
			errs.add("%s: revoke-all: %v", user, err)
		}
		mu.Lock()
		tally.revoked += n
		mu.Unlock()
	})
	for g := range creators {
		wg.Go(func() {
			own, validator := clients[g%2], clients[(g+1)%2]
			for range maxPerCreator {
				after := returned.Load() // read before the create is sent
				s, err := own.Create(ctx, user, 0, nil)
				before := !sent.Load() // read after its answer arrived
				if err != nil {
					errs.add("%s: create: %v", user, err)
					return
				}
				class := createdOverlap
				switch {
				case after:
					class = createdAfter
				case before:
					class = createdBefore
				}
				mu.Lock()
				created = append(created, session{string(s.Token), s.ID, class})
				mu.Unlock()
				if answered.Add(1) == int64(revokeAt) {
					readyOnce.Do(func() { close(ready) })
				}
				// Through the other process, which caches the session when
				// its cache is on. It may already be revoked.
				if _, err := validator.Validate(ctx, string(s.Token)); err != nil && !errors.Is(err, sessiondb.ErrNotFound) {
					errs.add("%s: validate: %v", user, err)
				}
				if after {
					return
				}
			}
		})
	}
	wg.Wait()

	listed, err := revoker.UserSessions(ctx, user)
	if err != nil {
		errs.add("%s: list: %v", user, err)
		return
	}
	live := func(err error) (bool, error) {
		if err == nil || errors.Is(err, sessiondb.ErrNotFound) {
			return err == nil, nil
		}
		return false, err
	}
	for _, s := range created {
		reads := map[string]func(*sessiondclient.Client) error{
			"validate": func(c *sessiondclient.Client) error { _, err := c.Validate(ctx, s.tok); return err },
			"get":      func(c *sessiondclient.Client) error { _, err := c.Get(ctx, s.id); return err },
		}
		n := 0
		if slices.ContainsFunc(listed, func(l *sessiondb.Session) bool { return l.ID == s.id }) {
			n++
		}
		for name, read := range reads {
			ok, err := live(read(revoker))
			if err != nil {
				errs.add("%s: %s afterwards: %v", user, name, err)
				return
			}
			if ok {
				n++
			}
		}
		if n != 0 && n != 3 {
			errs.add("%s: a session created %s the revocation is live in %d of 3 reads (validate, get, list) afterwards", user, className[s.class], n)
			return
		}
		survived := n == 3
		tally.class[s.class].created++
		if survived {
			tally.class[s.class].survived++
		}
		for name, read := range reads {
			tally.otherReads++
			ok, err := live(read(other))
			switch {
			case err != nil:
				errs.add("%s: %s afterwards through the other process: %v", user, name, err)
				return
			case ok == survived:
				continue
			case !ok || !tally.cached:
				errs.add("%s: a session created %s the revocation reads live=%v through the other process, live=%v through the one that revoked",
					user, className[s.class], ok, survived)
				return
			}
			tally.staleOther++
			if gone, err := converge(func() error { return read(other) }); !gone {
				errs.add("%s: the other process still reads a revoked session after %d tries (%v)", user, convergeTries, err)
				return
			}
		}
	}
}

// logoutTally counts the validations of TestLogoutRacesValidations.
type logoutTally struct {
	cached                      bool
	before, beforeValid         atomic.Int64 // sent before the logout returned
	afterSame, afterSameValid   atomic.Int64 // sent after, through the process that logged out
	afterOther, afterOtherValid atomic.Int64 // sent after, through the other process
	staleLatest                 atomic.Int64 // ns after the logout returned: the latest stale validation's start
}

// TestLogoutRacesValidations: in each iteration, a session is created and
// validated once through each of two sessiond processes (which fills both
// caches when the cache is on); then 50 goroutines validate its token again
// and again, half through each process, while a logout (POST
// /v1/sessions/invalidate, through either process in turn) runs. Each
// goroutine stops after its first validation sent once the logout had
// returned. A validation that succeeds after the logout returned is a
// revoked session still accepted: there must be none through the process
// that logged out, and none through the other without the cache (with it,
// see converge: they are counted as stale).
func TestLogoutRacesValidations(t *testing.T) {
	iterations := envInt(t, raceIterationsEnv, 100)
	for _, cache := range raceCaches {
		t.Run("cache="+cache, func(t *testing.T) {
			c := startCluster(t, 2, raceEnv(cache))
			var errs raceErrors
			tally := &logoutTally{cached: cache != "0"}
			ctx := context.Background()
			start := time.Now()
			done := 0
			for ; done < iterations && time.Since(start) < raceTimeBound && errs.n == 0; done++ {
				logoutRace(ctx, c.clients, fmt.Sprintf("logout-%s-%d", cache, done), done, tally, &errs)
			}
			if done < iterations && errs.n == 0 {
				t.Logf("stopped after %d of %d iterations: the time bound (%v) passed", done, iterations, raceTimeBound)
			}
			t.Logf("cache=%s: %d iterations, %d validations: %d sent before the logout returned (%d valid); "+
				"sent after it returned: %d through the process that logged out (%d valid), %d through the other (%d valid, "+
				"the latest %v after the logout returned)",
				cache, done, tally.before.Load()+tally.afterSame.Load()+tally.afterOther.Load(), tally.before.Load(), tally.beforeValid.Load(),
				tally.afterSame.Load(), tally.afterSameValid.Load(), tally.afterOther.Load(), tally.afterOtherValid.Load(),
				time.Duration(tally.staleLatest.Load()))
			errs.check(t)
			if tally.afterSame.Load() == 0 || tally.afterOther.Load() == 0 {
				t.Errorf("no validation was sent after a logout returned through one of the processes: nothing was tested")
			}
		})
	}
}

// logoutRace is one iteration of TestLogoutRacesValidations.
func logoutRace(ctx context.Context, clients []*sessiondclient.Client, user string, iter int, tally *logoutTally, errs *raceErrors) {
	const validators, maxRounds = 50, 200
	s, err := clients[iter%2].Create(ctx, user, 0, nil)
	if err != nil {
		errs.add("%s: create: %v", user, err)
		return
	}
	tok := string(s.Token)
	for _, cl := range clients {
		if _, err := cl.Validate(ctx, tok); err != nil {
			errs.add("%s: validate before the race: %v", user, err)
			return
		}
	}
	logoutVia := (iter / 2) % 2 // which process logs out; creates alternate with iter%2
	var (
		base       = time.Now()
		returned   atomic.Bool
		returnedAt atomic.Int64 // ns since base
		start      = make(chan struct{})
		wg         sync.WaitGroup
	)
	wg.Go(func() {
		<-start
		err := clients[logoutVia].Invalidate(ctx, tok)
		returnedAt.Store(int64(time.Since(base)))
		returned.Store(true)
		if err != nil {
			errs.add("%s: logout: %v", user, err)
		}
	})
	for g := range validators {
		wg.Go(func() {
			via := g % 2
			<-start
			for range maxRounds {
				after := returned.Load() // read before the validation is sent
				sentAt := int64(time.Since(base))
				_, err := clients[via].Validate(ctx, tok)
				switch {
				case err != nil && !errors.Is(err, sessiondb.ErrNotFound):
					errs.add("%s: validate: %v", user, err)
					return
				case !after:
					tally.before.Add(1)
					if err == nil {
						tally.beforeValid.Add(1)
					}
					continue
				case via == logoutVia:
					tally.afterSame.Add(1)
					if err == nil {
						tally.afterSameValid.Add(1)
						errs.add("%s: a validation sent after the logout returned accepted the token through the same process", user)
					}
				default:
					tally.afterOther.Add(1)
					if err == nil {
						tally.afterOtherValid.Add(1)
						if !tally.cached {
							errs.add("%s: a validation sent after the logout returned accepted the token through the other process", user)
						}
						delay := sentAt - returnedAt.Load()
						for cur := tally.staleLatest.Load(); delay > cur && !tally.staleLatest.CompareAndSwap(cur, delay); cur = tally.staleLatest.Load() {
						}
					}
				}
				return
			}
			errs.add("%s: the logout had not returned after %d validations", user, maxRounds)
		})
	}
	close(start)
	wg.Wait()
	// Afterwards the token is refused everywhere: at once without the
	// cache, and once the invalidation has arrived with it.
	for i, cl := range clients {
		read := func() error { _, err := cl.Validate(ctx, tok); return err }
		if !tally.cached || i == logoutVia {
			if err := read(); !errors.Is(err, sessiondb.ErrNotFound) {
				errs.add("%s: validation through process %d after the race: %v, want not found", user, i, err)
			}
			continue
		}
		if gone, err := converge(read); !gone {
			errs.add("%s: process %d still accepts the token after %d tries (%v)", user, i, convergeTries, err)
		}
	}
}
