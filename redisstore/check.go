package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
)

// mark is the member of a user index that records how far its expired
// entries have been counted (see scripts/lib.lua).
const mark = "~"

// CheckConsistency walks every key under the prefix (SCAN, so it costs time
// in proportion to the whole database: a test and repair-diagnosis tool, not
// for the request path) and verifies that sessions, user indexes, queues and
// counters agree. It implements storetest.Checker.
func (s *Store) CheckConsistency(ctx context.Context, now time.Time) error {
	c, err := s.get()
	if err != nil {
		return err
	}
	type bucketState struct {
		total, users, expired int64
	}
	want := make(map[int]*bucketState)
	named := make(map[string]bool) // session keys named by an index
	var sessions []string
	err = s.eachPrimary(ctx, c, func(node rueidis.Client) error {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(s.keys.prefix+"*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				return wrap(err)
			}
			for _, k := range e.Elements {
				b, kind, rest, ok := s.keys.parse(k)
				if !ok {
					return fmt.Errorf("unexpected key %q", k)
				}
				st := want[b]
				if st == nil {
					st = &bucketState{}
					want[b] = st
				}
				switch kind {
				case kindSession:
					sessions = append(sessions, k)
				case kindUser:
					if err := s.checkUser(ctx, c, b, rest, now, named, &st.total, &st.expired); err != nil {
						return err
					}
					st.users++
				case kindQueue, kindCleanup, kindCounters, kindEvents, kindEnded:
				default:
					return fmt.Errorf("unexpected key %q", k)
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				return nil
			}
		}
	})
	if err != nil {
		return err
	}
	for _, k := range sessions {
		if !named[k] {
			return fmt.Errorf("session key %q is in no user index", k)
		}
	}
	for b := range sessiondb.Buckets {
		got, err := c.Do(ctx, c.B().Hgetall().Key(s.keys.counters(b)).Build()).AsIntMap()
		if err != nil && !rueidis.IsRedisNil(err) {
			return wrap(err)
		}
		w := want[b]
		if w == nil {
			w = &bucketState{}
		}
		if n := countsOf(got); n.Total != w.total || n.Users != w.users || n.Expired != w.expired {
			return fmt.Errorf("bucket %d counters total=%d users=%d expired=%d, indexes say %d, %d, %d",
				b, n.Total, n.Users, n.Expired, w.total, w.users, w.expired)
		}
	}
	return nil
}

func (s *Store) checkUser(ctx context.Context, c rueidis.Client, b int, user string, now time.Time, indexed map[string]bool, total, expired *int64) error {
	shard := sessiondb.UserShard(user)
	if shard.Bucket != b {
		return fmt.Errorf("user %q indexed in bucket %d, belongs in %d", user, b, shard.Bucket)
	}
	all, err := c.Do(ctx, c.B().Zrange().Key(s.keys.user(shard, user)).Min("0").Max("-1").Withscores().Build()).AsZScores()
	if err != nil {
		return wrap(err)
	}
	var d int64 // the user's mark: expirations counted up to here
	entries := all[:0:0]
	for _, e := range all {
		if e.Member == mark {
			d = int64(e.Score)
		} else {
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return fmt.Errorf("user %q has an index without sessions", user)
	}
	minUndrained, hasDrained := int64(-1), false
	for _, e := range entries {
		score := int64(e.Score)
		if len(e.Member) != idHashLen && len(e.Member) != memberLen {
			return fmt.Errorf("user %q: index member %q is not an id hash (and creation time)", user, e.Member)
		}
		hash := e.Member[:idHashLen]
		key := s.keys.sessionPrefix(b) + hash
		if indexed[key] {
			return fmt.Errorf("session %s is indexed twice", hash)
		}
		indexed[key] = true
		*total++
		if score <= d {
			*expired++
			hasDrained = true
		} else if minUndrained < 0 || score < minUndrained {
			minUndrained = score
		}
		if score <= now.UnixMilli() {
			continue // expired: its key may be gone
		}
		v, err := c.Do(ctx, c.B().Get().Key(key).Build()).ToString()
		if err != nil {
			return fmt.Errorf("live index entry %s of user %q: %w", e.Member, user, wrap(err))
		}
		rec, err := decode(bucketTag(b)+hash, v)
		if err != nil {
			return err
		}
		if rec.UserID != user || expiryMillis(rec.EffectiveExpiry()) != score {
			return fmt.Errorf("session %s: user %q expiry %d, index says %q, %d", hash, rec.UserID, expiryMillis(rec.EffectiveExpiry()), user, score)
		}
		if len(e.Member) == memberLen && e.Member != member(rec) {
			return fmt.Errorf("session %s: index member %x, want %x (id hash and creation time)", hash, e.Member, member(rec))
		}
	}
	if minUndrained >= 0 {
		qs, err := c.Do(ctx, c.B().Zscore().Key(s.keys.queue(b, shard.Sub)).Member(user).Build()).AsFloat64()
		if err != nil || int64(qs) > minUndrained {
			return fmt.Errorf("user %q: queue score %v (%v), earliest uncounted expiry %d", user, qs, err, minUndrained)
		}
	}
	if hasDrained {
		if _, err := c.Do(ctx, c.B().Zscore().Key(s.keys.cleanup(b, shard.Sub)).Member(user).Build()).AsFloat64(); err != nil {
			return fmt.Errorf("user %q has counted expired entries but is not queued for cleanup: %v", user, err)
		}
	}
	return nil
}
