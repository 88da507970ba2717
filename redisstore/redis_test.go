package redisstore_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
	"github.com/sessiondb/sessiondb/storetest"
)

func newManager(t *testing.T, st sessiondb.Store, opt sessiondb.Options) *sessiondb.Manager {
	t.Helper()
	m, err := sessiondb.New(st, opt)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestNoTokenAtRest checks that neither the RDB nor the AOF file, nor the
// slow log, nor a MONITOR capture ever holds a token or its random part.
func TestNoTokenAtRest(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--slowlog-log-slower-than", "0", "--slowlog-max-len", "100000")
	monitor := startMonitor(t, srv.Addr())
	st, err := redisstore.New(redisstore.DialTest(t, srv.Addr()), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, st, sessiondb.Options{IdleTimeout: time.Minute, TouchInterval: time.Nanosecond})
	ctx := context.Background()
	var tokens []string
	for i := range 50 {
		s, err := m.Create(ctx, fmt.Sprintf("user-%d", i%7), time.Hour, map[string]string{"ip": "192.0.2.1"})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, string(s.Token))
		if _, err := m.Validate(ctx, string(s.Token)); err != nil { // touches: TouchInterval is tiny
			t.Fatal(err)
		}
		if i%5 == 0 {
			r, err := m.Rotate(ctx, string(s.Token))
			if err != nil {
				t.Fatal(err)
			}
			tokens = append(tokens, string(r.Token))
		}
		if i%11 == 0 {
			if _, err := m.Refresh(ctx, string(s.Token), 2*time.Hour); err != nil && !errors.Is(err, sessiondb.ErrNotFound) {
				t.Fatal(err)
			}
		}
	}
	if _, err := srv.Do("SAVE"); err != nil {
		t.Fatal(err)
	}
	slowlog := slowlogText(t, srv.Addr())
	captured := monitor()

	var haystacks = map[string][]byte{"slowlog": slowlog, "monitor": captured}
	filepath.WalkDir(srv.Dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".log") {
			b, _ := os.ReadFile(p)
			haystacks[p] = b
		}
		return nil
	})
	if len(haystacks) < 4 {
		t.Fatalf("expected an RDB and AOF files, found %d files", len(haystacks))
	}
	sawSessions := false
	for _, tok := range tokens {
		raw, _ := base64.RawURLEncoding.DecodeString(tok[4:])
		random := raw[2:34]
		needles := [][]byte{[]byte(tok), []byte(tok[4:]), random, []byte(base64.StdEncoding.EncodeToString(random)[:20]), []byte(fmt.Sprintf("%x", random))}
		for name, hay := range haystacks {
			for _, n := range needles {
				if bytes.Contains(hay, n) {
					t.Fatalf("%s holds a token (or its random part)", name)
				}
			}
		}
		id, _ := sessiondb.IDFromToken(tok)
		for _, hay := range haystacks {
			if bytes.Contains(hay, []byte(sessiondb.IDHash(id))) {
				sawSessions = true
			}
		}
	}
	if !sawSessions {
		t.Fatal("the dumps hold no session id at all: the test looked at the wrong files")
	}
}

func startMonitor(t *testing.T, addr string) func() []byte {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "*1\r\n$7\r\nMONITOR\r\n")
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(conn)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			buf.Write(sc.Bytes())
			buf.WriteByte('\n')
		}
	}()
	return func() []byte {
		time.Sleep(100 * time.Millisecond)
		conn.Close()
		<-done
		if !bytes.Contains(buf.Bytes(), []byte("EVALSHA")) && !bytes.Contains(buf.Bytes(), []byte("evalsha")) {
			t.Fatal("MONITOR captured no script calls")
		}
		return buf.Bytes()
	}
}

func slowlogText(t *testing.T, addr string) []byte {
	c := redisstore.DialTest(t, addr)
	res, err := c.Do(context.Background(), c.B().Arbitrary("SLOWLOG", "GET", "100000").Build()).ToAny()
	if err != nil {
		t.Fatal(err)
	}
	s := fmt.Sprint(res)
	if !strings.Contains(strings.ToLower(s), "evalsha") {
		t.Fatal("the slow log recorded no script calls")
	}
	return []byte(s)
}

// TestValidateIsOneGet counts the commands Redis served for a run of
// validations: one GET each, nothing else.
func TestValidateIsOneGet(t *testing.T) {
	srv := redistest.Start(t)
	st, err := redisstore.New(redisstore.DialTest(t, srv.Addr()), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, st, sessiondb.Options{})
	ctx := context.Background()
	s, err := m.Create(ctx, "alice", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := srv.CommandCalls(t)
	const n = 500
	for range n {
		if _, err := m.Validate(ctx, string(s.Token)); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 {
		m.Validate(ctx, "sdb_malformed")
	}
	after := srv.CommandCalls(t)
	for cmd, calls := range after {
		delta := calls - before[cmd]
		switch cmd {
		case "get":
			if delta != n {
				t.Errorf("%d validations made %d GETs, want %d", n, delta, n)
			}
		case "info", "ping", "hello", "client|setinfo", "client|setname", "client|tracking": // connection setup and keep-alive
		default:
			if delta != 0 {
				t.Errorf("validations made %d calls of %s, want none", delta, cmd)
			}
		}
	}
}

// TestRedisDownAndBack stops, hangs and restarts a real redis-server under a
// store: calls fail with ErrUnavailable within the timeout, never hang, and
// work again once Redis is back.
func TestRedisDownAndBack(t *testing.T) {
	srv := redistest.Start(t)
	opt, err := rueidis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	st, err := redisstore.Open(opt, redisstore.Options{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := newManager(t, st, sessiondb.Options{})
	ctx := context.Background()
	s, err := m.Create(ctx, "u", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}

	failFast := func(what string) {
		t.Helper()
		start := time.Now()
		_, err := m.Validate(ctx, string(s.Token))
		took := time.Since(start)
		if !errors.Is(err, sessiondb.ErrUnavailable) {
			t.Fatalf("%s: Validate = %v, want ErrUnavailable", what, err)
		}
		if took > 20*timeout { // a hang detector, not a performance figure
			t.Fatalf("%s: Validate took %v with a %v timeout", what, took, timeout)
		}
		if _, err := m.Create(ctx, "u", time.Hour, nil); !errors.Is(err, sessiondb.ErrUnavailable) {
			t.Fatalf("%s: Create = %v, want ErrUnavailable", what, err)
		}
		t.Logf("%s: Validate failed after %v", what, took)
	}
	waitBack := func(what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, err := m.Validate(ctx, string(s.Token))
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: store did not recover: %v", what, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	srv.Pause()
	failFast("paused server")
	srv.Resume()
	waitBack("resumed server")

	// Persistence is off in tests, so a restart loses the data: create again.
	srv.Stop()
	failFast("stopped server")
	srv.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if s, err = m.Create(ctx, "u", time.Hour, nil); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Create after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitBack("restarted server")
}

// TestOpenWhileDown opens a store before Redis starts.
func TestOpenWhileDown(t *testing.T) {
	port := redistest.FreePort(t)
	opt := rueidis.ClientOption{InitAddress: []string{"127.0.0.1:" + strconv.Itoa(port)}}
	st, err := redisstore.Open(opt, redisstore.Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open with Redis down = %v, want a store that connects later", err)
	}
	defer st.Close()
	if err := st.Ping(context.Background()); !errors.Is(err, sessiondb.ErrUnavailable) {
		t.Fatalf("Ping with Redis down = %v, want ErrUnavailable", err)
	}
	srv := redistest.StartOnPort(t, port)
	_ = srv
	deadline := time.Now().Add(15 * time.Second)
	for st.Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the store never connected")
		}
		time.Sleep(50 * time.Millisecond)
	}
	m := newManager(t, st, sessiondb.Options{})
	if _, err := m.Create(context.Background(), "late", time.Hour, nil); err != nil {
		t.Fatal(err)
	}
}

// sameSubBucketUsers returns n user ids that share one bucket and sub-bucket.
func sameSubBucketUsers(n int) []string {
	want := sessiondb.UserShard("anchor")
	var out []string
	for i := 0; len(out) < n; i++ {
		u := fmt.Sprintf("user-%d", i)
		if sessiondb.UserShard(u) == want {
			out = append(out, u)
		}
	}
	return out
}

// TestMaintenanceBatches runs Stats and Cleanup with a budget of 3 users per
// call over 25 users of one sub-bucket, some sharing an expiry to the
// millisecond.
func TestMaintenanceBatches(t *testing.T) {
	srv := redistest.Start(t)
	st, err := redisstore.New(redisstore.DialTest(t, srv.Addr()), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	redisstore.SetBudget(st, 3)
	clock := storetest.NewClock()
	m := newManager(t, st, sessiondb.Options{Clock: clock.Now})
	ctx := context.Background()
	users := sameSubBucketUsers(25)
	for i, u := range users {
		if i >= 10 {
			clock.Advance(time.Millisecond) // the first 10 share one expiry
		}
		for range 2 {
			if _, err := m.Create(ctx, u, time.Minute, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := m.Create(ctx, users[0], time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	got, err := m.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Expired != 50 || got.Active != 1 || got.Users != 25 {
		t.Fatalf("Stats = %+v, want 50 expired, 1 active, 25 users", got)
	}
	if err := st.CheckConsistency(ctx, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n, err := m.Cleanup(ctx); err != nil || n != 50 {
		t.Fatalf("Cleanup = %d, %v; want 50", n, err)
	}
	if err := st.CheckConsistency(ctx, clock.Now()); err != nil {
		t.Fatal(err)
	}
	got, _ = m.Stats(ctx)
	if got.Total != 1 || got.Users != 1 || got.Expired != 0 {
		t.Fatalf("Stats after cleanup = %+v", got)
	}
}

func TestPrefixChecked(t *testing.T) {
	c := rueidis.Client(nil)
	if _, err := redisstore.New(c, redisstore.Options{}); err == nil {
		t.Fatal("New(nil client) succeeded")
	}
	srv := redistest.Start(t)
	for _, p := range []string{"a{b", "x}"} {
		if _, err := redisstore.New(redisstore.DialTest(t, srv.Addr()), redisstore.Options{Prefix: p}); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
}
