package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
)

// TestSlotMigration moves the slots of live users between primaries while
// creates, validations and revocations run: CLUSTER SETSLOT IMPORTING and
// MIGRATING, one MIGRATE of all the slot's keys, then SETSLOT NODE. No
// caller sees an error (the store retries a script that gets TRYAGAIN;
// rueidis follows MOVED and ASK), the per-user limit holds throughout, and
// the indexes stay consistent.
func TestSlotMigration(t *testing.T) {
	if testing.Short() {
		t.Skip("migration test skipped in -short mode")
	}
	for run := 1; run <= failoverRuns(t); run++ {
		t.Run("run="+strconv.Itoa(run), func(t *testing.T) { slotMigration(t) })
	}
}

func slotMigration(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	st, err := redisstore.New(redisstore.DialTest(t, cl.Addrs()...), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const limit, users = 3, 24
	m := newManager(t, st, sessiondb.Options{MaxSessionsPerUser: limit})
	ids := map[*redistest.Server]string{}
	for _, n := range cl.Nodes {
		id, err := n.Do("CLUSTER", "MYID")
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = id
	}
	owner := func(slot int) *redistest.Server {
		for _, n := range cl.Nodes {
			for _, r := range n.SlotRanges(t) {
				if slot >= r[0] && slot <= r[1] {
					return n
				}
			}
		}
		t.Fatalf("slot %d has no owner", slot)
		return nil
	}
	userSlot := func(i int) int { return keySlot("{" + sessiondb.UserShard(fmt.Sprintf("user-%d", i)).Tag() + "}") }

	var errs, ops, overLimit atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := 0; ops.Add(1) < 100_000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				user := fmt.Sprintf("user-%d", (w*13+i)%users)
				s, err := m.Create(ctx, user, time.Hour, nil)
				if err == nil {
					_, err = m.Validate(ctx, string(s.Token))
				}
				if err == nil && i%5 == 0 {
					err = m.Invalidate(ctx, string(s.Token))
				}
				if err == nil && i%7 == 0 {
					var list []*sessiondb.Session
					list, err = m.UserSessions(ctx, user)
					if len(list) > limit {
						overLimit.Add(1)
					}
				}
				// Not found is an outcome: another worker's create for the
				// same user may have evicted this session (the limit).
				if err != nil && !errors.Is(err, sessiondb.ErrNotFound) {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	// Move the slot of every third user to the next primary.
	moved := map[int]bool{}
	for i := 0; i < users; i += 3 {
		slot := userSlot(i)
		if moved[slot] {
			continue
		}
		moved[slot] = true
		src := owner(slot)
		var dst *redistest.Server
		for k, n := range cl.Nodes {
			if n == src {
				dst = cl.Nodes[(k+1)%len(cl.Nodes)]
			}
		}
		migrateSlot(t, cl, slot, src, dst, ids)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d slots of live users moved during %d calls: %d caller errors, %d listings over the limit of %d",
		len(moved), ops.Load(), errs.Load(), overLimit.Load(), limit)
	if errs.Load() != 0 {
		t.Errorf("%d calls failed during the migration; first: %v", errs.Load(), firstErr.Load())
	}
	if overLimit.Load() != 0 {
		t.Errorf("%d listings showed more than %d sessions", overLimit.Load(), limit)
	}
	ctx := context.Background()
	for i := range users {
		if list, err := m.UserSessions(ctx, fmt.Sprintf("user-%d", i)); err != nil || len(list) > limit {
			t.Errorf("user-%d: %d sessions after the move, %v", i, len(list), err)
		}
	}
	if err := st.CheckConsistency(ctx, time.Now()); err != nil {
		t.Errorf("after the migration: %v", err)
	}
}

// migrateSlot moves one slot from src to dst: IMPORTING on dst, MIGRATING
// on src, every key of the slot in one MIGRATE (so no client ever sees the
// user's keys split between the two), then the slot's new owner on every
// node.
func migrateSlot(t *testing.T, cl *redistest.Cluster, slot int, src, dst *redistest.Server, ids map[*redistest.Server]string) {
	t.Helper()
	s := strconv.Itoa(slot)
	must := func(n *redistest.Server, args ...string) string {
		t.Helper()
		out, err := n.Do(args...)
		if err != nil {
			t.Fatalf("%v on %s: %v", args, n.Addr(), err)
		}
		return out
	}
	must(dst, "CLUSTER", "SETSLOT", s, "IMPORTING", ids[src])
	must(src, "CLUSTER", "SETSLOT", s, "MIGRATING", ids[dst])
	cli := redistest.Binary(t, "redis-cli")
	for {
		out, err := exec.Command(cli, "-p", strconv.Itoa(src.Port), "CLUSTER", "GETKEYSINSLOT", s, "100000").Output()
		if err != nil {
			t.Fatal(err)
		}
		keys := strings.Fields(string(out))
		if len(keys) == 0 {
			break
		}
		args := append([]string{"MIGRATE", "127.0.0.1", strconv.Itoa(dst.Port), "", "0", "5000", "KEYS"}, keys...)
		if _, err := src.Do(args...); err != nil && !strings.Contains(err.Error(), "NOKEY") {
			t.Fatalf("MIGRATE: %v", err)
		}
	}
	for _, n := range []*redistest.Server{dst, src} {
		must(n, "CLUSTER", "SETSLOT", s, "NODE", ids[dst])
	}
	for _, n := range cl.Nodes {
		if n != src && n != dst {
			must(n, "CLUSTER", "SETSLOT", s, "NODE", ids[dst])
		}
	}
}
