// Package redisstore keeps sessions in Redis: standalone, Sentinel or Redis
// Cluster (Redis 7.0 or newer). Every change that touches more than one key is
// one Lua script; all keys of a user share a hash slot that can be found from
// a token alone, so Validate is one GET, on a cluster too. The key layout is
// described in docs/redis-layout.md.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
)

// DefaultPrefix starts every key the store writes.
const DefaultPrefix = "sdb:"

// DefaultTimeout bounds each call of a store made by Open.
const DefaultTimeout = 2 * time.Second

// Options configure a Store. The zero value is valid: a zero field means its
// documented default, and a negative one means none where a field says so
// (the rule of package sessiondb's "Zero values"); elsewhere it is an error.
type Options struct {
	// Prefix starts every key. Default "sdb:". It must not contain '{' or '}':
	// the key's hash tag follows it.
	Prefix string
	// Timeout bounds each call to Redis. With Open (default 2s) it configures
	// the client: dial timeout, the wait for replies (ConnWriteTimeout) and
	// retries, at no cost per call. With New the default is none: calls are
	// bounded by the caller's context and client settings; a positive value
	// adds a deadline to calls whose context has none. Negative: none of the
	// store's own (the client's settings apply).
	Timeout time.Duration
	// CacheTTL, when positive, serves Get from rueidis's client-side cache for
	// up to that long. Redis invalidates a cached entry as soon as the session
	// changes or is revoked (server-assisted tracking), so other processes see
	// a revocation within a round trip or so; this process sees its own
	// changes at once (it reads keys it just wrote from Redis until their
	// invalidation arrives). Expiry and idle timeout are judged on every call.
	// The client must not have DisableCache set. Default: off; negative: off.
	CacheTTL time.Duration
	// ReadBatchFrom is how many reads on the request path (Get, a validate's
	// GET; the read that refuses a create of a user refused lately) must be
	// in flight at once before they go to Redis together: one write, the
	// replies read together, fewer system calls and wake-ups per read under
	// load. A batch waits on no timer (reads.go), so it adds latency only
	// while the process is busy. Reads served by the client-side cache
	// (CacheTTL) are not batched. Default DefaultReadBatchFrom; negative:
	// never.
	ReadBatchFrom int
	// WaitReplicas, when positive, acknowledges creates, rotations,
	// refreshes, metadata changes and revocations only once that many
	// replicas confirmed them (WAIT; WAITAOF where the server has it and the
	// ACL allows it). A write they do not confirm within WaitTimeout fails
	// with an error matching sessiondb.ErrUnavailable: it is on the primary
	// but may or may not survive a failover. Default: off; negative is an
	// error.
	WaitReplicas int
	// WaitTimeout bounds the wait for replicas (it cannot be unbounded).
	// Default DefaultWaitTimeout; negative is an error.
	WaitTimeout time.Duration
	// WaitConnections bounds the connections that confirmed writes
	// (WaitReplicas) hold at once: each holds one connection of the client's
	// blocking pool for its script and WAIT. More concurrent writes wait for
	// one, at most WaitTimeout and within their context's deadline; a write
	// that gets none in time fails with an error matching
	// sessiondb.ErrUnavailable, having written nothing. The bound is the
	// store's, over all nodes: with standalone Redis or Sentinel that is the
	// primary's, in a cluster it counts the writes to every primary
	// together. With Open it is also the client's BlockingPoolSize (unless
	// the rueidis.ClientOption sets one); with New, give the client a
	// BlockingPoolSize of at least this, or writes past the pool's size wait
	// for a connection without a deadline. Default DefaultWaitConnections;
	// negative: none (the client's pool, of rueidis.DefaultPoolSize
	// connections per node unless set, is the only bound).
	WaitConnections int
	// Events, when not nil, makes the store record events, each in the
	// script that makes its change, and remember why sessions ended
	// (sessiondb.EventLog; docs/events.md). Default nil: off.
	Events *sessiondb.EventOptions
	// EventSettle is how old a change must be, by the clock of the Redis
	// server that took it, for readers to return its events: more than the
	// clock skew between the servers that may take a bucket's writes
	// (cluster nodes, a replica promoted by a failover). Default
	// DefaultEventSettle.
	EventSettle time.Duration
}

// Store is a sessiondb.Store on Redis. It is safe for concurrent use.
type Store struct {
	keys     keys
	timeout  time.Duration // per-call deadline for contexts without one; 0: none
	cacheTTL time.Duration
	budget   int        // users one maintenance call visits
	dirty    *dirtyKeys // with the client-side cache: keys written lately
	cached   cacheCounts
	refused  refusals // users refused at the limit lately (reject policy)
	reads    reads    // session reads, batched under load
	writes   atomic.Int64

	ev *eventConfig // Options.Events; nil when off

	waitReplicas int           // Options.WaitReplicas
	waitTimeout  time.Duration // Options.WaitTimeout
	noWaitAOF    atomic.Bool   // the server lacks WAITAOF, or the user may not run it
	waitConns    chan struct{} // one token per connection a confirmed write holds; nil: no bound

	mu      sync.Mutex
	client  rueidis.Client // nil until connected, when opened with Open
	connect func() (rueidis.Client, error)
	lastTry time.Time
	lastErr error
	user    string // the ACL user Open logs in as, for messages; "" with New
	owned   bool   // Close closes client
	closed  bool
}

var _ sessiondb.Store = (*Store)(nil)

// New returns a store that uses a client the caller already has. Close does
// not close that client.
func New(client rueidis.Client, opt Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	s, err := newStore(opt)
	if err != nil {
		return nil, err
	}
	s.client = client
	return s, nil
}

// Open returns a store with its own client, made from copt. It connects at
// once when it can; when Redis is down it returns the store anyway, whose
// calls fail with sessiondb.ErrUnavailable and which connects as soon as Redis
// answers. Close closes the client.
func Open(copt rueidis.ClientOption, opt Options) (*Store, error) {
	if opt.Timeout == 0 {
		opt.Timeout = DefaultTimeout
	}
	s, err := newStore(opt)
	if err != nil {
		return nil, err
	}
	// Bound every call through the client's own settings, so the hot path
	// needs no per-call context: a server that stops answering is noticed
	// within the timeout, a refused connection at once, and reads are
	// retried on a broken connection for a small part of the timeout only.
	if copt.ConnWriteTimeout == 0 && opt.Timeout > 0 {
		copt.ConnWriteTimeout = opt.Timeout
	}
	if copt.Dialer.Timeout == 0 && opt.Timeout > 0 {
		copt.Dialer.Timeout = opt.Timeout
	}
	if copt.RetryDelay == nil {
		copt.RetryDelay = func(attempts int, _ rueidis.Completed, _ error) time.Duration {
			if attempts > 3 {
				return -1
			}
			return time.Duration(attempts) * 5 * time.Millisecond
		}
	}
	if s.waitConns != nil && copt.BlockingPoolSize == 0 {
		// Confirmed writes are the only users of the blocking pool
		// (Dedicated), but for a pipeline of rueidis.DefaultBlockingPipeline
		// commands or more, which the store does not send.
		copt.BlockingPoolSize = cap(s.waitConns)
	}
	s.timeout = 0
	s.owned = true
	s.user = copt.Username
	if s.user == "" {
		s.user = "default"
	}
	if s.dirty != nil {
		prev := copt.OnInvalidations
		copt.OnInvalidations = func(msgs []rueidis.RedisMessage) {
			s.dirty.invalidated(msgs)
			if prev != nil {
				prev(msgs)
			}
		}
	}
	s.connect = func() (rueidis.Client, error) { return rueidis.NewClient(copt) }
	s.mu.Lock()
	s.dialLocked()
	s.mu.Unlock()
	return s, nil
}

func newStore(opt Options) (*Store, error) {
	if opt.Prefix == "" {
		opt.Prefix = DefaultPrefix
	}
	if err := CheckPrefix(opt.Prefix); err != nil {
		return nil, err
	}
	if opt.WaitReplicas < 0 || opt.WaitTimeout < 0 {
		return nil, errors.New("redisstore: WaitReplicas and WaitTimeout must not be negative")
	}
	if opt.WaitReplicas > 0 && opt.WaitTimeout == 0 {
		opt.WaitTimeout = DefaultWaitTimeout
	}
	if opt.WaitConnections == 0 {
		opt.WaitConnections = DefaultWaitConnections
	}
	ev, err := newEventConfig(opt)
	if err != nil {
		return nil, err
	}
	s := &Store{keys: keys{opt.Prefix}, timeout: opt.Timeout, cacheTTL: opt.CacheTTL, budget: maintainBudget,
		waitReplicas: opt.WaitReplicas, waitTimeout: opt.WaitTimeout, ev: ev}
	if opt.CacheTTL > 0 {
		s.dirty = &dirtyKeys{}
	}
	switch {
	case opt.ReadBatchFrom == 0:
		s.reads.from = DefaultReadBatchFrom
	case opt.ReadBatchFrom > 0:
		s.reads.from = int64(opt.ReadBatchFrom)
	}
	s.reads.timeout = max(opt.Timeout, 0)
	if opt.WaitReplicas > 0 && opt.WaitConnections > 0 {
		s.waitConns = make(chan struct{}, opt.WaitConnections)
	}
	return s, nil
}

// reconnectEvery is how often a store opened while Redis was down tries again.
const reconnectEvery = 500 * time.Millisecond

func (s *Store) dialLocked() {
	s.lastTry = time.Now()
	c, err := s.connect()
	if err != nil {
		s.lastErr = err
		return
	}
	s.client, s.lastErr = c, nil
}

// get returns the client, connecting first if the store has none yet.
func (s *Store) get() (rueidis.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, sessiondb.ErrClosed
	}
	if s.client == nil && time.Since(s.lastTry) >= reconnectEvery {
		s.dialLocked()
	}
	if s.client == nil {
		if msg, ok := refusal(s.lastErr); ok {
			return nil, fmt.Errorf("%w: redis user %q: %s", sessiondb.ErrStoreAuth, s.user, msg)
		}
		return nil, fmt.Errorf("%w: %v", sessiondb.ErrUnavailable, s.lastErr)
	}
	return s.client, nil
}

// Client returns the store's client, or an error when it is not connected.
func (s *Store) Client() (rueidis.Client, error) { return s.get() }

// Prefix returns the key prefix: webhook delivery keeps its state under it.
func (s *Store) Prefix() string { return s.keys.prefix }

func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout <= 0 {
		return ctx, noCancel
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, noCancel
	}
	return context.WithTimeout(ctx, s.timeout)
}

func noCancel() {}

// Close implements sessiondb.Store. It closes the client only if Open made it.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.owned && s.client != nil {
		s.client.Close()
	}
	return nil
}

// Ping implements sessiondb.Store.
func (s *Store) Ping(ctx context.Context) error {
	c, err := s.get()
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return wrap(c.Do(ctx, c.B().Ping().Build()).Error())
}
