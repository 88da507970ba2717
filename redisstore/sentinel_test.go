package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
)

// TestSentinelSettings opens the store through real sentinels in every
// documented way of naming a Sentinel set, and checks that each reaches the
// master (and not, say, the sentinels taken for cluster nodes); the two
// ways that cannot work are refused at start-up with a message.
func TestSentinelSettings(t *testing.T) {
	sen := redistest.StartSentinel(t, 0)
	a := sen.Addrs()
	set := redistest.SentinelMaster
	host, port, _ := strings.Cut(a[0], ":")
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"REDIS_URL with master_set", map[string]string{"REDIS_URL": "redis://" + a[0] + "?master_set=" + set}},
		{"REDIS_URL naming three sentinels with master_set", map[string]string{
			"REDIS_URL": "redis://" + a[0] + "?addr=" + a[1] + "&addr=" + a[2] + "&master_set=" + set}},
		{"REDIS_HOST, REDIS_PORT and REDIS_SENTINEL_MASTER", map[string]string{
			"REDIS_HOST": host, "REDIS_PORT": port, "REDIS_SENTINEL_MASTER": set}},
		{"REDIS_URL naming one sentinel and REDIS_SENTINEL_MASTER", map[string]string{
			"REDIS_URL": "redis://" + a[0], "REDIS_SENTINEL_MASTER": set}},
		{"REDIS_URL naming three sentinels and REDIS_SENTINEL_MASTER", map[string]string{
			"REDIS_URL": "redis://" + a[0] + "?addr=" + a[1] + "&addr=" + a[2], "REDIS_SENTINEL_MASTER": set}},
		{"both, agreeing", map[string]string{
			"REDIS_URL": "redis://" + a[0] + "?addr=" + a[1] + "&master_set=" + set, "REDIS_SENTINEL_MASTER": set}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["REDIS_TIMEOUT_MS"] = "10000"
			cfg, err := config.FromEnv(func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if d := cfg.Describe(); !strings.HasPrefix(d, "redis sentinel "+set+" at ") {
				t.Errorf("Describe = %q, want the sentinel set", d)
			}
			m, err := cfg.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer m.Store().Close()
			c, err := m.Store().(*redisstore.Store).Client()
			if err != nil {
				t.Fatal(err)
			}
			if mode := c.Mode(); mode != rueidis.ClientModeSentinel {
				t.Errorf("client mode %s, want sentinel", mode)
			}
			s, err := m.Create(ctx, "u-"+tc.name, time.Hour, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Validate(ctx, string(s.Token)); err != nil {
				t.Fatal(err)
			}
			// The session is on the master.
			if n, err := sen.Master.Do("EXISTS", "sdb:{"+s.ID[:3]+"}s"+s.ID[3:]); err != nil || n != "1" {
				t.Errorf("the session is not on the master: EXISTS = %q, %v", n, err)
			}
		})
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"REDIS_URL": "redis://" + a[0] + "?master_set=other", "REDIS_SENTINEL_MASTER": set}, "disagree"},
		{map[string]string{"REDIS_URL": "unix:///run/redis.sock", "REDIS_SENTINEL_MASTER": set}, "unix://"},
	} {
		_, err := config.FromEnv(func(k string) string { return tc.env[k] })
		if err == nil || !strings.Contains(err.Error(), "REDIS_SENTINEL_MASTER") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want a refusal saying %q", tc.env, err, tc.want)
		}
	}
}

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

	// From the service's side: one create and one validation every 20 ms
	// until a create works again, recording when calls fail and how.
	sen.Master.Stop()
	killed := time.Now()
	deadline := killed.Add(60 * time.Second)
	var firstErr, lastErr time.Duration = -1, -1
	kinds := map[string]int{}
	note := func(err error) {
		at := time.Since(killed)
		if firstErr < 0 {
			firstErr = at
		}
		lastErr = at
		kind := "other: " + err.Error()
		switch {
		case errors.Is(err, sessiondb.ErrUnavailable):
			kind = "ErrUnavailable (503 + Retry-After)"
		case errors.Is(err, sessiondb.ErrStoreAuth):
			kind = "ErrStoreAuth"
		}
		kinds[kind]++
	}
	for {
		_, verr := m.Validate(ctx, tokens[0])
		if verr != nil {
			note(verr)
		}
		_, cerr := m.Create(ctx, "after-failover", time.Hour, nil)
		if cerr == nil {
			break
		}
		note(cerr)
		if time.Now().After(deadline) {
			t.Fatalf("no failover within 60s: %v", cerr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("SIGKILL of the master (sentinel down-after 1000 ms, REDIS_TIMEOUT_MS 500): calls failed from %v to %v, writes back after %v; errors: %v",
		firstErr.Round(time.Millisecond), lastErr.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond), kinds)
	for kind := range kinds {
		if !strings.HasPrefix(kind, "ErrUnavailable") {
			t.Errorf("during the failover a call failed with %s, want only ErrUnavailable (retryable)", kind)
		}
	}
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
