package main

import (
	"fmt"
	"strings"
)

// summaryResult is what -mode summary measured: the throughput cells behind
// the targets of docs/performance.md, the HTTP runs, and each target's
// figure.
type summaryResult struct {
	Cells   []result     `json:"cells"`
	HTTP    []httpResult `json:"http"`
	Targets []targetRow  `json:"targets"`
}

type targetRow struct {
	Target   string `json:"target"`
	Measured string `json:"measured"`
}

// summary runs, in one go, every cell the targets are read from: creates
// (nobody at the limit, and everybody at it) against scs, refused creates
// against validations, logouts, validations against the raw floors and
// scs, cached validations against go-redis, and sessiond under wrk. Each
// cell is the median of o.runs runs (-runs, default 1; use 3).
func summary(o options, addr string, rs *redisStats) (summaryResult, error) {
	var out summaryResult
	groups := []struct {
		workloads, targets string
		conc               []int
	}{
		{"create,create-limit", "sessiondb,scs", []int{16, 64}},
		{"create-reject,validate", "sessiondb", []int{64}},
		{"invalidate", "sessiondb,scs", []int{16, 64}},
		{"validate", "raw-goredis,raw-rueidis,raw-rueidis-decode,sessiondb,sessiondb-cached,scs", []int{16, 64}},
	}
	for _, g := range groups {
		sub := o
		sub.workloads = strings.Split(g.workloads, ",")
		sub.targets = strings.Split(g.targets, ",")
		sub.conc = g.conc
		cells, err := throughput(sub, addr, rs)
		if err != nil {
			return out, err
		}
		out.Cells = append(out.Cells, cells...)
	}
	var err error
	if out.HTTP, err = httpMode(o, addr); err != nil {
		return out, err
	}
	out.Targets = summarize(out.Cells, out.HTTP)
	fmt.Println("\n# targets (ratios within this run)")
	for _, t := range out.Targets {
		fmt.Printf("%-58s %s\n", t.Target, t.Measured)
	}
	return out, nil
}

// summarize reads each target's figures off the cells.
func summarize(cells []result, runs []httpResult) []targetRow {
	// A cell measured twice (sessiondb's validate at c=64: beside the
	// refused creates, and again among the floors) is read from the group
	// it is compared within: get takes the last, first the first.
	find := func(target, workload string, c int, last bool) (r result, ok bool) {
		for _, x := range cells {
			if x.Target == target && x.Workload == workload && x.Concurrency == c {
				r, ok = x, true
				if !last {
					break
				}
			}
		}
		return r, ok
	}
	get := func(target, workload string, c int) (result, bool) { return find(target, workload, c, true) }
	var rows []targetRow
	add := func(name, format string, args ...any) {
		rows = append(rows, targetRow{name, fmt.Sprintf(format, args...)})
	}
	for _, w := range []string{"create", "create-limit"} {
		for _, c := range []int{16, 64} {
			s, ok1 := get("sessiondb", w, c)
			p, ok2 := get("scs redisstore", w, c)
			if ok1 && ok2 {
				add(fmt.Sprintf("%s c=%d: ×scs creates/s; Redis CPU, calls per create", w, c),
					"×%.2f (%.0f vs %.0f/s); %.1f µs (scs %.1f); %.1f calls (scs %.1f)",
					s.OpsPerSec/p.OpsPerSec, s.OpsPerSec, p.OpsPerSec, s.RedisCPUus, p.RedisCPUus, s.RedisCalls, p.RedisCalls)
			}
		}
	}
	if r, ok := get("sessiondb reject", "create-reject", 64); ok {
		if v, ok := find("sessiondb", "validate", 64, false); ok {
			add("refused create (reject) vs validate c=64: Redis CPU",
				"%.1f µs vs %.1f µs (exec %.1f vs %.1f); %.0f vs %.0f/s", r.RedisCPUus, v.RedisCPUus, r.RedisExecUs, v.RedisExecUs, r.OpsPerSec, v.OpsPerSec)
		}
	}
	for _, c := range []int{16, 64} {
		if r, ok := get("sessiondb", "invalidate", c); ok {
			add(fmt.Sprintf("logout c=%d: round trips, Redis CPU", c), "%.2f rt; %.1f µs; %.1f calls", r.RoundTrips, r.RedisCPUus, r.RedisCalls)
		}
	}
	for _, c := range []int{16, 64} {
		s, ok1 := get("sessiondb", "validate", c)
		f, ok2 := get("raw rueidis", "validate", c)
		d, ok3 := get("raw rueidis+decode", "validate", c)
		p, ok4 := get("scs redisstore", "validate", c)
		if ok1 && ok2 && ok3 && ok4 {
			add(fmt.Sprintf("validate c=%d: ×raw rueidis GET, ×GET + JSON decode, ×scs", c), "×%.2f, ×%.2f, ×%.2f",
				s.OpsPerSec/f.OpsPerSec, s.OpsPerSec/d.OpsPerSec, s.OpsPerSec/p.OpsPerSec)
		}
		cached, ok1 := get("sessiondb cached", "validate", c)
		g, ok2 := get("raw go-redis", "validate", c)
		if ok1 && ok2 {
			add(fmt.Sprintf("cached validate c=%d: ×raw go-redis GET", c), "×%.1f", cached.OpsPerSec/g.OpsPerSec)
		}
	}
	for _, cache := range []bool{false, true} {
		var ratios, cpuH, cpuV []float64
		for _, r := range runs {
			if r.ClientCache != cache {
				continue
			}
			if r.Route == "/healthz" {
				cpuH = append(cpuH, r.CPUusPerReq)
			} else {
				ratios, cpuV = append(ratios, r.Ratio), append(cpuV, r.CPUusPerReq)
			}
		}
		if len(ratios) > 0 {
			add(fmt.Sprintf("HTTP validate ×/healthz, client cache %v", cache),
				"×%.2f; sessiond CPU %.1f µs/req (healthz %.1f)", median(ratios), median(cpuV), median(cpuH))
		}
	}
	return rows
}
