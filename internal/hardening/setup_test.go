package hardening

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// cluster is one redis-server and the sessiond processes in front of it.
type cluster struct {
	redis   *redistest.Server
	daemons []*sessiondtest.Daemon
	clients []*sessiondclient.Client // one per daemon
}

// startCluster starts a redis-server and n sessiond processes on it, each
// with the environment env (over REDIS_URL and a per-call timeout that a
// loaded machine cannot reach), and a client of each that never retries, so
// that every call is one request whose outcome the test sees.
func startCluster(t *testing.T, n int, env map[string]string) *cluster {
	t.Helper()
	c := &cluster{redis: redistest.Start(t)}
	for range n {
		e := map[string]string{"REDIS_URL": c.redis.URL(), "REDIS_TIMEOUT_MS": "30000"}
		for k, v := range env {
			e[k] = v
		}
		d := sessiondtest.Start(t, e)
		cl, err := sessiondclient.New(d.URL, sessiondclient.Options{Retries: -1, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.CloseIdleConnections)
		c.daemons = append(c.daemons, d)
		c.clients = append(c.clients, cl)
	}
	return c
}

// envDuration reads a duration from the environment variable name, or
// returns def when it is unset.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 10m", name, v)
	}
	return d
}

// envInt reads a positive integer from the environment variable name, or
// returns def when it is unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}
