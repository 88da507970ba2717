package redisstore

import (
	"testing"

	"github.com/redis/rueidis"
)

// SetBudget changes how many users one maintenance call visits, so tests
// can exercise the batching with few users.
func SetBudget(s *Store, n int) { s.budget = n }

// DialTest connects to addrs (a server, or a cluster's nodes) and closes
// the client when the test ends.
func DialTest(tb testing.TB, addrs ...string) rueidis.Client {
	tb.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs})
	if err != nil {
		tb.Fatalf("rueidis.NewClient: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}
