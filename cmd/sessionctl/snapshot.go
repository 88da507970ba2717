package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb/internal/redisnode"
)

func cmdSnapshot(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("snapshot")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up waiting for the snapshot after this long")
	fs.help("sessionctl snapshot [--timeout 10m]", `
Asks Redis for an RDB snapshot (BGSAVE; scheduled after an AOF rewrite in
progress; after a snapshot already in progress, a new one is started) and
waits until it is written, then prints the RDB file's path, and the
append-only directory when AOF is on. On Redis Cluster it does so on every
primary. Redis forks to write the file and keeps serving meanwhile; the
fork needs memory for the pages written during the save.

The snapshot is a physical copy of the whole Redis database. To put it
back, follow "Restore an RDB snapshot" in docs/operations.md: with AOF on, a
dump.rdb merely copied into the data directory is ignored and Redis starts
empty. For a logical, portable copy of the sessions use "sessionctl
backup".

Reading the paths needs CONFIG GET, which the operator user of
deploy/redis/users.acl may run; where it is refused (managed services), the
snapshot is still made and the path reported as unknown.`, `
  sessionctl snapshot
  sessionctl snapshot --timeout 30m`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := a.wantArgs(rest); err != nil {
		return err
	}
	if *timeout <= 0 {
		return a.usageError("--timeout must be positive")
	}
	m, _, err := a.open()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	c, err := redisStore(m).Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	nodes, err := redisnode.Primaries(ctx, c)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		start := time.Now()
		if err := bgsave(ctx, n.Client); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return a.failf(exitError, "%s: the snapshot did not finish within %s", n.Addr, *timeout)
			}
			return fmt.Errorf("%s: %w", n.Addr, err)
		}
		fmt.Fprintf(a.stdout, "snapshot of %s written in %s: %s\n", n.Addr, time.Since(start).Round(time.Millisecond), persistencePaths(ctx, n.Client))
	}
	return nil
}

// bgsave starts a BGSAVE and waits until it is done.
func bgsave(ctx context.Context, c rueidis.Client) error {
	before, err := persistence(ctx, c)
	if err != nil {
		return err
	}
	started := false
	for attempt := 0; !started; attempt++ {
		reply, err := c.Do(ctx, c.B().Bgsave().Schedule().Build()).ToString()
		switch {
		case err == nil:
			started = true
			if strings.Contains(reply, "scheduled") {
				before["scheduled"] = "1"
			}
		case strings.Contains(err.Error(), "already in progress") && attempt < 5:
			// Someone else's snapshot: wait for it, then start ours, so the
			// file holds everything written before this command.
			if err := waitSave(ctx, c, nil); err != nil {
				return err
			}
			if before, err = persistence(ctx, c); err != nil {
				return err
			}
		default:
			return err
		}
	}
	return waitSave(ctx, c, before)
}

// waitSave polls INFO persistence until no snapshot is in progress and,
// with before, until one more snapshot than before has completed (or
// failed).
func waitSave(ctx context.Context, c rueidis.Client, before map[string]string) error {
	sawRunning := before != nil && before["scheduled"] == ""
	for {
		f, err := persistence(ctx, c)
		if err != nil {
			return err
		}
		running := f["rdb_bgsave_in_progress"] == "1"
		sawRunning = sawRunning || running
		if !running {
			if before == nil {
				return nil
			}
			if newer(f, before) {
				if f["rdb_last_bgsave_status"] != "ok" {
					return errors.New("BGSAVE failed (rdb_last_bgsave_status:err; the Redis log says why: often disk space or permissions)")
				}
				return nil
			}
			if sawRunning && f["rdb_last_bgsave_status"] != "ok" {
				return errors.New("BGSAVE failed (rdb_last_bgsave_status:err; the Redis log says why: often disk space or permissions)")
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// newer reports whether a snapshot completed between two INFO readings.
func newer(now, before map[string]string) bool {
	if n, err := strconv.ParseInt(now["rdb_saves"], 10, 64); err == nil {
		b, _ := strconv.ParseInt(before["rdb_saves"], 10, 64)
		return n > b
	}
	// Before Redis 7.0: no rdb_saves; the last save time has 1s resolution.
	return now["rdb_last_save_time"] != before["rdb_last_save_time"]
}

func persistence(ctx context.Context, c rueidis.Client) (map[string]string, error) {
	info, err := c.Do(ctx, c.B().Info().Section("persistence").Build()).ToString()
	if err != nil {
		return nil, err
	}
	return redisnode.ParseInfo(info), nil
}

// persistencePaths describes where the node keeps its RDB file and AOF.
func persistencePaths(ctx context.Context, c rueidis.Client) string {
	get := func(key string) (string, error) {
		kv, err := c.Do(ctx, c.B().ConfigGet().Parameter(key).Build()).AsStrMap()
		if err != nil {
			return "", err
		}
		return kv[key], nil
	}
	dir, err := get("dir")
	if err != nil {
		return fmt.Sprintf("RDB path unknown (CONFIG GET refused: %s)", oneLine(err))
	}
	file, _ := get("dbfilename")
	s := "RDB " + filepath.Join(dir, file)
	if f, err := persistence(ctx, c); err == nil && f["aof_enabled"] == "1" {
		if d, err := get("appenddirname"); err == nil && d != "" {
			s += ", AOF in " + filepath.Join(dir, d)
		} else if name, err := get("appendfilename"); err == nil {
			s += ", AOF " + filepath.Join(dir, name)
		}
	}
	return s
}
