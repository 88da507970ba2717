package main

import (
	"context"
	"fmt"
	"time"
)

func cmdCleanup(ctx context.Context, a *app, args []string) int {
	fs := a.flagSet("cleanup")
	asJSON := fs.Bool("json", false, `print {"cleaned": N, "seconds": S} instead of text`)
	fs.help("sessionctl cleanup [--json]", `
Removes expired sessions from the per-user indexes and the counters now,
as the background cleaner of sessiond does every CLEANUP_INTERVAL_SECONDS.
Redis itself drops expired session values; this pass keeps the indexes and
statistics exact. It works in bounded batches and is safe to run while
sessiond runs.`, `
  sessionctl cleanup`)
	rest, code := a.parse(fs, args, true)
	if code >= 0 {
		return code
	}
	if code := a.wantArgs(rest); code >= 0 {
		return code
	}
	m, cfg, code := a.open()
	if code >= 0 {
		return code
	}
	defer m.Store().Close()
	start := time.Now()
	n, err := m.Cleanup(ctx)
	if err != nil {
		return a.fail(cfg, err)
	}
	took := time.Since(start)
	if *asJSON {
		if err := writeJSON(a.stdout, map[string]any{"cleaned": n, "seconds": took.Seconds()}); err != nil {
			return a.fail(cfg, err)
		}
		return exitOK
	}
	fmt.Fprintf(a.stdout, "removed %d expired session(s) in %s\n", n, took.Round(time.Millisecond))
	return exitOK
}
