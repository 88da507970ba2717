package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/wire"
)

// This file serves the event log (docs/events.md): GET /v1/events, a page
// of events, and GET /v1/events/stream, the same as Server-Sent Events.
// Events are written by wire.AppendEvent, their one JSON shape.

// Event streams look for new events every defaultEventPoll and send a
// heartbeat after defaultHeartbeat without anything to say.
const (
	defaultEventPoll = time.Second
	defaultHeartbeat = 15 * time.Second
	// streamWriteWindow is how long one write of an event stream may take:
	// the server's WriteTimeout would end the stream, so each write sets
	// its own deadline.
	streamWriteWindow = 30 * time.Second
	// streamBatch is the most events a stream reads at once, unless its
	// request says limit.
	streamBatch = 500
)

// eventQuery reads the parameters both event routes share: user_id, type
// (repeated, or comma-separated) and limit (0 when not given). The page
// route answers at most limit events; the stream reads and sends at most
// limit at a time.
func eventQuery(q url.Values) (f sessiondb.EventFilter, limit int, err error) {
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > sessiondb.MaxEventPageLimit {
			return f, 0, invalidArgument("limit", "invalid limit: want a whole number from 1 to "+strconv.Itoa(sessiondb.MaxEventPageLimit))
		}
		limit = n
	}
	if q.Has("user_id") {
		f.UserID = q.Get("user_id")
		if err := sessiondb.CheckUserID(f.UserID); err != nil {
			return f, 0, err
		}
	}
	for _, v := range q["type"] {
		for name := range strings.SplitSeq(v, ",") {
			t, err := sessiondb.ParseEventType(strings.TrimSpace(name))
			if err != nil {
				return f, 0, err
			}
			if !slices.Contains(f.Types, t) {
				f.Types = append(f.Types, t)
			}
		}
	}
	return f, limit, nil
}

// GET /v1/events?since=&user_id=&type=&limit= -> 200 {"events": [...],
// "next": cursor, "more": bool}. Admin only.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	if !s.m.EventsEnabled() {
		return errEventsOff
	}
	q := r.URL.Query()
	f, limit, err := eventQuery(q)
	if err != nil {
		return err
	}
	page, err := s.m.ReadEvents(r.Context(), q.Get("since"), f, limit)
	if err != nil {
		return err
	}
	bp := s.getBuf()
	b := append(*bp, `{"events":[`...)
	for i := range page.Events {
		if i > 0 {
			b = append(b, ',')
		}
		b = wire.AppendEvent(b, &page.Events[i])
	}
	b = append(b, `],"next":`...)
	b = appendString(b, page.Next)
	b = append(b, `,"more":`...)
	b = strconv.AppendBool(b, page.More)
	b = append(b, "}\n"...)
	writeJSON(w, http.StatusOK, b)
	s.putBuf(bp, b)
	return nil
}

// GET /v1/events/stream?since=&user_id=&type=&limit= -> 200
// text/event-stream.
// Admin only. Each event is "id: <event id>" and "data: <event object>";
// a client that reconnects with Last-Event-ID resumes after that event.
// After a heartbeat's time without events the stream sends a comment and
// an "id:" line with the current cursor, which moves a client's
// Last-Event-ID on without an event. It ends when the client goes, or when
// the server shuts down.
func (s *Server) eventStream(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	if !s.m.EventsEnabled() {
		return errEventsOff
	}
	q := r.URL.Query()
	f, batch, err := eventQuery(q)
	if err != nil {
		return err
	}
	if batch == 0 {
		batch = streamBatch
	}
	// Last-Event-ID wins over since; "since=" (empty) is the oldest event
	// kept; neither is the present.
	since := r.Header.Get("Last-Event-ID")
	switch {
	case since != "":
	case q.Has("since"):
		since = q.Get("since")
	default:
		since = s.m.EventsNow()
	}
	// Check the cursor (and the filter) before answering 200.
	if _, err := sessiondb.ParseEventCursor(since); err != nil {
		var ia *sessiondb.InvalidArgumentError
		if errors.As(err, &ia) && r.Header.Get("Last-Event-ID") != "" {
			return invalidArgument("Last-Event-ID", "invalid Last-Event-ID: "+ia.Reason)
		}
		return err
	}

	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // the request is read: no ReadTimeout may end the stream
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // proxies: pass each event on at once
	w.WriteHeader(http.StatusOK)

	ctx := r.Context()
	cursor := since
	b := make([]byte, 0, 4096)
	// The first lines: how long a client waits before reconnecting, and
	// where it would resume.
	b = append(b, "retry: 2000\nid: "...)
	b = append(b, cursor...)
	b = append(b, "\n\n"...)
	lastWrite := time.Now()
	write := func() error {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteWindow))
		if _, err := w.Write(b); err != nil {
			return err
		}
		b = b[:0]
		lastWrite = time.Now()
		return rc.Flush()
	}
	if err := write(); err != nil {
		return nil // the client went away
	}
	// Started: from now on the stream counts as an open stream, not as a
	// request in flight, and the route's latency is the time it took to
	// get here.
	if sw, ok := w.(*statusWriter); ok {
		sw.opened = max(time.Since(start), time.Nanosecond)
	}
	s.inFlight.Dec()
	s.streams.Inc()
	defer func() {
		s.streams.Dec()
		s.inFlight.Inc()
	}()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return nil
		case <-t.C:
		}
		page, err := s.m.ReadEvents(ctx, cursor, f, batch)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The store failed (Redis down for a moment): say so in a
			// comment and try again, from where the stream was.
			ae := toAPIError(err)
			s.log.WarnContext(ctx, "event stream: reading events failed", "err", err)
			b = append(b, ": "...)
			b = append(b, ae.code...)
			b = append(b, "; retrying\n\n"...)
			if err := write(); err != nil {
				return nil
			}
			t.Reset(s.eventPoll)
			continue
		}
		for i := range page.Events {
			b = append(b, "id: "...)
			b = append(b, page.Events[i].ID...)
			b = append(b, "\ndata: "...)
			b = wire.AppendEvent(b, &page.Events[i])
			b = append(b, "\n\n"...)
		}
		cursor = page.Next
		if len(b) == 0 && time.Since(lastWrite) >= s.heartbeat {
			b = append(b, ": heartbeat\nid: "...)
			b = append(b, cursor...)
			b = append(b, "\n\n"...)
		}
		if len(b) > 0 {
			if err := write(); err != nil {
				return nil
			}
		}
		if page.More {
			t.Reset(0)
		} else {
			t.Reset(s.eventPoll)
		}
	}
}
