package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/backup"
)

// restoreResult counts what a restore did.
type restoreResult struct {
	InFile         int64 `json:"in_file"`
	Restored       int64 `json:"restored"`
	AlreadyPresent int64 `json:"already_present"`
	Expired        int64 `json:"expired"`
}

func cmdRestore(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("restore")
	dryRun := fs.Bool("dry-run", false, "check the whole file and say what it holds; restore nothing (needs no Redis)")
	parallel := fs.Int("parallel", 16, "sessions restored concurrently")
	noProgress := fs.Bool("no-progress", false, "draw no progress bar, even on a terminal")
	asJSON := fs.Bool("json", false, "print the counts as JSON")
	fs.help("sessionctl restore [--dry-run] [--parallel N] [--no-progress] [--json] FILE", `
Restores the sessions of a backup FILE made by "sessionctl backup" ("-" for
standard input) into the configured store, in two passes:

 1. The whole file is checked first: the header's format and version, every
    line, the record count and the SHA-256 of the end line. A file of
    another format or version, a damaged line or a truncated file is
    refused with a clear message and NOTHING is restored. Standard input is
    copied to a temporary file (mode 0600, removed afterwards) to be read
    twice.
 2. Each session is added with its user index entries and counters rebuilt,
    unless a session with its id is already present (restore is
    idempotent: run it again after an interruption), and sessions that have
    expired since the backup are skipped. Restored sessions keep their
    absolute expiry, so their remaining lifetime is what it was. The
    per-user limit is not applied, and restored sessions do not count as
    created.

It prints how many sessions were restored, already present and expired.
Their tokens stay valid: the clients that hold them keep their sessions.`, `
  sessionctl restore sessions.jsonl
  gunzip -c sessions.jsonl.gz | sessionctl --redis-url redis://new-host:6379 restore -
  sessionctl restore --dry-run sessions.jsonl`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := a.wantArgs(rest, "FILE"); err != nil {
		return err
	}
	if *parallel < 1 || *parallel > 1024 {
		return a.usageError("--parallel must be from 1 to 1024")
	}
	file := rest[0]
	if file != "-" {
		// A wrong name is a mistake on the command line: say so before
		// connecting to anything.
		if st, err := os.Stat(file); err != nil {
			return a.usageError("FILE %s: %v", file, pathError(err))
		} else if st.IsDir() {
			return a.usageError("FILE %s: is a directory", file)
		}
	}

	var m *sessiondb.Manager
	if !*dryRun {
		var err error
		if m, _, err = a.open(); err != nil {
			return err
		}
		defer m.Store().Close()
		// Fail early when the store is down, before reading a large file.
		if err := m.Ping(ctx); err != nil {
			return err
		}
	}

	// Pass 1: check the whole file.
	f, sum, err := a.verifyBackup(ctx, file, *noProgress)
	if f != nil {
		defer f.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return a.failf(exitError, "interrupted while checking %s; nothing was restored", fileName(file))
		}
		return a.failf(exitError, "%s: %s; nothing was restored", fileName(file), oneLine(err))
	}
	res := restoreResult{InFile: sum.Trailer.Count}
	if *dryRun {
		now := time.Now()
		if _, err := f.Seek(0, io.SeekStart); err == nil {
			backup.Read(f, func(r *sessiondb.Record) error {
				if !r.Live(now) {
					res.Expired++
				}
				return nil
			})
		}
		if *asJSON {
			writeJSON(a.stdout, res)
			return nil
		}
		fmt.Fprintf(a.stdout, "%s is a valid backup: %d sessions (%d expired by now), written %s from %s; nothing restored (--dry-run)\n",
			fileName(file), res.InFile, res.Expired, timeText(sum.Header.CreatedAt), text(sum.Header.Source))
		return nil
	}

	// Pass 2: restore.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return a.failf(exitError, "%v", err)
	}
	start := time.Now()
	bar := a.newProgress(*noProgress, "restore", "sessions", res.InFile)
	err = restoreRecords(ctx, m.Store(), f, *parallel, &res, bar)
	bar.done()
	if err != nil {
		return fmt.Errorf("restore stopped: %w (so far: %d restored, %d already present, %d expired; restore is idempotent: run it again)",
			err, res.Restored, res.AlreadyPresent, res.Expired)
	}
	if *asJSON {
		if err := writeJSON(a.stdout, res); err != nil {
			return err
		}
		return nil
	}
	fmt.Fprintf(a.stdout, "restored %d sessions, %d already present, %d expired since the backup (%d in %s) in %s\n",
		res.Restored, res.AlreadyPresent, res.Expired, res.InFile, fileName(file), time.Since(start).Round(time.Millisecond))
	return nil
}

// pathError is err without the path, which the caller names.
func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func fileName(file string) string {
	if file == "-" {
		return "standard input"
	}
	return file
}

// verifyBackup reads the whole backup once and checks it. It returns the
// file, to be read again from the start: FILE itself, or for "-" a
// temporary copy of standard input (already unlinked).
func (a *app) verifyBackup(ctx context.Context, file string, noProgress bool) (*os.File, backup.Summary, error) {
	if file == "-" {
		tmp, err := os.CreateTemp("", "sessionctl-restore-*.jsonl")
		if err != nil {
			return nil, backup.Summary{}, err
		}
		os.Remove(tmp.Name()) // the open descriptor keeps it readable
		bar := a.newProgress(noProgress, "checking", "bytes", 0)
		sum, err := backup.Read(io.TeeReader(countingReader{ctx, a.stdin, bar}, tmp), nil)
		bar.done()
		return tmp, sum, err
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, backup.Summary{}, err
	}
	var size int64
	if st, err := f.Stat(); err == nil {
		if st.IsDir() {
			return f, backup.Summary{}, errors.New("is a directory")
		}
		size = st.Size()
	}
	bar := a.newProgress(noProgress, "checking", "bytes", size)
	sum, err := backup.Read(countingReader{ctx, f, bar}, nil)
	bar.done()
	return f, sum, err
}

// restoreRecords reads a verified backup and restores its records with
// parallel workers, counting the outcomes in res.
func restoreRecords(ctx context.Context, st sessiondb.Store, r io.Reader, parallel int, res *restoreResult, bar *progress) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var restored, present, expired atomic.Int64
	defer func() {
		res.Restored, res.AlreadyPresent, res.Expired = restored.Load(), present.Load(), expired.Load()
	}()
	recs := make(chan *sessiondb.Record, 2*parallel)
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for rec := range recs {
				if ctx.Err() != nil {
					continue // drain
				}
				now := time.Now().UTC().Truncate(time.Millisecond)
				if !rec.Live(now) {
					expired.Add(1)
					bar.add(1)
					continue
				}
				ok, err := st.Restore(ctx, rec, now)
				switch {
				case err != nil:
					cancel(fmt.Errorf("session %s: %w", rec.ID, err))
				case ok:
					restored.Add(1)
				default:
					present.Add(1)
				}
				bar.add(1)
			}
		})
	}
	_, err := backup.Read(r, func(rec *sessiondb.Record) error {
		select {
		case recs <- rec:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(recs)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	return err
}
