package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/sessiondb/sessiondb"
)

// Exit codes.
const (
	exitOK          = 0 // success
	exitError       = 1 // the operation failed (Redis error, bad backup file, ...)
	exitUsage       = 2 // bad command line, bad argument or bad configuration
	exitUnavailable = 3 // Redis unreachable or unhealthy
	exitNotFound    = 4 // no such session (show, revoke)
)

// exitStatus is an error that names its exit code and the text to print on
// stderr, as written ("" when the command has said everything already).
type exitStatus struct {
	code int
	text string
}

func (e *exitStatus) Error() string { return fmt.Sprintf("exit %d: %s", e.code, e.text) }

// exitCode ends the command with code, printing nothing more.
func exitCode(code int) error { return &exitStatus{code: code} }

// failf ends the command with code and the message
// "sessionctl COMMAND: ...".
func (a *app) failf(code int, format string, args ...any) error {
	return &exitStatus{code, fmt.Sprintf("sessionctl %s: %s\n", a.cmd, fmt.Sprintf(format, args...))}
}

// usageError is a command-line mistake: exit 2, with a pointer to the help.
func (a *app) usageError(format string, args ...any) error {
	name := "sessionctl"
	help := "sessionctl --help"
	if a.cmd != "" {
		name += " " + a.cmd
		help = "sessionctl " + a.cmd + " --help"
	}
	return &exitStatus{exitUsage, fmt.Sprintf("%s: %s\nRun '%s' for usage.\n", name, fmt.Sprintf(format, args...), help)}
}

// exit reports err and returns the exit code it calls for: the one place
// where errors become exit codes. A command returns nil on success,
// flag.ErrHelp after printing its help, an *exitStatus when it chose the
// code itself, and any other error as it came from the store (or from
// reading and writing files), which is classified here: a bad argument
// exits 2, no such session 4, credentials Redis refuses 2 (a
// configuration mistake), Redis unreachable or too slow 3, anything else
// (Ctrl-C included) 1.
func (a *app) exit(err error) int {
	var st *exitStatus
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &st):
		fmt.Fprint(a.stderr, st.text)
		return st.code
	case errors.Is(err, sessiondb.ErrInvalidArgument):
		a.errorf("%v", err)
		return exitUsage
	case errors.Is(err, sessiondb.ErrNotFound):
		a.errorf("%v", err)
		return exitNotFound
	case errors.Is(err, sessiondb.ErrStoreAuth):
		// A configuration error: say which user and which setting.
		a.errorf("%s", a.cfg.ExplainAccessDenied(err, "operator"))
		return exitUsage
	case errors.Is(err, context.Canceled):
		// Ctrl-C: every store returns the context's own error (storetest).
		a.errorf("interrupted: %v", err)
		return exitError
	case errors.Is(err, sessiondb.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		a.errorf("%v (store: %s)", err, a.cfg.Describe())
		return exitUnavailable
	}
	a.errorf("%v", err)
	return exitError
}

// errorf reports a failure on stderr.
func (a *app) errorf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "sessionctl %s: %s\n", a.cmd, fmt.Sprintf(format, args...))
}
