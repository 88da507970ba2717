// Package redistest starts real redis-server processes on loopback for tests:
// a standalone server, a Redis Cluster, or a Sentinel setup. Every process
// gets a free port and a temporary directory and is stopped when the test
// ends.
//
// When redis-server is not installed the tests fail with instructions, unless
// SESSIONDB_SKIP_REDIS=1 is set, which makes them skip instead.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SkipEnv is the environment variable that turns a missing redis-server from
// a test failure into a skip.
const SkipEnv = "SESSIONDB_SKIP_REDIS"

// BinaryEnv names a redis-server binary to use instead of the one on PATH.
const BinaryEnv = "SESSIONDB_REDIS_SERVER"

const installHint = "redis-server not found. Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; " +
	"or run ./scripts/test.sh, which does) or point " + BinaryEnv + " at a redis-server binary; " +
	"set " + SkipEnv + "=1 to skip the tests that need Redis"

// Binary returns the path of redis-server (or of the companion binary name,
// such as redis-cli), failing or skipping the test when it is missing.
func Binary(tb testing.TB, name string) string {
	tb.Helper()
	if name == "redis-server" {
		if p := os.Getenv(BinaryEnv); p != "" {
			return p
		}
	} else if p := os.Getenv(BinaryEnv); p != "" {
		if q := filepath.Join(filepath.Dir(p), name); fileExists(q) {
			return q
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(SkipEnv) == "1" {
			tb.Skipf("%s not found and %s=1: skipping", name, SkipEnv)
		}
		tb.Fatal(strings.Replace(installHint, "redis-server", name, 1))
	}
	return p
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Server is one redis-server process.
type Server struct {
	tb   testing.TB
	bin  string
	Port int
	Dir  string
	args []string
	conf string // a config file to pass first (sentinels, StartFromConf)
	keep bool   // keep the config file's persistence settings

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is a redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Start runs a standalone redis-server with persistence off. Extra arguments
// are passed on its command line (e.g. "--maxmemory", "8mb").
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	s := newServer(tb, extra...)
	s.Restart()
	return s
}

// StartFromConf runs redis-server on the config file conf, in the data
// directory dir (which the caller may have filled, with an AOF to load, say).
// Only the port, the bind address, the directory and the log file are
// overridden, and extra arguments after them; persistence and everything
// else are the file's. The server counts as up once it answers PING, or
// refuses it for want of a password (a file that switches the default user
// off).
func StartFromConf(tb testing.TB, conf, dir string, extra ...string) *Server {
	tb.Helper()
	s := &Server{tb: tb, bin: Binary(tb, "redis-server"), Port: FreePort(tb), Dir: dir, args: extra, conf: conf, keep: true}
	s.Restart()
	return s
}

// StartOnPort is Start on a given port (one taken from FreePort earlier).
func StartOnPort(tb testing.TB, port int, extra ...string) *Server {
	tb.Helper()
	s := &Server{tb: tb, bin: Binary(tb, "redis-server"), Port: port, Dir: tb.TempDir(), args: extra}
	s.Restart()
	return s
}

func newServer(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	return &Server{tb: tb, bin: Binary(tb, "redis-server"), Port: FreePort(tb), Dir: tb.TempDir(), args: extra}
}

// Restart starts the server again after Stop, on the same port and directory.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.tb.Fatalf("redistest: server on port %d is already running", s.Port)
	}
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args,
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--dir", s.Dir,
		"--daemonize", "no", "--logfile", filepath.Join(s.Dir, "redis.log"),
	)
	if !s.keep {
		args = append(args, "--save", "", "--appendonly", "no")
	}
	args = append(args, s.args...)
	cmd := exec.Command(s.bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Errors found before the log file opens (a bad config file) go here.
	out, err := os.Create(filepath.Join(s.Dir, "stdout.log"))
	if err != nil {
		s.tb.Fatalf("redistest: %v", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd = cmd
	s.tb.Cleanup(s.Stop)
	if err := waitPing(s.Addr(), 10*time.Second); err != nil {
		early, _ := os.ReadFile(filepath.Join(s.Dir, "stdout.log"))
		log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
		s.tb.Fatalf("redistest: redis-server on %s did not answer: %v\n%s%s", s.Addr(), err, early, log)
	}
}

// Stop kills the server (SIGKILL: nothing is saved) and waits for it to exit.
// It is safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Pause stops the server process with SIGSTOP: it keeps its port but answers
// nothing, like a hung server. Resume undoes it.
func (s *Server) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume continues a paused server.
func (s *Server) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Do sends one command over a fresh connection and returns the first line of
// the reply (enough for PING, CONFIG SET, FLUSHALL and the like).
func (s *Server) Do(args ...string) (string, error) { return Do(s.Addr(), args...) }

// CommandCalls returns how many times Redis ran each command since its
// start (INFO commandstats), by lower-case name ("get", "evalsha",
// "client|list"); commands run inside scripts count too.
func (s *Server) CommandCalls(tb testing.TB) map[string]int64 {
	tb.Helper()
	info, err := s.Do("INFO", "commandstats")
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]int64)
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	for range 10 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			continue
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// Cluster nodes also listen on port+10000.
		if p+10000 < 65536 {
			if l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000)); err == nil {
				l2.Close()
				return p
			}
		}
	}
	tb.Fatal("redistest: no free port")
	return 0
}

// Do sends one command to addr and returns the reply's first line, without
// its type byte; an error reply is returned as an error.
func Do(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply")
	}
	switch line[0] {
	case '-':
		return "", fmt.Errorf("%s", line[1:])
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return line[1:], nil
}

func waitPing(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		var reply string
		reply, err = Do(addr, "PING")
		if err == nil && reply == "PONG" {
			return nil
		}
		if err != nil && (strings.HasPrefix(err.Error(), "NOAUTH") || strings.HasPrefix(err.Error(), "WRONGPASS")) {
			return nil // up, with a password (--requirepass, ACL users)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}
