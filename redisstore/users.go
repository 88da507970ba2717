package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/sessiondb/sessiondb"
)

// This file holds the calls on all sessions of one user.

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
	code := "iA"
	if except != "" {
		code = "iO"
	}
	keys, args := s.withEvents(ctx, shard.Bucket,
		[]string{s.keys.user(shard, userID), s.keys.counters(shard.Bucket),
			s.keys.queue(shard.Bucket, shard.Sub), s.keys.cleanup(shard.Bucket, shard.Sub)},
		[]string{ms(now), keep, s.keys.sessionPrefix(shard.Bucket)},
		code)
	reply, err := s.exec(ctx, c, deleteUserScript, keys, args).AsStrSlice()
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
