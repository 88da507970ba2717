package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redisnode"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
)

// namedConns counts the primary's connections named name, telling the
// connections of confirmed writes (whose last command was the script, WAIT
// or WAITAOF) from the others (the client's pipelined connections).
func namedConns(t *testing.T, srv *redistest.Server, name string) (confirmed, other int) {
	t.Helper()
	list, err := srv.Do("CLIENT", "LIST")
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	for line := range strings.SplitSeq(list, "\n") {
		fields := map[string]string{}
		for f := range strings.FieldsSeq(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				fields[k] = v
			}
		}
		if fields["name"] != name {
			continue
		}
		switch fields["cmd"] {
		case "wait", "waitaof", "evalsha", "eval":
			confirmed++
		default:
			other++
		}
	}
	return confirmed, other
}

// blockedClients returns the primary's clients blocked in WAIT/WAITAOF (or
// any other blocking command).
func blockedClients(t *testing.T, srv *redistest.Server) int {
	t.Helper()
	info, err := srv.Do("INFO", "clients")
	if err != nil {
		t.Fatalf("INFO clients: %v", err)
	}
	n, err := strconv.Atoi(redisnode.ParseInfo(info)["blocked_clients"])
	if err != nil {
		t.Fatalf("INFO clients has no blocked_clients: %q", info)
	}
	return n
}

// waitUntil polls ok for at most 20 s.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 20 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWaitConnectionsBound: with WaitReplicas 1 and WaitConnections 4, a
// burst of 100 concurrent writers (300 creates) never holds more than 4
// connections on the primary, besides the client's pipelined ones (at most
// 4: rueidis pipelines over up to 2^2 connections per node); every write
// succeeds and is on the replica when it returns. The replica is paused at
// first, so that the first 4 writes hold their connections in WAIT while
// the other 96 writers queue for one: the bound is checked while it is full,
// not only when the load happens to be light.
func TestWaitConnectionsBound(t *testing.T) {
	primary, replica := primaryWithReplica(t)
	const bound, workers, each, pipelined = 4, 100, 3, 4
	const name = "sessiondb-waitconns"
	st, err := redisstore.Open(rueidis.ClientOption{InitAddress: []string{primary.Addr()}, ClientName: name},
		redisstore.Options{WaitReplicas: 1, WaitTimeout: 30 * time.Second, WaitConnections: bound})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := newManager(t, st, sessiondb.Options{MaxSessionsPerUser: -1})
	r := newManager(t, mustNew(t, newReplicaClient(t, replica.Addr())), sessiondb.Options{MaxSessionsPerUser: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	maxConfirmed, maxOther := 0, 0
	sample := func() {
		c, o := namedConns(t, primary, name)
		mu.Lock()
		maxConfirmed, maxOther = max(maxConfirmed, c), max(maxOther, o)
		mu.Unlock()
	}

	replica.Pause()
	paused := true
	defer func() {
		if paused {
			replica.Resume()
		}
	}()
	var started atomic.Int64
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			errs <- func() error {
				for i := range each {
					started.Add(1)
					s, err := m.Create(ctx, fmt.Sprintf("u%d", w), time.Hour, nil)
					if err != nil {
						return fmt.Errorf("create %d of writer %d: %w", i, w, err)
					}
					if _, err := r.Validate(ctx, string(s.Token)); err != nil {
						return fmt.Errorf("acknowledged create not on the replica: %w", err)
					}
				}
				return nil
			}()
		}()
	}
	// Every writer has called Create and the 4 connections are in WAIT:
	// the other writers wait for one.
	waitUntil(t, "all writers started", func() bool { return started.Load() == workers })
	waitUntil(t, fmt.Sprintf("%d writes blocked in WAIT", bound), func() bool { return blockedClients(t, primary) >= bound })
	for range 20 {
		sample()
		if n := blockedClients(t, primary); n != bound {
			t.Errorf("%d clients blocked in WAIT while %d writers wait; want the bound, %d", n, workers, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
	replica.Resume()
	paused = false

	// The rest of the load, sampled as it runs.
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			default:
			}
			sample()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var failed []error
	for range workers {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	close(done)
	<-sampled
	for _, err := range failed[:min(len(failed), 5)] {
		t.Error(err)
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d writers failed", len(failed), workers)
	}
	// The pool keeps the connections it opened: afterwards they are all
	// still listed, so this counts every connection the burst opened.
	sample()
	t.Logf("connections on the primary: at most %d held by confirmed writes at once, %d others (pipelined)", maxConfirmed, maxOther)
	if maxConfirmed > bound {
		t.Errorf("confirmed writes held %d connections at once; WaitConnections is %d", maxConfirmed, bound)
	}
	if maxConfirmed == 0 || maxOther == 0 {
		t.Errorf("CLIENT LIST shows no connection named %s (%d, %d)", name, maxConfirmed, maxOther)
	}
	if maxOther > pipelined {
		t.Errorf("%d other connections named %s; want at most the %d pipelined ones", maxOther, name, pipelined)
	}
	for w := range workers {
		if ss, err := r.UserSessions(ctx, fmt.Sprintf("u%d", w)); err != nil || len(ss) != each {
			t.Fatalf("the replica has %d sessions of u%d (%v); want %d", len(ss), w, err, each)
		}
	}
}

// TestWaitConnectionsTimeout: a write that gets no connection within its
// deadline fails with an error matching ErrUnavailable that says nothing
// was written, and nothing was.
func TestWaitConnectionsTimeout(t *testing.T) {
	primary, replica := primaryWithReplica(t)
	st, err := redisstore.Open(rueidis.ClientOption{InitAddress: []string{primary.Addr()}},
		redisstore.Options{WaitReplicas: 1, WaitTimeout: 30 * time.Second, WaitConnections: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := newManager(t, st, sessiondb.Options{MaxSessionsPerUser: -1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// alice's create holds the one connection in WAIT while the replica is
	// paused.
	replica.Pause()
	alice := make(chan error, 1)
	go func() {
		_, err := m.Create(ctx, "alice", time.Hour, nil)
		alice <- err
	}()
	waitUntil(t, "alice's create blocked in WAIT", func() bool { return blockedClients(t, primary) == 1 })
	bctx, bcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = m.Create(bctx, "bob", time.Hour, nil)
	bcancel()
	replica.Resume()
	if !errors.Is(err, sessiondb.ErrUnavailable) || !strings.Contains(err.Error(), "nothing was written") {
		t.Errorf("Create with no connection free: %v; want ErrUnavailable saying nothing was written", err)
	}
	if err := <-alice; err != nil {
		t.Fatalf("alice's create: %v", err)
	}
	// Canceled rather than timed out: the caller's own error.
	cctx, ccancel := context.WithCancel(ctx)
	replica.Pause()
	go func() {
		_, err := m.Create(ctx, "alice", time.Hour, nil)
		alice <- err
	}()
	waitUntil(t, "alice's second create blocked in WAIT", func() bool { return blockedClients(t, primary) == 1 })
	time.AfterFunc(20*time.Millisecond, ccancel)
	_, err = m.Create(cctx, "bob", time.Hour, nil)
	replica.Resume()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Create cancelled while waiting for a connection: %v; want context.Canceled", err)
	}
	if err := <-alice; err != nil {
		t.Fatalf("alice's second create: %v", err)
	}
	if ss, err := m.UserSessions(ctx, "bob"); err != nil || len(ss) != 0 {
		t.Errorf("bob has %d sessions (%v) after creates that got no connection; want 0", len(ss), err)
	}
	if ss, err := m.UserSessions(ctx, "alice"); err != nil || len(ss) != 2 {
		t.Errorf("alice has %d sessions (%v); want 2", len(ss), err)
	}
}

func mustNew(t *testing.T, c rueidis.Client) *redisstore.Store {
	t.Helper()
	st, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
