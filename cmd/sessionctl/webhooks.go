package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/webhooks"
	"github.com/sessiondb/sessiondb/webhook"
)

// webhookSubcommands are the subcommands of sessionctl webhooks.
var webhookSubcommands = []struct{ name, summary string }{
	{"status", "each endpoint's cursor, lag, holder, dead letters and pause"},
	{"dead", "list an endpoint's dead letters, oldest first"},
	{"retry", "deliver dead letters again (some by event id, or --all)"},
	{"resume", "resume delivery to an endpoint paused by a 410 Gone answer"},
	{"secret", "print a new signing secret (whsec_...)"},
}

func cmdWebhooks(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("webhooks")
	var sub strings.Builder
	for _, s := range webhookSubcommands {
		fmt.Fprintf(&sub, "  %-8s %s\n", s.name, s.summary)
	}
	fs.help("sessionctl webhooks <status|dead|retry|resume|secret> [flags] [arguments]", `
Inspects and steers the delivery of session events to webhook endpoints
(docs/webhooks.md), through the delivery state sessiond keeps in Redis.
Endpoints are named as in SESSIOND_WEBHOOKS; sessiond registers them when
it starts.

Subcommands:
`+sub.String()+`
Run 'sessionctl webhooks <subcommand> --help' for each one's flags.`, `
  sessionctl webhooks status
  sessionctl webhooks dead audit
  sessionctl webhooks retry audit --all
  sessionctl webhooks secret`)
	if len(args) == 0 {
		return a.usageError("missing subcommand: one of status, dead, retry, resume, secret")
	}
	switch args[0] {
	case "status":
		return webhooksStatus(ctx, a, args[1:])
	case "dead":
		return webhooksDead(ctx, a, args[1:])
	case "retry":
		return webhooksRetry(ctx, a, args[1:])
	case "resume":
		return webhooksResume(ctx, a, args[1:])
	case "secret":
		return webhooksSecret(a, args[1:])
	}
	if _, err := a.parse(fs, args, false); err != nil {
		return err // --help, or an unknown flag
	}
	return a.usageError("unknown subcommand %q: want status, dead, retry, resume or secret", args[0])
}

// openWebhooks opens the store and the delivery state in Redis. The store
// reads the event log (for the lag) whatever SESSION_EVENTS says: it only
// reads.
func (a *app) openWebhooks() (*sessiondb.Manager, *webhooks.RedisState, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, nil, a.failf(exitUsage, "configuration: %v", err)
	}
	if !cfg.UsesRedis() {
		return nil, nil, a.failf(exitUsage, "%s", noRedis)
	}
	cfg.Events = true
	m, err := cfg.Open()
	if err != nil {
		return nil, nil, a.failf(exitUsage, "configuration: %v", err)
	}
	a.cfg = cfg
	rs := redisStore(m)
	if rs == nil {
		m.Store().Close()
		return nil, nil, a.failf(exitUsage, "webhooks: the store is not Redis")
	}
	return m, webhooks.NewRedisState(rs.Client, rs.Prefix()), nil
}

// failWebhooks is an error of the delivery state: an endpoint no sessiond
// registered exits 4, the rest as from the store.
func (a *app) failWebhooks(ep string, err error) error {
	if errors.Is(err, webhooks.ErrUnknownEndpoint) {
		return a.failf(exitNotFound, "no endpoint %s: no sessiond has registered it (sessionctl webhooks status lists the endpoints)", text(ep))
	}
	return err
}

// endpointStatus is a line of sessionctl webhooks status.
type endpointStatus struct {
	webhooks.Status
	// CursorTime is the time of the cursor: of the last event delivered or
	// dead-lettered, or the time delivery had reached.
	CursorTime *time.Time `json:"cursor_time"`
	// LagSeconds is the age of the oldest event after the cursor (of any
	// type), 0 when there is none.
	LagSeconds float64 `json:"lag_seconds"`
}

func webhooksStatus(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("webhooks status")
	asJSON := fs.Bool("json", false, "print a JSON array of the endpoints' states")
	fs.help("sessionctl webhooks status [--json] [ENDPOINT]", `
Shows each endpoint's delivery: its cursor (the last event delivered or
dead-lettered, or the time delivery had reached) and the cursor's time,
the lag (the age of the oldest event after the cursor, of any type; 0
when delivery has caught up), the sessiond delivering to it and the time
left on its lease, the dead letters and those queued for another try, and
why delivery is paused, if it is. Without ENDPOINT, every endpoint a
sessiond has registered.`, `
  sessionctl webhooks status
  sessionctl webhooks status audit --json`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return a.usageError("unexpected argument %q", rest[1])
	}
	m, state, err := a.openWebhooks()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	names := rest
	if len(names) == 0 {
		var err error
		if names, err = state.Endpoints(ctx); err != nil {
			return err
		}
	}
	now := time.Now()
	out := make([]endpointStatus, 0, len(names))
	for _, name := range names {
		st, err := state.Status(ctx, name, now)
		if err != nil {
			return a.failWebhooks(name, err)
		}
		es := endpointStatus{Status: st}
		if c, err := sessiondb.ParseEventCursor(st.Cursor); err == nil && st.Cursor != "" {
			t := time.UnixMilli(c.Millis).UTC()
			es.CursorTime = &t
			page, err := m.ReadEvents(ctx, st.Cursor, sessiondb.EventFilter{}, 1)
			if err != nil {
				return err
			}
			if len(page.Events) > 0 {
				es.LagSeconds = max(now.Sub(page.Events[0].Time).Seconds(), 0)
			}
		}
		out = append(out, es)
	}
	if *asJSON {
		if err := writeJSON(a.stdout, out); err != nil {
			return err
		}
		return nil
	}
	if len(out) == 0 {
		fmt.Fprintln(a.stdout, "no webhook endpoints: no sessiond with SESSIOND_WEBHOOKS has started on this Redis")
		return nil
	}
	for _, e := range out {
		fmt.Fprintf(a.stdout, "%s\n", text(e.Endpoint))
		cursor := "(none yet)"
		if e.Cursor != "" {
			cursor = e.Cursor
			if e.CursorTime != nil {
				cursor += " (" + timeText(*e.CursorTime) + ")"
			}
		}
		fmt.Fprintf(a.stdout, "  cursor    %s\n", cursor)
		fmt.Fprintf(a.stdout, "  lag       %s\n", durText(time.Duration(e.LagSeconds*float64(time.Second))))
		holder := "(none: no sessiond delivers to it now)"
		if e.Holder != "" {
			holder = fmt.Sprintf("%s (lease %.1fs)", text(e.Holder), e.LeaseSeconds)
		}
		fmt.Fprintf(a.stdout, "  delivery  %s\n", holder)
		fmt.Fprintf(a.stdout, "  dead      %d (%d queued for another try)\n", e.Dead, e.Queued)
		if e.Paused != "" {
			fmt.Fprintf(a.stdout, "  PAUSED    %s; resume with: sessionctl webhooks resume %s\n", text(e.Paused), e.Endpoint)
		}
	}
	return nil
}

func webhooksDead(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("webhooks dead")
	asJSON := fs.Bool("json", false, "print a JSON array of the dead letters, each with its event object")
	fs.help("sessionctl webhooks dead [--json] ENDPOINT", `
Lists the endpoint's dead letters, oldest first: the events it did not take
within SESSIOND_WEBHOOK_MAX_ATTEMPTS attempts (or within a retry's), with
the number of attempts, of retries, and why the last attempt failed. At
most 10000 are kept per endpoint; older ones are dropped.`, `
  sessionctl webhooks dead audit
  sessionctl webhooks dead audit --json`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := a.wantArgs(rest, "ENDPOINT"); err != nil {
		return err
	}
	m, state, err := a.openWebhooks()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	dead, err := state.Dead(ctx, rest[0])
	if err != nil {
		return a.failWebhooks(rest[0], err)
	}
	if *asJSON {
		if err := writeJSON(a.stdout, dead); err != nil {
			return err
		}
		return nil
	}
	if len(dead) == 0 {
		fmt.Fprintf(a.stdout, "no dead letters for %s\n", text(rest[0]))
		return nil
	}
	fmt.Fprintf(a.stdout, "%-28s %-21s %8s %7s  %s\n", "EVENT", "DEAD AT", "ATTEMPTS", "RETRIES", "LAST ERROR")
	for _, d := range dead {
		fmt.Fprintf(a.stdout, "%-28s %-21s %8d %7d  %s\n", text(d.ID), timeText(d.DeadAt), d.Attempts, d.Retries, text(d.Error))
	}
	fmt.Fprintf(a.stdout, "%d dead letter(s); deliver them again with: sessionctl webhooks retry %s --all\n", len(dead), rest[0])
	return nil
}

func webhooksRetry(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("webhooks retry")
	all := fs.Bool("all", false, "retry every dead letter of the endpoint")
	asJSON := fs.Bool("json", false, `print {"queued": [ids]} instead of text`)
	fs.help("sessionctl webhooks retry ENDPOINT (--all | EVENT_ID...)", `
Queues dead letters for another round of delivery: the sessiond delivering
to the endpoint sends them, before new events, with the same body and
webhook-id as before, and up to SESSIOND_WEBHOOK_MAX_ATTEMPTS attempts
again. One delivered leaves the dead letters; one that fails again comes
back among them, its retries counted. Prints the ids queued; an id that is
not a dead letter (delivered, or unknown) is skipped.`, `
  sessionctl webhooks retry audit --all
  sessionctl webhooks retry audit 1764405438617-0-3d8-1`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	switch {
	case len(rest) == 0:
		return a.usageError("missing ENDPOINT")
	case *all && len(rest) > 1:
		return a.usageError("--all and event ids: give one or the other")
	case !*all && len(rest) == 1:
		return a.usageError("missing EVENT_ID (or --all)")
	}
	var ids []string
	if !*all {
		ids = rest[1:]
		for _, id := range ids {
			if _, err := sessiondb.ParseEventCursor(id); err != nil || strings.TrimSpace(id) == "" {
				return a.usageError("EVENT_ID %s is not an event id", text(id))
			}
		}
	}
	m, state, err := a.openWebhooks()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	queued, err := state.Retry(ctx, rest[0], ids, time.Now())
	if err != nil {
		return a.failWebhooks(rest[0], err)
	}
	if *asJSON {
		if queued == nil {
			queued = []string{}
		}
		if err := writeJSON(a.stdout, map[string][]string{"queued": queued}); err != nil {
			return err
		}
		return nil
	}
	for _, id := range queued {
		fmt.Fprintln(a.stdout, id)
	}
	fmt.Fprintf(a.stdout, "queued %d dead letter(s) of %s for another try\n", len(queued), text(rest[0]))
	return nil
}

func webhooksResume(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("webhooks resume")
	fs.help("sessionctl webhooks resume ENDPOINT", `
Resumes delivery to an endpoint that answered 410 Gone (which asks senders
to stop): the event it refused is delivered first. Fix the endpoint or its
configuration before.`, `
  sessionctl webhooks resume audit`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := a.wantArgs(rest, "ENDPOINT"); err != nil {
		return err
	}
	m, state, err := a.openWebhooks()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	was, err := state.Resume(ctx, rest[0])
	if err != nil {
		return a.failWebhooks(rest[0], err)
	}
	if was {
		fmt.Fprintf(a.stdout, "resumed delivery to %s\n", text(rest[0]))
	} else {
		fmt.Fprintf(a.stdout, "%s was not paused\n", text(rest[0]))
	}
	return nil
}

func webhooksSecret(a *app, args []string) error {
	fs := a.flagSet("webhooks secret")
	fs.help("sessionctl webhooks secret", `
Prints a new signing secret: whsec_ and the base64 of 32 random bytes. Give
it to sessiond (SESSIOND_WEBHOOKS or SESSIOND_WEBHOOKS_FILE) and to the
receiver, which verifies each request with it (docs/webhooks.md). To rotate,
list the new secret first and the old one after it, comma-separated, until
every receiver has the new one. Needs no Redis.`, `
  sessionctl webhooks secret > audit.secret`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := a.wantArgs(rest); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, webhook.NewSecret())
	return nil
}
