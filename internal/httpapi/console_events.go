package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/sessiondb/sessiondb"
)

// The console's events page: the newest events first, filtered by user,
// type and cause, paged towards older events with the id of the oldest
// event shown.
//
// The event log reads forward only (oldest first, from a cursor), so a page
// of the newest events before a point is found by reading windows of time
// that end at that point and grow backwards (eventSearchFirst, times
// eventSearchGrowth each step) until the page is full or the oldest event
// kept is reached. A dense window is read again narrower, from its end.
// Every page view makes at most eventSearchReads reads of the log, each
// of at most sessiondb.MaxEventPageLimit events, so a page costs about as
// much as that many GET /v1/events calls; with a user the log reads only
// that user's bucket.

// Bounds of the events page.
const (
	// consoleEventRows is the number of events a page shows.
	consoleEventRows = 50
	// eventSearchFirst is the first window of time searched.
	eventSearchFirst = 15 * time.Second
	// eventSearchGrowth is how much each window is wider than the one
	// before, and how much narrower a window is read again when it holds
	// too many events.
	eventSearchGrowth = 4
	// eventSearchReads bounds the log reads of one page view.
	eventSearchReads = 32
)

// eventSearchBounds bound the search of one page view: at most reads log
// reads of at most limit events each. Tests make them small.
type eventSearchBounds struct {
	reads, limit int
}

var defaultEventSearch = eventSearchBounds{reads: eventSearchReads, limit: sessiondb.MaxEventPageLimit}

// eventCauses are the causes an invalidated event can have.
var eventCauses = []sessiondb.Cause{sessiondb.CauseLogout, sessiondb.CauseAdmin, sessiondb.CauseRevokeAll, sessiondb.CauseRevokeOthers}

// eventsPage is the data of the events page.
type eventsPage struct {
	Off bool // the store records no events

	// The filters as given, to fill the form again.
	UserID, Type, Cause string
	Types               []sessiondb.EventType
	Causes              []sessiondb.Cause

	Read     bool // the log was read: Events is the answer
	Filtered bool // a user, type or cause was given
	Events   []sessiondb.Event
	// Older is the link to the next page, towards older events; "" when
	// there are none.
	Older string
	// Newest is the link to the first page, when this is a later one.
	Newest string
	// Stopped is set when the search stopped at its bound before filling
	// the page: the time it searched back to.
	Stopped time.Time
}

// eventSearch is what the handler asks of the log.
type eventSearch struct {
	filter sessiondb.EventFilter
	cause  sessiondb.Cause
	before sessiondb.EventCursor // the zero cursor: the present
}

// parseEventSearch reads the page's query: user_id, type, cause and before,
// each optional (empty means any). Its errors say what to fix.
func parseEventSearch(q url.Values) (eventSearch, error) {
	var es eventSearch
	if v := q.Get("user_id"); v != "" {
		if err := sessiondb.CheckUserID(v); err != nil {
			return es, err
		}
		es.filter.UserID = v
	}
	if v := q.Get("type"); v != "" {
		t, err := sessiondb.ParseEventType(v)
		if err != nil {
			return es, err
		}
		es.filter.Types = []sessiondb.EventType{t}
	}
	if v := q.Get("cause"); v != "" {
		es.cause = sessiondb.Cause(v)
		if !slices.Contains(eventCauses, es.cause) {
			return es, invalidArgument("cause", "unknown cause "+quote(v)+" (want one of logout, admin, revoke_all, revoke_others)")
		}
		switch {
		case len(es.filter.Types) == 0:
			es.filter.Types = []sessiondb.EventType{sessiondb.EventInvalidated}
		case es.filter.Types[0] != sessiondb.EventInvalidated:
			return es, invalidArgument("cause", "a cause belongs to invalidated events only: choose the type invalidated, or any cause")
		}
	}
	if v := q.Get("before"); v != "" {
		c, err := sessiondb.ParseEventCursor(v)
		if err != nil || c.IsZero() {
			return es, invalidArgument("before", "invalid position "+quote(v)+": want an event id (<millis>-<seq>-<bucket>-<index>) or a time in milliseconds since 1970; follow the page's Older events link")
		}
		es.before = c
	}
	return es, nil
}

// quote writes s in double quotes, cut to a readable length.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + s + `"`
}

// GET /ui/events?user_id=&type=&cause=&before=: recent events, newest first.
func (s *Server) consoleEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p := eventsPage{UserID: q.Get("user_id"), Type: q.Get("type"), Cause: q.Get("cause"),
		Types: sessiondb.EventTypes, Causes: eventCauses}
	p.Filtered = p.UserID != "" || p.Type != "" || p.Cause != ""
	d := pageData{Title: "Events", Data: &p}
	if !s.m.EventsEnabled() {
		p.Off = true
		s.render(w, r, http.StatusOK, "events.html", d)
		return nil
	}
	status := http.StatusOK
	es, err := parseEventSearch(q)
	if err == nil {
		err = s.searchEvents(r.Context(), es, &p)
	}
	if err != nil {
		ae := toAPIError(err)
		if ae.status >= 500 {
			s.logConsoleFailure(r, ae)
		}
		status, d.Error = ae.status, ae.message
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	s.render(w, r, status, "events.html", d)
	return nil
}

// searchEvents fills p with the newest consoleEventRows events before
// es.before, newest first, and the links to the pages around it.
func (s *Server) searchEvents(ctx context.Context, es eventSearch, p *eventsPage) error {
	link := func(before string) string {
		v := url.Values{}
		for k, x := range map[string]string{"user_id": p.UserID, "type": p.Type, "cause": p.Cause, "before": before} {
			if x != "" {
				v.Set(k, x)
			}
		}
		if len(v) == 0 {
			return "/ui/events"
		}
		return "/ui/events?" + v.Encode()
	}
	if !es.before.IsZero() {
		p.Newest = link("")
	}

	// The oldest event kept (of the user): where the search ends.
	reads := 1
	first, err := s.m.ReadEvents(ctx, "", sessiondb.EventFilter{UserID: es.filter.UserID}, 1)
	if err != nil {
		return err
	}
	p.Read = true
	if len(first.Events) == 0 && !first.More {
		return nil // no events at all
	}
	var floor int64 // in ms; 0 when not known
	if len(first.Events) > 0 {
		c, _ := sessiondb.ParseEventCursor(first.Events[0].ID)
		floor = c.Millis
	}

	want := consoleEventRows + 1 // one more tells whether there are older events
	var found []sessiondb.Event  // oldest first, all before end
	end := es.before             // the windows end here; zero: the present
	endMs := es.before.Millis
	if es.before.IsZero() {
		now, _ := sessiondb.ParseEventCursor(s.m.EventsNow())
		endMs = now.Millis
	}
	bounds := s.console.eventSearch
	width := eventSearchFirst.Milliseconds()
	for {
		start := endMs - width
		from := sessiondb.EventCursor{Millis: start, At: true}.String()
		last := start <= floor
		if last {
			from = "" // the oldest event kept
		}
		var until *sessiondb.EventCursor
		if !end.IsZero() {
			until = &end
		}
		evs, used, done, err := s.readWindow(ctx, from, until, es, want, bounds.reads-reads, bounds.limit)
		reads += used
		if err != nil {
			return err
		}
		if !done {
			// Too many events to read in this window: read a narrower one,
			// from its end, while reads are left.
			if reads < bounds.reads && width > 1 {
				width = max(width/eventSearchGrowth, 1)
				continue
			}
			// Stopped: the events before end are still to be searched, by
			// the next page when this one got past its start.
			p.Stopped = time.UnixMilli(endMs).UTC()
			if end != es.before {
				p.Older = link(end.String())
			}
			break
		}
		found = append(evs, found...)
		if len(found) >= want || last {
			break
		}
		end = sessiondb.EventCursor{Millis: start, At: true}
		endMs = start
		width *= eventSearchGrowth
	}
	if len(found) > consoleEventRows {
		found = found[len(found)-consoleEventRows:]
		p.Older = link(found[0].ID)
	}
	slices.Reverse(found)
	p.Events = found
	return nil
}

// readWindow reads the events es selects from the cursor from up to, not
// including, until (nil: up to the last final event), in at most reads log
// reads of limit events. It returns the last keep of them, oldest first, the reads made,
// and whether it read the whole window.
func (s *Server) readWindow(ctx context.Context, from string, until *sessiondb.EventCursor, es eventSearch, keep, reads, limit int) (evs []sessiondb.Event, used int, done bool, err error) {
	since := from
	for used < reads {
		page, err := s.m.ReadEvents(ctx, since, es.filter, limit)
		used++
		if err != nil {
			return nil, used, false, err
		}
		for _, e := range page.Events {
			if until != nil {
				if c, _ := sessiondb.ParseEventCursor(e.ID); c.Compare(*until) >= 0 {
					return evs, used, true, nil
				}
			}
			if es.cause != "" && e.Cause != es.cause {
				continue
			}
			evs = append(evs, e)
			if len(evs) >= 2*keep {
				evs = append(evs[:0], evs[len(evs)-keep:]...)
			}
		}
		if len(evs) > keep {
			evs = append(evs[:0], evs[len(evs)-keep:]...)
		}
		if !page.More {
			return evs, used, true, nil
		}
		if until != nil {
			if c, _ := sessiondb.ParseEventCursor(page.Next); c.Compare(*until) >= 0 {
				return evs, used, true, nil
			}
		}
		since = page.Next
	}
	return evs, used, false, nil
}
