package main

import (
	"context"
	"fmt"
	"time"
)

func cmdCleanup(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("cleanup")
	asJSON := fs.Bool("json", false, `print {"cleaned": N, "seconds": S} instead of text`)
	fs.help("sessionctl cleanup [--json]", `
Removes expired sessions from the per-user indexes and the counters now,
as the background cleaner of sessiond does every CLEANUP_INTERVAL_SECONDS.
Redis itself drops expired session values; this pass keeps the indexes and
statistics exact. It works in bounded batches and is safe to run while
sessiond runs.`, `
  sessionctl cleanup`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := a.wantArgs(rest); err != nil {
		return err
	}
	m, _, err := a.open()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	start := time.Now()
	n, err := m.Cleanup(ctx)
	if err != nil {
		return err
	}
	took := time.Since(start)
	if *asJSON {
		if err := writeJSON(a.stdout, map[string]any{"cleaned": n, "seconds": took.Seconds()}); err != nil {
			return err
		}
		return nil
	}
	fmt.Fprintf(a.stdout, "removed %d expired session(s) in %s\n", n, took.Round(time.Millisecond))
	return nil
}
