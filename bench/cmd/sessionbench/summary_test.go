package main

import (
	"strings"
	"testing"
)

// TestSummarizeReadsEachCellFromItsGroup: sessiondb's validate at c=64 is
// measured twice, beside the refused creates and among the floors; each
// comparison must read the one measured with it.
func TestSummarizeReadsEachCellFromItsGroup(t *testing.T) {
	cell := func(target, workload string, c int, ops, cpu float64) result {
		return result{Target: target, Workload: workload, Concurrency: c, OpsPerSec: ops, RedisCPUus: cpu}
	}
	cells := []result{
		cell("sessiondb reject", "create-reject", 64, 60000, 9),
		cell("sessiondb", "validate", 64, 80000, 8), // beside the refusals
		cell("raw rueidis", "validate", 64, 100000, 5),
		cell("raw rueidis+decode", "validate", 64, 90000, 6),
		cell("sessiondb", "validate", 64, 120000, 5.5), // among the floors
		cell("scs redisstore", "validate", 64, 40000, 12),
	}
	rows := map[string]string{}
	for _, r := range summarize(cells, nil) {
		rows[r.Target] = r.Measured
	}
	if got := rows["validate c=64: ×raw rueidis GET, ×GET + JSON decode, ×scs"]; got != "×1.20, ×1.33, ×3.00" {
		t.Errorf("validate against the floors: %q, want the floors' own cell (×1.20, ×1.33, ×3.00)", got)
	}
	if got := rows["refused create (reject) vs validate c=64: Redis CPU"]; !strings.HasPrefix(got, "9.0 µs vs 8.0 µs") {
		t.Errorf("refused create against validate: %q, want the validate measured beside it (9.0 µs vs 8.0 µs)", got)
	}
}
