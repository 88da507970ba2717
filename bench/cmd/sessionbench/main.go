// Command sessionbench measures sessiondb against raw Redis and peer session
// stores on one Redis, in one run, so that every figure can be read as a ratio
// to the floor measured alongside it.
//
//	go run ./cmd/sessionbench                      # throughput table (from bench/)
//	go run ./cmd/sessionbench -mode summary -runs 3 # the figures the targets are read from
//	go run ./cmd/sessionbench -mode http            # sessiond under wrk
//	go run ./cmd/sessionbench -mode events -runs 3  # the event log's cost: off vs on
//	go run ./cmd/sessionbench -mode memory -n 1000000
//	go run ./cmd/sessionbench -mode flat
//	go run ./cmd/sessionbench -mode cleanup
//	go run ./cmd/sessionbench -mode revocation
//
// Without -redis-addr it starts its own redis-server (persistence off) on a
// free loopback port. See docs/performance.md for results and method.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
)

type options struct {
	mode        string
	redisAddr   string
	duration    time.Duration
	conc        []int
	workloads   []string
	targets     []string
	runs        int
	n           int
	jsonOut     string
	sessiond    string
	revocations int
	// Set when -workloads and -c were given: modes with their own defaults
	// then take them.
	workloadsSet, concSet bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "watch-revocations" {
		if err := watchRevocations(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "watch-revocations:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var conc, workloads, targets string
	flag.StringVar(&o.mode, "mode", "throughput", "throughput, summary (the cells behind the targets of docs/performance.md, and http), events (creates, logouts and validations with the event log off and on), memory, flat, cleanup, revocation or http (sessiond under wrk: validate against /healthz, without and with the client-side cache)")
	flag.StringVar(&o.redisAddr, "redis-addr", "", "host:port of the Redis to use (default: start a redis-server); it is FLUSHALLed")
	flag.DurationVar(&o.duration, "d", 3*time.Second, "duration of each measurement")
	flag.StringVar(&conc, "c", "1,16,64", "concurrency levels")
	flag.StringVar(&workloads, "workloads", "create,create-limit,validate,invalidate,mixed", "workloads: create (over 1M users), create-limit (2,000 users at the limit: each create evicts), create-reject (the same under the reject policy: each create is refused; sessiondb only), validate, invalidate, mixed")
	flag.StringVar(&targets, "targets", "all", "targets: all, or a comma list of "+strings.Join(targetNames, ","))
	flag.IntVar(&o.runs, "runs", 1, "runs; each cell reports the median run")
	flag.IntVar(&o.n, "n", 1_000_000, "sessions for -mode memory and flat")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&o.sessiond, "sessiond", "build", "sessiond for the HTTP target: a binary path, 'build' (go build it), 'none', or the http:// URL of a running one (API key in SESSIONBENCH_API_KEY)")
	flag.IntVar(&o.revocations, "revocations", 1000, "revocations for -mode revocation")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memprofile := flag.String("memprofile", "", "write an allocation profile at the end of the run to this file")
	flag.Parse()
	flag.Visit(func(f *flag.Flag) {
		o.workloadsSet = o.workloadsSet || f.Name == "workloads"
		o.concSet = o.concSet || f.Name == "c"
	})
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *memprofile != "" {
		defer func() {
			f, err := os.Create(*memprofile)
			if err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	for _, s := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bad -c %q\n", conc)
			os.Exit(2)
		}
		o.conc = append(o.conc, n)
	}
	o.workloads = strings.Split(workloads, ",")
	if targets == "all" {
		o.targets = targetNames
	} else {
		o.targets = strings.Split(targets, ",")
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "sessionbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(o options) error {
	addr := o.redisAddr
	if addr == "" {
		a, stop, err := startRedis()
		if err != nil {
			return err
		}
		defer stop()
		addr = a
	}
	rs, err := newRedisStats(addr)
	if err != nil {
		return err
	}
	fmt.Printf("# sessionbench: redis %s at %s, %s, GOMAXPROCS=%d, %d CPUs\n", rs.version(), addr, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	var out any
	switch o.mode {
	case "throughput":
		out, err = throughput(o, addr, rs)
	case "memory":
		out, err = memory(o, addr, rs)
	case "flat":
		out, err = flatCost(o, addr, rs)
	case "cleanup":
		out, err = cleanupImpact(o, addr, rs)
	case "revocation":
		out, err = revocation(o, addr)
	case "http":
		out, err = httpMode(o, addr)
	case "summary":
		out, err = summary(o, addr, rs)
	case "events":
		out, err = eventsCost(o, addr, rs)
	default:
		return fmt.Errorf("unknown -mode %q", o.mode)
	}
	if err != nil {
		return err
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{"mode": o.mode, "redis": rs.version(), "go": runtime.Version(), "cpus": runtime.NumCPU(), "results": out}, "", "  ")
		return os.WriteFile(o.jsonOut, b, 0o644)
	}
	return nil
}

// prefill is how many sessions a workload's cell starts with: none for
// plain creates, every at-limit user's full quota for the at-limit ones,
// enough to validate from, and enough to invalidate for the whole cell.
func prefill(workload string) int {
	switch {
	case workload == "create":
		return 0
	case atLimit(workload):
		return limitUsers * perUserLimit
	case workload == "invalidate":
		return 60_000
	}
	return 10_000
}

// sessiondb-events is sessiondb with the event log on (SESSION_EVENTS=true,
// default bounds): the pair measures what events cost. sessiondb-events-full
// keeps one entry per bucket's log, so that every write also trims one, as
// every write does once a log has reached its bound.
var targetNames = []string{"raw-goredis", "raw-rueidis", "raw-rueidis-decode", "raw-rueidis-cached", "sessiondb", "sessiondb-events", "sessiondb-events-full", "sessiondb-cached", "sessiond", "scs", "gorilla", "spring", "spring-pipelined"}

// makeTarget builds a target by name; conns sizes connection pools.
func makeTarget(name, addr string, conns int, sd *sessiondProc) (target, error) {
	switch name {
	case "raw-goredis":
		return newRawGoRedis(addr, conns), nil
	case "raw-rueidis":
		return newRawRueidis(addr, false, false)
	case "raw-rueidis-decode":
		return newRawRueidis(addr, false, true)
	case "raw-rueidis-cached":
		return newRawRueidis(addr, true, false)
	case "sessiondb":
		return newSessiondb(addr, 0, 0)
	case "sessiondb-events":
		return newSessiondb(addr, 0, sessiondb.DefaultEventsMaxLen)
	case "sessiondb-events-full":
		return newSessiondb(addr, 0, sessiondb.Buckets)
	case "sessiondb-cached":
		return newSessiondb(addr, time.Minute, 0)
	case "sessiond":
		if sd == nil {
			return nil, nil
		}
		return newSessiond(sd.base, sd.key, conns), nil
	case "scs":
		return newSCS(addr, conns), nil
	case "gorilla":
		return newGorilla(addr, conns), nil
	case "spring":
		return newSpring(addr, conns, false), nil
	case "spring-pipelined":
		return newSpring(addr, conns, true), nil
	}
	return nil, fmt.Errorf("unknown target %q", name)
}

func throughput(o options, addr string, rs *redisStats) ([]result, error) {
	var sd *sessiondProc
	switch {
	case !slices.Contains(o.targets, "sessiond") || o.sessiond == "none":
	case strings.HasPrefix(o.sessiond, "http://"):
		sd = &sessiondProc{base: o.sessiond, key: os.Getenv("SESSIONBENCH_API_KEY")}
	default:
		var err error
		if sd, err = startSessiond(o.sessiond, addr); err != nil {
			return nil, err
		}
		defer sd.stop()
	}
	ctx := context.Background()
	type cell struct {
		target, workload string
		c                int
	}
	runs := make(map[cell][]result)
	var order []cell
	for run := range o.runs {
		for _, c := range o.conc {
			for _, w := range o.workloads {
				floor := 0.0
				floorName := ""
				var row []result
				for _, name := range o.targets {
					if w == "create-reject" && !strings.HasPrefix(name, "sessiondb") {
						continue // only sessiondb has a limit to refuse at
					}
					t, err := makeTarget(name, addr, max(c, 16), sd)
					if err != nil {
						return nil, err
					}
					if t == nil {
						continue
					}
					if w == "create-reject" {
						t.(*sessiondbTarget).reject()
					}
					if f, ok := t.(workloadFilter); ok && !f.supports(w) {
						t.close()
						continue
					}
					if err := rs.flush(); err != nil {
						return nil, err
					}
					var handles *pool
					if n := prefill(w); n > 0 {
						if handles, err = fillUsers(ctx, t, n, 64, workloadUsers(w), true); err != nil {
							t.close()
							return nil, fmt.Errorf("%s: prefill: %w", t.name(), err)
						}
					}
					r := measure(ctx, rs, t, w, c, o.duration, handles)
					t.close()
					if strings.HasPrefix(name, "raw-") && !strings.HasSuffix(name, "cached") && r.OpsPerSec > floor {
						floor, floorName = r.OpsPerSec, r.Target
					}
					row = append(row, r)
				}
				for _, r := range row {
					if floor > 0 {
						r.Ratio, r.Floor = r.OpsPerSec/floor, floorName
					}
					k := cell{r.Target, r.Workload, r.Concurrency}
					if run == 0 {
						order = append(order, k)
					}
					runs[k] = append(runs[k], r)
					if o.runs == 1 {
						fmt.Println(r)
					}
				}
			}
		}
	}
	var out []result
	for _, k := range order {
		rr := runs[k]
		slices.SortFunc(rr, func(a, b result) int { return int(a.OpsPerSec - b.OpsPerSec) })
		med := rr[len(rr)/2]
		out = append(out, med)
		if o.runs > 1 {
			fmt.Println(med)
		}
	}
	return out, nil
}
