package redisstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
	"github.com/sessiondb/sessiondb/storetest"
)

// eventStoreMaker returns stores with events over one client, each with a
// key prefix of its own. The settle time is a millisecond, so that the
// tests read their events at once; cache adds the client-side cache.
func eventStoreMaker(c rueidis.Client, cache time.Duration) storetest.EventStoreMaker {
	return func(tb testing.TB, opt sessiondb.EventOptions) sessiondb.Store {
		s, err := redisstore.New(c, redisstore.Options{Prefix: fmt.Sprintf("t%d:", prefixes.Add(1)),
			Events: &opt, EventSettle: time.Millisecond, CacheTTL: cache})
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
}

func TestEventConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.RunEvents(t, eventStoreMaker(redisstore.DialTest(t, srv.Addr()), 0))
}

func TestEventConformanceCached(t *testing.T) {
	srv := redistest.Start(t)
	storetest.RunEvents(t, eventStoreMaker(redisstore.DialTest(t, srv.Addr()), time.Minute))
}

func TestEventConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	cl := redistest.StartCluster(t, 3)
	storetest.RunEvents(t, eventStoreMaker(redisstore.DialTest(t, cl.Addrs()...), 0))
}
