package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Snapshot is the figures of this process that sessiond's console shows,
// read from the same counters /metrics exports.
type Snapshot struct {
	Created            int64 // sessions created
	ValidationsValid   int64 // validations of a live session
	ValidationsInvalid int64 // validations of an unknown, expired, revoked or malformed token
	Invalidated        int64 // sessions ended

	CleanupRuns    int64     // cleanup passes that succeeded
	CleanupErrors  int64     // cleanup passes that failed
	CleanupRemoved int64     // expired index entries removed
	LastCleanup    time.Time // end of the last pass; zero before the first
	LastCleanupErr bool      // whether the last pass failed

	StoreErrors map[string]int64 // failed store calls by reason (unavailable, full, ...)
}

// Snapshot reads the figures of this process. It costs a walk over a few
// counters, nothing on the request path.
func (m *Metrics) Snapshot() Snapshot {
	s := Snapshot{
		Created:     counterSum(m.created, nil),
		Invalidated: counterSum(m.invalidated, nil),
		ValidationsValid: counterSum(m.validated, func(l map[string]string) bool {
			return l["result"] == "valid"
		}),
		ValidationsInvalid: counterSum(m.validated, func(l map[string]string) bool {
			return l["result"] == "invalid"
		}),
		CleanupRuns: counterSum(m.cleanupRuns, func(l map[string]string) bool {
			return l["result"] == "ok"
		}),
		CleanupErrors: counterSum(m.cleanupRuns, func(l map[string]string) bool {
			return l["result"] == "error"
		}),
		CleanupRemoved: counterSum(m.cleanupRemoved, nil),
		StoreErrors:    map[string]int64{},
	}
	if ns := m.lastCleanup.Load(); ns != 0 {
		s.LastCleanup = time.Unix(0, ns).UTC()
		s.LastCleanupErr = m.lastCleanupErr.Load()
	}
	eachCounter(m.storeErrors, func(l map[string]string, v float64) {
		if v > 0 {
			s.StoreErrors[l["reason"]] += int64(v)
		}
	})
	return s
}

// counterSum adds up the counters of c whose labels keep accepts (all when
// keep is nil).
func counterSum(c prometheus.Collector, keep func(map[string]string) bool) int64 {
	var sum float64
	eachCounter(c, func(l map[string]string, v float64) {
		if keep == nil || keep(l) {
			sum += v
		}
	})
	return int64(sum)
}

// eachCounter calls fn with the labels and value of every counter c holds.
func eachCounter(c prometheus.Collector, fn func(map[string]string, float64)) {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	for m := range ch {
		var pb dto.Metric
		if m.Write(&pb) != nil || pb.Counter == nil {
			continue
		}
		labels := make(map[string]string, len(pb.Label))
		for _, lp := range pb.Label {
			labels[lp.GetName()] = lp.GetValue()
		}
		fn(labels, pb.Counter.GetValue())
	}
}
