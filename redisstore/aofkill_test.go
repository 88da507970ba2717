package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
)

// TestAOFKill9 kills a standalone Redis with SIGKILL in the middle of
// creates and starts it again from its append-only file. With appendfsync
// always every acknowledged create must be back; with everysec the count is
// reported. kill -9 ends the process only: what it wrote to the kernel
// stays in the page cache and reaches the disk, so this test cannot tell
// the fsync policies apart. Only a power loss or a kernel crash (or a
// file system that drops unsynced pages, such as LazyFS) would.
func TestAOFKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test skipped in -short mode")
	}
	for _, fsync := range []string{"always", "everysec"} {
		for run := 1; run <= failoverRuns(t); run++ {
			t.Run(fmt.Sprintf("%s/run=%d", fsync, run), func(t *testing.T) {
				srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", fsync)
				c := redisstore.DialTest(t, srv.Addr())
				st, err := redisstore.New(c, redisstore.Options{})
				if err != nil {
					t.Fatal(err)
				}
				m := newManager(t, st, sessiondb.Options{MaxSessionsPerUser: -1})
				var mu sync.Mutex
				var tokens []string
				var n atomic.Int64
				var wg sync.WaitGroup
				for w := range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; n.Add(1) < 100_000; i++ {
							ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
							s, err := m.Create(ctx, fmt.Sprintf("u%d-%d", w, i%50), time.Hour, nil)
							cancel()
							if err != nil {
								return // the server is gone
							}
							mu.Lock()
							tokens = append(tokens, string(s.Token))
							mu.Unlock()
						}
					}()
				}
				time.Sleep(700 * time.Millisecond)
				srv.Stop() // SIGKILL
				wg.Wait()
				srv.Restart()
				ctx := context.Background()
				lost := 0
				for _, tok := range tokens {
					if _, err := m.Validate(ctx, tok); err != nil {
						lost++
					}
				}
				t.Logf("appendfsync %s: kill -9 during creates: %d of %d acknowledged creates lost", fsync, lost, len(tokens))
				if len(tokens) == 0 {
					t.Fatal("no create acknowledged")
				}
				if fsync == "always" && lost != 0 {
					t.Errorf("appendfsync always lost %d acknowledged creates", lost)
				}
			})
		}
	}
}
