package webhooks

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
)

var (
	//go:embed scripts/lib.lua
	libLua string
	//go:embed scripts/lease.lua
	leaseLua string
	//go:embed scripts/release.lua
	releaseLua string
	//go:embed scripts/advance.lua
	advanceLua string
	//go:embed scripts/finish.lua
	finishLua string
	//go:embed scripts/pause.lua
	pauseLua string
	//go:embed scripts/peek.lua
	peekLua string
	//go:embed scripts/retry.lua
	retryLua string
)

// The scripts, each sent as EVALSHA and, when Redis does not know it yet,
// as EVAL.
var (
	leaseScript   = rueidis.NewLuaScript(leaseLua)
	releaseScript = rueidis.NewLuaScript(releaseLua)
	advanceScript = rueidis.NewLuaScript(withLib(advanceLua))
	finishScript  = rueidis.NewLuaScript(withLib(finishLua))
	pauseScript   = rueidis.NewLuaScript(pauseLua)
	peekScript    = rueidis.NewLuaScriptReadOnly(peekLua)
	retryScript   = rueidis.NewLuaScript(retryLua)
)

// withLib puts lib.lua after the script's #! line, which must stay first.
func withLib(src string) string {
	shebang, body, _ := strings.Cut(src, "\n")
	return shebang + "\n" + libLua + body
}

// RedisState is State in Redis, shared by every sessiond on the same Redis
// and kept across restarts. An endpoint's keys share the hash tag
// {wh.<name>}, so every script runs in one slot of a Redis Cluster
// (docs/webhooks.md lists the keys).
type RedisState struct {
	client  func() (rueidis.Client, error)
	prefix  string
	maxDead int // MaxDeadLetters; lower in tests
}

var _ State = (*RedisState)(nil)

// NewRedisState returns the delivery state kept under prefix (the store's
// key prefix, "sdb:" by default) through the client that client returns
// (redisstore.Store.Client: an error while Redis is not connected).
func NewRedisState(client func() (rueidis.Client, error), prefix string) *RedisState {
	return &RedisState{client: client, prefix: prefix, maxDead: MaxDeadLetters}
}

// The keys of an endpoint: prefix + "{wh." + name + "}" + kind.
func (s *RedisState) base(ep string) string   { return s.prefix + "{wh." + ep + "}" }
func (s *RedisState) lease(ep string) string  { return s.base(ep) + "l" }
func (s *RedisState) cursor(ep string) string { return s.base(ep) + "c" }
func (s *RedisState) dead(ep string) string   { return s.base(ep) + "d" }
func (s *RedisState) queue(ep string) string  { return s.base(ep) + "q" }
func (s *RedisState) paused(ep string) string { return s.base(ep) + "p" }
func (s *RedisState) record(ep, id string) string {
	return s.base(ep) + "e" + id
}

// registry is the zset of the endpoints' names, scored by when a sessiond
// last registered them.
func (s *RedisState) registry() string { return s.prefix + "{wh}n" }

func (s *RedisState) Register(ctx context.Context, names []string, now time.Time) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	cmd := c.B().Zadd().Key(s.registry()).ScoreMember()
	for _, n := range names {
		cmd = cmd.ScoreMember(float64(now.UnixMilli()), n)
	}
	return wrapErr(c.Do(ctx, cmd.Build()).Error())
}

func (s *RedisState) lease1(ctx context.Context, ep, owner string, ttl time.Duration, mode string) (bool, error) {
	c, err := s.client()
	if err != nil {
		return false, err
	}
	n, err := leaseScript.Exec(ctx, c, []string{s.lease(ep)}, []string{owner, ms(ttl), mode}).AsInt64()
	return n == 1, wrapErr(err)
}

func (s *RedisState) Acquire(ctx context.Context, ep, owner string, ttl time.Duration) (bool, error) {
	return s.lease1(ctx, ep, owner, ttl, "acquire")
}

func (s *RedisState) Renew(ctx context.Context, ep, owner string, ttl time.Duration) (bool, error) {
	return s.lease1(ctx, ep, owner, ttl, "renew")
}

func (s *RedisState) Release(ctx context.Context, ep, owner string) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	return wrapErr(releaseScript.Exec(ctx, c, []string{s.lease(ep)}, []string{owner}).Error())
}

func (s *RedisState) Start(ctx context.Context, ep, start string) (string, error) {
	c, err := s.client()
	if err != nil {
		return "", err
	}
	// SET NX GET: the cursor there, or, when there is none, start, set.
	cur, err := c.Do(ctx, c.B().Set().Key(s.cursor(ep)).Value(start).Nx().Get().Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return start, nil
	}
	return cur, wrapErr(err)
}

// deadArgs returns the arguments of a dead letter for advance.lua and
// finish.lua: its record and score, and the bound.
func (s *RedisState) deadArgs(d *DeadLetter) ([]string, error) {
	rec, err := encodeDead(d)
	if err != nil {
		return nil, err
	}
	return []string{rec, strconv.FormatInt(d.DeadAt.UnixMilli(), 10), strconv.Itoa(s.maxDead)}, nil
}

func (s *RedisState) Advance(ctx context.Context, ep, owner string, ttl time.Duration, cursor string, dead *DeadLetter) (bool, int, error) {
	c, err := s.client()
	if err != nil {
		return false, 0, err
	}
	keys := []string{s.lease(ep), s.cursor(ep), s.dead(ep), s.cursor(ep)}
	args := []string{owner, ms(ttl), cursor, ""}
	if dead != nil {
		da, err := s.deadArgs(dead)
		if err != nil {
			return false, 0, err
		}
		keys[3] = s.record(ep, dead.ID)
		args = append(args[:3], append([]string{dead.ID}, da...)...)
	}
	n, err := advanceScript.Exec(ctx, c, keys, args).AsInt64()
	if err != nil {
		return false, 0, wrapErr(err)
	}
	return n >= 0, int(max(n, 0)), nil
}

func (s *RedisState) Peek(ctx context.Context, ep string) (string, *DeadLetter, error) {
	c, err := s.client()
	if err != nil {
		return "", nil, err
	}
	vals, err := peekScript.Exec(ctx, c, []string{s.paused(ep), s.queue(ep)}, nil).ToArray()
	if err != nil {
		return "", nil, wrapErr(err)
	}
	str := func(i int) string {
		if i >= len(vals) {
			return ""
		}
		v, _ := vals[i].ToString() // nil: ""
		return v
	}
	paused, id, rec := str(0), str(1), str(2)
	if id == "" {
		return paused, nil, nil
	}
	if rec == "" {
		// Queued, but its record is gone (dropped past the bound while
		// queued, or deleted by hand): deliverable no more.
		return paused, &DeadLetter{Endpoint: ep, ID: id}, nil
	}
	d, err := decodeDead(rec)
	if err != nil {
		return paused, &DeadLetter{Endpoint: ep, ID: id}, nil
	}
	return paused, d, nil
}

func (s *RedisState) FinishRetry(ctx context.Context, ep, owner string, ttl time.Duration, id string, dead *DeadLetter) (bool, int, error) {
	c, err := s.client()
	if err != nil {
		return false, 0, err
	}
	keys := []string{s.lease(ep), s.queue(ep), s.dead(ep), s.record(ep, id)}
	args := []string{owner, ms(ttl), id, "", "0", "0"}
	if dead != nil {
		da, err := s.deadArgs(dead)
		if err != nil {
			return false, 0, err
		}
		args = append(args[:3], da...)
	}
	n, err := finishScript.Exec(ctx, c, keys, args).AsInt64()
	if err != nil {
		return false, 0, wrapErr(err)
	}
	return n >= 0, int(max(n, 0)), nil
}

func (s *RedisState) Pause(ctx context.Context, ep, owner string, ttl time.Duration, reason string) (bool, error) {
	c, err := s.client()
	if err != nil {
		return false, err
	}
	n, err := pauseScript.Exec(ctx, c, []string{s.lease(ep), s.paused(ep)}, []string{owner, ms(ttl), reason}).AsInt64()
	return n == 1, wrapErr(err)
}

func (s *RedisState) Endpoints(ctx context.Context) ([]string, error) {
	c, err := s.client()
	if err != nil {
		return nil, err
	}
	names, err := c.Do(ctx, c.B().Zrange().Key(s.registry()).Min("0").Max("-1").Build()).AsStrSlice()
	return names, wrapErr(err)
}

// known returns ErrUnknownEndpoint for an endpoint no sessiond registered.
func (s *RedisState) known(ctx context.Context, c rueidis.Client, ep string) error {
	err := c.Do(ctx, c.B().Zscore().Key(s.registry()).Member(ep).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return ErrUnknownEndpoint
	}
	return wrapErr(err)
}

func (s *RedisState) Status(ctx context.Context, ep string, _ time.Time) (Status, error) {
	c, err := s.client()
	if err != nil {
		return Status{}, err
	}
	if err := s.known(ctx, c, ep); err != nil {
		return Status{}, err
	}
	res := c.DoMulti(ctx,
		c.B().Get().Key(s.lease(ep)).Build(),
		c.B().Pttl().Key(s.lease(ep)).Build(),
		c.B().Get().Key(s.cursor(ep)).Build(),
		c.B().Zcard().Key(s.dead(ep)).Build(),
		c.B().Zcard().Key(s.queue(ep)).Build(),
		c.B().Get().Key(s.paused(ep)).Build())
	for _, r := range res {
		if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
			return Status{}, wrapErr(err)
		}
	}
	st := Status{Endpoint: ep}
	st.Holder, _ = res[0].ToString()
	if pttl, _ := res[1].AsInt64(); pttl > 0 && st.Holder != "" {
		st.LeaseSeconds = float64(pttl) / 1000
	}
	st.Cursor, _ = res[2].ToString()
	st.Dead, _ = res[3].AsInt64()
	st.Queued, _ = res[4].AsInt64()
	st.Paused, _ = res[5].ToString()
	return st, nil
}

// deadBatch is the number of records one MGET reads.
const deadBatch = 500

func (s *RedisState) Dead(ctx context.Context, ep string) ([]DeadLetter, error) {
	c, err := s.client()
	if err != nil {
		return nil, err
	}
	if err := s.known(ctx, c, ep); err != nil {
		return nil, err
	}
	ids, err := c.Do(ctx, c.B().Zrange().Key(s.dead(ep)).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return nil, wrapErr(err)
	}
	out := make([]DeadLetter, 0, len(ids))
	for start := 0; start < len(ids); start += deadBatch {
		batch := ids[start:min(start+deadBatch, len(ids))]
		keys := make([]string, len(batch))
		for i, id := range batch {
			keys[i] = s.record(ep, id)
		}
		vals, err := c.Do(ctx, c.B().Mget().Key(keys...).Build()).ToArray()
		if err != nil {
			return nil, wrapErr(err)
		}
		for i, v := range vals {
			rec, err := v.ToString()
			d, derr := decodeDead(rec)
			if err != nil || derr != nil {
				// A record gone or damaged: show the id.
				d = &DeadLetter{Endpoint: ep, ID: batch[i], Error: "(record missing)"}
			}
			out = append(out, *d)
		}
	}
	return out, nil
}

func (s *RedisState) Retry(ctx context.Context, ep string, ids []string, now time.Time) ([]string, error) {
	c, err := s.client()
	if err != nil {
		return nil, err
	}
	if err := s.known(ctx, c, ep); err != nil {
		return nil, err
	}
	if ids != nil && len(ids) == 0 {
		return nil, nil
	}
	args := append([]string{strconv.FormatInt(now.UnixMilli(), 10)}, ids...)
	queued, err := retryScript.Exec(ctx, c, []string{s.dead(ep), s.queue(ep)}, args).AsStrSlice()
	return queued, wrapErr(err)
}

func (s *RedisState) Resume(ctx context.Context, ep string) (bool, error) {
	c, err := s.client()
	if err != nil {
		return false, err
	}
	if err := s.known(ctx, c, ep); err != nil {
		return false, err
	}
	n, err := c.Do(ctx, c.B().Del().Key(s.paused(ep)).Build()).AsInt64()
	return n == 1, wrapErr(err)
}

func ms(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) }

// wrapErr maps Redis and network errors onto the sessiondb sentinels, as
// the store's calls do: a refused command or login is ErrStoreAuth, a
// store that does not answer ErrUnavailable.
func wrapErr(err error) error {
	if err == nil {
		return nil
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		msg, _, _ := strings.Cut(re.Error(), "\n")
		switch code, _, _ := strings.Cut(msg, " "); code {
		case "NOAUTH", "WRONGPASS", "NOPERM":
			return fmt.Errorf("%w: %s", sessiondb.ErrStoreAuth, msg)
		case "OOM":
			return fmt.Errorf("%w: %s", sessiondb.ErrStoreFull, msg)
		case "LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "MOVED", "ASK":
			return fmt.Errorf("%w: %s", sessiondb.ErrUnavailable, msg)
		}
		return fmt.Errorf("webhooks: redis: %s", msg)
	}
	if errors.Is(err, sessiondb.ErrClosed) || errors.Is(err, rueidis.ErrClosing) {
		return sessiondb.ErrClosed
	}
	if errors.Is(err, sessiondb.ErrUnavailable) || errors.Is(err, sessiondb.ErrStoreAuth) {
		return err
	}
	return fmt.Errorf("%w: %w", sessiondb.ErrUnavailable, err)
}
