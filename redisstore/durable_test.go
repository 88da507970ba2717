package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
	"github.com/sessiondb/sessiondb/storetest"
)

// primaryWithReplica starts a primary and a replica and waits until the
// replica is in sync.
func primaryWithReplica(t *testing.T) (primary, replica *redistest.Server) {
	t.Helper()
	primary = redistest.Start(t, "--repl-diskless-sync-delay", "0")
	replica = redistest.Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port))
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := replica.Do("INFO", "replication")
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return primary, replica
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica not in sync: %v %s", err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWaitReplicasConformance runs the store conformance suite with the
// durability option on: every write goes through the confirmed path.
func TestWaitReplicasConformance(t *testing.T) {
	primary, _ := primaryWithReplica(t)
	// Each confirmed write holds a dedicated connection until WAIT answers:
	// a bounded pool keeps the suite's 200 concurrent creates from dialling
	// 200 connections at once (which a loaded machine answers with dial
	// timeouts), and WaitConnections makes them wait for one in the store,
	// within the call's deadline, rather than in the pool.
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{primary.Addr()}, BlockingPoolSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var n atomic.Int64
	storetest.Run(t, func(tb testing.TB) sessiondb.Store {
		st, err := redisstore.New(c, redisstore.Options{Prefix: fmt.Sprintf("w%d:", n.Add(1)), WaitReplicas: 1, WaitTimeout: 5 * time.Second, WaitConnections: 32})
		if err != nil {
			tb.Fatal(err)
		}
		return st
	})
}

// TestWaitReplicasConfirms: with WaitReplicas 1 every acknowledged create,
// rotation and revocation is already on the replica when the call returns,
// while concurrent writers share the client. A bare WAIT sent through the
// client would count another connection's writes, and fail this.
func TestWaitReplicasConfirms(t *testing.T) {
	primary, replica := primaryWithReplica(t)
	st, err := redisstore.New(redisstore.DialTest(t, primary.Addr()), redisstore.Options{WaitReplicas: 1, WaitTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	onReplica, err := redisstore.New(newReplicaClient(t, replica.Addr()), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, st, sessiondb.Options{MaxSessionsPerUser: -1})
	r := newManager(t, onReplica, sessiondb.Options{MaxSessionsPerUser: -1})
	ctx := context.Background()
	const workers, each = 8, 40
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			errs <- func() error {
				for i := range each {
					s, err := m.Create(ctx, fmt.Sprintf("u%d-%d", w, i%5), time.Hour, nil)
					if err != nil {
						return err
					}
					if _, err := r.Validate(ctx, string(s.Token)); err != nil {
						return fmt.Errorf("acknowledged create not on the replica: %w", err)
					}
					if i%4 == 0 {
						rot, err := m.Rotate(ctx, string(s.Token))
						if err != nil {
							return err
						}
						if _, err := r.Validate(ctx, string(s.Token)); !errors.Is(err, sessiondb.ErrNotFound) {
							return fmt.Errorf("rotated-out token still valid on the replica: %v", err)
						}
						if err := m.Invalidate(ctx, string(rot.Token)); err != nil {
							return err
						}
						if _, err := r.Validate(ctx, string(rot.Token)); !errors.Is(err, sessiondb.ErrNotFound) {
							return fmt.Errorf("acknowledged revocation not on the replica: %v", err)
						}
					}
				}
				return nil
			}()
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func newReplicaClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	// A replica serves reads; no client-side cache, so each read asks it.
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestWaitReplicasTimeout: when the replicas do not confirm in time, the
// write fails with an error matching ErrUnavailable that says so.
func TestWaitReplicasTimeout(t *testing.T) {
	primary, replica := primaryWithReplica(t)
	c := redisstore.DialTest(t, primary.Addr())
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		want int
		stop bool
	}{{"more replicas than there are", 2, false}, {"replica hung", 1, true}} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := redisstore.New(c, redisstore.Options{Prefix: "t" + strconv.Itoa(tc.want) + ":", WaitReplicas: tc.want, WaitTimeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			m := newManager(t, st, sessiondb.Options{})
			if tc.stop {
				replica.Pause()
				defer replica.Resume()
			}
			_, err = m.Create(ctx, "alice", time.Hour, nil)
			if !errors.Is(err, sessiondb.ErrUnavailable) || !strings.Contains(err.Error(), "may or may not survive") {
				t.Fatalf("Create without enough replicas: %v; want ErrUnavailable saying the write may or may not survive", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("of %d replicas confirmed", tc.want)) {
				t.Errorf("error %q does not say how many replicas confirmed", err)
			}
		})
	}
	if _, err := redisstore.New(c, redisstore.Options{WaitReplicas: -1}); err == nil {
		t.Error("WaitReplicas -1 accepted")
	}
}
