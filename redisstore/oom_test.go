package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
	"github.com/sessiondb/sessiondb/storetest"
)

// TestOutOfMemory fills Redis to 100% of maxmemory under the noeviction
// policy of deploy/redis/redis.conf and checks the promised behaviour: new
// sessions are refused with ErrStoreFull (which is also ErrUnavailable:
// sessiond answers 503), while validate, get, invalidate, revoke, statistics
// and cleanup keep working; no acknowledged session is lost, the indexes stay
// consistent, and creates succeed again once memory is freed.
func TestOutOfMemory(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
	st, err := redisstore.New(redisstore.DialTest(t, srv.Addr()), redisstore.Options{Prefix: "sdb:"})
	if err != nil {
		t.Fatal(err)
	}
	clock := storetest.NewClock()
	m, err := sessiondb.New(st, sessiondb.Options{MaxSessionsPerUser: -1, IdleTimeout: time.Hour, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	md := map[string]string{"ip": "192.0.2.1", "user_agent": strings.Repeat("Mozilla/5.0 ", 25)}

	// Fill until creates fail, then keep trying a while: every attempt must
	// either succeed or be refused as ErrStoreFull, never half-done.
	const users = 300
	var acked []*sessiondb.Session
	refused := 0
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; i < 200_000 && refused < 300; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("Redis not full after %d sessions and 2 minutes", len(acked))
		}
		s, err := m.Create(ctx, fmt.Sprintf("user-%d", i%users), time.Hour, md)
		switch {
		case err == nil:
			acked = append(acked, s)
		case errors.Is(err, sessiondb.ErrStoreFull) && errors.Is(err, sessiondb.ErrUnavailable):
			refused++
		default:
			t.Fatalf("Create at %d sessions: %v, want nil or ErrStoreFull", len(acked), err)
		}
	}
	if refused == 0 {
		t.Fatal("no create was refused: Redis never got full")
	}
	full, err := m.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats at 100%% of maxmemory: %v", err)
	}
	if full.MemoryMax != 4<<20 || float64(full.MemoryUsed) < 0.9*float64(full.MemoryMax) {
		t.Errorf("Stats memory = %d of %d, want about 4 MiB of 4 MiB", full.MemoryUsed, full.MemoryMax)
	}

	// Reads work, and so does Validate when its LastSeenAt write is refused.
	clock.Advance(2 * time.Minute) // past the touch interval
	lost := func(sessions []*sessiondb.Session) int {
		n := 0
		for _, s := range sessions {
			if _, err := m.Validate(ctx, string(s.Token)); err != nil {
				if n == 0 {
					t.Errorf("Validate of an acknowledged session: %v", err)
				}
				n++
			}
		}
		return n
	}
	if n := lost(acked); n != 0 {
		t.Fatalf("%d of %d acknowledged sessions lost at 100%% of maxmemory", n, len(acked))
	}
	if _, err := m.Get(ctx, acked[0].ID); err != nil {
		t.Errorf("Get at 100%% of maxmemory: %v", err)
	}
	if _, err := m.UserSessions(ctx, acked[0].UserID); err != nil {
		t.Errorf("UserSessions at 100%% of maxmemory: %v", err)
	}
	if err := st.CheckConsistency(ctx, clock.Now()); err != nil {
		t.Fatalf("index inconsistency at 100%% of maxmemory: %v", err)
	}
	// Writes that add data are refused as a whole.
	if _, err := m.Refresh(ctx, string(acked[1].Token), 2*time.Hour); err != nil && !errors.Is(err, sessiondb.ErrStoreFull) {
		t.Errorf("Refresh at 100%% of maxmemory: %v, want nil or ErrStoreFull", err)
	}

	// Deletes work: one by token, one by id, one user's all.
	if err := m.Invalidate(ctx, string(acked[2].Token)); err != nil {
		t.Fatalf("Invalidate at 100%% of maxmemory: %v", err)
	}
	if err := m.InvalidateByID(ctx, acked[3].ID); err != nil {
		t.Fatalf("InvalidateByID at 100%% of maxmemory: %v", err)
	}
	revokedUser := acked[4].UserID
	n, err := m.InvalidateUser(ctx, revokedUser, "")
	if err != nil || n == 0 {
		t.Fatalf("InvalidateUser at 100%% of maxmemory = %d, %v", n, err)
	}
	if _, err := m.Cleanup(ctx); err != nil {
		t.Fatalf("Cleanup at 100%% of maxmemory: %v", err)
	}
	var kept, gone []*sessiondb.Session
	for i, s := range acked {
		if i == 2 || i == 3 || s.UserID == revokedUser {
			gone = append(gone, s)
		} else {
			kept = append(kept, s)
		}
	}
	for _, s := range gone {
		if _, err := m.Validate(ctx, string(s.Token)); !errors.Is(err, sessiondb.ErrNotFound) {
			t.Fatalf("Validate of a revoked session: %v, want ErrNotFound", err)
		}
	}

	// Free memory: revoke a third of the users. Creates succeed again.
	freed := 0
	for u := range users / 3 {
		k, err := m.InvalidateUser(ctx, fmt.Sprintf("user-%d", u), "")
		if err != nil {
			t.Fatalf("InvalidateUser: %v", err)
		}
		freed += k
	}
	var stillKept []*sessiondb.Session
	for _, s := range kept {
		var u int
		fmt.Sscanf(s.UserID, "user-%d", &u)
		if u >= users/3 {
			stillKept = append(stillKept, s)
		}
	}
	again := 0
	for i := range 50 {
		s, err := m.Create(ctx, fmt.Sprintf("late-%d", i), time.Hour, md)
		if err != nil {
			t.Fatalf("Create after freeing %d sessions: %v", freed, err)
		}
		stillKept = append(stillKept, s)
		again++
	}
	lostAfter := lost(stillKept)
	if err := st.CheckConsistency(ctx, clock.Now()); err != nil {
		t.Fatalf("index inconsistency after freeing memory: %v", err)
	}
	after, err := m.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("maxmemory 4 MiB, noeviction: %d sessions acknowledged, %d creates refused with ErrStoreFull, "+
		"memory %d of %d bytes; lost 0 at full, %d after freeing %d; 0 index inconsistencies; %d creates succeeded after freeing (memory %d)",
		len(acked), refused, full.MemoryUsed, full.MemoryMax, lostAfter, freed, again, after.MemoryUsed)
	if lostAfter != 0 {
		t.Fatalf("%d acknowledged sessions lost", lostAfter)
	}
}
