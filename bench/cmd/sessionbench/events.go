package main

import (
	"fmt"
	"slices"
	"strings"
)

// eventsResult is what -mode events measured: the same workloads with the
// event log off (sessiondb) and on (sessiondb-events), cell by cell in one
// run, and the comparison.
type eventsResult struct {
	Cells []result    `json:"cells"`
	Rows  []targetRow `json:"comparison"`
}

// eventsCost measures what the event log costs: creates (nobody at the
// limit, and everybody at it: each create also evicts), logouts and
// validations, with events off, on, and on with every bucket's log at its
// bound (each write also trims an entry, as in a log that has filled up).
// The targets of a cell run one after the other, on a flushed Redis, so
// that all see the same machine. Each cell is the median of o.runs runs.
func eventsCost(o options, addr string, rs *redisStats) (eventsResult, error) {
	sub := o
	sub.targets = []string{"sessiondb", "sessiondb-events", "sessiondb-events-full"}
	if !o.workloadsSet {
		sub.workloads = []string{"create", "create-limit", "invalidate", "validate"}
	}
	if !o.concSet {
		sub.conc = []int{16, 64}
	}
	cells, err := throughput(sub, addr, rs)
	if err != nil {
		return eventsResult{}, err
	}
	out := eventsResult{Cells: cells}
	get := func(target, workload string, c int) (result, bool) {
		for _, r := range cells {
			if r.Target == target && r.Workload == workload && r.Concurrency == c {
				return r, true
			}
		}
		return result{}, false
	}
	fmt.Println("\n# events on vs off (within this run)")
	for _, c := range sub.conc {
		for _, w := range sub.workloads {
			off, ok := get("sessiondb", w, c)
			if !ok || off.OpsPerSec == 0 {
				continue
			}
			for _, name := range []string{"sessiondb events", "sessiondb events full"} {
				on, ok := get(name, w, c)
				if !ok {
					continue
				}
				row := targetRow{
					Target: fmt.Sprintf("%s c=%d, %s: ops/s ÷off; Redis CPU, exec, calls per op off → on", w, c, strings.TrimPrefix(name, "sessiondb ")),
					Measured: fmt.Sprintf("×%.3f (%.0f vs %.0f/s, %+.1f%%); CPU %.1f → %.1f µs; exec %.1f → %.1f µs; %.1f → %.1f calls (%s)",
						on.OpsPerSec/off.OpsPerSec, on.OpsPerSec, off.OpsPerSec, 100*(on.OpsPerSec/off.OpsPerSec-1),
						off.RedisCPUus, on.RedisCPUus, off.RedisExecUs, on.RedisExecUs, off.RedisCalls, on.RedisCalls,
						addedCommands(off.RedisByCmd, on.RedisByCmd)),
				}
				out.Rows = append(out.Rows, row)
				fmt.Printf("%-70s %s\n", row.Target, row.Measured)
			}
		}
	}
	return out, nil
}

// addedCommands lists the commands per operation that on runs more than
// off: what the event log adds.
func addedCommands(off, on map[string]float64) string {
	var parts []string
	for name, n := range on {
		if d := n - off[name]; d >= 0.005 {
			parts = append(parts, fmt.Sprintf("+%.2f %s", d, name))
		}
	}
	if len(parts) == 0 {
		return "no command added"
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
