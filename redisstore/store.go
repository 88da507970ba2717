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
	"strconv"
	"strings"
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

// maintainBudget is how many users one maintenance script visits at most:
// a few dozen Redis calls, a fraction of a millisecond of Redis time, so
// that requests of other clients never wait long behind maintenance.
const maintainBudget = 16

// Options configure a Store. The zero value is valid.
type Options struct {
	// Prefix starts every key. Default "sdb:". It must not contain '{' or '}':
	// the key's hash tag follows it.
	Prefix string
	// Timeout bounds each call to Redis. With Open (default 2s) it configures
	// the client: dial timeout, the wait for replies (ConnWriteTimeout) and
	// retries, at no cost per call. With New it is 0 by default: calls are
	// bounded by the caller's context and client settings; a positive value
	// adds a deadline to calls whose context has none.
	Timeout time.Duration
	// CacheTTL, when positive, serves Get from rueidis's client-side cache for
	// up to that long. Redis invalidates a cached entry as soon as the session
	// changes or is revoked (server-assisted tracking), so other processes see
	// a revocation within a round trip or so; this process sees its own
	// changes at once (it reads keys it just wrote from Redis until their
	// invalidation arrives). Expiry and idle timeout are judged on every call.
	// The client must not have DisableCache set. Default 0: off.
	CacheTTL time.Duration
	// WaitReplicas, when positive, acknowledges creates, rotations,
	// refreshes, metadata changes and revocations only once that many
	// replicas confirmed them (WAIT; WAITAOF where the server has it and the
	// ACL allows it). A write they do not confirm within WaitTimeout fails
	// with an error matching sessiondb.ErrUnavailable: it is on the primary
	// but may or may not survive a failover. Default 0: off.
	WaitReplicas int
	// WaitTimeout bounds the wait for replicas. Default DefaultWaitTimeout.
	WaitTimeout time.Duration
}

// Store is a sessiondb.Store on Redis. It is safe for concurrent use.
type Store struct {
	keys     keys
	timeout  time.Duration // per-call deadline for contexts without one; 0: none
	cacheTTL time.Duration
	budget   int        // users one maintenance call visits
	dirty    *dirtyKeys // with the client-side cache: keys written lately
	cached   cacheCounts
	writes   atomic.Int64

	waitReplicas int           // Options.WaitReplicas
	waitTimeout  time.Duration // Options.WaitTimeout
	noWaitAOF    atomic.Bool   // the server lacks WAITAOF, or the user may not run it

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
	if opt.Timeout <= 0 {
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
	if copt.ConnWriteTimeout == 0 {
		copt.ConnWriteTimeout = opt.Timeout
	}
	if copt.Dialer.Timeout == 0 {
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
	if strings.ContainsAny(opt.Prefix, "{}") {
		return nil, fmt.Errorf("redisstore: key prefix %q must not contain '{' or '}'", opt.Prefix)
	}
	if opt.WaitReplicas < 0 || opt.WaitTimeout < 0 {
		return nil, errors.New("redisstore: WaitReplicas and WaitTimeout must not be negative")
	}
	if opt.WaitReplicas > 0 && opt.WaitTimeout == 0 {
		opt.WaitTimeout = DefaultWaitTimeout
	}
	s := &Store{keys: keys{opt.Prefix}, timeout: opt.Timeout, cacheTTL: opt.CacheTTL, budget: maintainBudget,
		waitReplicas: opt.WaitReplicas, waitTimeout: opt.WaitTimeout}
	if opt.CacheTTL > 0 {
		s.dirty = &dirtyKeys{}
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

// Prefix returns the key prefix.
func (s *Store) Prefix() string { return s.keys.prefix }

// wrote notes keys this process changed, for the client-side cache.
func (s *Store) wrote(keys ...string) {
	if s.dirty == nil || len(keys) == 0 {
		return
	}
	s.dirty.mark(keys...)
	if s.writes.Add(1)%4096 == 0 {
		s.dirty.sweep()
	}
}

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

// Insert implements sessiondb.Store.
func (s *Store) Insert(ctx context.Context, rec *sessiondb.Record, lim sessiondb.Limit, now time.Time) (int, error) {
	n, _, err := s.insert(ctx, rec, lim, now, "create")
	return n, err
}

// Restore implements sessiondb.Store.
func (s *Store) Restore(ctx context.Context, rec *sessiondb.Record, now time.Time) (bool, error) {
	if !rec.Live(now) {
		return false, nil
	}
	_, added, err := s.insert(ctx, rec, sessiondb.Limit{}, now, "restore")
	return added, err
}

// insert runs insert.lua and returns how many sessions it evicted and
// whether it added the record.
func (s *Store) insert(ctx context.Context, rec *sessiondb.Record, lim sessiondb.Limit, now time.Time, mode string) (int, bool, error) {
	shard := sessiondb.UserShard(rec.UserID)
	if b, err := sessiondb.ParseID(rec.ID); err != nil || b != shard.Bucket {
		return 0, false, fmt.Errorf("redisstore: id %q does not belong to the user's bucket", rec.ID)
	}
	c, err := s.get()
	if err != nil {
		return 0, false, err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	flags := "e" // evict the oldest at the limit
	switch {
	case mode == "restore":
		flags = "R"
	case lim.Policy == sessiondb.PolicyReject:
		flags = "r"
	}
	v := encode(rec)
	reply, err := s.exec(ctx, c, insertScript,
		[]string{s.keys.session(rec.ID), s.keys.user(shard, rec.UserID), s.keys.queue(shard.Bucket, shard.Sub), s.keys.counters(shard.Bucket)},
		[]string{ms(now), string(v), msCeil(rec.EffectiveExpiry()), strconv.Itoa(lim.Max), flags, memberOf(rec.ID, v), rec.UserID},
	).AsStrSlice()
	if err != nil {
		return 0, false, wrap(err)
	}
	if len(reply) > 0 && reply[0] == "limit" {
		return 0, false, sessiondb.ErrSessionLimit
	}
	if len(reply) == 0 || reply[0] != "added" {
		return 0, false, nil // restore: the id is there already
	}
	evicted := reply[1:]
	if len(evicted) > 0 && s.dirty != nil {
		keys := make([]string, len(evicted))
		for i, m := range evicted {
			keys[i] = s.keys.sessionPrefix(shard.Bucket) + m
		}
		s.wrote(keys...)
	}
	return len(evicted), true, nil
}

// Get implements sessiondb.Store. It is one GET (or a client-side cache hit).
func (s *Store) Get(ctx context.Context, id string, now time.Time) (*sessiondb.Record, error) {
	c, err := s.get()
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	key := s.keys.session(id)
	var res rueidis.RedisResult
	if s.cacheTTL > 0 && !s.dirty.dirty(key) {
		res = c.DoCache(ctx, c.B().Get().Key(key).Cache(), s.cacheTTL)
		s.cached.count(res.IsCacheHit())
	} else {
		res = c.Do(ctx, c.B().Get().Key(key).Build())
	}
	b, err := res.ToString()
	if err != nil {
		return nil, wrap(err)
	}
	rec, err := decode(id, b)
	if err != nil {
		return nil, err
	}
	if !rec.Live(now) {
		return nil, sessiondb.ErrNotFound
	}
	return rec, nil
}

// Replace implements sessiondb.Store.
func (s *Store) Replace(ctx context.Context, old, rec *sessiondb.Record, now time.Time) error {
	if rec.UserID != old.UserID || rec.ID[:3] != old.ID[:3] {
		return errors.New("redisstore: replace must keep the user")
	}
	c, err := s.get()
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	shard := sessiondb.UserShard(rec.UserID)
	n, err := s.exec(ctx, c, replaceScript,
		[]string{s.keys.session(old.ID), s.keys.session(rec.ID), s.keys.user(shard, rec.UserID), s.keys.queue(shard.Bucket, shard.Sub)},
		[]string{ms(now), string(encode(old)), string(encode(rec)), msCeil(rec.EffectiveExpiry())},
	).AsInt64()
	if err != nil {
		return wrap(err)
	}
	switch n {
	case 1:
		s.wrote(s.keys.session(old.ID), s.keys.session(rec.ID))
		return nil
	case -1:
		return sessiondb.ErrConflict
	case -2:
		return sessiondb.ErrExists
	}
	return sessiondb.ErrNotFound
}

// Delete implements sessiondb.Store: one script call, which reads the
// session, learns its user from it and removes it from the user's index.
func (s *Store) Delete(ctx context.Context, id string, now time.Time) (*sessiondb.Record, error) {
	b, err := sessiondb.ParseID(id)
	if err != nil {
		return nil, sessiondb.ErrNotFound
	}
	c, err := s.get()
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	key := s.keys.session(id)
	reply, err := s.exec(ctx, c, deleteScript, []string{key, s.keys.counters(b)}, []string{ms(now)}).ToArray()
	if err != nil {
		return nil, wrap(err)
	}
	s.wrote(key)
	if len(reply) != 2 {
		return nil, errors.New("redisstore: unexpected reply from delete.lua")
	}
	n, err1 := reply[0].AsInt64()
	v, err2 := reply[1].ToString()
	if err := errors.Join(err1, err2); err != nil {
		return nil, wrap(err)
	}
	rec, err := decode(id, v)
	if err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, sessiondb.ErrNotFound
	}
	return rec, nil
}

// ListUser implements sessiondb.Store: one script call.
func (s *Store) ListUser(ctx context.Context, userID string, now time.Time) ([]*sessiondb.Record, error) {
	c, err := s.get()
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	shard := sessiondb.UserShard(userID)
	vals, err := listScript.Exec(ctx, c,
		[]string{s.keys.user(shard, userID)},
		[]string{ms(now), s.keys.sessionPrefix(shard.Bucket)},
	).AsStrSlice()
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]*sessiondb.Record, 0, len(vals)/2)
	tag := shard.Tag()
	for i := 0; i+1 < len(vals); i += 2 {
		rec, err := decode(tag+vals[i], vals[i+1])
		if err != nil {
			return nil, err
		}
		if rec.Live(now) {
			out = append(out, rec)
		}
	}
	return out, nil
}

// DeleteUser implements sessiondb.Store: one script call.
func (s *Store) DeleteUser(ctx context.Context, userID, except string, now time.Time) (int, error) {
	c, err := s.get()
	if err != nil {
		return 0, err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	shard := sessiondb.UserShard(userID)
	keep := ""
	if except != "" && except[:3] == shard.Tag() {
		keep = sessiondb.IDHash(except)
	}
	reply, err := s.exec(ctx, c, deleteUserScript,
		[]string{s.keys.user(shard, userID), s.keys.counters(shard.Bucket),
			s.keys.queue(shard.Bucket, shard.Sub), s.keys.cleanup(shard.Bucket, shard.Sub)},
		[]string{ms(now), keep, s.keys.sessionPrefix(shard.Bucket)},
	).AsStrSlice()
	if err != nil {
		return 0, wrap(err)
	}
	if len(reply) == 0 {
		return 0, errors.New("redisstore: unexpected reply from delete_user.lua")
	}
	if s.dirty != nil {
		keys := make([]string, 0, len(reply)-1)
		for _, m := range reply[1:] {
			keys = append(keys, s.keys.sessionPrefix(shard.Bucket)+m)
		}
		s.wrote(keys...)
	}
	n, err := strconv.Atoi(reply[0])
	return n, err
}

// Walk implements sessiondb.Store: a SCAN over the session keys of every
// primary, reading each page's values with one pipelined batch of GETs.
func (s *Store) Walk(ctx context.Context, now time.Time, fn func(*sessiondb.Record) error) error {
	c, err := s.get()
	if err != nil {
		return err
	}
	pattern := globEscape(s.keys.prefix) + "{???}s*"
	return s.eachPrimary(ctx, c, func(node rueidis.Client) error {
		var cursor uint64
		for {
			cctx, cancel := s.ctx(ctx)
			e, err := node.Do(cctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(500).Build()).AsScanEntry()
			if err != nil {
				cancel()
				return wrap(err)
			}
			gets := make(rueidis.Commands, len(e.Elements))
			for i, k := range e.Elements {
				gets[i] = c.B().Get().Key(k).Build()
			}
			results := c.DoMulti(cctx, gets...)
			cancel()
			for i, res := range results {
				b, err := res.ToString()
				if rueidis.IsRedisNil(err) {
					continue // expired or removed since the scan
				}
				if err != nil {
					return wrap(err)
				}
				k := e.Elements[i]
				tagEnd := len(s.keys.prefix) + 4
				rec, err := decode(k[len(s.keys.prefix)+1:tagEnd]+k[tagEnd+2:], b)
				if err != nil {
					return fmt.Errorf("%w (key %q)", err, k)
				}
				if !rec.Live(now) {
					continue
				}
				if err := fn(rec); err != nil {
					return err
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				return nil
			}
		}
	})
}

// eachPrimary calls fn with a client for each primary node (the one node of
// a standalone or Sentinel setup).
func (s *Store) eachPrimary(ctx context.Context, c rueidis.Client, fn func(rueidis.Client) error) error {
	nodes := c.Nodes()
	for _, node := range nodes {
		if len(nodes) > 1 {
			cctx, cancel := s.ctx(ctx)
			role, err := node.Do(cctx, node.B().Role().Build()).ToArray()
			cancel()
			if err != nil {
				return wrap(err)
			}
			if r, _ := role[0].ToString(); r != "master" {
				continue
			}
		}
		if err := fn(node); err != nil {
			return err
		}
	}
	return nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Cleanup implements sessiondb.Store: every bucket, in bounded script calls.
func (s *Store) Cleanup(ctx context.Context, now time.Time) (int, error) {
	removed := 0
	err := s.maintain(ctx, now, "cleanup", func(r maintainResult) { removed += r.removed })
	return removed, err
}

// Stats implements sessiondb.Store. It visits every bucket once (more when
// many expirations are due) and reads Redis's memory figures.
func (s *Store) Stats(ctx context.Context, now time.Time) (sessiondb.StoreStats, error) {
	var st sessiondb.StoreStats
	err := s.maintain(ctx, now, "stats", func(r maintainResult) {
		c := countsOf(r.counters)
		st.Total += c.Total
		st.Expired += c.Expired
		st.Users += c.Users
		st.Created += c.Created
		st.Invalidated += c.Invalidated
		st.Evicted += c.Evicted
	})
	if err != nil {
		return st, err
	}
	st.MemoryUsed, st.MemoryMax, err = s.memory(ctx)
	return st, err
}

// countsOf reads a bucket's counter hash (see scripts/lib.lua). A create or
// a logout writes one field, named for the whole event: created_new_user
// counts a creation and a new user, created_evicting a creation and an
// eviction, invalidated_last an invalidation and a user gone.
func countsOf(c map[string]int64) sessiondb.StoreStats {
	st := sessiondb.StoreStats{
		Created:     c["created"] + c["created_new_user"] + c["created_evicting"],
		Evicted:     c["evicted"] + c["created_evicting"],
		Invalidated: c["invalidated"] + c["invalidated_last"],
		Expired:     c["expired"],
		Users:       c["users"] + c["created_new_user"] - c["invalidated_last"],
	}
	// The entries in the bucket's user indexes.
	st.Total = st.Created + c["restored"] - st.Evicted - st.Invalidated - c["removed"]
	return st
}

type maintainResult struct {
	more     bool
	removed  int
	counters map[string]int64
}

// maintain runs maintain.lua over every bucket until no bucket reports more
// work. done sees each bucket's final call. Redis runs a client's pipelined
// commands back to back, so Stats sends a few calls at a time (each is tiny
// unless many expirations are due) and Cleanup one at a time, resting after
// each call that removed something as long as the call took: other clients
// wait at most one short script, and a big cleanup takes at most about half
// of Redis's time.
func (s *Store) maintain(ctx context.Context, now time.Time, mode string, done func(maintainResult)) error {
	c, err := s.get()
	if err != nil {
		return err
	}
	pending := make([]int, sessiondb.Buckets)
	for b := range pending {
		pending[b] = b
	}
	batch := 8
	if mode == "cleanup" {
		batch = 1
	}
	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			return wrap(err)
		}
		var again []int
		for start := 0; start < len(pending); start += batch {
			part := pending[start:min(start+batch, len(pending))]
			execs := make([]rueidis.LuaExec, len(part))
			for i, b := range part {
				execs[i] = s.maintainExec(b, now, mode)
			}
			cctx, cancel := s.ctx(ctx)
			start := time.Now()
			var results []rueidis.RedisResult
			if len(execs) == 1 {
				results = []rueidis.RedisResult{maintainScript.Exec(cctx, c, execs[0].Keys, execs[0].Args)}
			} else {
				results = maintainScript.ExecMulti(cctx, c, execs...)
			}
			took := time.Since(start)
			cancel()
			worked := false
			for i, res := range results {
				r, err := parseMaintain(res)
				if err != nil {
					return err
				}
				worked = worked || r.removed > 0
				if r.more {
					again = append(again, part[i])
					if mode == "cleanup" {
						done(maintainResult{removed: r.removed})
					}
					continue
				}
				done(r)
			}
			if mode == "cleanup" && worked {
				// Pace the removal: after a call that did work, rest as
				// long as it took, so cleanup takes at most about half of
				// Redis's time and requests of others keep flowing.
				select {
				case <-ctx.Done():
					return wrap(ctx.Err())
				case <-time.After(took):
				}
			}
		}
		pending = again
	}
	return nil
}

func (s *Store) maintainExec(b int, now time.Time, mode string) rueidis.LuaExec {
	ks := make([]string, 0, 1+2*sessiondb.SubBuckets)
	ks = append(ks, s.keys.counters(b))
	for sub := range sessiondb.SubBuckets {
		ks = append(ks, s.keys.queue(b, sub))
	}
	for sub := range sessiondb.SubBuckets {
		ks = append(ks, s.keys.cleanup(b, sub))
	}
	return rueidis.LuaExec{Keys: ks, Args: []string{
		ms(now), mode, strconv.Itoa(s.budget), s.keys.userPrefix(b), s.keys.sessionPrefix(b),
	}}
}

func parseMaintain(res rueidis.RedisResult) (maintainResult, error) {
	arr, err := res.ToArray()
	if err != nil {
		return maintainResult{}, wrap(err)
	}
	if len(arr) != 3 {
		return maintainResult{}, errors.New("redisstore: unexpected maintenance reply")
	}
	more, err1 := arr[0].AsInt64()
	removed, err2 := arr[1].AsInt64()
	kv, err3 := arr[2].AsStrSlice()
	if err := errors.Join(err1, err2, err3); err != nil {
		return maintainResult{}, wrap(err)
	}
	r := maintainResult{more: more == 1, removed: int(removed), counters: make(map[string]int64, len(kv)/2)}
	for i := 0; i+1 < len(kv); i += 2 {
		v, _ := strconv.ParseInt(kv[i+1], 10, 64)
		r.counters[kv[i]] = v
	}
	return r, nil
}

// memory returns used_memory and maxmemory, summed over the primaries.
func (s *Store) memory(ctx context.Context) (used, limit int64, err error) {
	c, err := s.get()
	if err != nil {
		return 0, 0, err
	}
	err = s.eachPrimary(ctx, c, func(node rueidis.Client) error {
		cctx, cancel := s.ctx(ctx)
		defer cancel()
		info, err := node.Do(cctx, node.B().Info().Section("memory").Build()).ToString()
		if err != nil {
			return wrap(err)
		}
		f := parseInfo(info)
		u, _ := strconv.ParseInt(f["used_memory"], 10, 64)
		m, _ := strconv.ParseInt(f["maxmemory"], 10, 64)
		used += u
		limit += m
		return nil
	})
	return used, limit, err
}

func parseInfo(info string) map[string]string {
	f := make(map[string]string)
	for line := range strings.SplitSeq(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			f[k] = v
		}
	}
	return f
}

// ms formats a time as Unix milliseconds, rounded down: scripts compare
// "now" with index scores in milliseconds.
func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// msCeil formats an expiry as Unix milliseconds, rounded up, so that an
// index entry never counts as expired while its session is still live.
func msCeil(t time.Time) string { return strconv.FormatInt(expiryMillis(t), 10) }

func expiryMillis(t time.Time) int64 {
	m := t.UnixMilli()
	if time.UnixMilli(m).Before(t) {
		m++
	}
	return m
}

// wrap maps Redis and network errors onto the sessiondb sentinels.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	if rueidis.IsRedisNil(err) {
		return sessiondb.ErrNotFound
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		msg := re.Error()
		code, _, _ := strings.Cut(msg, " ")
		switch code {
		case "LIMIT":
			return sessiondb.ErrSessionLimit
		case "EXISTS":
			return sessiondb.ErrExists
		case "OOM":
			return fmt.Errorf("%w: %s", sessiondb.ErrStoreFull, msg)
		case "LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS", "MOVED", "ASK":
			return fmt.Errorf("%w: %s", sessiondb.ErrUnavailable, msg)
		case "NOAUTH", "WRONGPASS", "NOPERM":
			return fmt.Errorf("%w: %s", sessiondb.ErrStoreAuth, msg)
		}
		return fmt.Errorf("redisstore: %s", msg)
	}
	if errors.Is(err, sessiondb.ErrClosed) || errors.Is(err, rueidis.ErrClosing) {
		return sessiondb.ErrClosed
	}
	if msg, ok := refusal(err); ok {
		// A refused handshake on a reconnection.
		return fmt.Errorf("%w: %s", sessiondb.ErrStoreAuth, msg)
	}
	if errors.Is(err, sessiondb.ErrUnavailable) {
		return err // said already (replicas did not confirm)
	}
	// Network errors, timeouts and cancellations: the store did not answer.
	return fmt.Errorf("%w: %w", sessiondb.ErrUnavailable, err)
}

// refusal reports whether err is Redis refusing the credentials or a
// command (NOAUTH, WRONGPASS, NOPERM), as a reply or as the error of a
// connection handshake, and returns Redis's message.
func refusal(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	msg := err.Error()
	if re, ok := rueidis.IsRedisErr(err); ok {
		msg = re.Error()
	}
	// rueidis adds a line of advice about client-side caching to a refused
	// CLIENT TRACKING; Redis's own message is the first line.
	msg, _, _ = strings.Cut(msg, "\n")
	switch code, _, _ := strings.Cut(msg, " "); code {
	case "NOAUTH", "WRONGPASS", "NOPERM":
		return msg, true
	}
	return "", false
}
