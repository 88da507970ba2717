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

// cmdStat is one command's line of INFO commandstats.
type cmdStat struct{ calls, usec int64 }

// calls returns how many times Redis ran each command so far and the time
// spent in it (INFO commandstats), commands run by scripts included.
func (r *redisStats) calls() map[string]cmdStat {
	out := make(map[string]cmdStat)
	for name, v := range r.info("commandstats") {
		var st cmdStat
		for f := range strings.SplitSeq(v, ",") {
			k, val, _ := strings.Cut(f, "=")
			n, _ := strconv.ParseInt(val, 10, 64)
			switch k {
			case "calls":
				st.calls = n
			case "usec":
				st.usec = n
			}
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = st
	}
	return out
}

// benchCommands are the sessionbench's own commands (reading figures,
// flushing between cells), left out of the calls per operation.
var benchCommands = map[string]bool{"info": true, "flushall": true, "dbsize": true}

// perOp returns, per operation, the commands Redis ran between two calls()
// snapshots, in all and by command, and the microseconds spent executing
// them: the time in scripts when (nearly) every operation ran one (it
// includes their commands), else in all commands (when some operations ran
// a script and others plain commands, as refused creates do, this counts
// the scripts' commands twice: an upper bound, close when scripts are
// rare). Unlike used_cpu, that time leaves out the event loop and the
// network, which depend on how busy the machine is.
func perOp(after, before map[string]cmdStat, ops int64) (calls float64, by map[string]float64, execUs float64) {
	if ops == 0 {
		return 0, nil, 0
	}
	var total, usec, scriptUsec, scripts int64
	by = make(map[string]float64)
	for name, st := range after {
		d := st.calls - before[name].calls
		if d <= 0 || benchCommands[name] {
			continue
		}
		total += d
		by[name] = float64(d) / float64(ops)
		u := st.usec - before[name].usec
		usec += u
		if strings.HasPrefix(name, "eval") {
			scriptUsec += u
			scripts += d
		}
	}
	if scripts*10 >= ops*9 { // nearly every operation: the window may cut a few
		usec = scriptUsec
	}
	return float64(total) / float64(ops), by, float64(usec) / float64(ops)
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
