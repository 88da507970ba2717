package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/internal/redistest"
)

// fields reads a monitor line: a timestamp, then key=value fields.
func fields(t *testing.T, line string) map[string]string {
	t.Helper()
	parts := strings.Fields(line)
	if len(parts) == 0 {
		t.Fatalf("empty monitor line")
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", parts[0]); err != nil {
		t.Fatalf("monitor line does not start with a time: %q", line)
	}
	f := map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			t.Fatalf("monitor field %q is not key=value in %q", p, line)
		}
		f[k] = v
	}
	return f
}

func TestMonitorLines(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "512mb")
	env := redisEnv(srv)
	m := manager(t, env)
	for i := range 20 {
		create(t, m, fmt.Sprintf("user%d", i%7), 0, nil)
	}

	// Load while the monitor runs: logins, validations and logouts,
	// bounded in count and stopped when the monitor ends.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ops int
	wg.Go(func() {
		for ops = 0; ops < 20_000 && ctx.Err() == nil; ops++ {
			s, err := m.Create(ctx, fmt.Sprintf("load%d", ops%50), 0, nil)
			if err != nil {
				continue
			}
			m.Validate(ctx, string(s.Token))
			m.Validate(ctx, string(s.Token))
			if ops%4 == 0 {
				m.Invalidate(ctx, string(s.Token))
			}
			time.Sleep(time.Millisecond)
		}
	})
	r := ctl(t, env, "monitor", "--count", "3", "--interval", "300ms")
	stop()
	wg.Wait()
	r.want(t, exitOK)
	t.Logf("%d load iterations during the monitor", ops)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 || r.stderr != "" || strings.Contains(r.stdout, "\x1b") {
		t.Fatalf("want 3 plain lines (output is not a terminal)\n%s", r)
	}
	var creates, validates, invalidations float64
	for _, l := range lines {
		f := fields(t, l)
		for _, k := range []string{"active", "users", "expired", "creates/s", "validates/s", "invalidations/s", "evictions/s", "redis_evicted", "memory", "maxmemory", "latency"} {
			if f[k] == "" {
				t.Errorf("monitor line lacks %s: %q", k, l)
			}
		}
		if n, err := strconv.Atoi(f["active"]); err != nil || n < 20 {
			t.Errorf("active=%s, want at least 20", f["active"])
		}
		if f["maxmemory"] != "512.0MiB" || f["redis_evicted"] != "0" {
			t.Errorf("memory fields: %q", l)
		}
		if _, err := time.ParseDuration(f["latency"]); err != nil {
			t.Errorf("latency=%s: %v", f["latency"], err)
		}
		c, _ := strconv.ParseFloat(f["creates/s"], 64)
		v, _ := strconv.ParseFloat(f["validates/s"], 64)
		i, _ := strconv.ParseFloat(f["invalidations/s"], 64)
		creates, validates, invalidations = creates+c, validates+v, invalidations+i
	}
	t.Logf("monitor rates summed over 3 lines: creates %.1f, validates %.1f, invalidations %.1f per second", creates, validates, invalidations)
	if creates <= 0 || validates < creates || invalidations <= 0 {
		t.Errorf("the rates do not show the load (creates %.1f, validates %.1f, invalidations %.1f):\n%s", creates, validates, invalidations, r)
	}
}

func TestMonitorRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	env := map[string]string{"REDIS_URL": srv.URL(), "REDIS_TIMEOUT_MS": "300"}
	srv.Stop()
	r := ctl(t, env, "monitor", "--count", "2", "--interval", "50ms").want(t, exitUnavailable)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "error=") {
		t.Errorf("monitor with Redis stopped:\n%s", r)
	}
}

func TestMonitorInterrupt(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Cancel, as Ctrl-C does, once the first line is out.
	out := &lineWriter{first: make(chan struct{})}
	go func() {
		<-out.first
		cancel()
	}()
	var errw strings.Builder
	getenv := func(k string) string { return redisEnv(srv)[k] }
	// No --count: it runs until its context ends.
	if code := run(ctx, []string{"monitor", "--interval", "100ms"}, getenv, nil, out, &errw); code != exitOK {
		t.Fatalf("monitor ended by its context: exit %d\n%s%s", code, out.String(), errw.String())
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("monitor printed nothing in a minute:\n%s", errw.String())
	}
	if n := strings.Count(out.String(), "\n"); n < 1 {
		t.Errorf("monitor printed %d lines before the interrupt", n)
	}
}

// lineWriter collects output and closes first at the first newline.
type lineWriter struct {
	mu    sync.Mutex
	b     strings.Builder
	first chan struct{}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := strings.Contains(w.b.String(), "\n")
	w.b.Write(p)
	if !had && strings.Contains(w.b.String(), "\n") {
		close(w.first)
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestSnapshot(t *testing.T) {
	srv := redistest.Start(t)
	m := manager(t, redisEnv(srv))
	fill(t, m.Store(), "u", 1000, 100, time.Hour)
	r := ctl(t, redisEnv(srv), "snapshot").want(t, exitOK)
	rdb := filepath.Join(srv.Dir, "dump.rdb")
	if !strings.HasPrefix(r.stdout, "snapshot of "+srv.Addr()+" written in ") || !strings.HasSuffix(r.stdout, ": RDB "+rdb+"\n") {
		t.Errorf("snapshot output:\n%s", r)
	}
	fi, err := os.Stat(rdb)
	if err != nil || fi.Size() < 1000*50 {
		t.Fatalf("RDB file after snapshot: %v, %v", fi, err)
	}
	// A second snapshot makes a new file.
	os.Remove(rdb)
	ctl(t, redisEnv(srv), "snapshot").want(t, exitOK)
	if _, err := os.Stat(rdb); err != nil {
		t.Errorf("second snapshot: %v", err)
	}

	t.Run("aof", func(t *testing.T) {
		srv := redistest.Start(t, "--appendonly", "yes")
		r := ctl(t, redisEnv(srv), "snapshot").want(t, exitOK)
		if !strings.Contains(r.stdout, ", AOF in "+filepath.Join(srv.Dir, "appendonlydir")) {
			t.Errorf("snapshot with AOF on does not name its directory:\n%s", r)
		}
	})

	t.Run("operator of the shipped ACL", func(t *testing.T) {
		srv := startShippedRedis(t)
		r := ctl(t, shippedEnv(t, srv, "operator"), "snapshot").want(t, exitOK)
		want := ": RDB " + filepath.Join(srv.Dir, "dump.rdb") + ", AOF in " + filepath.Join(srv.Dir, "appendonlydir") + "\n"
		if !strings.HasSuffix(r.stdout, want) {
			t.Errorf("snapshot as operator: want the paths %q\n%s", want, r)
		}
	})

	t.Run("failing", func(t *testing.T) {
		srv := redistest.Start(t, "--enable-protected-configs", "yes")
		// A data directory removed under the server makes BGSAVE fail.
		dir := filepath.Join(t.TempDir(), "data")
		os.Mkdir(dir, 0o700)
		if _, err := srv.Do("CONFIG", "SET", "dir", dir); err != nil {
			t.Fatal(err)
		}
		os.RemoveAll(dir)
		r := ctl(t, redisEnv(srv), "snapshot", "--timeout", "20s").want(t, exitError)
		if !strings.Contains(r.stderr, "BGSAVE failed") {
			t.Errorf("failing snapshot:\n%s", r)
		}
	})
}
