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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand. It returns nil on success; app.exit turns
// any other outcome into the exit code and message.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, a *app, args []string) error
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
		{"events", "print the event log: who logged in, who was logged out and why", cmdEvents},
		{"webhooks", "webhook delivery: status, dead letters, retry, resume, secret", cmdWebhooks},
		{"version", "print the version", cmdVersion},
	}
}

// run is the whole program: it parses args (without the program name),
// runs the command and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr, flagEnv: map[string]string{}}
	return a.exit(a.run(ctx, args))
}

// run picks the command named by args and runs it.
func (a *app) run(ctx context.Context, args []string) error {
	fs := a.flagSet("")
	fs.usage = mainUsage
	rest, err := a.parse(fs, args, false)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return &exitStatus{exitUsage, "sessionctl: no command given\n" + mainUsage(a)}
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) == 0 {
			fmt.Fprint(a.stdout, mainUsage(a))
			return nil
		}
		name, rest = rest[0], []string{"--help"}
	}
	for _, c := range commands() {
		if c.name == name {
			a.cmd = name
			return c.run(ctx, a, rest)
		}
	}
	return &exitStatus{exitUsage, fmt.Sprintf("sessionctl: unknown command %q\nRun 'sessionctl --help' for the list of commands.\n", name)}
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

func cmdVersion(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("version")
	fs.help("sessionctl version", "Prints sessionctl's version.", "")
	if _, err := a.parse(fs, args, true); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "sessionctl", version)
	return nil
}
