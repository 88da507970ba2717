package webhooks

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sessiondb/sessiondb"
)

// runner delivers to one endpoint: it waits for the endpoint's lease, and
// while it holds it, reads the log from the endpoint's cursor and delivers
// each event, moving the cursor on only after the event was delivered or
// dead-lettered.
type runner struct {
	d   *Dispatcher
	ep  *Endpoint
	log *slog.Logger

	failing bool // the last call to the state failed: log the next only at debug level
}

// errLeaseLost ends a holding: another sessiond holds the lease now, or this
// one could not renew it in time.
var errLeaseLost = errors.New("webhooks: lease lost")

func (r *runner) run(ctx context.Context) {
	d := r.d
	name := r.ep.Name
	r.log.Info("webhook endpoint", "url", r.ep.Redacted(), "types", r.ep.TypesText(), "secrets", len(r.ep.Secrets))
	for {
		cctx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
		held, err := d.state.Acquire(cctx, name, d.opt.Owner, d.opt.Lease)
		cancel()
		r.stateErr("taking the lease", err)
		if held {
			r.log.Info("delivering: this sessiond holds the endpoint's lease", "owner", d.opt.Owner)
			d.obs.Lease(name, true)
			err := r.hold(ctx)
			d.obs.Lease(name, false)
			d.obs.Position(name, time.Time{})
			if ctx.Err() != nil {
				rctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = d.state.Release(rctx, name, d.opt.Owner)
				cancel()
				return
			}
			r.log.Warn("stopped delivering", "err", err)
		}
		if !sleep(ctx, d.opt.Lease/3) {
			return
		}
	}
}

// stateErr logs a failed call to the state: at warn level the first of a
// series, then at debug level until a call succeeds.
func (r *runner) stateErr(what string, err error) {
	switch {
	case err == nil:
		if r.failing {
			r.log.Info("the delivery state answers again")
		}
		r.failing = false
	case errors.Is(err, context.Canceled):
	case r.failing:
		r.log.Debug("webhook delivery state: "+what, "err", err)
	default:
		r.failing = true
		r.log.Warn("webhook delivery state: "+what+"; trying again", "err", err)
	}
}

// lease is the holding of an endpoint's lease: until when it is ours for
// sure (renewals extend it).
type lease struct {
	mu    sync.Mutex
	until time.Time
}

func (l *lease) valid() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Now().Before(l.until)
}

func (l *lease) extend(until time.Time) {
	l.mu.Lock()
	l.until = until
	l.mu.Unlock()
}

// hold delivers while the lease is ours: a goroutine renews it every third
// of its time and ends the holding when it is lost or runs out.
func (r *runner) hold(ctx context.Context) error {
	d := r.d
	ls := &lease{until: time.Now().Add(d.opt.Lease)}
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d.opt.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
			}
			start := time.Now()
			cctx, c := context.WithTimeout(hctx, d.opt.Lease/3)
			held, err := d.state.Renew(cctx, r.ep.Name, d.opt.Owner, d.opt.Lease)
			c()
			switch {
			case err == nil && held:
				ls.extend(start.Add(d.opt.Lease))
			case err == nil:
				cancel(errLeaseLost)
				return
			case !ls.valid():
				cancel(errLeaseLost)
				return
			}
		}
	})
	err := r.deliver(hctx, ls)
	cancel(err)
	wg.Wait()
	if c := context.Cause(hctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}

// deliver is the delivery loop of a holding.
func (r *runner) deliver(ctx context.Context, ls *lease) error {
	d := r.d
	name := r.ep.Name
	var cursor string
	for {
		var err error
		cctx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
		cursor, err = d.state.Start(cctx, name, d.opt.Start)
		cancel()
		r.stateErr("reading the cursor", err)
		if err == nil {
			break
		}
		if !sleep(ctx, d.opt.Poll) {
			return ctx.Err()
		}
	}
	filter := sessiondb.EventFilter{Types: r.ep.Types}
	persisted, lastPersist := cursor, time.Now()
loop:
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cctx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
		paused, retry, err := d.state.Peek(cctx, name)
		cancel()
		r.stateErr("reading the pause and retry queue", err)
		switch {
		case err != nil:
			if !sleep(ctx, d.opt.Poll) {
				return ctx.Err()
			}
			continue
		case paused != "":
			d.obs.Position(name, time.Time{})
			if !sleep(ctx, max(d.opt.Poll, time.Second)) {
				return ctx.Err()
			}
			continue
		case retry != nil:
			if err := r.retry(ctx, ls, retry); err != nil {
				return err
			}
			continue
		}

		page, err := d.m.ReadEvents(ctx, cursor, filter, pageLimit)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.stateErr("reading the event log", err)
			if !sleep(ctx, d.opt.Poll) {
				return ctx.Err()
			}
			continue
		}
		for i := range page.Events {
			ev := &page.Events[i]
			d.obs.Position(name, ev.Time)
			body := d.opt.Encode(ev)
			out, err := r.send(ctx, ls, ev.ID, body)
			if err != nil {
				return err
			}
			if out.gone {
				// The event stays next in line, for after the pause.
				if err := r.pause(ctx, ev.ID, out); err != nil {
					return err
				}
				continue loop
			}
			var dead *DeadLetter
			if !out.delivered {
				dead = &DeadLetter{Endpoint: name, ID: ev.ID, Event: body, Attempts: out.attempts,
					Error: out.err, DeadAt: time.Now().UTC()}
			}
			if err := r.advanceAfter(ctx, ev.ID, dead); err != nil {
				return err
			}
			r.counted(ev.ID, out, dead)
			cursor, persisted, lastPersist = ev.ID, ev.ID, time.Now()
		}
		cursor = page.Next
		if cursor != persisted && (len(page.Events) > 0 || time.Since(lastPersist) >= persistEvery) {
			if err := r.advance(ctx, cursor, nil); err != nil {
				return err
			}
			persisted, lastPersist = cursor, time.Now()
		}
		if c, err := sessiondb.ParseEventCursor(cursor); err == nil && len(page.Events) == 0 {
			d.obs.Position(name, time.UnixMilli(c.Millis))
		}
		if !page.More && !sleep(ctx, d.opt.Poll) {
			return ctx.Err()
		}
	}
}

// counted logs and counts the end of an event's delivery.
func (r *runner) counted(id string, out outcome, dead *DeadLetter) {
	if dead == nil {
		r.d.obs.Delivered(r.ep.Name)
		if out.attempts > 1 {
			r.log.Info("delivered after retries", "event_id", id, "attempts", out.attempts)
		}
		return
	}
	r.d.obs.DeadLettered(r.ep.Name)
	r.log.Warn("dead letter: the endpoint did not take the event; retry it with sessionctl webhooks retry",
		"event_id", id, "attempts", out.attempts, "err", out.err)
}

// advance moves the cursor on (adding dead, if not nil, to the dead
// letters), trying again while the state does not answer and the lease is
// ours.
func (r *runner) advance(ctx context.Context, cursor string, dead *DeadLetter) error {
	d := r.d
	for {
		cctx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
		held, dropped, err := d.state.Advance(cctx, r.ep.Name, d.opt.Owner, d.opt.Lease, cursor, dead)
		cancel()
		r.stateErr("moving the cursor on", err)
		switch {
		case err == nil && !held:
			return errLeaseLost
		case err == nil:
			r.dropped(dropped)
			return nil
		}
		if !sleep(ctx, d.opt.Poll) {
			return ctx.Err()
		}
	}
}

// advanceAfter records the end of an event's delivery: also when delivery
// was told to stop while its last request was under way (one bounded try
// then), so that a graceful stop hands over no event twice.
func (r *runner) advanceAfter(ctx context.Context, cursor string, dead *DeadLetter) error {
	if ctx.Err() == nil {
		return r.advance(ctx, cursor, dead)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.d.opt.Timeout)
	defer cancel()
	if err := r.advance(actx, cursor, dead); err != nil {
		return err
	}
	return context.Cause(ctx)
}

func (r *runner) dropped(n int) {
	if n > 0 {
		r.d.obs.Dropped(r.ep.Name, n)
		r.log.Warn("dropped the oldest dead letters: an endpoint keeps at most MaxDeadLetters", "dropped", n, "max", MaxDeadLetters)
	}
}

// retry delivers a dead letter queued by sessionctl webhooks retry, then
// takes it off the queue: delivered, or dead again.
func (r *runner) retry(ctx context.Context, ls *lease, q *DeadLetter) error {
	d := r.d
	var dead *DeadLetter
	if len(q.Event) == 0 {
		r.log.Warn("dropped a queued dead letter whose record is missing", "event_id", q.ID)
	} else {
		out, err := r.send(ctx, ls, q.ID, q.Event)
		if err != nil {
			return err
		}
		if out.gone {
			return r.pause(ctx, q.ID, out)
		}
		if !out.delivered {
			dead = &DeadLetter{Endpoint: r.ep.Name, ID: q.ID, Event: q.Event, Attempts: out.attempts,
				Retries: q.Retries + 1, Error: out.err, DeadAt: time.Now().UTC()}
		}
		r.counted(q.ID, out, dead)
	}
	if ctx.Err() != nil {
		// Delivered while told to stop: still take it off the queue (within
		// Timeout), or the next holder sends it again.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), d.opt.Timeout)
		defer cancel()
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
		held, dropped, err := d.state.FinishRetry(cctx, r.ep.Name, d.opt.Owner, d.opt.Lease, q.ID, dead)
		cancel()
		r.stateErr("taking a retried dead letter off the queue", err)
		switch {
		case err == nil && !held:
			return errLeaseLost
		case err == nil:
			r.dropped(dropped)
			return nil
		}
		if !sleep(ctx, d.opt.Poll) {
			return ctx.Err()
		}
	}
}

// pause stops delivery after the endpoint answered 410 Gone: the event
// stays next in line, and is delivered when an operator resumes the
// endpoint.
func (r *runner) pause(ctx context.Context, id string, out outcome) error {
	d := r.d
	reason := out.err + " at " + time.Now().UTC().Format(time.RFC3339) + " (event " + id + ")"
	r.log.Error("paused: the endpoint answered 410 Gone, which asks senders to stop; fix the configuration, then run sessionctl webhooks resume "+r.ep.Name,
		"event_id", id)
	for {
		cctx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
		held, err := d.state.Pause(cctx, r.ep.Name, d.opt.Owner, d.opt.Lease, reason)
		cancel()
		r.stateErr("pausing", err)
		switch {
		case err == nil && !held:
			return errLeaseLost
		case err == nil:
			return nil
		}
		if !sleep(ctx, d.opt.Poll) {
			return ctx.Err()
		}
	}
}
