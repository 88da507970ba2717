package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
)

// The failure tests kill Redis processes under a bounded load of creates,
// validations and revocations through the library, and report what the
// failure cost. By default each runs once with a small load (a few seconds);
// docs/reliability.md gives the figures of longer runs:
//
//	SESSIONDB_FAILOVER_RUNS=5 go test ./redisstore -run 'Failover|Kill|SlotMigration' -v
//
// They assert what must hold (no acknowledged session lost with the
// durability option or with appendfsync always, no revocation undone with
// it, no caller error during a slot migration) and never timings.

// failoverRuns is SESSIONDB_FAILOVER_RUNS (default 1).
func failoverRuns(t *testing.T) int {
	t.Helper()
	v := os.Getenv("SESSIONDB_FAILOVER_RUNS")
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		t.Fatalf("SESSIONDB_FAILOVER_RUNS=%q: want 1 to 100", v)
	}
	return n
}

// loadResult is what one run under load saw.
type loadResult struct {
	acked, lost         int           // acknowledged creates; of them, gone afterwards
	revoked, resurrect  int           // acknowledged revocations; of them, valid afterwards
	failed              int           // calls that failed
	window              time.Duration // first to last failed call
	othersFailed, other int           // calls for users not on the killed node (cluster)
	othersErr           error         // the first of those failures
}

func (r loadResult) String() string {
	return fmt.Sprintf("failure window %v, %d calls failed; acknowledged creates %d, lost %d; acknowledged revocations %d, undone %d",
		r.window.Round(10*time.Millisecond), r.failed, r.acked, r.lost, r.revoked, r.resurrect)
}

// runLoad drives creates, validations and revocations from a few workers,
// calls kill once warm, and stops once writes succeed again (or after a
// bound), then checks every acknowledged create and revocation.
// affected reports whether a user lives on the killed node (nil: all do).
// restore, if not nil, runs right after kill (in the test's goroutine): the
// cluster test brings the killed node back as a replica, as Kubernetes
// restarts a pod.
func runLoad(t *testing.T, m *sessiondb.Manager, kill, restore func(), affected func(user string) bool) loadResult {
	t.Helper()
	const workers, users = 4, 64
	var (
		mu                         sync.Mutex
		tokens, revokedTokens      []string
		perUser                    = map[string][]string{}
		firstFail, lastFail        time.Time
		failed, othersFailed, othr int
		othersErr                  error // the first failure of a call for another primary's user
		killedAt                   time.Time
		okAfter                    atomic.Int64
		ops                        atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if ops.Add(1) > 200_000 {
					return // bounded in count as well as in time
				}
				user := fmt.Sprintf("user-%d", (w*7919+i)%users)
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				s, err := m.Create(ctx, user, time.Hour, nil)
				if err == nil && i%8 == 0 {
					err = m.Invalidate(ctx, string(s.Token))
					if err == nil {
						mu.Lock()
						revokedTokens = append(revokedTokens, string(s.Token))
						mu.Unlock()
					}
				} else if err == nil {
					// Validate one of the user's own sessions: a failure
					// is then the user's node's.
					mu.Lock()
					tokens = append(tokens, string(s.Token))
					perUser[user] = append(perUser[user], string(s.Token))
					tok := perUser[user][(i*31)%len(perUser[user])]
					mu.Unlock()
					_, err = m.Validate(ctx, tok)
					if errors.Is(err, sessiondb.ErrNotFound) {
						err = nil // evicted by the per-user limit, or lost: counted at the end
					}
				}
				cancel()
				mu.Lock()
				other := affected != nil && !affected(user)
				if other && !killedAt.IsZero() {
					othr++
				}
				if err != nil {
					failed++
					if other && !killedAt.IsZero() {
						othersFailed++
						if othersErr == nil {
							othersErr = err
						}
					}
					if firstFail.IsZero() {
						firstFail = time.Now()
					}
					lastFail = time.Now()
				} else if !killedAt.IsZero() && (affected == nil || !other) {
					okAfter.Add(1)
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(5 * time.Millisecond) // a caller backing off
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	killedAt = time.Now()
	okAfter.Store(0)
	mu.Unlock()
	kill()
	if restore != nil {
		restore()
	}
	// Until calls on the killed node's users succeed again for a while, or
	// the bound.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		recovered := !lastFail.IsZero() && time.Since(lastFail) > 500*time.Millisecond && okAfter.Load() > 50
		mu.Unlock()
		if recovered {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	r := loadResult{acked: len(tokens), revoked: len(revokedTokens), failed: failed, othersFailed: othersFailed, other: othr, othersErr: othersErr}
	if !firstFail.IsZero() {
		r.window = lastFail.Sub(firstFail)
	}
	ctx := context.Background()
	// A session may have been evicted by the per-user limit: count only
	// the ones the store lists neither as live nor as evicted... the limit is
	// off in these tests (MaxSessionsPerUser -1), so a missing one is lost.
	for _, tok := range tokens {
		if _, err := m.Validate(ctx, tok); errors.Is(err, sessiondb.ErrNotFound) {
			r.lost++
		} else if err != nil {
			t.Fatalf("validate after the failover: %v", err)
		}
	}
	for _, tok := range revokedTokens {
		if _, err := m.Validate(ctx, tok); err == nil {
			r.resurrect++
		}
	}
	return r
}

func openConfig(t *testing.T, env map[string]string) *sessiondb.Manager {
	t.Helper()
	env["MAX_SESSIONS_PER_USER"] = "0"
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	m, err := cfg.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Store().Close() })
	return m
}

// TestSentinelKillPrimary: kill -9 of the primary under load, with and
// without REDIS_WAIT_REPLICAS=1 (one replica, three sentinels, down-after
// 1 s). With the option no acknowledged create is lost and no acknowledged
// revocation undone.
func TestSentinelKillPrimary(t *testing.T) {
	if testing.Short() {
		t.Skip("failover test skipped in -short mode")
	}
	for _, wait := range []string{"0", "1"} {
		for run := 1; run <= failoverRuns(t); run++ {
			t.Run(fmt.Sprintf("wait=%s/run=%d", wait, run), func(t *testing.T) {
				// Two replicas: after the failover the new primary keeps
				// one, so writes confirmed by one replica resume.
				sen := redistest.StartSentinel(t, 2)
				a := sen.Addrs()
				m := openConfig(t, map[string]string{
					"REDIS_URL":           fmt.Sprintf("redis://%s?addr=%s&addr=%s&master_set=%s", a[0], a[1], a[2], redistest.SentinelMaster),
					"REDIS_TIMEOUT_MS":    "500",
					"REDIS_WAIT_REPLICAS": wait, "REDIS_WAIT_TIMEOUT_MS": "1000",
				})
				r := runLoad(t, m, sen.Master.Stop, nil, nil)
				t.Logf("sentinel, REDIS_WAIT_REPLICAS=%s: %v", wait, r)
				if r.acked == 0 {
					t.Fatal("no create was acknowledged")
				}
				if wait == "1" && (r.lost != 0 || r.resurrect != 0) {
					t.Errorf("with REDIS_WAIT_REPLICAS=1: %d acknowledged creates lost, %d revocations undone", r.lost, r.resurrect)
				}
			})
		}
	}
}

// TestClusterKillPrimary: kill -9 of one of three primaries (each with a
// replica) under load; its replica takes over. Users on the other primaries
// keep working throughout; with REDIS_WAIT_REPLICAS=1 nothing acknowledged
// is lost.
func TestClusterKillPrimary(t *testing.T) {
	if testing.Short() {
		t.Skip("failover test skipped in -short mode")
	}
	for _, wait := range []string{"0", "1"} {
		for run := 1; run <= failoverRuns(t); run++ {
			t.Run(fmt.Sprintf("wait=%s/run=%d", wait, run), func(t *testing.T) {
				cl := redistest.StartClusterWithReplicas(t, 3)
				a := cl.Addrs()
				m := openConfig(t, map[string]string{
					"REDIS_URL":           fmt.Sprintf("redis://%s?addr=%s&addr=%s", a[0], a[1], a[2]),
					"REDIS_TIMEOUT_MS":    "500",
					"REDIS_WAIT_REPLICAS": wait, "REDIS_WAIT_TIMEOUT_MS": "1000",
				})
				victim := primaryOf(t, cl)
				ranges := victim.SlotRanges(t)
				onVictim := func(user string) bool {
					slot := keySlot("{" + sessiondb.UserShard(user).Tag() + "}")
					for _, r := range ranges {
						if slot >= r[0] && slot <= r[1] {
							return true
						}
					}
					return false
				}
				replica := replicaOf(t, cl, victim)
				// Once its replica has taken over, the killed node comes
				// back (its nodes.conf tells it it is a replica now), as a
				// restarted pod does; until then REDIS_WAIT_REPLICAS=1
				// refuses writes on its slots: the new primary has no
				// replica left to confirm them.
				restore := func() {
					deadline := time.Now().Add(30 * time.Second)
					for {
						info, err := replica.Do("INFO", "replication")
						if err == nil && strings.Contains(info, "role:master") {
							break
						}
						if time.Now().After(deadline) {
							t.Fatal("the replica never took over")
						}
						time.Sleep(50 * time.Millisecond)
					}
					victim.Restart()
				}
				r := runLoad(t, m, victim.Stop, restore, onVictim)
				t.Logf("cluster, REDIS_WAIT_REPLICAS=%s: %v; calls for users of the other primaries after the kill: %d, failed %d",
					wait, r, r.other, r.othersFailed)
				if r.othersFailed != 0 {
					t.Errorf("%d of %d calls for users of the surviving primaries failed, the first with: %v", r.othersFailed, r.other, r.othersErr)
				}
				if wait == "1" && (r.lost != 0 || r.resurrect != 0) {
					t.Errorf("with REDIS_WAIT_REPLICAS=1: %d acknowledged creates lost, %d revocations undone", r.lost, r.resurrect)
				}
			})
		}
	}
}

// primaryOf returns a primary node of the cluster.
func primaryOf(t *testing.T, c *redistest.Cluster) *redistest.Server {
	t.Helper()
	for _, n := range c.Nodes {
		if info, err := n.Do("INFO", "replication"); err == nil && strings.Contains(info, "role:master") {
			return n
		}
	}
	t.Fatal("no primary")
	return nil
}

// replicaOf returns the node that replicates primary.
func replicaOf(t *testing.T, c *redistest.Cluster, primary *redistest.Server) *redistest.Server {
	t.Helper()
	for _, n := range c.Nodes {
		if info, err := n.Do("INFO", "replication"); err == nil && strings.Contains(info, "master_port:"+strconv.Itoa(primary.Port)+"\r") {
			return n
		}
	}
	t.Fatal("no replica of the primary")
	return nil
}

// keySlot is Redis Cluster's hash slot of a key: CRC16 (XMODEM) of its
// hash tag, modulo 16384.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for _, b := range []byte(key) {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// TestEvenSpread: 100,000 users' sessions spread over the three primaries
// of a cluster made by redis-cli --cluster create within ±10% of a third,
// and every key of a user sits in one slot.
func TestEvenSpread(t *testing.T) {
	// redis-cli --cluster create gives three primaries these slots.
	bounds := []int{5460, 10922, 16383}
	counts := make([]int, 3)
	const users = 100_000
	for i := range users {
		slot := keySlot("{" + sessiondb.UserShard(fmt.Sprintf("user-%d", i)).Tag() + "}")
		for p, hi := range bounds {
			if slot <= hi {
				counts[p]++
				break
			}
		}
	}
	for p, n := range counts {
		if dev := float64(n)/(users/3.0) - 1; dev < -0.10 || dev > 0.10 {
			t.Errorf("primary %d holds %d of %d users (%+.1f%% of a third)", p, n, users, 100*dev)
		}
	}
	t.Logf("100,000 users over 3 primaries: %v", counts)

	// On a real cluster, the keys the library writes for a user share the
	// slot of the user's tag: the scripts would fail with CROSSSLOT
	// otherwise; check the key names too.
	cl := redistest.StartCluster(t, 3)
	st, err := redisstore.New(redisstore.DialTest(t, cl.Addrs()...), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, st, sessiondb.Options{MaxSessionsPerUser: 3})
	ctx := context.Background()
	for i := range 200 {
		user := fmt.Sprintf("user-%d", i)
		for range 4 {
			if _, err := m.Create(ctx, user, time.Hour, nil); err != nil {
				t.Fatal(err)
			}
		}
		list, err := m.UserSessions(ctx, user)
		if err != nil || len(list) != 3 {
			t.Fatalf("%s: %d sessions, %v", user, len(list), err)
		}
		want := keySlot("{" + sessiondb.UserShard(user).Tag() + "}")
		for _, s := range list {
			if got := keySlot(redisstore.DefaultPrefix + "{" + s.ID[:3] + "}s" + sessiondb.IDHash(s.ID)); got != want {
				t.Fatalf("%s: session key in slot %d, user in slot %d", user, got, want)
			}
		}
	}
	var slots int
	for _, n := range cl.Nodes {
		out, err := n.Do("DBSIZE")
		if err != nil || out == "0" {
			t.Errorf("node %s holds %s keys (%v): want every primary used", n.Addr(), out, err)
		}
		slots++
	}
	if err := st.CheckConsistency(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
}
