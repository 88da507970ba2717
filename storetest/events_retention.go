package storetest

import (
	"fmt"
	"time"

	"github.com/sessiondb/sessiondb"
)

func testEventsRetentionCount(e *env) {
	// Three entries a bucket here.
	var toks []sessiondb.Token
	for range 5 {
		toks = append(toks, e.create("ret", time.Hour, nil).Token)
	}
	got := e.waitEvents("", sessiondb.EventFilter{UserID: "ret"}, 3)
	if len(got) != 3 {
		e.t.Fatalf("%d events kept of one user's 5 creates, want the last 3:\n%s", len(got), eventsText(got))
	}
	for i, ev := range got {
		if id, _ := sessiondb.IDFromToken(string(toks[i+2])); ev.SessionID != id {
			e.t.Fatalf("kept %s, want the last three creates", eventsText(got))
		}
	}
	// Many users: each bucket keeps its last three entries.
	perBucket := make(map[int]int)
	perBucket[sessiondb.UserShard("ret").Bucket] = 5
	for i := range 200 {
		u := fmt.Sprintf("ret-%d", i%50)
		e.create(u, time.Hour, nil)
		perBucket[sessiondb.UserShard(u).Bucket]++
	}
	want := 0
	for _, n := range perBucket {
		want += min(n, 3)
	}
	if got := e.allEvents("", sessiondb.EventFilter{}); len(got) != want {
		e.t.Fatalf("%d events kept, want %d (three a bucket)", len(got), want)
	}
	if st := e.stats(); st.EventEntries != int64(want) {
		e.t.Fatalf("Stats: %d event entries, want %d", st.EventEntries, want)
	}
}

func testEventsRetentionAge(e *env) {
	// MaxAge is an hour here; ages are judged by the clock of the change.
	for range 3 {
		e.create("old", time.Hour*3, nil)
	}
	e.clock.Advance(30 * time.Minute)
	var recent []string
	for range 2 {
		recent = append(recent, e.create("old", time.Hour*3, nil).ID)
	}
	if got := e.waitEvents("", sessiondb.EventFilter{}, 5); len(got) != 5 {
		e.t.Fatalf("%d events, want 5", len(got))
	}
	e.clock.Advance(31 * time.Minute)
	check := func() {
		e.t.Helper()
		got := e.allEvents("", sessiondb.EventFilter{})
		if len(got) != 2 || got[0].SessionID != recent[0] || got[1].SessionID != recent[1] {
			e.t.Fatalf("events younger than an hour:\n%s\nwant the last two creates", eventsText(got))
		}
	}
	check()
	if _, err := e.m.Cleanup(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	check()
}
