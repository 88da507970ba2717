// Package redisnode holds what the store and sessionctl both need to know
// about the nodes behind a rueidis client: which of them are primaries, and
// how to read an INFO reply.
package redisnode

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/redis/rueidis"
)

// Node is one Redis node and its address.
type Node struct {
	Addr   string
	Client rueidis.Client
}

// Primaries returns the primary nodes sorted by address: the one node of a
// standalone or Sentinel setup, the primaries of a cluster (asked with ROLE).
// Errors are those of the client, unwrapped.
func Primaries(ctx context.Context, c rueidis.Client) ([]Node, error) {
	all := c.Nodes()
	out := make([]Node, 0, len(all))
	for addr, n := range all {
		if len(all) > 1 {
			role, err := n.Do(ctx, n.B().Role().Build()).ToArray()
			if err != nil {
				return nil, err
			}
			if len(role) == 0 {
				return nil, errors.New("empty reply to ROLE from " + addr)
			}
			if r, _ := role[0].ToString(); r != "master" {
				continue
			}
		}
		out = append(out, Node{addr, n})
	}
	slices.SortFunc(out, func(a, b Node) int { return cmp.Compare(a.Addr, b.Addr) })
	return out, nil
}

// ParseInfo reads the "field:value" lines of an INFO reply into a map.
// Section headers and blank lines are skipped.
func ParseInfo(info string) map[string]string {
	f := make(map[string]string)
	for line := range strings.SplitSeq(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			f[k] = v
		}
	}
	return f
}
