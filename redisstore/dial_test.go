package redisstore

import (
	"testing"

	"github.com/redis/rueidis"
)

// dialTest connects to addrs (a server, or a cluster's nodes) and closes
// the client when the test ends.
func dialTest(tb testing.TB, addrs ...string) rueidis.Client {
	tb.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs})
	if err != nil {
		tb.Fatalf("rueidis.NewClient: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}
