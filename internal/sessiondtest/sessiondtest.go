// Package sessiondtest runs a real sessiond, built from the tree, for tests:
// on a free loopback port, with the environment a test gives it (the
// embedded store by default, or REDIS_URL of a redis-server from package
// redistest), stopped when the test ends.
//
//	d := sessiondtest.Start(t, nil)                                  // embedded store, no API keys
//	d := sessiondtest.Start(t, map[string]string{"REDIS_URL": srv.URL()})
//	d := sessiondtest.StartWithKeys(t, nil)                          // d.AppKey, d.AdminKey
//	c, err := sessiondclient.New(d.URL, sessiondclient.Options{APIKey: d.AppKey})
//
// sessiond is built once per test binary (see [Binary]) and started with an
// environment of its own: only PATH from the test's environment, then the
// given variables, so that a REDIS_URL in the shell does not leak in. Its
// standard error is kept; when the test fails, it is added to the test's
// log. When the tests run with -race, sessiond is built with the race
// detector too, and a data race it reports fails the test.
package sessiondtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts of Start and Stop.
const (
	readyWait = 60 * time.Second // the race-enabled build is slow to start on a loaded machine
	stopWait  = 20 * time.Second
)

// maxLog bounds the standard error kept in memory.
const maxLog = 8 << 20

// Daemon is a running sessiond.
type Daemon struct {
	// URL is the base URL of the API: http://127.0.0.1:<port>, or https://
	// when the environment sets SESSIOND_TLS_CERT_FILE.
	URL string
	// Addr is the host:port sessiond listens on.
	Addr string
	// AppKey and AdminKey are API keys of the two roles, set by
	// StartWithKeys (empty after Start, where sessiond needs no key).
	AppKey, AdminKey string

	tb  testing.TB
	cmd *exec.Cmd
	log *logBuffer

	mu      sync.Mutex
	stopped bool
	exited  chan struct{} // closed when the process has exited
	waitErr error
}

// Start builds sessiond (once per test binary), runs it with env and waits
// until its /readyz answers 200. SESSIOND_ADDR defaults to 127.0.0.1:0 (a
// free port, read back from sessiond's "listening" log line, so the log
// level must stay info or debug). The daemon is stopped with SIGTERM when
// the test ends; a test may also call Stop earlier.
func Start(tb testing.TB, env map[string]string) *Daemon {
	tb.Helper()
	return start(tb, env, "", "")
}

// StartWithKeys is Start with API keys: it makes a random app key and a
// random admin key, passes them in SESSIOND_API_KEYS and sets AppKey and
// AdminKey.
func StartWithKeys(tb testing.TB, env map[string]string) *Daemon {
	tb.Helper()
	app, admin := "app-"+randomHex(), "admin-"+randomHex()
	return start(tb, env, app, admin)
}

func randomHex() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func start(tb testing.TB, env map[string]string, appKey, adminKey string) *Daemon {
	tb.Helper()
	switch strings.ToLower(env["SESSIOND_LOG_LEVEL"]) {
	case "warn", "error":
		// The listen address is read from the info line "listening".
		tb.Fatalf("sessiondtest: SESSIOND_LOG_LEVEL=%s hides the line that tells sessiond's address; use info or debug", env["SESSIOND_LOG_LEVEL"])
	}
	bin := Binary(tb)
	vars := map[string]string{
		"PATH":          os.Getenv("PATH"),
		"SESSIOND_ADDR": "127.0.0.1:0",
	}
	if raceEnabled {
		vars["GORACE"] = "atexit_sleep_ms=0" // the default waits a second at exit
	}
	for k, v := range env {
		vars[k] = v
	}
	if appKey != "" {
		keys := "app:" + appKey + ",admin:" + adminKey
		if extra := vars["SESSIOND_API_KEYS"]; extra != "" {
			keys += "," + extra
		}
		vars["SESSIOND_API_KEYS"] = keys
	}
	cmd := exec.Command(bin)
	cmd.Dir = tb.TempDir() // no .env of the tree is read
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = sysProcAttr()
	d := &Daemon{tb: tb, cmd: cmd, log: &logBuffer{}, exited: make(chan struct{}), AppKey: appKey, AdminKey: adminKey}
	pr, pw := io.Pipe()
	cmd.Stdout = d.log
	cmd.Stderr = io.MultiWriter(d.log, pw)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("sessiondtest: start %s: %v", bin, err)
	}
	go func() {
		d.waitErr = cmd.Wait()
		pw.Close()
		close(d.exited)
	}()
	tb.Cleanup(func() {
		d.Stop()
		if tb.Failed() {
			tb.Logf("sessiond's log:\n%s", d.Log())
		}
	})

	urls := make(chan string, 1)
	go func() {
		// Read the log until the "listening" line, then drain it.
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			if !found {
				if u := listenURL(sc.Text()); u != "" {
					found = true
					urls <- u
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
		close(urls)
	}()
	deadline := time.NewTimer(readyWait)
	defer deadline.Stop()
	select {
	case u, ok := <-urls:
		if !ok {
			<-d.exited
			tb.Fatalf("sessiondtest: sessiond exited before listening (%v):\n%s", d.waitErr, d.Log())
		}
		d.URL = u
		_, d.Addr, _ = strings.Cut(u, "://")
	case <-deadline.C:
		tb.Fatalf("sessiondtest: sessiond did not start listening within %v:\n%s", readyWait, d.Log())
	}
	if err := d.waitReady(deadline.C); err != nil {
		tb.Fatalf("sessiondtest: sessiond at %s is not ready: %v\n%s", d.URL, err, d.Log())
	}
	return d
}

// listenURL returns the url of sessiond's "listening" log line, in the text
// or the JSON format, or "".
func listenURL(line string) string {
	if strings.HasPrefix(line, "{") {
		var rec struct {
			Msg string `json:"msg"`
			URL string `json:"url"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			return rec.URL
		}
		return ""
	}
	if !strings.Contains(line, " msg=listening ") {
		return ""
	}
	for _, f := range strings.Fields(line) {
		if u, ok := strings.CutPrefix(f, "url="); ok {
			return u
		}
	}
	return ""
}

// waitReady polls /readyz until it answers 200.
func (d *Daemon) waitReady(deadline <-chan time.Time) error {
	client := d.probeClient()
	defer client.CloseIdleConnections()
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
			err = fmt.Errorf("/readyz answered %s", resp.Status)
		}
		cancel()
		last = err
		select {
		case <-d.exited:
			return fmt.Errorf("sessiond exited (%v); last probe: %v", d.waitErr, last)
		case <-deadline:
			return last
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// probeClient is the HTTP client of the readiness probe. It does not verify
// the certificate: it probes a process of its own test on loopback, whose
// certificate names whatever the test chose.
func (d *Daemon) probeClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives: true,
	}}
}

// Log returns what sessiond has written to its standard error and output so
// far.
func (d *Daemon) Log() string { return d.log.String() }

// Pid returns sessiond's process id.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Pause stops sessiond with SIGSTOP: it keeps its port and its connections
// but answers nothing, like a hung server. Resume undoes it. Pause returns
// once the process is stopped (state T in /proc): a signal takes effect
// when each thread next enters the kernel, and a request sent in between
// would still be answered.
func (d *Daemon) Pause() {
	d.signal(syscall.SIGSTOP)
	stat := fmt.Sprintf("/proc/%d/stat", d.Pid())
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(stat)
		if err != nil {
			return // not Linux, or gone: nothing to wait for
		}
		// pid (comm) state ...: comm may hold spaces, so read after the last ')'.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return
		}
	}
}

// Resume continues a paused sessiond.
func (d *Daemon) Resume() { d.signal(syscall.SIGCONT) }

func (d *Daemon) signal(sig syscall.Signal) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.stopped {
		_ = d.cmd.Process.Signal(sig)
	}
}

// Kill ends sessiond with SIGKILL (kill -9: no shutdown, no deferred
// work) and waits for it to exit. Stop after Kill does nothing.
func (d *Daemon) Kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	d.stopped = true
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

// Stop shuts sessiond down gracefully (SIGTERM), waits for it to exit, and
// kills it if it has not within 20 seconds. It fails the test if sessiond
// reported a data race. It is safe to call more than once.
func (d *Daemon) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	d.stopped = true
	_ = d.cmd.Process.Signal(syscall.SIGCONT) // in case it was paused
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(stopWait):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.exited
		d.tb.Errorf("sessiondtest: sessiond did not stop within %v of SIGTERM; killed it", stopWait)
	}
	if log := d.Log(); strings.Contains(log, "WARNING: DATA RACE") {
		d.tb.Errorf("sessiondtest: sessiond reported a data race:\n%s", log)
	}
}

// logBuffer keeps a process's output, up to maxLog bytes; it is safe for
// concurrent use.
type logBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	dropped int
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len()+len(p) > maxLog {
		l.dropped += len(p)
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped > 0 {
		return l.b.String() + fmt.Sprintf("[%d more bytes not kept]\n", l.dropped)
	}
	return l.b.String()
}
