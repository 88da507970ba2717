package main

import (
	"context"
	"fmt"
	"text/tabwriter"
)

// statsJSON is the --json form of stats: sessiond's GET /v1/stats fields,
// plus the store and the memory ratio.
type statsJSON struct {
	Store           string  `json:"store"`
	TotalSessions   int64   `json:"total_sessions"`
	ActiveSessions  int64   `json:"active_sessions"`
	ExpiredSessions int64   `json:"expired_sessions"`
	Users           int64   `json:"users"`
	Created         int64   `json:"created"`
	Invalidated     int64   `json:"invalidated"`
	Evicted         int64   `json:"evicted"`
	MemoryUsedBytes int64   `json:"memory_used_bytes"`
	MemoryMaxBytes  int64   `json:"memory_max_bytes"`
	MemoryUsedOfMax float64 `json:"memory_used_ratio"`
}

func cmdStats(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("stats")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	fs.help("sessionctl stats [--json]", `
Prints the session statistics: sessions in the indexes (total), live
(active) and expired but not yet cleaned up, users with sessions, and the
counters kept since the store was first used (created, invalidated,
evicted by the per-user limit), with Redis's memory use. The cost does not
grow with the number of sessions.`, `
  sessionctl stats
  sessionctl --redis-url redis://127.0.0.1:6379 stats --json | jq .active_sessions`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := a.wantArgs(rest); err != nil {
		return err
	}
	m, cfg, err := a.open()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	st, err := m.Stats(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := writeJSON(a.stdout, statsJSON{
			Store: cfg.Describe(), TotalSessions: st.Total, ActiveSessions: st.Active, ExpiredSessions: st.Expired,
			Users: st.Users, Created: st.Created, Invalidated: st.Invalidated, Evicted: st.Evicted,
			MemoryUsedBytes: st.MemoryUsed, MemoryMaxBytes: st.MemoryMax, MemoryUsedOfMax: st.MemoryRatio(),
		}); err != nil {
			return err
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "store\t%s\n", cfg.Describe())
	fmt.Fprintf(tw, "total sessions\t%d\n", st.Total)
	fmt.Fprintf(tw, "active sessions\t%d\n", st.Active)
	fmt.Fprintf(tw, "expired sessions\t%d\t(not yet cleaned up)\n", st.Expired)
	fmt.Fprintf(tw, "users\t%d\n", st.Users)
	fmt.Fprintf(tw, "created\t%d\n", st.Created)
	fmt.Fprintf(tw, "invalidated\t%d\n", st.Invalidated)
	fmt.Fprintf(tw, "evicted\t%d\t(per-user limit)\n", st.Evicted)
	if st.MemoryUsed > 0 {
		fmt.Fprintf(tw, "memory used\t%s\n", bytesText(st.MemoryUsed))
	}
	if st.MemoryMax > 0 {
		fmt.Fprintf(tw, "memory max\t%s\t(%.1f%% used)\n", bytesText(st.MemoryMax), 100*st.MemoryRatio())
	} else if st.MemoryUsed > 0 {
		fmt.Fprintf(tw, "memory max\tnone\t(maxmemory not set)\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return nil
}
