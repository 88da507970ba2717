package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/wire"
)

// checkID checks a session id given on the command line; a mistake is a
// usage error. It never echoes a token.
func (a *app) checkID(what, id string) error {
	if strings.HasPrefix(id, sessiondb.TokenPrefix) {
		return a.usageError("%s looks like a session token, not a session id; sessionctl never takes tokens (they are secrets): give the session's id", what)
	}
	if _, err := sessiondb.ParseID(id); err != nil {
		if len(id) > 40 {
			id = id[:40] + "..."
		}
		return a.usageError("%s %s is not a session id (19 characters: 3 hex digits, then 16 base64url characters)", what, text(id))
	}
	return nil
}

func cmdShow(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("show")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	fs.help("sessionctl show [--json] ID", `
Shows one live session: its user, times, lifetime settings and metadata.
Exits with 4 when there is no such live session (unknown, expired or
revoked). Looking a session up does not count as activity.`, `
  sessionctl show 0a3Xq1d9vVb2mWw7tHk
  sessionctl show --json 0a3Xq1d9vVb2mWw7tHk | jq .metadata`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := a.wantArgs(rest, "ID"); err != nil {
		return err
	}
	id := rest[0]
	if err := a.checkID("ID", id); err != nil {
		return err
	}
	m, _, err := a.open()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	s, err := m.Get(ctx, id)
	if errors.Is(err, sessiondb.ErrNotFound) {
		return a.failf(exitNotFound, "no live session %s (unknown, expired or revoked)", id)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		// The API's session object.
		if err := writeJSON(a.stdout, wire.FromSession(s, false)); err != nil {
			return err
		}
		return nil
	}
	now := time.Now()
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\n", s.ID)
	fmt.Fprintf(tw, "user\t%s\n", text(s.UserID))
	fmt.Fprintf(tw, "created\t%s\t(%s)\n", timeText(s.CreatedAt), relText(s.CreatedAt, now))
	fmt.Fprintf(tw, "last seen\t%s\t(%s)\n", timeText(s.LastSeenAt), relText(s.LastSeenAt, now))
	fmt.Fprintf(tw, "expires\t%s\t(%s; absolute)\n", timeText(s.ExpiresAt), relText(s.ExpiresAt, now))
	if s.IdleTimeout > 0 {
		fmt.Fprintf(tw, "idle timeout\t%s\n", durText(s.IdleTimeout))
	} else {
		fmt.Fprintf(tw, "idle timeout\tnone\n")
	}
	fmt.Fprintf(tw, "ends\t%s\t(%s)\n", timeText(s.EffectiveExpiry()), relText(s.EffectiveExpiry(), now))
	fmt.Fprintf(tw, "ttl\t%s\n", durText(s.TTL))
	if len(s.Metadata) == 0 {
		fmt.Fprintf(tw, "metadata\tnone\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Metadata) > 0 {
		fmt.Fprintln(a.stdout, "metadata:")
		writeMetadata(a, s.Metadata)
	}
	return nil
}

// writeMetadata prints metadata one pair a line, keys aligned.
func writeMetadata(a *app, md map[string]string) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, k := range slices.Sorted(maps.Keys(md)) {
		fmt.Fprintf(tw, "  %s\t%s\n", text(k), text(md[k]))
	}
	tw.Flush()
}
