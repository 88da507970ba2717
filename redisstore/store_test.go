package redisstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
	"github.com/sessiondb/sessiondb/storetest"
)

var prefixes atomic.Int64

// storeMaker returns stores over one client, each with a key prefix of its
// own, so tests share a server without seeing each other's keys.
func storeMaker(c rueidis.Client) func(testing.TB) sessiondb.Store {
	return func(tb testing.TB) sessiondb.Store {
		s, err := redisstore.New(c, redisstore.Options{Prefix: fmt.Sprintf("t%d:", prefixes.Add(1))})
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, storeMaker(redisstore.DialTest(t, srv.Addr())))
}

// TestConformanceCached runs the suite with the client-side cache on: every
// behaviour, read-your-writes included, must be the same.
func TestConformanceCached(t *testing.T) {
	srv := redistest.Start(t)
	c := redisstore.DialTest(t, srv.Addr())
	storetest.Run(t, func(tb testing.TB) sessiondb.Store {
		s, err := redisstore.New(c, redisstore.Options{Prefix: fmt.Sprintf("t%d:", prefixes.Add(1)), CacheTTL: time.Minute})
		if err != nil {
			tb.Fatal(err)
		}
		return s
	})
}

func TestConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	cl := redistest.StartCluster(t, 3)
	storetest.Run(t, storeMaker(redisstore.DialTest(t, cl.Addrs()...)))
}

// TestTimeoutProperties holds the Redis store, with and without the
// client-side cache, to the timeout properties (fewer schedules than the
// embedded store's: each step is a round trip).
func TestTimeoutProperties(t *testing.T) {
	srv := redistest.Start(t)
	c := redisstore.DialTest(t, srv.Addr())
	for _, cache := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) {
			storetest.CheckTimeouts(t, func(tb testing.TB) sessiondb.Store {
				s, err := redisstore.New(c, redisstore.Options{Prefix: fmt.Sprintf("t%d:", prefixes.Add(1)), CacheTTL: cache})
				if err != nil {
					tb.Fatal(err)
				}
				return s
			}, 300)
		})
	}
}

// TestCacheStats: reads through the client-side cache count as misses, then
// hits; without the cache nothing is counted.
func TestCacheStats(t *testing.T) {
	srv := redistest.Start(t)
	c := redisstore.DialTest(t, srv.Addr())
	prefix := fmt.Sprintf("t%d:", prefixes.Add(1))
	writer, err := redisstore.New(c, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	m, err := sessiondb.New(writer, sessiondb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Create(t.Context(), "u", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Another store reads: it wrote nothing, so its reads go through the cache.
	reader, err := redisstore.New(c, redisstore.Options{Prefix: prefix, CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rm, err := sessiondb.New(reader, sessiondb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := rm.Get(t.Context(), s.ID); err != nil {
			t.Fatal(err)
		}
	}
	if hits, misses := reader.CacheStats(); hits != 2 || misses != 1 {
		t.Errorf("cached reader: %d hits, %d misses; want 2 and 1", hits, misses)
	}
	if hits, misses := writer.CacheStats(); hits != 0 || misses != 0 {
		t.Errorf("store without the cache: %d hits, %d misses; want none", hits, misses)
	}
}
