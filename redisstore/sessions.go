package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sessiondb/sessiondb"
)

// This file holds the calls on one session: create, restore, read,
// replace and delete.

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
	_, added, err := s.insert(ctx, rec, sessiondb.Limit{Max: sessiondb.NoLimit}, now, "restore")
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
	max, limited := lim.Sessions()
	if !limited {
		max = 0 // insert.lua's "no limit"
	}
	uidx := s.keys.user(shard, rec.UserID)
	if flags == "r" && limited && s.refused.recent(uidx, now) {
		if s.atLimit(ctx, c, uidx, max, now) {
			return 0, false, sessiondb.ErrSessionLimit
		}
		s.refused.forget(uidx)
	}
	v := encode(rec)
	keys, args := s.withEvents(ctx, shard.Bucket,
		[]string{s.keys.session(rec.ID), uidx, s.keys.queue(shard.Bucket, shard.Sub), s.keys.counters(shard.Bucket)},
		[]string{ms(now), string(v), msCeil(rec.EffectiveExpiry()), strconv.Itoa(max), flags, memberOf(rec.ID, v), rec.UserID},
		sessiondb.IDHash(rec.ID))
	reply, err := s.exec(ctx, c, insertScript, keys, args).AsStrSlice()
	if err != nil {
		return 0, false, wrap(err)
	}
	if len(reply) > 0 && reply[0] == "limit" {
		s.refused.add(uidx, now)
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
	var b string
	if s.cacheTTL > 0 && !s.dirty.dirty(key) {
		if err := ctx.Err(); err != nil {
			return nil, wrap(err) // a cache hit would not look at ctx
		}
		res := c.DoCache(ctx, c.B().Get().Key(key).Cache(), s.cacheTTL)
		s.cached.count(res.IsCacheHit())
		b, err = res.ToString()
	} else {
		b, err = s.reads.do(ctx, c, c.B().Get().Key(key).Build()).ToString()
	}
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
	keys, args := s.withEvents(ctx, shard.Bucket,
		[]string{s.keys.session(old.ID), s.keys.session(rec.ID), s.keys.user(shard, rec.UserID), s.keys.queue(shard.Bucket, shard.Sub)},
		[]string{ms(now), string(encode(old)), string(encode(rec)), msCeil(rec.EffectiveExpiry())},
		replaceCode(ctx))
	n, err := s.exec(ctx, c, replaceScript, keys, args).AsInt64()
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
	keys, args := s.withEvents(ctx, b, []string{key, s.keys.counters(b)}, []string{ms(now)}, deleteCode(ctx))
	reply, err := s.exec(ctx, c, deleteScript, keys, args).ToArray()
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
