package redisstore

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Reads on the request path (a validate's GET, the read that refuses a
// create of a user refused lately) go to Redis through rueidis's automatic
// pipelining, which writes a command as soon as the connection's writer is
// free: under load most commands are written, and their replies read, one
// system call each, and on a small machine those calls and the wake-ups
// around them are most of what a validate costs (docs/performance.md,
// "HTTP"). So while many reads are in flight, they go together: the first
// read of a batch leads it, lets the goroutines that are ready to run go
// first (runtime.Gosched) so that the reads they start join it, then sends
// the batch with one DoMulti (one write; the replies come back together)
// and hands each reader its reply. Nothing waits on a timer: when no other
// goroutine is ready to run, the leader resumes at once, so a batch costs
// latency only while the process is busy, and then less than the queue it
// shortens.

// DefaultReadBatchFrom is how many reads must be in flight at once
// before they go to Redis together (Options.ReadBatchFrom).
const DefaultReadBatchFrom = 4

// reads sends reads on the request path, together while many are in flight.
type reads struct {
	from     int64         // reads in flight from which they batch; 0: never
	timeout  time.Duration // a batch's own deadline (Options.Timeout); 0: none
	inflight atomic.Int64

	mu      sync.Mutex
	pending []pendingRead
	leading bool // a leader will send pending
}

type pendingRead struct {
	cmd  rueidis.Completed
	done chan rueidis.RedisResult // buffered: the leader never blocks
}

// do sends the read-only cmd through c: at once, or in a batch while many
// reads are in flight. A reader whose context ends stops waiting (the
// leader too); its read may still be sent with the others.
func (r *reads) do(ctx context.Context, c rueidis.Client, cmd rueidis.Completed) rueidis.RedisResult {
	n := r.inflight.Add(1)
	defer r.inflight.Add(-1)
	if r.from <= 0 || n < r.from {
		return c.Do(ctx, cmd)
	}
	if err := ctx.Err(); err != nil {
		return rueidis.NewErrorResult(err)
	}
	p := pendingRead{cmd: cmd, done: make(chan rueidis.RedisResult, 1)}
	r.mu.Lock()
	lead := !r.leading
	r.leading = true
	r.pending = append(r.pending, p)
	r.mu.Unlock()
	if lead {
		runtime.Gosched() // let the goroutines ready to run add their reads
		r.mu.Lock()
		batch := r.pending
		r.pending, r.leading = nil, false
		r.mu.Unlock()
		go r.send(c, batch) // the leader too may stop waiting when its context ends
	}
	select {
	case res := <-p.done:
		return res
	case <-ctx.Done():
		return rueidis.NewErrorResult(ctx.Err())
	}
}

// send sends a batch through c, the store's one client (set once it
// connects, never replaced), and hands each reader its reply. Its deadline
// is the store's, not a reader's: one reader giving up must not fail the
// others.
func (r *reads) send(c rueidis.Client, batch []pendingRead) {
	ctx := context.Background()
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	cmds := make(rueidis.Commands, len(batch))
	for i, p := range batch {
		cmds[i] = p.cmd
	}
	for i, res := range c.DoMulti(ctx, cmds...) {
		batch[i].done <- res
	}
}
