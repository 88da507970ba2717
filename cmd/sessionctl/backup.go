package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/backup"
)

func cmdBackup(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("backup")
	force := fs.Bool("force", false, "overwrite FILE if it exists")
	noProgress := fs.Bool("no-progress", false, "draw no progress bar, even on a terminal")
	fs.help("sessionctl backup [--force] [--no-progress] FILE", `
Writes every live session to FILE ("-" for standard output): a logical,
streaming export in JSON Lines that holds one SCAN page in memory at a time
and does not block Redis. The first line is a header with the format name
and version, then one line per session with every field of its record
(absolute times, so a restored session keeps its remaining lifetime), then
an end line with the count and a SHA-256 of the record lines, which lets
restore detect a truncated or damaged file.

A backup holds no token, only the sessions' ids (one-way hashes of the
tokens), so it cannot be replayed as a login; it does hold user ids and
metadata (IP addresses, user agents): keep it as private as the database.
FILE is created with mode 0600, written under a temporary name and renamed
when complete. Sessions created or ended while the backup runs may or may
not be in it. See docs/sessionctl.md for the format.`, `
  sessionctl backup sessions-$(date -u +%Y%m%dT%H%M%SZ).jsonl
  sessionctl backup - | gzip > sessions.jsonl.gz`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := a.wantArgs(rest, "FILE"); err != nil {
		return err
	}
	file := rest[0]
	if file != "-" && !*force {
		if _, err := os.Lstat(file); err == nil {
			return a.usageError("%s exists; use --force to overwrite it", file)
		} else if !errors.Is(err, os.ErrNotExist) {
			return a.failf(exitError, "%v", err)
		}
	}
	m, cfg, err := a.open()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	// An estimate for the progress bar; the walk is the truth.
	var estimate int64
	if st, err := m.Stats(ctx); err == nil {
		estimate = st.Active
	} else if errors.Is(err, sessiondb.ErrUnavailable) {
		return err
	}

	var out io.Writer = a.stdout
	var tmp *os.File
	if file != "-" {
		var err error
		tmp, err = os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-*")
		if err != nil {
			return a.failf(exitError, "%v", err)
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		out = tmp
	}
	start := time.Now()
	h := backup.Header{CreatedAt: start, Source: cfg.Describe()}
	if cfg.UsesRedis() {
		h.Prefix = cfg.KeyPrefix
	}
	w, err := backup.NewWriter(out, h)
	if err != nil {
		return a.failf(exitError, "%v", err)
	}
	bar := a.newProgress(*noProgress, "backup", "sessions", estimate)
	err = m.Store().Walk(ctx, time.Now().UTC().Truncate(time.Millisecond), func(r *sessiondb.Record) error {
		if err := w.Write(r); err != nil {
			return err
		}
		bar.add(1)
		return nil
	})
	bar.done()
	if err != nil {
		return fmt.Errorf("backup stopped after %d sessions: %w", w.Count(), err)
	}
	t, err := w.Close()
	if err == nil && tmp != nil {
		err = tmp.Sync()
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), file)
		}
		if err == nil {
			tmp = nil
		}
	}
	if err != nil {
		return a.failf(exitError, "writing %s: %v", file, err)
	}
	report := a.stdout
	name := file
	if file == "-" {
		report, name = a.stderr, "standard output"
	}
	fmt.Fprintf(report, "backed up %d sessions to %s (%s, sha256 %s) in %s\n",
		t.Count, name, bytesText(w.Bytes()), t.SHA256[:16], time.Since(start).Round(time.Millisecond))
	return nil
}
