package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelMaster is the master set name StartSentinel monitors.
const SentinelMaster = "sessiondb"

// Sentinel is a master, its replicas and the sentinels watching them.
type Sentinel struct {
	Master    *Server
	Replicas  []*Server
	Sentinels []*Server
}

// Addrs returns the sentinels' host:port addresses.
func (s *Sentinel) Addrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		out[i] = n.Addr()
	}
	return out
}

// StartSentinel starts a master, replicas replicas and three sentinels with
// quorum 2, down-after 1000 ms, and waits until the replicas are in sync and
// every sentinel knows them.
func StartSentinel(tb testing.TB, replicas int) *Sentinel {
	tb.Helper()
	st := &Sentinel{Master: Start(tb)}
	for range replicas {
		r := Start(tb, "--replicaof", "127.0.0.1", strconv.Itoa(st.Master.Port))
		st.Replicas = append(st.Replicas, r)
	}
	for _, r := range st.Replicas {
		waitFor(tb, 10*time.Second, func() bool {
			info, err := r.Do("INFO", "replication")
			return err == nil && strings.Contains(info, "master_link_status:up")
		}, "replica "+r.Addr()+" in sync")
	}
	for range 3 {
		s := newServer(tb)
		s.conf = filepath.Join(s.Dir, "sentinel.conf")
		conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s 1000\n"+
			"sentinel failover-timeout %s 3000\n"+
			"sentinel parallel-syncs %s 1\n", SentinelMaster, st.Master.Port, SentinelMaster, SentinelMaster, SentinelMaster)
		if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
			tb.Fatal(err)
		}
		s.args = []string{"--sentinel"}
		s.Restart()
		st.Sentinels = append(st.Sentinels, s)
	}
	for _, s := range st.Sentinels {
		waitFor(tb, 15*time.Second, func() bool {
			info, err := s.Do("INFO", "sentinel")
			return err == nil && strings.Contains(info, fmt.Sprintf("slaves=%d,sentinels=3", replicas))
		}, "sentinel "+s.Addr()+" sees the replicas and the other sentinels")
	}
	return st
}

func waitFor(tb testing.TB, timeout time.Duration, ok func() bool, what string) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
