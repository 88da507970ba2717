package sessiondb

import (
	"context"
	"math/rand/v2"
	"time"
)

// RunCleaner calls Cleanup every CleanupInterval, give or take up to 10%
// jitter so that replicas started together spread out, until ctx is done.
// report, if not nil, receives the result of every pass. It returns ctx's error.
func (m *Manager) RunCleaner(ctx context.Context, report func(removed int, took time.Duration, err error)) error {
	for {
		jitter := time.Duration(rand.Int64N(int64(m.opt.CleanupInterval)/5+1)) - m.opt.CleanupInterval/10
		t := time.NewTimer(m.opt.CleanupInterval + jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		start := time.Now()
		n, err := m.Cleanup(ctx)
		if err != nil && ctx.Err() == nil {
			m.opt.Logger.Warn("session cleanup failed", "err", err)
		}
		if report != nil {
			report(n, time.Since(start), err)
		}
	}
}
