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

// URL returns a REDIS_URL that names every node of the cluster (the first
// as the host, the others as ?addr=).
func (c *Cluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr()
	for i, n := range c.Nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + n.Addr()
	}
	return u
}

// NodeOf returns the primary that serves key's slot (of its hash tag, if
// it has one), by CLUSTER KEYSLOT and the slot ranges of CLUSTER NODES.
func (c *Cluster) NodeOf(tb testing.TB, key string) *Server {
	tb.Helper()
	text, err := c.Nodes[0].Do("CLUSTER", "KEYSLOT", key)
	if err != nil {
		tb.Fatalf("redistest: CLUSTER KEYSLOT %s: %v", key, err)
	}
	slot, err := strconv.Atoi(text)
	if err != nil {
		tb.Fatalf("redistest: CLUSTER KEYSLOT %s: %q", key, text)
	}
	nodes, err := c.Nodes[0].Do("CLUSTER", "NODES")
	if err != nil {
		tb.Fatalf("redistest: CLUSTER NODES: %v", err)
	}
	for line := range strings.SplitSeq(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "master") {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		for _, r := range slotRangesOf(f) {
			if slot < r[0] || slot > r[1] {
				continue
			}
			for _, n := range c.Nodes {
				if n.Addr() == addr {
					return n
				}
			}
		}
	}
	tb.Fatalf("redistest: no node of the cluster serves slot %d (of %s):\n%s", slot, key, nodes)
	return nil
}

// SlotRanges returns the slot ranges the node serves, from its own line of
// CLUSTER NODES (CLUSTER SHARDS would need a RESP parser).
func (s *Server) SlotRanges(tb testing.TB) [][2]int {
	tb.Helper()
	out, err := s.Do("CLUSTER", "NODES")
	if err != nil {
		tb.Fatalf("redistest: CLUSTER NODES: %v", err)
	}
	var rs [][2]int
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) >= 8 && strings.Contains(f[2], "myself") {
			rs = append(rs, slotRangesOf(f)...)
		}
	}
	if len(rs) == 0 {
		tb.Fatalf("redistest: no slots in CLUSTER NODES of %s:\n%s", s.Addr(), out)
	}
	return rs
}

// slotRangesOf returns the slot ranges of a line of CLUSTER NODES, split
// into fields: <id> <ip:port@cport> <flags> <primary> <ping> <pong> <epoch>
// <link> <slot or lo-hi>... A slot being moved ([slot->-id]) is left out.
func slotRangesOf(f []string) [][2]int {
	var rs [][2]int
	for _, r := range f[min(8, len(f)):] {
		lo, hi, ok := strings.Cut(r, "-")
		if !ok {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 == nil && err2 == nil {
			rs = append(rs, [2]int{a, b})
		}
	}
	return rs
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
