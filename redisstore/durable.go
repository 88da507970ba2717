package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
)

// This file wraps the store's write scripts: a bounded retry while Redis
// Cluster moves the script's slot, and the durability option
// (Options.WaitReplicas): a write is acknowledged only once that many
// replicas confirmed it.

// DefaultWaitTimeout is how long a write waits for replicas to confirm it
// when Options.WaitReplicas is set and Options.WaitTimeout is not.
const DefaultWaitTimeout = time.Second

// DefaultWaitConnections is how many connections confirmed writes hold at
// once when Options.WaitReplicas is set and Options.WaitConnections is not.
const DefaultWaitConnections = 64

// slotMoveBudget bounds how long a write script keeps trying while its hash
// slot is being migrated between cluster nodes.
const slotMoveBudget = 2 * time.Second

// sources maps each script to its source, for the EVALSHA/EVAL of the
// confirmed path (which runs on a dedicated connection, not through
// rueidis.Lua).
var sources sync.Map // *rueidis.Lua -> scriptSource

type scriptSource struct{ src, sha string }

func register(l *rueidis.Lua, src string) *rueidis.Lua {
	sum := sha1.Sum([]byte(src))
	sources.Store(l, scriptSource{src, hex.EncodeToString(sum[:])})
	return l
}

// exec runs a write script. While Redis Cluster migrates the script's slot,
// a script whose keys are split between the two nodes gets TRYAGAIN (and,
// on the confirmed path, which follows no redirection, MOVED or ASK): the
// script did not run, and exec tries again, with a growing pause, for at
// most slotMoveBudget. With WaitReplicas set, the script and a WAIT run on
// one connection (one of at most WaitConnections), and a write the replicas
// did not confirm in time, or that got no connection in time, is returned as
// an error matching sessiondb.ErrUnavailable.
func (s *Store) exec(ctx context.Context, c rueidis.Client, script *rueidis.Lua, keys, args []string) rueidis.RedisResult {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		var res rueidis.RedisResult
		if s.waitReplicas > 0 {
			res = s.execConfirmed(ctx, c, script, keys, args)
		} else {
			res = script.Exec(ctx, c, keys, args)
		}
		if !slotMoving(res.Error(), s.waitReplicas > 0) || time.Since(start) >= slotMoveBudget {
			return res
		}
		pause := min(time.Duration(attempt)*5*time.Millisecond, 100*time.Millisecond)
		select {
		case <-ctx.Done():
			return res
		case <-time.After(pause):
		}
	}
}

// slotMoving reports an error that says the script did not run because its
// slot is moving. MOVED and ASK count only on the confirmed path: elsewhere
// rueidis follows them itself.
func slotMoving(err error, confirmed bool) bool {
	re, ok := rueidis.IsRedisErr(err)
	if !ok {
		return false
	}
	if re.IsTryAgain() {
		return true
	}
	if !confirmed {
		return false
	}
	_, moved := re.IsMoved()
	_, ask := re.IsAsk()
	return moved || ask
}

// execConfirmed runs the script, then WAIT (or WAITAOF where the server has
// it and the user may run it), on one dedicated connection: WAIT counts the
// replicas that acknowledged the connection's last write, so it must follow
// the script on the same connection (rueidis would send a bare WAIT on a
// connection of its blocking pool, whose last write is another one).
func (s *Store) execConfirmed(ctx context.Context, c rueidis.Client, script *rueidis.Lua, keys, args []string) rueidis.RedisResult {
	v, ok := sources.Load(script)
	if !ok {
		return rueidis.NewErrorResult(errors.New("redisstore: unregistered script"))
	}
	src := v.(scriptSource)
	if err := s.takeConn(ctx); err != nil {
		return rueidis.NewErrorResult(err)
	}
	defer s.releaseConn()
	var res rueidis.RedisResult
	var confirmErr error
	err := c.Dedicated(func(dc rueidis.DedicatedClient) error {
		run := func(eval rueidis.Completed) []rueidis.RedisResult {
			return dc.DoMulti(ctx, eval, s.waitCmd(dc))
		}
		rs := run(dc.B().Evalsha().Sha1(src.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
		if re, ok := rueidis.IsRedisErr(rs[0].Error()); ok && re.IsNoScript() {
			rs = run(dc.B().Eval().Script(src.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
		}
		res = rs[0]
		if res.Error() != nil {
			return nil // not written (or a script error): nothing to confirm
		}
		confirmErr = s.confirmed(ctx, dc, rs[1])
		return nil
	})
	if err != nil {
		return rueidis.NewErrorResult(err)
	}
	if confirmErr != nil {
		return rueidis.NewErrorResult(confirmErr)
	}
	return res
}

// takeConn waits for one of the Options.WaitConnections connections, at
// most WaitTimeout and within ctx. The wait is the store's, not rueidis's:
// Dedicated waits for a full pool without a deadline (standalone, Sentinel),
// and a wait in the pool that ends with its context lets the pool open one
// connection more than its size (rueidis v1.0.79), which would undo the
// bound.
func (s *Store) takeConn(ctx context.Context) error {
	if s.waitConns == nil {
		return nil
	}
	select {
	case s.waitConns <- struct{}{}:
		return nil
	default:
	}
	start := time.Now()
	t := time.NewTimer(s.waitTimeout)
	defer t.Stop()
	select {
	case s.waitConns <- struct{}{}:
		return nil
	case <-t.C:
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.Canceled) {
			return ctx.Err() // the caller gave up
		}
	}
	return fmt.Errorf("%w: all %d connections for confirmed writes stayed busy for %v: nothing was written; retry",
		sessiondb.ErrUnavailable, cap(s.waitConns), time.Since(start).Round(time.Millisecond))
}

func (s *Store) releaseConn() {
	if s.waitConns != nil {
		<-s.waitConns
	}
}

// waitCmd is WAITAOF 0 n timeout where it works, WAIT n timeout otherwise.
func (s *Store) waitCmd(dc rueidis.DedicatedClient) rueidis.Completed {
	ms := max(s.waitTimeout.Milliseconds(), 1) // WAIT 0 would wait forever
	if !s.noWaitAOF.Load() {
		return dc.B().Waitaof().Numlocal(0).Numreplicas(int64(s.waitReplicas)).Timeout(ms).Build()
	}
	return dc.B().Wait().Numreplicas(int64(s.waitReplicas)).Timeout(ms).Build()
}

// confirmed reads the reply of waitCmd. A server without WAITAOF (Redis
// before 7.2), or a user not allowed to run it, gets WAIT from then on; the
// WAIT sent now on the same connection still counts the script's write.
func (s *Store) confirmed(ctx context.Context, dc rueidis.DedicatedClient, reply rueidis.RedisResult) error {
	if re, ok := rueidis.IsRedisErr(reply.Error()); ok &&
		(strings.Contains(re.Error(), "unknown command") || strings.HasPrefix(re.Error(), "NOPERM")) {
		s.noWaitAOF.Store(true)
		reply = dc.Do(ctx, s.waitCmd(dc))
	}
	if counts, err := reply.AsIntSlice(); err == nil && len(counts) == 2 {
		return s.enough(counts[1]) // WAITAOF: [local fsyncs, replica fsyncs]
	}
	n, err := reply.AsInt64()
	if err != nil {
		return fmt.Errorf("%w: waiting for replicas: %w", sessiondb.ErrUnavailable, err)
	}
	return s.enough(n)
}

func (s *Store) enough(n int64) error {
	if n >= int64(s.waitReplicas) {
		return nil
	}
	return fmt.Errorf("%w: %d of %d replicas confirmed the write within %v: the primary has it, but it may or may not survive a failover; retry",
		sessiondb.ErrUnavailable, n, s.waitReplicas, s.waitTimeout)
}
