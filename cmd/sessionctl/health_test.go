package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb/config"
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
		// A refused login is a configuration error (exit 2), said in one
		// line naming the user and the setting to check.
		srv := startWithPassword(t, "s3cret-pw")
		r := ctl(t, redisEnv(srv), "health").want(t, exitUsage)
		oneLineOut(t, r, "unhealthy: redis at "+srv.Addr())
		if !strings.Contains(r.stdout, "NOAUTH") || !strings.Contains(r.stdout, `user "default"`) || !strings.Contains(r.stdout, "REDIS_USERNAME") {
			t.Errorf("health without the password does not say why:\n%s", r)
		}
		env := redisEnv(srv)
		env["REDIS_PASSWORD"] = "s3cret-pw"
		oneLineOut(t, ctl(t, env, "health", "--timeout", "20s").want(t, exitOK), "ok: ")
		env["REDIS_PASSWORD"] = "not-the-pw"
		r = ctl(t, env, "health").want(t, exitUsage)
		if !strings.Contains(r.stdout, "WRONGPASS") || !strings.Contains(r.stdout, "REDIS_PASSWORD") {
			t.Errorf("health with a wrong password does not say why:\n%s", r)
		}
		if strings.Contains(r.stdout, "not-the-pw") || strings.Contains(r.stdout, "s3cret") {
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

	t.Run("probe user of the shipped ACL", func(t *testing.T) {
		// The shipped ACL lets the probe user run PING and nothing else:
		// health must turn no client-side cache on (CLIENT TRACKING).
		srv := startShippedRedis(t)
		env := shippedEnv(t, srv, "probe")
		for _, args := range [][]string{{"health", "--timeout", "20s"}, {"health", "--strict", "--timeout", "20s"}} {
			r := ctl(t, env, args...).want(t, exitOK)
			oneLineOut(t, r, "ok: redis at "+srv.Addr())
			if !strings.Contains(r.stdout, "INFO not allowed for user probe") {
				t.Errorf("%v as probe:\n%s", args, r)
			}
		}
		for _, entry := range aclLog(t, srv) {
			if strings.Contains(entry, "tracking") {
				t.Errorf("Redis refused the probe user %s", entry)
			}
		}
		// The operator's password given to the probe user is refused, with
		// the user and the setting to check.
		env["REDIS_PASSWORD_FILE"] = shippedEnv(t, srv, "operator")["REDIS_PASSWORD_FILE"]
		r := ctl(t, env, "health").want(t, exitUsage)
		oneLineOut(t, r, "unhealthy: redis at "+srv.Addr())
		for _, w := range []string{`user "probe"`, "WRONGPASS", "REDIS_PASSWORD_FILE"} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("wrong password for probe: does not say %q\n%s", w, r)
			}
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

// devPasswords are the public development passwords whose hashes
// deploy/redis/users.acl holds.
var devPasswords = map[string]string{
	"sessiond": "sessiond-dev-password",
	"operator": "operator-dev-password",
	"probe":    "probe-dev-password",
}

// startShippedRedis runs redis-server from deploy/redis/redis.conf with the
// shipped ACL.
func startShippedRedis(t *testing.T) *redistest.Server {
	t.Helper()
	conf, err := filepath.Abs(filepath.Join("..", "..", "deploy", "redis", "redis.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return redistest.StartFromConf(t, conf, t.TempDir(), "--aclfile", filepath.Join(filepath.Dir(conf), "users.acl"))
}

// shippedEnv is the environment that logs in to srv as user of the
// shipped ACL, the password in a file.
func shippedEnv(t *testing.T, srv *redistest.Server, user string) map[string]string {
	t.Helper()
	pw := filepath.Join(t.TempDir(), user+"-password")
	if err := os.WriteFile(pw, []byte(devPasswords[user]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"REDIS_HOST": "127.0.0.1", "REDIS_PORT": itoa(srv.Port), "REDIS_USERNAME": user,
		"REDIS_PASSWORD_FILE": pw, "REDIS_TIMEOUT_MS": slow}
}

// aclLog returns Redis's ACL LOG as the operator, one line per entry.
func aclLog(t *testing.T, srv *redistest.Server) []string {
	t.Helper()
	env := shippedEnv(t, srv, "operator")
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	opt, err := cfg.ClientOption()
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache, opt.ForceSingleClient = true, true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	entries, err := c.Do(context.Background(), c.B().AclLog().Count(1000).Build()).ToArray()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		m, _ := e.AsStrMap()
		out = append(out, fmt.Sprintf("user=%s reason=%s object=%s", m["username"], m["reason"], m["object"]))
	}
	return out
}
