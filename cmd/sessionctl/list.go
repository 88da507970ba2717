package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/wire"
)

func cmdList(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("list")
	user := fs.String("user", "", "the `USER` whose sessions to list (or give USER as the argument)")
	asJSON := fs.Bool("json", false, `print JSON ({"sessions": [...]}) instead of a table`)
	fs.help("sessionctl list USER [--json]  (or: sessionctl list --user USER)", `
Lists a user's live sessions, newest first: id, creation, last activity,
when the session ends (the earlier of its absolute expiry and its idle
timeout) and its metadata. Tokens are never shown: stores do not hold them.
Long metadata values are cut in the table; --json prints them whole, in
the API's session objects, whose expires_at is when the session ends.`, `
  sessionctl list user123
  sessionctl list --user user123 --json | jq -r '.sessions[].id'`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	switch {
	case len(rest) == 1 && *user != "" && rest[0] != *user:
		return a.usageError("two users given: %q and --user %q", rest[0], *user)
	case len(rest) == 1:
		*user = rest[0]
	case len(rest) > 1:
		return a.usageError("unexpected argument %q", rest[1])
	}
	if *user == "" {
		return a.usageError("missing USER (sessionctl list USER, or --user USER)")
	}
	if err := sessiondb.CheckUserID(*user); err != nil {
		return a.usageError("--user: %v", err)
	}
	m, _, err := a.open()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	ss, err := m.UserSessions(ctx, *user)
	if err != nil {
		return err
	}
	if *asJSON {
		// The API's answer to GET /v1/users/{user_id}/sessions.
		out := wire.SessionList{Sessions: make([]wire.Session, len(ss))}
		for i, s := range ss {
			out.Sessions[i] = wire.FromSession(s, false)
		}
		if err := writeJSON(a.stdout, out); err != nil {
			return err
		}
		return nil
	}
	if len(ss) == 0 {
		fmt.Fprintf(a.stdout, "user %s has no live sessions\n", text(*user))
		return nil
	}
	now := time.Now()
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tLAST SEEN\tENDS\tMETADATA")
	for _, s := range ss {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s (%s)\t%s\n", s.ID, timeText(s.CreatedAt), relText(s.LastSeenAt, now),
			timeText(s.EffectiveExpiry()), relText(s.EffectiveExpiry(), now), metadataText(s.Metadata, 40))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%d live session(s) of user %s\n", len(ss), text(*user))
	return nil
}
