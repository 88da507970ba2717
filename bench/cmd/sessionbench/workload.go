package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// result is one cell of the table: a target, a workload, a concurrency.
type result struct {
	Target      string  `json:"target"`
	Workload    string  `json:"workload"`
	Concurrency int     `json:"concurrency"`
	Ops         int64   `json:"ops"`
	Errors      int64   `json:"errors"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	P999us      float64 `json:"p999_us"`
	RedisCPUus  float64 `json:"redis_cpu_us_per_op"`
	RoundTrips  float64 `json:"round_trips_per_op"`
	// RedisCalls is the commands Redis served per operation, counted by
	// Redis itself (INFO commandstats): a script call counts once, plus
	// once for each command the script ran.
	RedisCalls float64            `json:"redis_calls_per_op"`
	RedisByCmd map[string]float64 `json:"redis_calls_per_op_by_command,omitempty"`
	// RedisExecUs is the time Redis spent executing the operation's
	// commands (INFO commandstats usec), without the event loop and the
	// network: steadier than RedisCPUus on a busy machine.
	RedisExecUs float64 `json:"redis_exec_us_per_op"`
	Ratio       float64 `json:"ratio_to_floor"`
	Floor       string  `json:"floor"`
	FirstError  string  `json:"first_error,omitempty"`
}

// pool is a concurrent set of session handles to validate or invalidate.
type pool struct {
	mu sync.Mutex
	h  []string
}

func (p *pool) add(h string) {
	p.mu.Lock()
	p.h = append(p.h, h)
	p.mu.Unlock()
}

func (p *pool) random(r *rand.Rand) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.h) == 0 {
		return "", false
	}
	return p.h[r.IntN(len(p.h))], true
}

// take removes and returns a random handle.
func (p *pool) take(r *rand.Rand) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.h) == 0 {
		return "", false
	}
	i := r.IntN(len(p.h))
	h := p.h[i]
	p.h[i] = p.h[len(p.h)-1]
	p.h = p.h[:len(p.h)-1]
	return h, true
}

// The users a workload's sessions belong to.
const (
	// createUsers: creates spread over a million users, so nobody comes
	// near the per-user limit (most creates are a user's first).
	createUsers = 1_000_000
	// limitUsers: the at-limit workloads prefill limitUsers × the limit
	// (5) sessions, so every user is at the limit, then keep creating for
	// them: each create ends the user's oldest session (evict-oldest), or
	// is refused (reject). This is the steady state of apps whose users
	// log in often and rarely log out, and of credential-stuffing bursts.
	limitUsers = 2_000
	// perUserLimit is sessiondb's default MaxSessionsPerUser.
	perUserLimit = 5
)

// workloadUsers is the number of users a workload's creates spread over.
func workloadUsers(workload string) int {
	if atLimit(workload) {
		return limitUsers
	}
	return createUsers
}

// atLimit reports whether a workload creates for users at the limit.
func atLimit(workload string) bool { return workload == "create-limit" || workload == "create-reject" }

// measure runs one workload on t with c workers for d (or until the pool of
// sessions to invalidate runs out) and returns its figures.
func measure(ctx context.Context, rs *redisStats, t target, workload string, c int, d time.Duration, handles *pool) result {
	res := result{Target: t.name(), Workload: workload, Concurrency: c}
	lat := make([][]time.Duration, c)
	errs := make([]int64, c)
	var firstErr string
	var errOnce sync.Once
	nusers := workloadUsers(workload)
	calls0 := rs.calls()
	cpu0 := rs.cpu()
	rt0 := t.roundTrips()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range c {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			l := make([]time.Duration, 0, 1<<16)
			for i := 0; ; i++ {
				if i%16 == 0 && time.Now().After(deadline) {
					break
				}
				var err error
				t0 := time.Now()
				switch op := pick(workload, r); op {
				case "create":
					var h string
					if h, err = t.create(ctx, r.IntN(nusers)); err == nil && workload == "mixed" {
						handles.add(h)
					}
				case "validate":
					h, ok := handles.random(r)
					if !ok {
						break
					}
					err = t.validate(ctx, h)
				case "invalidate":
					h, ok := handles.take(r)
					if !ok {
						if workload == "invalidate" {
							lat[w] = l
							return // the prepared sessions are used up
						}
						break
					}
					err = t.invalidate(ctx, h)
				}
				l = append(l, time.Since(t0))
				if err != nil {
					errs[w]++
					errOnce.Do(func() { firstErr = err.Error() })
				}
			}
			lat[w] = l
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	res.Ops = int64(len(all))
	for _, e := range errs {
		res.Errors += e
	}
	res.FirstError = firstErr
	if res.Ops == 0 {
		return res
	}
	res.OpsPerSec = float64(res.Ops) / elapsed.Seconds()
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Nanoseconds()) / 1e3
	}
	res.P50us, res.P99us, res.P999us = pct(0.50), pct(0.99), pct(0.999)
	res.RedisCPUus = (rs.cpu() - cpu0) * 1e6 / float64(res.Ops)
	res.RoundTrips = float64(t.roundTrips()-rt0) / float64(res.Ops)
	res.RedisCalls, res.RedisByCmd, res.RedisExecUs = perOp(rs.calls(), calls0, res.Ops)
	return res
}

// pick chooses the operation of one step: the workload itself (a create
// for the at-limit ones), or for "mixed" 90% validate, 8% create, 2%
// invalidate.
func pick(workload string, r *rand.Rand) string {
	if atLimit(workload) {
		return "create"
	}
	if workload != "mixed" {
		return workload
	}
	switch n := r.IntN(100); {
	case n < 90:
		return "validate"
	case n < 98:
		return "create"
	}
	return "invalidate"
}

func (r result) String() string {
	return fmt.Sprintf("%-24s %-13s c=%-3d %9.0f ops/s  p50 %7.1fµs p99 %8.1fµs p999 %8.1fµs  cpu %5.1fµs/op (exec %4.1f)  rt %4.2f  calls %4.1f  ×%.2f",
		r.Target, r.Workload, r.Concurrency, r.OpsPerSec, r.P50us, r.P99us, r.P999us, r.RedisCPUus, r.RedisExecUs, r.RoundTrips, r.RedisCalls, r.Ratio)
}
