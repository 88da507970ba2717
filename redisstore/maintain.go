package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redisnode"
)

// This file holds the bucket maintenance: cleanup of expired sessions,
// with its pacing, and the counters and memory figures behind Stats.

// maintainBudget is how many users one maintenance script visits at most:
// a few dozen Redis calls, a fraction of a millisecond of Redis time, so
// that requests of other clients never wait long behind maintenance.
const maintainBudget = 16

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
		st.EventEntries += r.log[0]
		st.EventBytes += r.log[1]
		st.Revocations += r.log[2]
		st.RevocationBytes += r.log[3]
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
	log      [4]int64 // with events: entries and bytes of the event log, of the ended sessions
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
	evArgs := s.maintainEventArgs(now)
	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			return wrap(err)
		}
		var again []int
		for start := 0; start < len(pending); start += batch {
			part := pending[start:min(start+batch, len(pending))]
			execs := make([]rueidis.LuaExec, len(part))
			for i, b := range part {
				execs[i] = s.maintainExec(ctx, b, now, mode, evArgs)
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

func (s *Store) maintainExec(ctx context.Context, b int, now time.Time, mode string, evArgs []string) rueidis.LuaExec {
	ks := make([]string, 0, 3+2*sessiondb.SubBuckets)
	ks = append(ks, s.keys.counters(b))
	for sub := range sessiondb.SubBuckets {
		ks = append(ks, s.keys.queue(b, sub))
	}
	for sub := range sessiondb.SubBuckets {
		ks = append(ks, s.keys.cleanup(b, sub))
	}
	ks, args := s.withEvents(ctx, b, ks,
		[]string{ms(now), mode, strconv.Itoa(s.budget), s.keys.userPrefix(b), s.keys.sessionPrefix(b)}, evArgs...)
	return rueidis.LuaExec{Keys: ks, Args: args}
}

func parseMaintain(res rueidis.RedisResult) (maintainResult, error) {
	arr, err := res.ToArray()
	if err != nil {
		return maintainResult{}, wrap(err)
	}
	if len(arr) != 3 && len(arr) != 4 {
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
	if len(arr) == 4 {
		log, err := arr[3].AsIntSlice()
		if err != nil || len(log) != 4 {
			return maintainResult{}, errors.New("redisstore: unexpected maintenance reply")
		}
		copy(r.log[:], log)
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
		f := redisnode.ParseInfo(info)
		u, _ := strconv.ParseInt(f["used_memory"], 10, 64)
		m, _ := strconv.ParseInt(f["maxmemory"], 10, 64)
		used += u
		limit += m
		return nil
	})
	return used, limit, err
}
