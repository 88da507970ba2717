package sessiondb_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/internal/sessionstest"
	"github.com/sessiondb/sessiondb/memstore"
	"github.com/sessiondb/sessiondb/redisstore"
)

// TestSessionsConformance runs the behaviours of sessiondb.Sessions against
// the Manager on each store; package sessiondclient runs the same against a
// real sessiond.
func TestSessionsConformance(t *testing.T) {
	t.Run("memstore", func(t *testing.T) {
		sessionstest.Run(t, sessionstest.Harness{New: func(t *testing.T, cfg sessionstest.Config) sessiondb.Sessions {
			st := memstore.New()
			t.Cleanup(func() { st.Close() })
			return newConformanceManager(t, st, cfg)
		}})
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(client.Close)
		var prefixes atomic.Int64
		sessionstest.Run(t, sessionstest.Harness{New: func(t *testing.T, cfg sessionstest.Config) sessiondb.Sessions {
			// A key prefix of its own: counters and indexes start empty.
			st, err := redisstore.New(client, redisstore.Options{Prefix: fmt.Sprintf("c%d:", prefixes.Add(1))})
			if err != nil {
				t.Fatal(err)
			}
			return newConformanceManager(t, st, cfg)
		}})
	})
}

func newConformanceManager(t *testing.T, st sessiondb.Store, cfg sessionstest.Config) *sessiondb.Manager {
	t.Helper()
	m, err := sessiondb.New(st, cfg.Options())
	if err != nil {
		t.Fatalf("sessiondb.New: %v", err)
	}
	return m
}
