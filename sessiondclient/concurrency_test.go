package sessiondclient_test

import (
	"context"
	"fmt"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// TestConcurrentUse: one client shared by many goroutines (run with -race),
// which reuses its keep-alive connections instead of opening one per call.
func TestConcurrentUse(t *testing.T) {
	d := sessiondtest.Start(t, map[string]string{"MAX_SESSIONS_PER_USER": "0"})
	c := mustNew(t, d.URL, sessiondclient.Options{})
	var newConns, reused atomic.Int64
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if info.Reused {
				reused.Add(1)
			} else {
				newConns.Add(1)
			}
		},
	})
	const workers, rounds = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			user := fmt.Sprintf("user%d", w%4) // users shared between goroutines
			for i := range rounds {
				s, err := c.Create(ctx, user, 0, map[string]string{"w": fmt.Sprint(w)})
				if err != nil {
					errs <- err
					return
				}
				if _, err := c.Validate(ctx, string(s.Token)); err != nil {
					errs <- err
					return
				}
				if _, err := c.UpdateMetadata(ctx, string(s.Token), func(md map[string]string) error {
					md["i"] = fmt.Sprint(i)
					return nil
				}); err != nil {
					errs <- err
					return
				}
				if _, err := c.UserSessions(ctx, user); err != nil {
					errs <- err
					return
				}
				if err := c.Invalidate(ctx, string(s.Token)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st, err := c.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Created != workers*rounds || st.Invalidated != workers*rounds || st.Active != 0 {
		t.Errorf("Stats = %+v, want %d created and invalidated, none active", st, workers*rounds)
	}
	calls := int64(workers * rounds * 6)
	if got := newConns.Load() + reused.Load(); got != calls {
		t.Errorf("the trace saw %d requests, want %d", got, calls)
	}
	t.Logf("%d calls: %d new connections, %d reused", calls, newConns.Load(), reused.Load())
	// At most one connection per goroutine is ever needed; net/http may dial
	// a few more when a dial and a returned connection cross.
	if n := newConns.Load(); n > 2*workers {
		t.Errorf("%d new connections for %d calls from %d goroutines: connections are not reused", n, calls, workers)
	}
}
