package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
)

func testEventsResume(e *env) {
	var sessions []*sessiondb.Session
	for i := range 30 {
		sessions = append(sessions, e.create(fmt.Sprintf("res-%d", i%6), time.Hour, map[string]string{"n": fmt.Sprint(i)}))
		if i%4 == 3 {
			if err := e.m.Invalidate(e.ctx, string(sessions[i-1].Token)); err != nil {
				e.t.Fatal(err)
			}
		}
		if i%10 == 9 {
			e.clock.Advance(time.Second)
		}
	}
	all := e.allEvents("", sessiondb.EventFilter{})
	if len(all) != 37 {
		e.t.Fatalf("%d events, want 37 (30 created, 7 invalidated)", len(all))
	}
	e.checkOrder(all)
	ids := func(evs []sessiondb.Event) string {
		var b strings.Builder
		for _, ev := range evs {
			b.WriteString(ev.ID + " ")
		}
		return b.String()
	}

	// Pages of every size, each read from the previous page's Next.
	for _, limit := range []int{1, 2, 5, 36, 37, 1000} {
		var got []sessiondb.Event
		since := ""
		for pages := 0; ; pages++ {
			if pages > 100 {
				e.t.Fatalf("limit %d: more than 100 pages", limit)
			}
			p, err := e.m.ReadEvents(e.ctx, since, sessiondb.EventFilter{}, limit)
			if err != nil {
				e.t.Fatalf("ReadEvents(%q, %d): %v", since, limit, err)
			}
			if len(p.Events) > limit {
				e.t.Fatalf("ReadEvents(limit %d) returned %d events", limit, len(p.Events))
			}
			got = append(got, p.Events...)
			if p.Next == "" {
				e.t.Fatal("a page without Next")
			}
			since = p.Next
			if !p.More {
				break
			}
		}
		if ids(got) != ids(all) {
			e.t.Fatalf("pages of %d:\n%s\nwant\n%s", limit, ids(got), ids(all))
		}
		// Nothing new since the last Next.
		if p, err := e.m.ReadEvents(e.ctx, since, sessiondb.EventFilter{}, limit); err != nil || len(p.Events) != 0 || p.More {
			e.t.Fatalf("ReadEvents(last Next) = %d events, more %v, %v; want none", len(p.Events), p.More, err)
		}
	}

	// Resuming after any event gives the events after it.
	for k := range all {
		var got []sessiondb.Event
		for ev, err := range e.m.Events(e.ctx, all[k].ID, sessiondb.EventFilter{}) {
			if err != nil {
				e.t.Fatal(err)
			}
			got = append(got, ev)
		}
		if ids(got) != ids(all[k+1:]) {
			e.t.Fatalf("Events(after %s):\n%s\nwant\n%s", all[k].ID, ids(got), ids(all[k+1:]))
		}
	}

	// From a time: the events whose id is at or after that millisecond.
	c, _ := sessiondb.ParseEventCursor(all[20].ID)
	from := 0
	for from < len(all) {
		d, _ := sessiondb.ParseEventCursor(all[from].ID)
		if d.Millis >= c.Millis {
			break
		}
		from++
	}
	for _, since := range []string{fmt.Sprint(c.Millis), time.UnixMilli(c.Millis).UTC().Format(time.RFC3339Nano)} {
		p, err := e.m.ReadEvents(e.ctx, since, sessiondb.EventFilter{}, 1000)
		if err != nil || ids(p.Events) != ids(all[from:]) {
			e.t.Fatalf("ReadEvents(since %s) = %s, %v\nwant %s", since, ids(p.Events), err, ids(all[from:]))
		}
	}

	// New changes after a Next are read from it, and only they.
	p, err := e.m.ReadEvents(e.ctx, "", sessiondb.EventFilter{}, 1000)
	if err != nil || p.More {
		e.t.Fatalf("ReadEvents = more %v, %v", p.More, err)
	}
	late := e.create("res-late", time.Hour, nil)
	got := e.allEvents(p.Next, sessiondb.EventFilter{})
	if len(got) != 1 || got[0].SessionID != late.ID {
		e.t.Fatalf("after Next: %s, want the one create", eventsText(got))
	}

	// Bad cursors and limits are refused.
	var ia *sessiondb.InvalidArgumentError
	for _, since := range []string{"x", "1-2", "1-2-3", "1-2-zzz-0", "1-2-400-0", "-1", "1-2-03-0", "1-+2-003-0", "2024-13-01T00:00:00Z"} {
		if _, err := e.m.ReadEvents(e.ctx, since, sessiondb.EventFilter{}, 10); !errors.As(err, &ia) || ia.Field != "since" {
			e.t.Errorf("ReadEvents(since %q) = %v, want an InvalidArgumentError on since", since, err)
		}
	}
	for _, limit := range []int{-1, sessiondb.MaxEventPageLimit + 1} {
		if _, err := e.m.ReadEvents(e.ctx, "", sessiondb.EventFilter{}, limit); !errors.As(err, &ia) || ia.Field != "limit" {
			e.t.Errorf("ReadEvents(limit %d) = %v, want an InvalidArgumentError on limit", limit, err)
		}
	}
	if p, err := e.m.ReadEvents(e.ctx, "", sessiondb.EventFilter{}, 0); err != nil || len(p.Events) != sessiondb.DefaultEventPageLimit && len(p.Events) != len(all)+1 {
		e.t.Fatalf("ReadEvents(limit 0) = %d events, %v", len(p.Events), err)
	}
}

func testEventsFilters(e *env) {
	for i := range 12 {
		s := e.create(fmt.Sprintf("flt-%d", i%3), time.Hour, nil)
		switch i % 4 {
		case 1:
			if err := e.m.Invalidate(e.ctx, string(s.Token)); err != nil {
				e.t.Fatal(err)
			}
		case 2:
			if _, err := e.m.Rotate(e.ctx, string(s.Token)); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	all := e.allEvents("", sessiondb.EventFilter{})
	filter := func(f func(sessiondb.Event) bool) []sessiondb.Event {
		var out []sessiondb.Event
		for _, ev := range all {
			if f(ev) {
				out = append(out, ev)
			}
		}
		return out
	}
	same := func(a, b []sessiondb.Event) bool {
		return slices.EqualFunc(a, b, func(x, y sessiondb.Event) bool { return x.ID == y.ID })
	}
	for _, f := range []sessiondb.EventFilter{
		{UserID: "flt-1"},
		{Types: []sessiondb.EventType{sessiondb.EventInvalidated}},
		{Types: []sessiondb.EventType{sessiondb.EventRotated, sessiondb.EventCreated}},
		{UserID: "flt-2", Types: []sessiondb.EventType{sessiondb.EventCreated}},
		{UserID: "nobody"},
	} {
		want := filter(func(ev sessiondb.Event) bool {
			return (f.UserID == "" || ev.UserID == f.UserID) && (len(f.Types) == 0 || slices.Contains(f.Types, ev.Type))
		})
		if got := e.allEvents("", f); !same(got, want) {
			e.t.Fatalf("filter %+v:\n%s\nwant\n%s", f, eventsText(got), eventsText(want))
		}
		// Page by page, resuming from Next.
		var got []sessiondb.Event
		since := ""
		for range 50 {
			p, err := e.m.ReadEvents(e.ctx, since, f, 2)
			if err != nil {
				e.t.Fatal(err)
			}
			got = append(got, p.Events...)
			since = p.Next
			if !p.More {
				break
			}
		}
		if !same(got, want) {
			e.t.Fatalf("filter %+v, pages of 2:\n%s\nwant\n%s", f, eventsText(got), eventsText(want))
		}
	}
	var ia *sessiondb.InvalidArgumentError
	if _, err := e.m.ReadEvents(e.ctx, "", sessiondb.EventFilter{Types: []sessiondb.EventType{"logged_in"}}, 10); !errors.As(err, &ia) || ia.Field != "type" {
		e.t.Fatalf("ReadEvents(type logged_in) = %v, want an InvalidArgumentError on type", err)
	}
	if _, err := e.m.ReadEvents(e.ctx, "", sessiondb.EventFilter{UserID: "bad\x00user"}, 10); !errors.As(err, &ia) || ia.Field != "user_id" {
		e.t.Fatalf("ReadEvents(bad user) = %v, want an InvalidArgumentError on user_id", err)
	}
}
