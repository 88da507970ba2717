package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
)

// TestSentinelFailover runs the store through Sentinel (configured by a
// REDIS_URL naming three sentinels), kills the master with SIGKILL and checks
// that the store follows the promoted replica without losing a replicated
// session.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("failover test skipped in -short mode")
	}
	sen := redistest.StartSentinel(t, 1)
	addrs := sen.Addrs()
	url := fmt.Sprintf("redis://%s?addr=%s&addr=%s&master_set=%s", addrs[0], addrs[1], addrs[2], redistest.SentinelMaster)
	cfg, err := config.FromEnv(func(k string) string {
		return map[string]string{"REDIS_URL": url, "REDIS_TIMEOUT_MS": "500"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Describe(); !strings.Contains(d, "sentinel "+redistest.SentinelMaster) {
		t.Fatalf("Describe = %q, want a sentinel setup", d)
	}
	m, err := cfg.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Store().Close()
	ctx := context.Background()
	var tokens []string
	for i := range 200 {
		s, err := m.Create(ctx, fmt.Sprintf("user-%d", i%40), time.Hour, map[string]string{"ip": "192.0.2.7"})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, string(s.Token))
	}
	// Replication is asynchronous: a session counts as safe once a replica
	// has it (WAIT), as an application would require for durability.
	c, err := m.Store().(*redisstore.Store).Client()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.Do(ctx, c.B().Wait().Numreplicas(1).Timeout(5000).Build()).AsInt64(); err != nil || n < 1 {
		t.Fatalf("WAIT = %d, %v", n, err)
	}

	sen.Master.Stop()
	killed := time.Now()
	deadline := killed.Add(60 * time.Second)
	for {
		_, err := m.Create(ctx, "after-failover", time.Hour, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failover within 60s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("writes unavailable for %v after SIGKILL of the master (down-after 1000 ms)", time.Since(killed).Round(10*time.Millisecond))
	for _, tok := range tokens {
		if _, err := m.Validate(ctx, tok); err != nil {
			t.Fatalf("a replicated session was lost in the failover: %v", err)
		}
	}
	st, err := m.Stats(ctx)
	if err != nil || st.Active != 201 || st.Users != 41 {
		t.Fatalf("Stats after failover = %+v, %v", st, err)
	}
	if err := m.Store().(*redisstore.Store).CheckConsistency(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	var _ sessiondb.Store = m.Store()
}
