package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/storetest"
)

// countingClient counts how reads reach Redis: one command at a time (Do)
// or together (DoMulti, and the commands it carried).
type countingClient struct {
	rueidis.Client
	do, multi, multiCmds atomic.Int64
}

func (c *countingClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	c.do.Add(1)
	return c.Client.Do(ctx, cmd)
}

func (c *countingClient) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	c.multi.Add(1)
	c.multiCmds.Add(int64(len(cmds)))
	return c.Client.DoMulti(ctx, cmds...)
}

// countingStore is a store that batches from 4 reads in flight, over a
// client that counts how its reads reach Redis.
func countingStore(t *testing.T, addrs ...string) (*Store, *countingClient) {
	t.Helper()
	c := &countingClient{Client: DialTest(t, addrs...)}
	st, err := New(c, Options{ReadBatchFrom: 4})
	if err != nil {
		t.Fatal(err)
	}
	return st, c
}

// TestReadsBatchUnderLoad: a read alone goes at once; many at once go
// together, each with its own answer (sessions, a missing one, an expired
// one), and a reader whose context ends stops waiting.
func TestReadsBatchUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	st, c := countingStore(t, srv.Addr())
	ctx := context.Background()
	clock := storetest.NewClock()
	m, err := sessiondb.New(st, sessiondb.Options{Clock: clock.Now, MaxSessionsPerUser: -1})
	if err != nil {
		t.Fatal(err)
	}
	const users = 40
	live := make([]*sessiondb.Session, users)
	for i := range live {
		if live[i], err = m.Create(ctx, fmt.Sprintf("user-%d", i), time.Hour, map[string]string{"ip": "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	short, err := m.Create(ctx, "short", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := m.Create(ctx, "gone", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Invalidate(ctx, string(gone.Token)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute) // short has expired; the others live

	// Alone: one command, at once.
	c.do.Store(0)
	if _, err := st.Get(ctx, live[0].ID, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if c.do.Load() != 1 || c.multi.Load() != 0 {
		t.Fatalf("a read alone: %d Do, %d DoMulti; want one Do", c.do.Load(), c.multi.Load())
	}

	// Many at once: every reader gets its own answer.
	c.do.Store(0)
	var wg sync.WaitGroup
	errs := make(chan error, 3*users)
	for round := range 3 {
		for i := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch {
				case i == 0 && round == 1:
					if _, err := st.Get(ctx, short.ID, clock.Now()); !errors.Is(err, sessiondb.ErrNotFound) {
						errs <- fmt.Errorf("expired session: %v, want ErrNotFound", err)
					}
				case i == 1 && round == 1:
					if _, err := st.Get(ctx, gone.ID, clock.Now()); !errors.Is(err, sessiondb.ErrNotFound) {
						errs <- fmt.Errorf("invalidated session: %v, want ErrNotFound", err)
					}
				default:
					rec, err := st.Get(ctx, live[i].ID, clock.Now())
					switch {
					case err != nil:
						errs <- fmt.Errorf("session of user-%d: %v", i, err)
					case rec.UserID != fmt.Sprintf("user-%d", i) || rec.Metadata["ip"] != "192.0.2.1":
						errs <- fmt.Errorf("session of user-%d read as %q %v", i, rec.UserID, rec.Metadata)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c.multi.Load() == 0 || c.multiCmds.Load() < c.multi.Load()*2 {
		t.Errorf("%d reads at once went in %d batches of %d reads (and %d alone); want batches",
			3*users, c.multi.Load(), c.multiCmds.Load(), c.do.Load())
	}
	if got := c.do.Load() + c.multiCmds.Load(); got != 3*users {
		t.Errorf("%d reads reached Redis, want %d", got, 3*users)
	}
	t.Logf("%d reads at once: %d batches carried %d, %d went alone", 3*users, c.multi.Load(), c.multiCmds.Load(), c.do.Load())

	// Readers whose context ends while their batch waits on Redis (paused
	// here) return then, the leader too, and the batch's replies, when
	// Redis answers, go nowhere.
	srv.Pause()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	start := time.Now()
	var waiters sync.WaitGroup
	late := make(chan error, 8)
	for i := range 8 {
		waiters.Add(1)
		go func() {
			defer waiters.Done()
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if _, err := st.Get(short, live[i].ID, clock.Now()); err == nil {
				late <- errors.New("a read succeeded with Redis paused")
			} else if !errors.Is(err, context.DeadlineExceeded) {
				late <- fmt.Errorf("a read with Redis paused: %v, want its context's deadline", err)
			}
		}()
	}
	waiters.Wait()
	close(late)
	for err := range late {
		t.Error(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("readers with a 50 ms deadline returned after %v", d)
	}
	srv.Resume()
	resumed = true
	if _, err := st.Get(ctx, live[0].ID, clock.Now()); err != nil {
		t.Fatalf("a read after Redis resumed: %v", err)
	}
}

// TestReadsBatchOff: a negative ReadBatchFrom never batches; zero is the
// default.
func TestReadsBatchOff(t *testing.T) {
	st, err := newStore(Options{ReadBatchFrom: -1})
	if err != nil {
		t.Fatal(err)
	}
	if st.reads.from != 0 {
		t.Fatalf("ReadBatchFrom -1 batches from %d reads", st.reads.from)
	}
	if st, err = newStore(Options{}); err != nil {
		t.Fatal(err)
	}
	if st.reads.from != DefaultReadBatchFrom {
		t.Fatalf("the default batches from %d reads, want %d", st.reads.from, DefaultReadBatchFrom)
	}
}

// TestReadsBatchCluster: on a cluster a batch holds reads of sessions in
// different slots (on different primaries); each reader gets its own.
func TestReadsBatchCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	st, c := countingStore(t, redistest.StartCluster(t, 3).Addrs()...)
	ctx := context.Background()
	m, err := sessiondb.New(st, sessiondb.Options{MaxSessionsPerUser: -1})
	if err != nil {
		t.Fatal(err)
	}
	live := make([]*sessiondb.Session, 60)
	for i := range live {
		if live[i], err = m.Create(ctx, fmt.Sprintf("user-%d", i), time.Hour, nil); err != nil {
			t.Fatal(err)
		}
	}
	c.do.Store(0)
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(live))
	for range 2 {
		for i, s := range live {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if rec, err := st.Get(ctx, s.ID, time.Now()); err != nil {
					errs <- fmt.Errorf("session of user-%d: %v", i, err)
				} else if rec.UserID != fmt.Sprintf("user-%d", i) {
					errs <- fmt.Errorf("session of user-%d read as %q", i, rec.UserID)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c.multi.Load() == 0 || c.do.Load()+c.multiCmds.Load() != int64(2*len(live)) {
		t.Errorf("%d reads: %d batches carried %d, %d went alone", 2*len(live), c.multi.Load(), c.multiCmds.Load(), c.do.Load())
	}
}
