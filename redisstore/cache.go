package redisstore

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// dirtyWindow is how long reads of a key this process just wrote bypass the
// client-side cache. Redis invalidates cached copies of a written key within
// a round trip or so; until that message arrives a cached read could return
// the old value, so for a moment this process reads such keys from Redis.
const dirtyWindow = time.Second

// dirtyKeys tracks the keys this process wrote recently, for the client-side
// cache: read-your-writes within the process, while other processes see a
// change as soon as Redis's invalidation message reaches them.
type dirtyKeys struct {
	m sync.Map // key -> expiry (time.Time)
}

func (d *dirtyKeys) mark(keys ...string) {
	until := time.Now().Add(dirtyWindow)
	for _, k := range keys {
		d.m.Store(k, until)
	}
}

// dirty reports whether key was written within the window.
func (d *dirtyKeys) dirty(key string) bool {
	v, ok := d.m.Load(key)
	if !ok {
		return false
	}
	if time.Now().Before(v.(time.Time)) {
		return true
	}
	d.m.CompareAndDelete(key, v)
	return false
}

// invalidated clears keys whose invalidation arrived: the cache no longer
// holds them, so reading through it is fresh again. A nil message (the
// server flushed everything or the connection was lost) clears all.
func (d *dirtyKeys) invalidated(msgs []rueidis.RedisMessage) {
	if msgs == nil {
		d.m.Clear()
		return
	}
	for _, msg := range msgs {
		if k, err := msg.ToString(); err == nil {
			d.m.Delete(k)
		}
	}
}

// sweep drops expired entries; called now and then by writers so that the
// map does not grow with keys that are never read again.
func (d *dirtyKeys) sweep() {
	now := time.Now()
	d.m.Range(func(k, v any) bool {
		if now.After(v.(time.Time)) {
			d.m.CompareAndDelete(k, v)
		}
		return true
	})
}

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

// cacheCounts counts the reads served through the client-side cache.
type cacheCounts struct {
	hits, misses atomic.Uint64
}

func (c *cacheCounts) count(hit bool) {
	if hit {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
}

// CacheStats returns how many session reads (Get, and so Validate) the
// client-side cache (Options.CacheTTL) has answered from memory (hits) and
// how many it sent to Redis (misses), since the store was made. Reads of
// keys this process wrote within the last second bypass the cache and count
// as neither; without the cache both are 0.
func (s *Store) CacheStats() (hits, misses uint64) {
	return s.cached.hits.Load(), s.cached.misses.Load()
}
