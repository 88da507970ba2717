package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// FuzzRun runs sessionctl's whole command line (run: the flag parsing, the
// configuration, every command up to the point where it needs Redis) with
// arbitrary arguments (separated by NUL bytes in args) and standard input,
// in an empty directory and an empty environment. No Redis is configured,
// so every run must end without a panic with one of the documented exit
// codes that need no store: 0 (help, version, restore --dry-run of a valid
// backup), 1 (a damaged backup) or 2 (a usage or configuration error, "no
// Redis configured" included), saying why when it is not 0; and it must
// leave the directory as it found it.
//
// Each fuzzing worker runs every input in one empty directory of its own
// (a fresh directory per input cost more than the command), checked empty
// after each run.
//
// Arguments that would point sessionctl at a Redis server (--redis-url,
// --redis-host) and arguments holding a "/" (paths outside the empty
// directory: /dev/zero, say) are not tried: the first would reach for the
// network, the second read the machine's files.
func FuzzRun(f *testing.F) {
	for _, args := range [][]string{
		{}, {"help"}, {"--help"}, {"-h"}, {"version"}, {"help", "restore"}, {"nosuch"}, {"--nosuch"}, {"--"}, {"", ""},
		{"stats"}, {"stats", "--json"}, {"list", "--user", "u"}, {"list"}, {"show", "0a3Xq1d9vVb2mWw7tHk"},
		{"revoke", "0a3Xq1d9vVb2mWw7tHk"}, {"revoke-user", "user123", "--except", "0a3Xq1d9vVb2mWw7tHk"},
		{"cleanup"}, {"health"}, {"health", "--timeout", "0s"}, {"health", "--strict", "extra"},
		{"connect"}, {"connect", "--print"}, {"connect", "--", "INFO"}, {"backup", "-"}, {"backup", "f.jsonl"},
		{"backup", "--force", "f.jsonl", "g"}, {"restore", "-"}, {"restore", "--dry-run", "-"}, {"restore", "--dry-run", "--json", "-"},
		{"restore", "--parallel", "0", "-"}, {"restore", "missing.jsonl"}, {"restore", "."}, {"snapshot"}, {"monitor"},
		{"monitor", "--interval", "-1s"}, {"--redis-port", "99999", "stats"}, {"--redis-db", "x", "stats"},
		{"--redis-timeout-ms", "0", "stats"}, {"--env-file", "", "stats"}, {"--env-file", "missing.env", "stats"},
		{"stats", "--session-max-ttl-seconds", "-1"}, {"--redis-tls", "stats"}, {"--redis-tls=maybe", "stats"},
		{"list", "--user", "\x00\xff"}, {"help", "help"}, {"version", "--json"},
	} {
		f.Add(strings.Join(args, "\x00"), []byte(nil))
	}
	backupFile := `{"format":"sessiondb-backup","version":1}` + "\n" +
		`{"end":true,"count":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}` + "\n"
	f.Add("restore\x00--dry-run\x00-", []byte(backupFile))
	f.Add("restore\x00--dry-run\x00--json\x00-", []byte(backupFile))
	f.Add("restore\x00--dry-run\x00-", []byte(backupFile[:40]))
	f.Add("restore\x00--dry-run\x00-", []byte("{}\n{}\n"))

	dir := f.TempDir()
	f.Chdir(dir)
	f.Fuzz(func(t *testing.T, argv string, stdin []byte) {
		var args []string
		if argv != "" {
			args = strings.Split(argv, "\x00")
		}
		for _, a := range args {
			if strings.Contains(a, "/") || pointsAtRedis(a) {
				t.Skip()
			}
		}
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, func(string) string { return "" }, bytes.NewReader(stdin), &stdout, &stderr)
		switch code {
		case exitOK:
		case exitError, exitUsage:
			if stdout.Len()+stderr.Len() == 0 {
				t.Fatalf("sessionctl %q: exit %d without a word", args, code)
			}
		default:
			t.Fatalf("sessionctl %q with no Redis configured: exit %d, want 0, 1 or 2\nstdout: %s\nstderr: %s", args, code, stdout.String(), stderr.String())
		}
		if left, err := os.ReadDir(dir); err != nil || len(left) > 0 {
			t.Fatalf("sessionctl %q left %v in its directory (%v)", args, left, err)
		}
	})
}

// pointsAtRedis reports whether a command-line argument is one of the flags
// that name a Redis server.
func pointsAtRedis(arg string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return strings.HasPrefix(arg, "-") && (name == "redis-url" || name == "redis-host")
}
