package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/internal/redistest"
)

// oneLineOut checks that a health check printed exactly one line starting
// with prefix, and nothing on stderr.
func oneLineOut(t *testing.T, r result, prefix string) {
	t.Helper()
	if !strings.HasPrefix(r.stdout, prefix) || strings.Count(r.stdout, "\n") != 1 || r.stderr != "" {
		t.Errorf("want one line starting with %q on stdout\n%s", prefix, r)
	}
}

func TestHealth(t *testing.T) {
	srv := redistest.Start(t)
	r := ctl(t, redisEnv(srv), "health", "--timeout", "20s").want(t, exitOK)
	oneLineOut(t, r, "ok: redis at "+srv.Addr()+" answered PING in ")
	if !strings.Contains(r.stdout, "redis 7") && !strings.Contains(r.stdout, "redis 8") {
		t.Errorf("health does not give the Redis version:\n%s", r)
	}

	t.Run("password", func(t *testing.T) {
		srv := startWithPassword(t, "s3cret-pw")
		r := ctl(t, redisEnv(srv), "health").want(t, exitUnavailable)
		oneLineOut(t, r, "unhealthy: redis at "+srv.Addr())
		if !strings.Contains(r.stdout, "NOAUTH") && !strings.Contains(r.stdout, "auth") {
			t.Errorf("health without the password does not say why:\n%s", r)
		}
		env := redisEnv(srv)
		env["REDIS_PASSWORD"] = "s3cret-pw"
		oneLineOut(t, ctl(t, env, "health", "--timeout", "20s").want(t, exitOK), "ok: ")
		env["REDIS_PASSWORD"] = "wrong"
		r = ctl(t, env, "health").want(t, exitUnavailable)
		if strings.Contains(r.stdout, "wrong") || strings.Contains(r.stdout, "s3cret") {
			t.Errorf("health prints a password:\n%s", r)
		}
	})

	t.Run("stopped", func(t *testing.T) {
		srv := redistest.Start(t)
		srv.Stop()
		start := time.Now()
		r := ctl(t, redisEnv(srv), "health").want(t, exitUnavailable)
		t.Logf("health against a stopped redis-server: exit %d in %v", r.code, time.Since(start).Round(time.Millisecond))
		oneLineOut(t, r, "unhealthy: redis at "+srv.Addr())
		if !strings.Contains(r.stdout, "connection refused") {
			t.Errorf("health does not say why:\n%s", r)
		}
	})

	t.Run("hung", func(t *testing.T) {
		srv := redistest.Start(t)
		srv.Pause()
		defer srv.Resume()
		start := time.Now()
		r := ctl(t, redisEnv(srv), "health", "--timeout", "500ms").want(t, exitUnavailable)
		t.Logf("health against a hung (SIGSTOP) redis-server with --timeout 500ms: exit %d in %v", r.code, time.Since(start).Round(time.Millisecond))
		oneLineOut(t, r, "unhealthy: redis at "+srv.Addr())
	})

	t.Run("evicting policy", func(t *testing.T) {
		srv := redistest.Start(t, "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
		r := ctl(t, redisEnv(srv), "health", "--timeout", "20s").want(t, exitOK)
		oneLineOut(t, r, "ok with warnings: ")
		if !strings.Contains(r.stdout, "maxmemory-policy allkeys-lru") || !strings.Contains(r.stdout, "of 64.0 MiB") {
			t.Errorf("no warning about the eviction policy:\n%s", r)
		}
		ctl(t, redisEnv(srv), "health", "--strict", "--timeout", "20s").want(t, exitError)
		srv.Do("CONFIG", "SET", "maxmemory-policy", "noeviction")
		oneLineOut(t, ctl(t, redisEnv(srv), "health", "--strict", "--timeout", "20s").want(t, exitOK), "ok: ")
	})

	t.Run("replica", func(t *testing.T) {
		replica := redistest.Start(t, "--replicaof", "127.0.0.1", itoa(srv.Port))
		r := ctl(t, redisEnv(replica), "health", "--timeout", "20s").want(t, exitUnavailable)
		oneLineOut(t, r, "unhealthy: ")
		if !strings.Contains(r.stdout, "read-only replica") {
			t.Errorf("health does not say it is a replica:\n%s", r)
		}
	})

	t.Run("no redis configured", func(t *testing.T) {
		r := ctl(t, nil, "health").want(t, exitUsage)
		oneLineOut(t, r, "unhealthy: no Redis configured")
	})

	t.Run("bad configuration", func(t *testing.T) {
		r := ctl(t, map[string]string{"REDIS_URL": srv.URL(), "REDIS_TIMEOUT_MS": "0"}, "health").want(t, exitUsage)
		oneLineOut(t, r, "unhealthy: configuration: REDIS_TIMEOUT_MS")
	})
}

// startWithPassword starts a redis-server that requires password (set after
// start: redistest waits for an unauthenticated PING).
func startWithPassword(t *testing.T, password string) *redistest.Server {
	t.Helper()
	srv := redistest.Start(t)
	if _, err := srv.Do("CONFIG", "SET", "requirepass", password); err != nil {
		t.Fatal(err)
	}
	return srv
}
