package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
)

// eventsEnv is the environment of a sessionctl (or a sessiond) that uses
// srv with events on.
func eventsEnv(srv *redistest.Server) map[string]string {
	env := redisEnv(srv)
	env["SESSION_EVENTS"] = "true"
	return env
}

// jsonLines parses stdout as one JSON object a line, each kept as a map
// (to see which fields are present) and as text (to see their order).
func jsonLines(t *testing.T, r result) (objs []map[string]any, lines []string) {
	t.Helper()
	for line := range strings.Lines(r.stdout) {
		var o map[string]any
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("a line of events --json is not a JSON object: %v\n%q", err, line)
		}
		objs = append(objs, o)
		lines = append(lines, strings.TrimSuffix(line, "\n"))
	}
	return objs, lines
}

// waitEvents runs sessionctl events with args until it prints n events or
// more (the readers return a change once it is final, about a second
// later), a bounded number of times.
func waitEvents(t *testing.T, env map[string]string, n int, args ...string) result {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := ctl(t, env, append([]string{"events", "--json"}, args...)...).want(t, exitOK)
		if strings.Count(r.stdout, "\n") >= n {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("events %v: fewer than %d events after 30s\n%s", args, n, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// libraryEvents reads the whole log through the library, as the other
// readers do.
func libraryEvents(t *testing.T, m *sessiondb.Manager, since string, f sessiondb.EventFilter) []sessiondb.Event {
	t.Helper()
	var out []sessiondb.Event
	for ev, err := range m.Events(context.Background(), since, f) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// documentedEvent reads the event object of docs/events.md: the fields of
// its table and the example's line.
func documentedEvent(t *testing.T) (fields []string, example string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### The event object\n")
	if !ok {
		t.Fatal("docs/events.md has no section The event object")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, example, _ = strings.Cut(section, "```json\n")
	example, _, _ = strings.Cut(example, "\n")
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(section, -1) {
		fields = append(fields, m[1])
	}
	if len(fields) < 9 || example == "" {
		t.Fatalf("docs/events.md: the event object's table or example not found (%v, %q)", fields, example)
	}
	return fields, example
}

// keysInOrder returns the keys of a one-level JSON object in their order.
func keysInOrder(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	var keys []string
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %q", line)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestEvents(t *testing.T) {
	srv := redistest.Start(t)
	env := eventsEnv(srv)
	env["MAX_SESSIONS_PER_USER"] = "2"
	m := manager(t, env)
	ctx := sessiondb.WithActor(context.Background(), "frontend")
	md := map[string]string{"ip": "203.0.113.9", "note": "a \x1b[31mred\x1b[0m line"}
	var tokens []string
	newSession := func(user string) *sessiondb.Session {
		t.Helper()
		s, err := m.Create(ctx, user, time.Hour, md)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, string(s.Token))
		return s
	}
	a1 := newSession("alice")
	a2 := newSession("alice")
	a3 := newSession("alice") // evicts a1
	b1 := newSession("bob")
	rot, err := m.Rotate(ctx, string(a3.Token))
	if err != nil {
		t.Fatal(err)
	}
	tokens = append(tokens, string(rot.Token))
	if err := m.Invalidate(ctx, string(rot.Token)); err != nil {
		t.Fatal(err)
	}
	if err := m.InvalidateByID(context.Background(), b1.ID); err != nil { // actor: library
		t.Fatal(err)
	}
	// created ×4, evicted, rotated, invalidated ×2.
	r := waitEvents(t, env, 8)
	objs, lines := jsonLines(t, r)
	want := libraryEvents(t, m, "", sessiondb.EventFilter{})
	if len(objs) != 8 || len(want) != 8 {
		t.Fatalf("events --json printed %d events, the library reads %d; want 8\n%s", len(objs), len(want), r)
	}
	// Each user's events in the order of the changes (across users, the
	// order is by time).
	types := map[any][]string{}
	for _, o := range objs {
		types[o["user_id"]] = append(types[o["user_id"]], o["type"].(string))
	}
	if got := strings.Join(types["alice"], " "); got != "created created created evicted rotated invalidated" {
		t.Errorf("alice's event types in order: %s", got)
	}
	if got := strings.Join(types["bob"], " "); got != "created invalidated" {
		t.Errorf("bob's event types in order: %s", got)
	}
	// The same events as the library reads, field by field, in the shape of
	// docs/events.md (the fields of its table, in the order of its example).
	fields, example := documentedEvent(t)
	for i, o := range objs {
		ev := want[i]
		if o["id"] != ev.ID || o["type"] != string(ev.Type) || o["session_id"] != ev.SessionID ||
			o["user_id"] != ev.UserID || o["cause"] != string(ev.Cause) || o["actor"] != ev.Actor ||
			o["time"] != ev.Time.UTC().Format("2006-01-02T15:04:05.000Z") {
			t.Errorf("event %d: sessionctl %v, library %+v", i, o, ev)
		}
		for k := range o {
			if !slices.Contains(fields, k) {
				t.Errorf("event %d has the field %q, which docs/events.md does not list", i, k)
			}
		}
		if _, ok := o["new_session_id"]; ok != (ev.Type == sessiondb.EventRotated) {
			t.Errorf("event %d (%s): new_session_id present: %v", i, ev.Type, ok)
		}
		if _, ok := o["metadata"]; ok != (ev.Type == sessiondb.EventCreated) {
			t.Errorf("event %d (%s): metadata present: %v", i, ev.Type, ok)
		}
	}
	evicted := slices.IndexFunc(objs, func(o map[string]any) bool { return o["type"] == "evicted" })
	if got, want := keysInOrder(t, lines[evicted]), keysInOrder(t, example); !slices.Equal(got, want) {
		t.Errorf("an evicted event's fields are %v, docs/events.md's example %v", got, want)
	}
	bySession := map[string]map[string]any{}
	for _, o := range objs {
		bySession[o["type"].(string)+" "+o["session_id"].(string)] = o
	}
	if bySession["evicted "+a1.ID] == nil || bySession["rotated "+a3.ID]["new_session_id"] != rot.ID ||
		bySession["invalidated "+rot.ID]["cause"] != "logout" || bySession["invalidated "+rot.ID]["actor"] != "frontend" ||
		bySession["invalidated "+b1.ID]["cause"] != "admin" || bySession["invalidated "+b1.ID]["actor"] != "library" {
		t.Errorf("events:\n%s", r.stdout)
	}
	if got := objs[0]["metadata"].(map[string]any); !maps.Equal(got, map[string]any{"ip": md["ip"], "note": md["note"]}) {
		t.Errorf("metadata of created = %v, want %v", got, md)
	}

	// The table: a header, a line per event, the cursor to read on from;
	// nothing a terminal would run.
	r = ctl(t, env, "events").want(t, exitOK)
	out := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(out) != 10 || !strings.HasPrefix(out[0], "ID ") || !strings.HasPrefix(out[9], "8 event(s); read on with --since ") {
		t.Fatalf("events table:\n%s", r)
	}
	for i, ev := range want {
		if f := strings.Fields(out[i+1]); len(f) < 7 || f[0] != ev.ID || f[3] != string(ev.Type) || f[4] != ev.SessionID || f[5] != ev.UserID {
			t.Errorf("table line %d = %q, want the event %+v", i+1, out[i+1], ev)
		}
	}
	for _, s := range []string{"cause=logout", "cause=admin", "new_session_id=" + rot.ID, `note="a \x1b[31mred`[:6]} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("events table lacks %q:\n%s", s, r)
		}
	}
	if strings.Contains(r.stdout, "\x1b") {
		t.Errorf("events table prints an escape sequence of the metadata:\n%q", r.stdout)
	}
	for _, tok := range tokens {
		for _, out := range []string{r.stdout, strings.Join(lines, "\n")} {
			if strings.Contains(out, tok) || strings.Contains(out, tok[4:20]) {
				t.Fatal("events print a token")
			}
		}
	}

	// Resuming: after the 3rd event, the 5 later ones; after the table's
	// cursor, none, then only what changed since.
	r = ctl(t, env, "events", "--json", "--since", want[2].ID).want(t, exitOK)
	if got, _ := jsonLines(t, r); len(got) != 5 || got[0]["id"] != want[3].ID {
		t.Errorf("events --since the 3rd event:\n%s", r)
	}
	next := strings.TrimPrefix(out[9], "8 event(s); read on with --since ")
	if r := ctl(t, env, "events", "--since", next).want(t, exitOK); !strings.HasPrefix(r.stdout, "no events; read on with --since ") {
		t.Errorf("events --since the table's cursor:\n%s", r)
	}
	if err := m.InvalidateByID(ctx, a2.ID); err != nil {
		t.Fatal(err)
	}
	r = waitEvents(t, env, 1, "--since", next)
	if got, _ := jsonLines(t, r); len(got) != 1 || got[0]["session_id"] != a2.ID || got[0]["cause"] != "admin" {
		t.Errorf("events --since the cursor after a revoke:\n%s", r)
	}

	// Filters: a user, types (comma-separated and repeated), together.
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--user", "bob"}, 2},
		{[]string{"--user", "carol"}, 0},
		{[]string{"--type", "invalidated,evicted"}, 4},
		{[]string{"--type", "invalidated", "--type", "evicted", "--type", "invalidated"}, 4},
		{[]string{"--type", "created", "--user", "alice"}, 3},
		{[]string{"--type", "expired,restored,refreshed,updated"}, 0},
	} {
		r := ctl(t, env, append([]string{"events", "--json"}, tc.args...)...).want(t, exitOK)
		got, _ := jsonLines(t, r)
		if len(got) != tc.want {
			t.Errorf("events %v: %d events, want %d\n%s", tc.args, len(got), tc.want, r)
		}
	}
}

func TestEventsRefusals(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"events", "extra"}, `unexpected argument "extra"`},
		{[]string{"events", "--type", "login"}, `unknown event type "login"`},
		{[]string{"events", "--type", "created,"}, `unknown event type ""`},
		{[]string{"events", "--since", "yesterday"}, "want an event id"},
		{[]string{"events", "--since", "1-2-3"}, "want an event id"},
		{[]string{"events", "--since", "1-0-zzz-0"}, "want an event id"},
		{[]string{"events", "--user", ""}, "--user"},
		{[]string{"events", "--user", "a\x1bb"}, "control character"},
		{[]string{"events", "--follow=maybe"}, "invalid boolean"},
	} {
		r := ctl(t, eventsEnv(srv), tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.msg) || r.stdout != "" {
			t.Errorf("sessionctl %q: want exit 2 saying %q on stderr only\n%s", tc.args, tc.msg, r)
		}
	}
	// Events off in sessionctl's configuration: say which setting.
	r := ctl(t, redisEnv(srv), "events")
	if r.code != exitUsage || !strings.Contains(r.stderr, "SESSION_EVENTS=true") || r.stdout != "" {
		t.Errorf("events with SESSION_EVENTS off: want exit 2 naming the setting\n%s", r)
	}
	// No Redis: the embedded store would be empty.
	r = ctl(t, map[string]string{"SESSION_EVENTS": "true"}, "events", "--follow")
	if r.code != exitUsage || !strings.Contains(r.stderr, "no Redis configured") {
		t.Errorf("events without Redis: want exit 2\n%s", r)
	}
	// Redis down: exit 3, with --follow too (it has never read).
	env := eventsEnv(srv)
	env["REDIS_TIMEOUT_MS"] = "300"
	srv.Stop()
	for _, args := range [][]string{{"events"}, {"events", "--follow"}} {
		if r := ctl(t, env, args...); r.code != exitUnavailable || r.stdout != "" {
			t.Errorf("%v with Redis down: want exit 3\n%s", args, r)
		}
	}
}

// syncBuffer collects output written from another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestEventsFollow(t *testing.T) {
	srv := redistest.Start(t)
	env := eventsEnv(srv)
	env["MAX_SESSIONS_PER_USER"] = "0" // no limit
	m := manager(t, env)
	create(t, m, "before", time.Hour, nil)
	time.Sleep(5 * time.Millisecond) // a later millisecond: the present starts after it

	// --follow without --since starts with the present (not with the
	// session of "before"), and runs until its context ends (Ctrl-C,
	// SIGTERM), then exits 0.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errw := &syncBuffer{}, &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"events", "--follow", "--json"}, func(k string) string { return env[k] }, nil, out, errw)
	}()
	var made []string
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(out.String(), "\n") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("events --follow printed %q in 60s; stderr %q", out.String(), errw.String())
		}
		made = append(made, create(t, m, "after", time.Hour, nil).ID)
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("events --follow ended by its context: exit %d\n%s%s", code, out.String(), errw.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("events --follow did not end with its context")
	}
	objs, _ := jsonLines(t, result{stdout: out.String()})
	// It may have started after the first few creates; from its first
	// event on, it printed every one, in order.
	first := slices.Index(made, objs[0]["session_id"].(string))
	if first < 0 {
		t.Fatalf("events --follow printed a session the test did not create: %v", objs[0])
	}
	for i, o := range objs {
		if o["type"] != "created" || o["user_id"] != "after" || first+i >= len(made) || o["session_id"] != made[first+i] {
			t.Fatalf("events --follow, event %d: %v; made %v", i, o, made)
		}
	}

	// Resuming after the last event printed gives the rest, none twice.
	last := objs[len(objs)-1]["id"].(string)
	rest := len(made) - first - len(objs)
	r := waitEvents(t, env, rest, "--since", last, "--user", "after")
	got, _ := jsonLines(t, r)
	if len(got) != rest {
		t.Fatalf("events --since the last followed: %d events, want %d\n%s", len(got), rest, r)
	}
	for i, o := range got {
		if o["session_id"] != made[first+len(objs)+i] {
			t.Errorf("event %d after the last followed: %v", i, o)
		}
	}
}

// TestEventsCluster replays the log of a mixed load on a three-primary
// cluster from sessionctl's JSON and rebuilds every user's sessions: they
// are the store's, and the events are the library's, in the same order.
func TestEventsCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	cl := redistest.StartCluster(t, 3)
	env := map[string]string{"REDIS_URL": cl.URL(),
		"REDIS_TIMEOUT_MS": slow, "SESSION_EVENTS": "true", "MAX_SESSIONS_PER_USER": "3"}
	m := manager(t, env)
	ctx := context.Background()
	const users = 30
	var held []*sessiondb.Session
	for i := range 200 {
		user := fmt.Sprintf("user-%d", i%users)
		switch {
		case i%7 == 3 && len(held) > 0:
			s := held[len(held)-1]
			held = held[:len(held)-1]
			if r, err := m.Rotate(ctx, string(s.Token)); err == nil {
				held = append(held, r)
			}
		case i%11 == 5 && len(held) > 0:
			m.Invalidate(ctx, string(held[0].Token))
			held = held[1:]
		case i%13 == 6:
			if _, err := m.InvalidateUser(ctx, user, ""); err != nil {
				t.Fatal(err)
			}
		default:
			held = append(held, create(t, m, user, time.Hour, nil))
		}
	}
	st := stats(t, m)
	var r result
	var objs []map[string]any
	deadline := time.Now().Add(60 * time.Second)
	for {
		r = ctl(t, env, "events", "--json").want(t, exitOK)
		objs, _ = jsonLines(t, r)
		created := 0
		for _, o := range objs {
			if o["type"] == "created" {
				created++
			}
		}
		if int64(created) == st.Created {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d created events after 60s, Stats say %d", created, st.Created)
		}
		time.Sleep(200 * time.Millisecond)
	}
	lib := libraryEvents(t, m, "", sessiondb.EventFilter{})
	if len(lib) != len(objs) {
		t.Fatalf("sessionctl printed %d events, the library reads %d", len(objs), len(lib))
	}
	sets := map[string]map[string]bool{}
	nodes := map[string]bool{}
	for i, o := range objs {
		if o["id"] != lib[i].ID {
			t.Fatalf("event %d: sessionctl %v, library %+v", i, o, lib[i])
		}
		user, id := o["user_id"].(string), o["session_id"].(string)
		nodes[cl.NodeOf(t, "{"+sessiondb.UserShard(user).Tag()+"}").Addr()] = true
		if sets[user] == nil {
			sets[user] = map[string]bool{}
		}
		switch o["type"] {
		case "created":
			sets[user][id] = true
		case "rotated":
			delete(sets[user], id)
			sets[user][o["new_session_id"].(string)] = true
		case "invalidated", "evicted", "expired":
			if !sets[user][id] {
				t.Fatalf("event %v ends a session that is not there", o)
			}
			delete(sets[user], id)
		}
	}
	if len(nodes) != 3 {
		t.Errorf("the users' events are on %d primaries, want all 3", len(nodes))
	}
	for u := range users {
		user := fmt.Sprintf("user-%d", u)
		ss, err := m.UserSessions(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		var live []string
		for _, s := range ss {
			live = append(live, s.ID)
		}
		rebuilt := slices.Sorted(maps.Keys(sets[user]))
		slices.Sort(live)
		if !slices.Equal(rebuilt, live) {
			t.Errorf("user %s: the events rebuild %v, the store holds %v", user, rebuilt, live)
		}
	}
}

// TestEventsFollowRedisDown: once it has read, --follow reports a Redis
// that went away on stderr and, when Redis is back, prints what comes.
func TestEventsFollowRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	env := eventsEnv(srv)
	env["REDIS_TIMEOUT_MS"] = "500"
	m := manager(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errw := &syncBuffer{}, &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"events", "--follow", "--json"}, func(k string) string { return env[k] }, nil, out, errw)
	}()
	waitFor := func(what string, ok func() bool, step func()) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60s\nstdout %q\nstderr %q", what, out.String(), errw.String())
			}
			step()
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("the first event", func() bool { return strings.Contains(out.String(), `"user_id":"one"`) },
		func() { create(t, m, "one", time.Hour, nil) })
	srv.Stop()
	waitFor("the report of Redis down", func() bool { return strings.Contains(errw.String(), "trying again every") }, func() {})
	srv.Restart()
	waitFor("an event after Redis is back", func() bool { return strings.Contains(out.String(), `"user_id":"two"`) },
		func() { m.Create(context.Background(), "two", time.Hour, nil) })
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("events --follow: exit %d\n%s", code, errw.String())
	}
	if !strings.Contains(errw.String(), "reading again, after ") {
		t.Errorf("events --follow does not say it reads again:\n%s", errw.String())
	}
}
