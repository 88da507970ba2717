package redisstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redisnode"
)

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
				id, ok := s.keys.sessionID(k)
				if !ok {
					return fmt.Errorf("redisstore: unexpected key %q", k)
				}
				rec, err := decode(id, b)
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
	cctx, cancel := s.ctx(ctx)
	nodes, err := redisnode.Primaries(cctx, c)
	cancel()
	if err != nil {
		return wrap(err)
	}
	for _, n := range nodes {
		if err := fn(n.Client); err != nil {
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
