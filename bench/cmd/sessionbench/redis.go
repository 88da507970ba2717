package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// redisStats reads INFO figures from the Redis under test.
type redisStats struct {
	c rueidis.Client
}

func newRedisStats(addr string) (*redisStats, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		return nil, err
	}
	return &redisStats{c: c}, nil
}

func (r *redisStats) info(section string) map[string]string {
	s, err := r.c.Do(context.Background(), r.c.B().Info().Section(section).Build()).ToString()
	if err != nil {
		return nil
	}
	out := make(map[string]string)
	for line := range strings.SplitSeq(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out
}

// cpu returns Redis's CPU seconds so far (user + system, all threads).
func (r *redisStats) cpu() float64 {
	f := r.info("cpu")
	u, _ := strconv.ParseFloat(f["used_cpu_user"], 64)
	s, _ := strconv.ParseFloat(f["used_cpu_sys"], 64)
	return u + s
}

// usedMemory returns used_memory in bytes.
func (r *redisStats) usedMemory() int64 {
	n, _ := strconv.ParseInt(r.info("memory")["used_memory"], 10, 64)
	return n
}

func (r *redisStats) flush() error {
	return r.c.Do(context.Background(), r.c.B().Flushall().Build()).Error()
}

func (r *redisStats) version() string { return r.info("server")["redis_version"] }

// startRedis runs a redis-server with persistence off on a free loopback
// port and returns its address and a stop function.
func startRedis(extra ...string) (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("redis-server not found (apt-get install -y redis-server), or pass -redis-addr: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "sessionbench-redis")
	if err != nil {
		return "", nil, err
	}
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}, extra...)
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			time.Sleep(50 * time.Millisecond)
			return addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server on %s did not start", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
