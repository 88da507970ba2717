package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/sessiondb/sessiondb"
)

// TestExit holds the one mapping from a command's error to its exit code
// and message.
func TestExit(t *testing.T) {
	a := &app{cmd: "show"}
	tests := []struct {
		name   string
		err    error
		code   int
		stderr string // a part of what is printed; "" means nothing
	}{
		{"success", nil, exitOK, ""},
		{"help printed", flag.ErrHelp, exitOK, ""},
		{"usage", a.usageError("missing %s", "ID"), exitUsage, "sessionctl show: missing ID\nRun 'sessionctl show --help' for usage.\n"},
		{"chosen code", a.failf(exitNotFound, "no live session %s", "x"), exitNotFound, "sessionctl show: no live session x\n"},
		{"silent code", exitCode(exitUnavailable), exitUnavailable, ""},
		{"bad argument", fmt.Errorf("metadata: %w", sessiondb.ErrInvalidArgument), exitUsage, "sessionctl show: metadata: "},
		{"not found", sessiondb.ErrNotFound, exitNotFound, "sessionctl show: "},
		{"refused credentials", fmt.Errorf("%w: WRONGPASS", sessiondb.ErrStoreAuth), exitUsage, "WRONGPASS"},
		{"interrupted", fmt.Errorf("list: %w", context.Canceled), exitError, "sessionctl show: interrupted: "},
		{"unavailable", fmt.Errorf("%w: dial tcp: refused", sessiondb.ErrUnavailable), exitUnavailable, "(store: "},
		{"deadline", fmt.Errorf("stats: %w", context.DeadlineExceeded), exitUnavailable, "(store: "},
		{"other", errors.New("disk full"), exitError, "sessionctl show: disk full\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			a.stderr = &stderr
			if got := a.exit(tt.err); got != tt.code {
				t.Errorf("exit(%v) = %d, want %d", tt.err, got, tt.code)
			}
			if tt.stderr == "" && stderr.Len() > 0 {
				t.Errorf("exit(%v) printed %q, want nothing", tt.err, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("exit(%v) printed %q, want it to contain %q", tt.err, stderr.String(), tt.stderr)
			}
		})
	}
}
