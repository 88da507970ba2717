// Command sessionctl is the operator's command line for a sessiondb session
// database: statistics, listing and revoking sessions, cleanup, health
// checks, redis-cli access, logical backup and restore, RDB snapshots and a
// live monitor. It is configured like the library and sessiond: environment
// variables, a .env file, and flags that override both.
//
//	sessionctl [global flags] <command> [flags] [arguments]
//
// Run "sessionctl --help" for the commands and "sessionctl <command> --help"
// for each one; docs/sessionctl.md has the whole manual.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK          = 0 // success
	exitError       = 1 // the operation failed (Redis error, bad backup file, ...)
	exitUsage       = 2 // bad command line, bad argument or bad configuration
	exitUnavailable = 3 // Redis unreachable or unhealthy
	exitNotFound    = 4 // no such session (show, revoke)
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, a *app, args []string) int
}

func commands() []command {
	return []command{
		{"stats", "show session statistics", cmdStats},
		{"list", "list a user's live sessions, newest first", cmdList},
		{"show", "show one session", cmdShow},
		{"revoke", "end one session", cmdRevoke},
		{"revoke-user", "end every session of a user (but one)", cmdRevokeUser},
		{"cleanup", "remove expired sessions from the indexes now", cmdCleanup},
		{"health", "check that Redis answers and the configuration is sane", cmdHealth},
		{"connect", "open redis-cli on the configured Redis", cmdConnect},
		{"backup", "write every live session to a file (JSON Lines)", cmdBackup},
		{"restore", "restore sessions from a backup file", cmdRestore},
		{"snapshot", "make Redis save an RDB snapshot (BGSAVE) and wait for it", cmdSnapshot},
		{"monitor", "live view of sessions, rates, memory and latency", cmdMonitor},
		{"webhooks", "webhook delivery: status, dead letters, retry, resume, secret", cmdWebhooks},
		{"version", "print the version", cmdVersion},
	}
}

// run is the whole program: it parses args (without the program name),
// runs the command and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr, flagEnv: map[string]string{}}
	fs := a.flagSet("")
	fs.usage = mainUsage
	rest, code := a.parse(fs, args, false)
	if code >= 0 {
		return code
	}
	if len(rest) == 0 {
		fmt.Fprintln(stderr, "sessionctl: no command given")
		fmt.Fprint(stderr, mainUsage(a))
		return exitUsage
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) == 0 {
			fmt.Fprint(stdout, mainUsage(a))
			return exitOK
		}
		name, rest = rest[0], []string{"--help"}
	}
	for _, c := range commands() {
		if c.name == name {
			a.cmd = name
			return c.run(ctx, a, rest)
		}
	}
	fmt.Fprintf(stderr, "sessionctl: unknown command %q\nRun 'sessionctl --help' for the list of commands.\n", name)
	return exitUsage
}

func mainUsage(a *app) string {
	s := `sessionctl: the operator's command line for a sessiondb session database.

Usage:
  sessionctl [global flags] <command> [flags] [arguments]
  sessionctl <command> --help

Commands:
`
	for _, c := range commands() {
		s += fmt.Sprintf("  %-12s %s\n", c.name, c.summary)
	}
	s += `
Configuration comes from the environment, then ./sessionctl.env, then
./.env (or only the file named by --env-file), then these flags, which win
over all (they are accepted after the command too). sessiond reads .env but
never sessionctl.env: put sessionctl's own settings, such as the operator's
Redis user, there. Every command needs REDIS_URL or REDIS_HOST. The Redis
password comes from REDIS_PASSWORD or REDIS_PASSWORD_FILE only, never from
a flag.

Exit codes:
  0  success
  1  the operation failed (Redis error, damaged backup file, ...)
  2  bad command line, argument or configuration
  3  Redis unreachable or unhealthy
  4  no such session (show, revoke)

Examples:
  REDIS_URL=redis://127.0.0.1:6379 sessionctl stats
  sessionctl --redis-host redis.internal list --user user123
  sessionctl revoke-user user123 --except 0a3Xq1d9vVb2mWw7tHk
  sessionctl backup sessions.jsonl && sessionctl --redis-url redis://other:6379 restore sessions.jsonl
  sessionctl health || echo "session database down"

Configuration flags (each named after the environment variable it overrides):
`
	return s + a.flagHelp(nil)
}

func cmdVersion(ctx context.Context, a *app, args []string) int {
	fs := a.flagSet("version")
	fs.help("sessionctl version", "Prints sessionctl's version.", "")
	if _, code := a.parse(fs, args, true); code >= 0 {
		return code
	}
	fmt.Fprintln(a.stdout, "sessionctl", version)
	return exitOK
}
