package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/wire"
)

// eventPrinter prints events as a table or as JSON Lines.
type eventPrinter struct {
	w      *bufio.Writer
	enc    *json.Encoder // nil: a table
	header bool          // the table's header is out
	n      int           // events printed
}

func newEventPrinter(w io.Writer, asJSON bool) *eventPrinter {
	p := &eventPrinter{w: bufio.NewWriter(w)}
	if asJSON {
		p.enc = json.NewEncoder(p.w)
		p.enc.SetEscapeHTML(false)
	}
	return p
}

// The table's columns. The widths fit every id and type; a longer user or
// actor pushes the rest of its line to the right rather than being cut.
const eventRowFormat = "%-24s  %-24s  %-11s  %-19s  %-12s  %-10s  %s"

func (p *eventPrinter) print(e *sessiondb.Event) error {
	p.n++
	if p.enc != nil {
		return p.enc.Encode(wire.FromEvent(e))
	}
	if !p.header {
		p.header = true
		p.row("ID", "TIME", "TYPE", "SESSION", "USER", "ACTOR", "DETAILS")
	}
	var details string
	switch e.Type {
	case sessiondb.EventInvalidated:
		details = "cause=" + string(e.Cause)
	case sessiondb.EventRotated:
		details = "new_session_id=" + e.NewSessionID
	case sessiondb.EventCreated, sessiondb.EventRestored, sessiondb.EventUpdated:
		details = metadataText(e.Metadata, 40)
	}
	return p.row(e.ID, e.Time.UTC().Format("2006-01-02 15:04:05.000Z"), string(e.Type), e.SessionID,
		text(e.UserID), text(e.Actor), details)
}

// row prints a line of the table, without trailing blanks.
func (p *eventPrinter) row(cols ...any) error {
	_, err := p.w.WriteString(strings.TrimRight(fmt.Sprintf(eventRowFormat, cols...), " ") + "\n")
	return err
}

func (p *eventPrinter) flush() error { return p.w.Flush() }

// typeList is --type: event types, repeated or comma-separated.
type typeList []sessiondb.EventType

func (l *typeList) String() string { return "" }

func (l *typeList) Set(v string) error {
	for name := range strings.SplitSeq(v, ",") {
		t, err := sessiondb.ParseEventType(strings.TrimSpace(name))
		if err != nil {
			var bad *sessiondb.InvalidArgumentError
			if errors.As(err, &bad) {
				return errors.New(bad.Reason)
			}
			return err
		}
		if !slices.Contains(*l, t) {
			*l = append(*l, t)
		}
	}
	return nil
}

// eventsOff says how to read events when sessionctl's configuration has
// them off.
const eventsOff = "events are off in sessionctl's configuration: set SESSION_EVENTS=true (in the environment, " +
	"in ./sessionctl.env, or with --session-events), as for sessiond; every process that changes sessions must agree on it"

func cmdEvents(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("events")
	follow := fs.Bool("follow", false, "go on printing new events as they come, until Ctrl-C (SIGINT) or SIGTERM")
	since := fs.String("since", "", "start after this event `ID` (or a time: milliseconds since 1970, or RFC 3339); default: the oldest event kept, or with --follow the present")
	user := fs.String("user", "", "only the events of this `USER`")
	var types typeList
	fs.Var(&types, "type", "only events of these `TYPES` (comma-separated, or repeat the flag): "+
		"created, restored, rotated, refreshed, updated, invalidated, evicted, expired")
	asJSON := fs.Bool("json", false, "print one JSON object a line (the event object of docs/events.md) instead of a table")
	fs.help("sessionctl events [--follow] [--since ID] [--user USER] [--type TYPES] [--json]", `
Prints the event log (docs/events.md): every session created, rotated,
refreshed, updated, invalidated (with its cause), evicted by the per-user
limit, expired or restored, oldest first, with the event's id, time,
session, user, actor (the API key's name, or "library") and details.
Never a token.

Without --since it starts with the oldest event kept. --since ID starts
after that event: keep the id of the last event handled and give it to
resume without missing or repeating one. The table ends with the cursor to
read on from (which also passes over the events the filters left out).
--follow goes on printing new events (a second or two after their change)
until Ctrl-C or SIGTERM; without --since it starts with the present.

The order is exact per user, and by time across users. Events need
SESSION_EVENTS=true, in sessionctl's configuration as in sessiond's.`, `
  sessionctl events
  sessionctl events --user alice --type invalidated,evicted
  sessionctl events --follow --json
  sessionctl events --since 1764405438617-0-3d8-1 --json | jq -r .type`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := a.wantArgs(rest); err != nil {
		return err
	}
	userSet := false
	fs.Visit(func(f *flag.Flag) { userSet = userSet || f.Name == "user" })
	if userSet {
		if err := sessiondb.CheckUserID(*user); err != nil {
			return a.usageError("--user: %v", err)
		}
	}
	if _, err := sessiondb.ParseEventCursor(*since); err != nil {
		return a.usageError("--since %s: %v", text(*since), err)
	}
	m, cfg, err := a.open()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	if !m.EventsEnabled() {
		return a.failf(exitUsage, "%s", eventsOff)
	}
	f := sessiondb.EventFilter{UserID: *user, Types: types}
	cursor := *since
	if *follow && cursor == "" {
		cursor = m.EventsNow()
	}
	p := newEventPrinter(a.stdout, *asJSON)
	read := false // a read succeeded
	failed := 0   // reads failed in a row, with --follow
	for wait := time.Duration(0); ; {
		if wait > 0 && !sleep(ctx, wait) {
			break // Ctrl-C or SIGTERM: the normal end of --follow
		}
		page, err := m.ReadEvents(ctx, cursor, f, sessiondb.MaxEventPageLimit)
		if err != nil {
			if *follow && ctx.Err() != nil {
				break
			}
			// Once it has read, --follow rides out a Redis that is down a
			// while: it says so, and tries again from where it was.
			if !*follow || !read || !errors.Is(err, sessiondb.ErrUnavailable) || errors.Is(err, sessiondb.ErrStoreAuth) {
				p.flush()
				return err
			}
			if failed == 0 {
				a.errorf("%v (store: %s); trying again every %s", err, cfg.Describe(), sessiondb.DefaultEventPoll)
			}
			failed++
			wait = sessiondb.DefaultEventPoll
			continue
		}
		if failed > 0 {
			a.errorf("reading again, after %d failed attempt(s)", failed)
		}
		read, failed = true, 0
		for i := range page.Events {
			if err := p.print(&page.Events[i]); err != nil {
				return err
			}
		}
		cursor = page.Next
		if page.More {
			wait = 0
			continue
		}
		if err := p.flush(); err != nil {
			return err
		}
		if !*follow {
			break
		}
		wait = sessiondb.DefaultEventPoll
	}
	if err := p.flush(); err != nil {
		return err
	}
	if !*asJSON {
		if p.n == 0 {
			fmt.Fprint(a.stdout, "no events")
		} else {
			fmt.Fprintf(a.stdout, "%d event(s)", p.n)
		}
		fmt.Fprintf(a.stdout, "; read on with --since %s\n", cursor)
	}
	return nil
}

// sleep waits for d, or until ctx is done; it reports whether it waited
// the whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
