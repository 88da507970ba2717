package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/redisstore"
)

// memoryResult is the Redis memory one target needs per session.
type memoryResult struct {
	Target     string  `json:"target"`
	Sessions   int     `json:"sessions"`
	Users      int     `json:"users"`
	Keys       int64   `json:"keys"`
	BytesTotal int64   `json:"used_memory_delta"`
	PerSession float64 `json:"bytes_per_session"`
	FillSecs   float64 `json:"fill_seconds"`
}

// memory creates n sessions over n/3 users with each target and reports the
// growth of Redis's used_memory per session, every index and counter included.
func memory(o options, addr string, rs *redisStats) ([]memoryResult, error) {
	ctx := context.Background()
	var out []memoryResult
	names := o.targets
	if slices.Equal(names, targetNames) {
		names = []string{"raw-goredis", "sessiondb", "scs", "gorilla", "spring-pipelined"}
	}
	for _, name := range names {
		t, err := makeTarget(name, addr, 64, nil)
		if err != nil || t == nil {
			return nil, err
		}
		if err := rs.flush(); err != nil {
			return nil, err
		}
		time.Sleep(200 * time.Millisecond)
		before := rs.usedMemory()
		start := time.Now()
		if _, err := fillUsers(ctx, t, o.n, 64, max(o.n/3, 1), false); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		took := time.Since(start)
		time.Sleep(200 * time.Millisecond)
		after := rs.usedMemory()
		keys, _ := rs.c.Do(ctx, rs.c.B().Dbsize().Build()).AsInt64()
		t.close()
		r := memoryResult{Target: t.name(), Sessions: o.n, Users: max(o.n/3, 1), Keys: keys, BytesTotal: after - before,
			PerSession: float64(after-before) / float64(o.n), FillSecs: took.Seconds()}
		fmt.Printf("%-24s %8d sessions %7d users %8d keys  %7.1f bytes/session  (fill %.1fs)\n", r.Target, r.Sessions, r.Users, r.Keys, r.PerSession, r.FillSecs)
		out = append(out, r)
	}
	return out, nil
}

// fillUsers is fill over a given number of users; with keep false it keeps
// no handles (memory mode needs none). User numbers start at userBase.
func fillUsers(ctx context.Context, t target, n, c, nusers int, keep bool, userBase ...int) (*pool, error) {
	base := 0
	if len(userBase) > 0 {
		base = userBase[0]
	}
	p := &pool{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int, 1024)
	go func() {
		for i := range n {
			next <- i
		}
		close(next)
	}()
	for range c {
		wg.Go(func() {
			for i := range next {
				h, err := t.create(ctx, base+i%nusers)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					continue
				}
				if keep {
					p.add(h)
				}
			}
		})
	}
	wg.Wait()
	return p, first
}

type flatResult struct {
	Stored    int     `json:"stored_sessions"`
	Validate  result  `json:"validate"`
	Create    result  `json:"create"`
	VRatio    float64 `json:"validate_ratio_to_10k,omitempty"`
	CRatio    float64 `json:"create_ratio_to_10k,omitempty"`
	UsedBytes int64   `json:"used_memory"`
}

// flatCost measures sessiondb's validate and create at c=64 with 10k and
// with n stored sessions. The stored sessions belong to other users than the
// measured creates, so both measurements see the same mix of new and
// returning users and only the size of the data differs.
func flatCost(o options, addr string, rs *redisStats) ([]flatResult, error) {
	ctx := context.Background()
	t, err := newSessiondb(addr, 0, 0)
	if err != nil {
		return nil, err
	}
	defer t.close()
	if err := rs.flush(); err != nil {
		return nil, err
	}
	var out []flatResult
	stored := 0
	for _, target := range []int{10_000, o.n} {
		p, err := fillUsers(ctx, t, target-stored, 64, max(target/3, 1), true, 10_000_000)
		if err != nil {
			return nil, err
		}
		stored = target
		v := measure(ctx, rs, t, "validate", 64, o.duration, p)
		t.userBase = 1_000_000 * (len(out) + 1) // creates for users this run has not seen
		c := measure(ctx, rs, t, "create", 64, o.duration, nil)
		t.userBase = 0
		stored += int(c.Ops)
		r := flatResult{Stored: target, Validate: v, Create: c, UsedBytes: rs.usedMemory()}
		if len(out) > 0 {
			r.VRatio = v.OpsPerSec / out[0].Validate.OpsPerSec
			r.CRatio = c.OpsPerSec / out[0].Create.OpsPerSec
		}
		fmt.Printf("%8d stored: %s\n%8s         %s\n", target, v, "", c)
		if r.VRatio > 0 {
			fmt.Printf("at %d stored sessions: validate ×%.3f, create ×%.3f of the 10k figures\n", target, r.VRatio, r.CRatio)
		}
		out = append(out, r)
	}
	return out, nil
}

type cleanupResult struct {
	Expired       int     `json:"expired_sessions"`
	Removed       int     `json:"removed"`
	CleanupSecs   float64 `json:"cleanup_seconds"`
	BaselineP99us float64 `json:"validate_p99_us_baseline"`
	DuringP99us   float64 `json:"validate_p99_us_during_cleanup"`
	BaselineP50us float64 `json:"validate_p50_us_baseline"`
	DuringP50us   float64 `json:"validate_p50_us_during_cleanup"`
	Ratio         float64 `json:"p99_ratio"`
}

// cleanupImpact measures validate latency (c=16) alone, then while a cleanup
// pass removes 100k expired sessions. The 10k sessions being validated are
// created with an hour to live and stay valid; the 100k expire a minute after
// creation and the cleanup runs on a clock a minute ahead.
func cleanupImpact(o options, addr string, rs *redisStats) (cleanupResult, error) {
	ctx := context.Background()
	var res cleanupResult
	t, err := newSessiondb(addr, 0, 0)
	if err != nil {
		return res, err
	}
	defer t.close()
	if err := rs.flush(); err != nil {
		return res, err
	}
	live, err := fillUsers(ctx, t, 10_000, 64, 3_333, true)
	if err != nil {
		return res, err
	}
	base := measure(ctx, rs, t, "validate", 16, o.duration, live)
	res.BaselineP99us, res.BaselineP50us = base.P99us, base.P50us

	const expiring = 100_000
	var wg sync.WaitGroup
	next := make(chan int, 1024)
	go func() {
		for i := range expiring {
			next <- i
		}
		close(next)
	}()
	for range 64 {
		wg.Go(func() {
			for i := range next {
				if _, err := t.m.Create(ctx, "exp-"+strconv.Itoa(i%33_333), time.Minute, metadata); err != nil {
					panic(err)
				}
			}
		})
	}
	wg.Wait()
	res.Expired = expiring
	// A manager whose clock runs a minute ahead sees all of them expired
	// (the live ones too would be, but it only cleans up).
	later, err := sessiondb.New(t.m.Store(), sessiondb.Options{Clock: func() time.Time { return time.Now().Add(61 * time.Second) }})
	if err != nil {
		return res, err
	}

	stop := make(chan struct{})
	lat := make([][]time.Duration, 16)
	for w := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				h, _ := live.random(r)
				t0 := time.Now()
				t.validate(ctx, h)
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	n, err := later.Cleanup(ctx)
	res.CleanupSecs = time.Since(start).Seconds()
	close(stop)
	wg.Wait()
	if err != nil {
		return res, err
	}
	res.Removed = n
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		res.DuringP99us = float64(all[len(all)*99/100].Nanoseconds()) / 1e3
		res.DuringP50us = float64(all[len(all)/2].Nanoseconds()) / 1e3
	}
	res.Ratio = res.DuringP99us / res.BaselineP99us
	fmt.Printf("cleanup removed %d of %d expired sessions in %.2fs; validate p50 %.1fµs→%.1fµs, p99 %.1fµs→%.1fµs (×%.2f)\n",
		res.Removed, res.Expired, res.CleanupSecs, res.BaselineP50us, res.DuringP50us, res.BaselineP99us, res.DuringP99us, res.Ratio)
	return res, nil
}

type revocationResult struct {
	Revocations int     `json:"revocations"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	Maxms       float64 `json:"max_ms"`
	CachedPolls float64 `json:"polls_served_from_cache"`
}

// revocation measures how long a second process, validating a hot session
// from its client-side cache, takes to see a revocation made by this one.
func revocation(o options, addr string) (revocationResult, error) {
	var res revocationResult
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	cmd := exec.Command(self, "watch-revocations", "-redis-addr", addr)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer cmd.Wait()
	defer in.Close()
	rd := bufio.NewReader(outp)
	t, err := newSessiondb(addr, time.Minute, 0)
	if err != nil {
		return res, err
	}
	defer t.close()
	ctx := context.Background()
	var lats []float64
	var hits, polls int64
	for i := range o.revocations {
		tok, err := t.create(ctx, i)
		if err != nil {
			return res, err
		}
		fmt.Fprintf(in, "T %s\n", tok)
		if line, err := rd.ReadString('\n'); err != nil || line != "R\n" {
			return res, fmt.Errorf("watcher: %q %v", line, err)
		}
		t0 := time.Now()
		if err := t.invalidate(ctx, tok); err != nil {
			return res, err
		}
		fmt.Fprintf(in, "G %d\n", t0.UnixNano())
		line, err := rd.ReadString('\n')
		if err != nil {
			return res, err
		}
		var ns, h, p int64
		if _, err := fmt.Sscanf(line, "D %d %d %d", &ns, &h, &p); err != nil {
			return res, fmt.Errorf("watcher: %q", line)
		}
		lats = append(lats, float64(ns)/1e6)
		hits += h
		polls += p
	}
	slices.Sort(lats)
	res = revocationResult{Revocations: len(lats), P50ms: lats[len(lats)/2], P99ms: lats[len(lats)*99/100], Maxms: lats[len(lats)-1], CachedPolls: float64(hits) / float64(max(polls, 1))}
	fmt.Printf("revocations seen by a second process (client-side cache on): %d, p50 %.2fms p99 %.2fms max %.2fms; %.1f%% of its polls were cache hits\n",
		res.Revocations, res.P50ms, res.P99ms, res.Maxms, 100*res.CachedPolls)
	return res, nil
}

// watchRevocations is the second process of -mode revocation: for each token
// it warms its cache, reports ready, polls until the token is refused, then
// reports how long after the revocation began that was.
func watchRevocations(args []string) error {
	fs := flag.NewFlagSet("watch-revocations", flag.ContinueOnError)
	addr := fs.String("redis-addr", "", "redis address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var hits, polls hitCounter
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{*addr}})
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := redisstore.New(cacheHits{c, &hits, &polls}, redisstore.Options{CacheTTL: time.Minute})
	if err != nil {
		return err
	}
	m, err := sessiondb.New(st, sessiondb.Options{})
	if err != nil {
		return err
	}
	ctx := context.Background()
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadString('\n')
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		tok, ok := strings.CutPrefix(strings.TrimSpace(line), "T ")
		if !ok {
			return fmt.Errorf("unexpected %q", line)
		}
		for range 3 { // warm: the first read fills the cache
			if _, err := m.Validate(ctx, tok); err != nil {
				return err
			}
		}
		hits.n, polls.n = 0, 0
		fmt.Println("R")
		var seen time.Time
		for {
			_, err := m.Validate(ctx, tok)
			if errors.Is(err, sessiondb.ErrNotFound) {
				seen = time.Now()
				break
			}
			if err != nil {
				return err
			}
			time.Sleep(50 * time.Microsecond)
		}
		line, err = in.ReadString('\n')
		if err != nil {
			return err
		}
		t0, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(line), "G "), 10, 64)
		if err != nil {
			return err
		}
		fmt.Printf("D %d %d %d\n", seen.Sub(time.Unix(0, t0)).Nanoseconds(), hits.n, polls.n)
	}
}

type hitCounter struct{ n int64 }

// cacheHits counts cached reads and how many were served from the cache.
type cacheHits struct {
	rueidis.Client
	hits, polls *hitCounter
}

func (c cacheHits) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	r := c.Client.DoCache(ctx, cmd, ttl)
	c.polls.n++
	if r.IsCacheHit() {
		c.hits.n++
	}
	return r
}

// sessiondProc is a sessiond started for the HTTP target.
type sessiondProc struct {
	base, key string
	cmd       *exec.Cmd
	dir       string
}

// startSessiond starts sessiond on Redis at redisAddr, with extra
// environment variables (NAME=value) added.
func startSessiond(bin, redisAddr string, env ...string) (*sessiondProc, error) {
	dir, err := os.MkdirTemp("", "sessionbench-sessiond")
	if err != nil {
		return nil, err
	}
	if bin == "build" {
		if bin, err = buildSessiond(dir); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64()) // 128 bits, as sessiond requires
	p := &sessiondProc{base: "http://127.0.0.1:" + strconv.Itoa(port), key: key, dir: dir}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(os.Environ(),
		"SESSIOND_ADDR=127.0.0.1:"+strconv.Itoa(port), "SESSIOND_API_KEYS=app:"+key,
		"REDIS_URL=redis://"+redisAddr, "SESSIOND_LOG_LEVEL=error", "CLEANUP_INTERVAL_SECONDS=3600")
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, os.Stderr
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(15 * time.Second); ; {
		res, err := hc.Get(p.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("sessiond did not become ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// buildSessiond builds sessiond into dir and returns its path. It builds in
// sessiond's own module (the repository root), whose go.sum has sessiond's
// dependencies.
func buildSessiond(dir string) (string, error) {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/sessiondb/sessiondb").Output()
	if err != nil {
		return "", fmt.Errorf("find the sessiondb module: %w", err)
	}
	bin := filepath.Join(dir, "sessiond")
	b := exec.Command("go", "build", "-o", bin, "./cmd/sessiond")
	b.Dir = strings.TrimSpace(string(root))
	b.Stderr = os.Stderr
	if err := b.Run(); err != nil {
		return "", fmt.Errorf("go build sessiond: %w", err)
	}
	return bin, nil
}

func (p *sessiondProc) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	p.cmd.Wait()
	os.RemoveAll(p.dir)
}
