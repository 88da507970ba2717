package sessiondclient_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/internal/sessionstest"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// TestConformance runs the behaviours of sessiondb.Sessions, which the
// library's Manager passes on every store, against the client talking to a
// real sessiond: on the embedded store and on a real redis-server.
func TestConformance(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		sessionstest.Run(t, sessionstest.Harness{New: func(t *testing.T, cfg sessionstest.Config) sessiondb.Sessions {
			return newClient(t, sessiondtest.StartWithKeys(t, cfg.Env()))
		}})
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		var prefixes atomic.Int64
		sessionstest.Run(t, sessionstest.Harness{New: func(t *testing.T, cfg sessionstest.Config) sessiondb.Sessions {
			env := cfg.Env()
			env["REDIS_URL"] = srv.URL()
			env["SESSION_KEY_PREFIX"] = fmt.Sprintf("c%d:", prefixes.Add(1)) // counters and indexes start empty
			return newClient(t, sessiondtest.StartWithKeys(t, env))
		}})
	})
}

// newClient returns a client of d with its admin key, which every call
// accepts.
func newClient(t *testing.T, d *sessiondtest.Daemon) *sessiondclient.Client {
	t.Helper()
	c, err := sessiondclient.New(d.URL, sessiondclient.Options{APIKey: d.AdminKey})
	if err != nil {
		t.Fatalf("sessiondclient.New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}
