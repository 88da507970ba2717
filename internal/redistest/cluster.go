package redistest

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of primaries without replicas, on loopback.
type Cluster struct {
	Nodes []*Server
}

// Addrs returns the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// StartCluster starts n redis-server nodes in cluster mode and joins them
// with redis-cli --cluster create, then waits until every node reports
// cluster_state:ok.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	return startCluster(tb, n, 0)
}

// StartClusterWithReplicas starts primaries primaries with one replica each
// (node timeout 2 s; a primary's failure leaves the other primaries'
// slots served), and waits until every replica is in sync.
func StartClusterWithReplicas(tb testing.TB, primaries int) *Cluster {
	tb.Helper()
	c := startCluster(tb, 2*primaries, 1, "--cluster-require-full-coverage", "no", "--repl-diskless-sync-delay", "0")
	for _, node := range c.Nodes {
		waitFor(tb, 20*time.Second, func() bool {
			info, err := Do(node.Addr(), "INFO", "replication")
			return err == nil && (strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up"))
		}, "cluster node "+node.Addr()+" in sync")
	}
	return c
}

func startCluster(tb testing.TB, n, replicas int, extra ...string) *Cluster {
	tb.Helper()
	cli := Binary(tb, "redis-cli")
	c := &Cluster{}
	for range n {
		s := newServer(tb, append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000"}, extra...)...)
		s.Restart()
		c.Nodes = append(c.Nodes, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, node := range c.Nodes {
		for {
			info, err := Do(node.Addr(), "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: cluster node %s not ok: %v %q", node.Addr(), err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}
