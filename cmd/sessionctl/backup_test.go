package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/backup"
	"github.com/sessiondb/sessiondb/internal/redistest"
)

// restoreCounts parses restore --json.
func restoreCounts(t *testing.T, r result) restoreResult {
	t.Helper()
	var rr restoreResult
	r.want(t, exitOK).decode(t, &rr)
	return rr
}

// TestBackupRestoreRoundTrip backs up 100,000 sessions from one
// redis-server and restores them into another: every record arrives
// unchanged, the indexes and counters agree, tokens issued before the
// backup still validate, and a second restore adds nothing.
func TestBackupRestoreRoundTrip(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 5_000
	}
	const users = 20_000
	src, dst := redistest.Start(t), redistest.Start(t)
	srcEnv, dstEnv := redisEnv(src), redisEnv(dst)
	ms, md := manager(t, srcEnv), manager(t, dstEnv)
	ctx := context.Background()

	start := time.Now()
	want := fill(t, ms.Store(), "user", n-1000, users, 6*time.Hour)
	// Some sessions made the normal way, whose tokens must survive.
	var tokens []sessiondb.Token
	for i := range 1000 {
		s := create(t, ms, fmt.Sprintf("login%d", i%300), 2*time.Hour, map[string]string{"ip": "192.0.2.1"})
		tokens = append(tokens, s.Token)
		want[s.ID] = &s.Record
	}
	t.Logf("filled %d sessions in %v", n, time.Since(start).Round(time.Millisecond))
	srcStats := stats(t, ms)
	if srcStats.Active != int64(n) {
		t.Fatalf("source holds %d active sessions, want %d", srcStats.Active, n)
	}

	file := filepath.Join(t.TempDir(), "sessions.jsonl")
	start = time.Now()
	r := ctl(t, srcEnv, "backup", file).want(t, exitOK)
	took := time.Since(start)
	if !strings.HasPrefix(r.stdout, fmt.Sprintf("backed up %d sessions to %s (", n, file)) || r.stderr != "" {
		t.Errorf("backup output:\n%s", r)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backup of %d sessions: %v, %d bytes (%d bytes/session)", n, took.Round(time.Millisecond), fi.Size(), fi.Size()/int64(n))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode %v, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if lines := bytes.Count(data, []byte("\n")); lines != n+2 {
		t.Errorf("backup has %d lines, want %d", lines, n+2)
	}
	// A token is the prefix and 51 base64url characters; an id (16 such
	// characters after 3 hex digits) may hold the prefix by chance.
	if m := regexp.MustCompile(sessiondb.TokenPrefix + `[A-Za-z0-9_-]{51}`).Find(data); m != nil {
		t.Error("the backup holds something that looks like a token")
	}
	for _, tok := range tokens[:10] {
		if bytes.Contains(data, []byte(string(tok)[len(sessiondb.TokenPrefix):])) {
			t.Fatal("the backup holds a token")
		}
	}
	// The file's own view agrees.
	inFile := map[string]*sessiondb.Record{}
	if _, err := backup.Read(bytes.NewReader(data), func(r *sessiondb.Record) error { inFile[r.ID] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	sameRecords(t, inFile, want)

	start = time.Now()
	rr := restoreCounts(t, ctl(t, dstEnv, "restore", "--json", file))
	t.Logf("restore of %d sessions: %v", n, time.Since(start).Round(time.Millisecond))
	if rr != (restoreResult{InFile: int64(n), Restored: int64(n)}) {
		t.Errorf("restore counts = %+v, want all %d restored", rr, n)
	}
	start = time.Now()
	sameRecords(t, walk(t, md.Store()), want)
	consistent(t, md)
	t.Logf("compared every record and checked consistency in %v", time.Since(start).Round(time.Millisecond))
	dstStats := stats(t, md)
	if dstStats.Total != int64(n) || dstStats.Active != int64(n) || dstStats.Users != srcStats.Users || dstStats.Created != 0 {
		t.Errorf("target stats = %+v, want %d sessions of %d users, none counted as created", dstStats, n, srcStats.Users)
	}
	// A user's sessions are listed, newest first, on the target as on the source
	// (before validating: a validation more than a touch interval after
	// creation records the activity, and the copies would differ).
	for _, u := range []string{"user0", "user19999", "login7"} {
		a, _ := ms.UserSessions(ctx, u)
		b, _ := md.UserSessions(ctx, u)
		if len(a) == 0 || len(a) != len(b) {
			t.Fatalf("%s: %d sessions on the source, %d on the target", u, len(a), len(b))
		}
		for i := range a {
			if !a[i].Record.Equal(&b[i].Record) {
				t.Errorf("%s: session %d differs", u, i)
			}
		}
	}

	for _, tok := range tokens {
		if _, err := md.Validate(ctx, string(tok)); err != nil {
			t.Fatalf("a token issued before the backup does not validate after the restore: %v", err)
		}
	}
	// Restoring again is harmless: everything is already there.
	start = time.Now()
	rr = restoreCounts(t, ctl(t, dstEnv, "restore", "--json", file))
	t.Logf("second restore of %d sessions (all present): %v", n, time.Since(start).Round(time.Millisecond))
	if rr != (restoreResult{InFile: int64(n), AlreadyPresent: int64(n)}) {
		t.Errorf("second restore counts = %+v, want all %d already present", rr, n)
	}
	if st := stats(t, md); st.Total != int64(n) {
		t.Errorf("after a second restore: %d sessions, want %d", st.Total, n)
	}
	consistent(t, md)
}

// TestRestoreOverlap restores into a store that already holds some of the
// sessions, and others of its own: exactly one copy of each remains.
func TestRestoreOverlap(t *testing.T) {
	src, dst := redistest.Start(t), redistest.Start(t)
	// No per-user limit for the Create below: restored users hold more
	// sessions than the default limit (restore enforces none).
	dstEnv := redisEnv(dst)
	dstEnv["MAX_SESSIONS_PER_USER"] = "0"
	ms, md := manager(t, redisEnv(src)), manager(t, dstEnv)
	want := fill(t, ms.Store(), "u", 3000, 400, time.Hour)
	file := filepath.Join(t.TempDir(), "b.jsonl")
	ctl(t, redisEnv(src), "backup", file).want(t, exitOK)

	// The target already has a third of them, and sessions of its own,
	// some of the same users.
	var some []*sessiondb.Record
	for _, r := range want {
		if len(some) == 1000 {
			break
		}
		some = append(some, r)
	}
	restoreAll(t, md.Store(), some)
	own := fill(t, md.Store(), "u", 500, 400, time.Hour)
	create(t, md, "u1", 0, nil)
	before := stats(t, md)

	r := ctl(t, redisEnv(dst), "restore", file).want(t, exitOK)
	if !strings.HasPrefix(r.stdout, "restored 2000 sessions, 1000 already present, 0 expired since the backup (3000 in "+file+")") {
		t.Errorf("restore output:\n%s", r)
	}
	got := walk(t, md.Store())
	if len(got) != 3000+500+1 {
		t.Errorf("target holds %d sessions, want %d", len(got), 3501)
	}
	for id, w := range want {
		if !got[id].Equal(w) {
			t.Fatalf("session %s = %+v, want %+v", id, got[id], w)
		}
	}
	for id := range own {
		if got[id] == nil {
			t.Fatalf("the target's own session %s is gone", id)
		}
	}
	consistent(t, md)
	after := stats(t, md)
	if after.Total != 3501 || after.Users != 400 || after.Created != before.Created {
		t.Errorf("stats after the restore = %+v, want 3501 sessions of 400 users, created unchanged (%d)", after, before.Created)
	}
}

// TestRestoreSkipsExpired restores a backup whose sessions partly expired
// since it was made.
func TestRestoreSkipsExpired(t *testing.T) {
	dst := redistest.Start(t)
	md := manager(t, redisEnv(dst))
	var buf bytes.Buffer
	w, err := backup.NewWriter(&buf, backup.Header{Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]*sessiondb.Record{}
	for i := range 300 {
		r := genRecord(fmt.Sprintf("u%d", i%50), i, time.Hour)
		switch i % 3 {
		case 0: // past its absolute expiry
			r.CreatedAt = r.CreatedAt.Add(-2 * time.Hour)
			r.LastSeenAt = r.CreatedAt
			r.ExpiresAt = r.CreatedAt.Add(time.Hour)
		case 1: // idle too long
			r.IdleTimeout = time.Minute
			r.CreatedAt = time.Now().UTC().Truncate(time.Millisecond).Add(-20 * time.Minute)
			r.LastSeenAt = r.CreatedAt.Add(10 * time.Minute)
		default:
			live[r.ID] = r
		}
		w.Write(r)
	}
	w.Close()
	file := filepath.Join(t.TempDir(), "old.jsonl")
	os.WriteFile(file, buf.Bytes(), 0o600)

	r := ctl(t, redisEnv(dst), "restore", "--dry-run", file).want(t, exitOK)
	if !strings.Contains(r.stdout, "300 sessions (200 expired by now)") || dbsize(t, dst) != "0" {
		t.Errorf("dry run:\n%s", r)
	}
	rr := restoreCounts(t, ctl(t, redisEnv(dst), "restore", "--json", file))
	if rr != (restoreResult{InFile: 300, Restored: 100, Expired: 200}) {
		t.Errorf("restore counts = %+v, want 100 restored and 200 expired", rr)
	}
	sameRecords(t, walk(t, md.Store()), live)
	consistent(t, md)
}

// TestRestoreRefusesBadFiles feeds restore damaged and foreign files: each
// gets a clear message, exit 1, and leaves the target empty.
func TestRestoreRefusesBadFiles(t *testing.T) {
	src, dst := redistest.Start(t), redistest.Start(t)
	ms := manager(t, redisEnv(src))
	fill(t, ms.Store(), "u", 500, 100, time.Hour)
	r := ctl(t, redisEnv(src), "backup", "-").want(t, exitOK)
	good := []byte(r.stdout)
	if !strings.HasPrefix(r.stderr, "backed up 500 sessions to standard output") {
		t.Errorf("backup - reports on stderr:\n%s", r)
	}
	lines := bytes.SplitAfter(good, []byte("\n"))
	cut := func(i int) []byte { return bytes.Join(lines[:i], nil) }
	mid := len(good) / 2
	tests := []struct {
		name string
		data []byte
		msg  string
	}{
		{"truncated mid-line", good[:mid], "truncated"},
		{"truncated at a line end", cut(300), "truncated: no end line after 299 records"},
		{"trailer cut", good[:len(good)-5], "truncated"},
		{"corrupt line", bytes.Replace(good, lines[250], []byte("{\"id\": garbage\n"), 1), "line 251: not a valid JSON record"},
		{"changed record", bytes.Replace(good, lines[400], bytes.Replace(lines[400], []byte(`"ttl_ms":3600000`), []byte(`"ttl_ms":3600001`), 1), 1), "checksum mismatch"},
		{"line removed", append(cut(100), bytes.Join(lines[101:], nil)...), "the end line counts 500 records, the file holds 499"},
		{"version 2", bytes.Replace(good, []byte(`"version":1`), []byte(`"version":2`), 1), "backup format version 2; this sessionctl reads version 1 only"},
		{"another format", []byte(`{"format":"redis-rdb","version":1}` + "\n"), "not a sessiondb backup"},
		{"not a backup", []byte("REDIS0010\x00\xfa binary\n"), "not a sessiondb backup"},
		{"empty", nil, "empty"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			os.WriteFile(file, tt.data, 0o600)
			for _, r := range []result{
				ctl(t, redisEnv(dst), "restore", file),
				ctlIn(t, redisEnv(dst), string(tt.data), "restore", "-"),
			} {
				if r.code != exitError || !strings.Contains(r.stderr, tt.msg) || !strings.Contains(r.stderr, "nothing was restored") {
					t.Errorf("want exit 1 saying %q and that nothing was restored\n%s", tt.msg, r)
				}
				if n := dbsize(t, dst); n != "0" {
					t.Fatalf("the target holds %s keys after a refused restore", n)
				}
			}
		})
	}
	// The good file, through standard input, restores everything.
	rr := restoreCounts(t, ctlIn(t, redisEnv(dst), string(good), "restore", "--json", "-"))
	if rr.Restored != 500 {
		t.Errorf("restore - = %+v", rr)
	}
	// A file that is not there, or a directory, is a mistake on the command
	// line (exit 2), found before connecting: with or without Redis.
	for _, env := range []map[string]string{redisEnv(dst), nil} {
		for _, args := range [][]string{{"restore", filepath.Join(dir, "missing.jsonl")}, {"restore", "--dry-run", filepath.Join(dir, "missing.jsonl")}, {"restore", dir}} {
			r := ctl(t, env, args...).want(t, exitUsage)
			if !strings.Contains(r.stderr, args[len(args)-1]+": ") || !strings.Contains(r.stderr, "--help") {
				t.Errorf("%v: want a usage error naming the file\n%s", args, r)
			}
		}
	}
}

func TestBackupFile(t *testing.T) {
	srv := redistest.Start(t)
	m := manager(t, redisEnv(srv))
	fill(t, m.Store(), "u", 50, 10, time.Hour)
	dir := t.TempDir()
	file := filepath.Join(dir, "b.jsonl")
	ctl(t, redisEnv(srv), "backup", file).want(t, exitOK)
	first, _ := os.ReadFile(file)
	// An existing file is kept unless --force.
	r := ctl(t, redisEnv(srv), "backup", file).want(t, exitUsage)
	if !strings.Contains(r.stderr, "exists; use --force") {
		t.Errorf("backup over an existing file:\n%s", r)
	}
	fill(t, m.Store(), "v", 5, 5, time.Hour)
	ctl(t, redisEnv(srv), "backup", "--force", file).want(t, exitOK)
	second, _ := os.ReadFile(file)
	if bytes.Count(first, []byte("\n")) != 52 || bytes.Count(second, []byte("\n")) != 57 {
		t.Errorf("backups of %d and %d lines, want 52 and 57", bytes.Count(first, []byte("\n")), bytes.Count(second, []byte("\n")))
	}
	// No temporary file is left behind, and a failed backup leaves no file.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the backup", len(entries))
	}
	ctl(t, redisEnv(srv), "backup", filepath.Join(dir, "no-such-dir", "x.jsonl")).want(t, exitError)
	srv.Stop()
	ctl(t, redisEnv(srv), "backup", filepath.Join(dir, "c.jsonl")).want(t, exitUnavailable)
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("a failed backup left files: %v", entries)
	}
}

// TestBackupCluster backs up a Redis Cluster and restores into a standalone
// server, and back into an empty cluster prefix.
func TestBackupCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	cl := redistest.StartCluster(t, 3)
	clEnv := map[string]string{"REDIS_URL": cl.URL(), "REDIS_TIMEOUT_MS": slow}
	mc := manager(t, clEnv)
	want := fill(t, mc.Store(), "u", 3000, 700, time.Hour)
	file := filepath.Join(t.TempDir(), "cluster.jsonl")
	ctl(t, clEnv, "backup", file).want(t, exitOK)

	dst := redistest.Start(t)
	md := manager(t, redisEnv(dst))
	rr := restoreCounts(t, ctl(t, redisEnv(dst), "restore", "--json", file))
	if rr.Restored != 3000 {
		t.Errorf("restore from a cluster backup = %+v", rr)
	}
	sameRecords(t, walk(t, md.Store()), want)
	consistent(t, md)

	// Into the cluster under another prefix.
	clEnv["SESSION_KEY_PREFIX"] = "copy:"
	rr = restoreCounts(t, ctl(t, clEnv, "restore", "--json", file))
	if rr.Restored != 3000 {
		t.Errorf("restore into the cluster = %+v", rr)
	}
	mcopy := manager(t, clEnv)
	sameRecords(t, walk(t, mcopy.Store()), want)
	consistent(t, mcopy)
	var st statsJSON
	ctl(t, clEnv, "stats", "--json").want(t, exitOK).decode(t, &st)
	if st.ActiveSessions != 3000 || st.Users != 700 {
		t.Errorf("cluster stats = %+v", st)
	}
	// snapshot makes one RDB file per primary.
	r := ctl(t, clEnv, "snapshot").want(t, exitOK)
	if got := strings.Count(r.stdout, "snapshot of "); got != 3 {
		t.Errorf("snapshot on a 3-primary cluster printed %d lines:\n%s", got, r)
	}
}

// TestInterrupted cancels the context, as Ctrl-C does: backup leaves no
// file, restore restores nothing, and both say they were interrupted.
func TestInterrupted(t *testing.T) {
	src, dst := redistest.Start(t), redistest.Start(t)
	ms := manager(t, redisEnv(src))
	fill(t, ms.Store(), "u", 2000, 100, time.Hour)
	dir := t.TempDir()
	file := filepath.Join(dir, "b.jsonl")
	ctl(t, redisEnv(src), "backup", file).want(t, exitOK)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, args := range [][]string{{"backup", filepath.Join(dir, "c.jsonl")}, {"restore", file}} {
		var out, errw bytes.Buffer
		env := redisEnv(src)
		if args[0] == "restore" {
			env = redisEnv(dst)
		}
		code := run(ctx, args, func(k string) string { return env[k] }, nil, &out, &errw)
		if code != exitError || !strings.Contains(errw.String(), "interrupted") {
			t.Errorf("%s with a cancelled context: exit %d\n%s%s", args[0], code, out.String(), errw.String())
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("an interrupted backup left files: %v", entries)
	}
	if n := dbsize(t, dst); n != "0" {
		t.Errorf("an interrupted restore left %s keys", n)
	}
}
