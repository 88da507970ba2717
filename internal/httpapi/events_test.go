package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/metrics"
	"github.com/sessiondb/sessiondb/memstore"
)

const (
	testFrontendKey = "frontend:app:the-frontend-key-0123456789"
	testOpsKey      = "ops:admin:the-ops-admin-key-0123456789"
	testPlainAppKey = "app:the-plain-app-key-0123456789"
)

func bearerOf(entry string) string {
	return "Bearer " + entry[strings.LastIndexByte(entry, ':')+1:]
}

// newEventServer returns a Server over a memory store that records events,
// with three keys: frontend (app), ops (admin) and an unnamed app key.
func newEventServer(tb testing.TB, opt sessiondb.Options) *Server {
	tb.Helper()
	st, err := memstore.NewWithOptions(memstore.Options{Events: &sessiondb.EventOptions{}})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := sessiondb.New(st, opt)
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := LoadKeys(testFrontendKey+","+testOpsKey+","+testPlainAppKey, "")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Config{Manager: m, Keys: keys, Metrics: metrics.New("test"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// eventJSON is the event object, decoded strictly.
type eventJSON struct {
	ID           string             `json:"id"`
	Type         string             `json:"type"`
	Time         time.Time          `json:"time"`
	SessionID    string             `json:"session_id"`
	NewSessionID *string            `json:"new_session_id"`
	UserID       string             `json:"user_id"`
	Cause        *string            `json:"cause"`
	Actor        string             `json:"actor"`
	Metadata     *map[string]string `json:"metadata"`
}

type eventPageJSON struct {
	Events []eventJSON `json:"events"`
	Next   *string     `json:"next"`
	More   *bool       `json:"more"`
}

func decodeStrict(tb testing.TB, b []byte, v any) {
	tb.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: %v", b, err)
	}
}

func readPage(tb testing.TB, h http.Handler, query string) eventPageJSON {
	tb.Helper()
	w := do(tb, h, "GET", "/v1/events?"+query, "", "Authorization", bearerOf(testOpsKey))
	if w.Code != http.StatusOK {
		tb.Fatalf("GET /v1/events?%s: %d %s", query, w.Code, w.Body.String())
	}
	var p eventPageJSON
	decodeStrict(tb, w.Body.Bytes(), &p)
	if p.Next == nil || p.More == nil || p.Events == nil {
		tb.Fatalf("page %s lacks events, next or more", w.Body.String())
	}
	return p
}

// TestEventsHTTP: the page route, its filters and errors, the JSON shape of
// events, the actor from the API key's name, and the reason of a 404.
func TestEventsHTTP(t *testing.T) {
	s := newEventServer(t, sessiondb.Options{MaxSessionsPerUser: 2})
	front, ops, plain := bearerOf(testFrontendKey), bearerOf(testOpsKey), bearerOf(testPlainAppKey)
	create := func(auth, user, md string) (tok, id string) {
		t.Helper()
		w := do(t, s, "POST", "/v1/sessions", `{"user_id":"`+user+`"`+md+`}`, "Authorization", auth)
		if w.Code != http.StatusCreated {
			t.Fatalf("create: %d %s", w.Code, w.Body.String())
		}
		var x struct{ ID, Token string }
		json.Unmarshal(w.Body.Bytes(), &x)
		return x.Token, x.ID
	}
	a, aID := create(front, "alice", `,"metadata":{"ip":"192.0.2.1"}`)
	_, bID := create(plain, "alice", "")
	_, cID := create(front, "alice", "") // evicts a
	w := do(t, s, "POST", "/v1/sessions/rotate", `{"token":"`+a+`"}`, "Authorization", front)
	wantError(t, w, 404, "not_found", "")
	if w := do(t, s, "DELETE", "/v1/sessions/"+bID, "", "Authorization", ops); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", w.Code)
	}
	d, dID := create(front, "bob", "")
	w = do(t, s, "POST", "/v1/sessions/rotate", `{"token":"`+d+`"}`, "Authorization", front)
	var rot struct{ ID, Token string }
	json.Unmarshal(w.Body.Bytes(), &rot)
	if w := do(t, s, "PATCH", "/v1/sessions/"+rot.ID, `{"metadata":{"device":"phone"}}`, "Authorization", plain); w.Code != 200 {
		t.Fatalf("PATCH: %d %s", w.Code, w.Body.String())
	}

	// The reason of a 404 of validate, in the error object.
	w = do(t, s, "POST", "/v1/sessions/validate", `{"token":"`+a+`"}`, "Authorization", front)
	var e struct {
		Error struct{ Code, Message, Reason string } `json:"error"`
	}
	decodeStrict(t, w.Body.Bytes(), &e)
	if w.Code != 404 || e.Error.Code != "not_found" || e.Error.Reason != "evicted" || !strings.Contains(e.Error.Message, "evicted") {
		t.Fatalf("validate of an evicted token: %d %s", w.Code, w.Body.String())
	}
	w = do(t, s, "POST", "/v1/sessions/validate", `{"token":"`+d+`"}`, "Authorization", front)
	decodeStrict(t, w.Body.Bytes(), &e)
	if w.Code != 404 || e.Error.Reason != "rotated" {
		t.Fatalf("validate of a rotated token: %d %s", w.Code, w.Body.String())
	}
	w = do(t, s, "POST", "/v1/sessions/validate", `{"token":"sdb_nope"}`, "Authorization", front)
	if strings.Contains(w.Body.String(), "reason") {
		t.Fatalf("validate of a malformed token: %s, want no reason", w.Body.String())
	}

	p := readPage(t, s, "")
	type row struct{ typ, sid, actor, cause string }
	var got []row
	for _, ev := range p.Events {
		cause := ""
		if ev.Cause != nil {
			cause = *ev.Cause
		} else {
			t.Fatalf("event %s without cause", ev.ID)
		}
		got = append(got, row{ev.Type, ev.SessionID, ev.Actor, cause})
		if (ev.Metadata != nil) != (ev.Type == "created" || ev.Type == "updated" || ev.Type == "restored") {
			t.Errorf("event %+v: metadata present = %v", ev, ev.Metadata != nil)
		}
		if (ev.NewSessionID != nil) != (ev.Type == "rotated") {
			t.Errorf("event %+v: new_session_id present = %v", ev, ev.NewSessionID != nil)
		}
		if ev.Time.IsZero() || time.Since(ev.Time) > time.Minute {
			t.Errorf("event %+v: time", ev)
		}
	}
	want := []row{
		{"created", aID, "frontend", ""}, {"created", bID, "app", ""},
		{"created", cID, "frontend", ""}, {"evicted", aID, "frontend", ""},
		{"invalidated", bID, "ops", "admin"},
		{"created", dID, "frontend", ""}, {"rotated", dID, "frontend", ""},
		{"updated", rot.ID, "app", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n%v\nwant\n%v", got, want)
	}
	if md := *p.Events[0].Metadata; len(md) != 1 || md["ip"] != "192.0.2.1" {
		t.Fatalf("created metadata = %v", *p.Events[0].Metadata)
	}
	if *p.Events[6].NewSessionID != rot.ID || (*p.Events[7].Metadata)["device"] != "phone" {
		t.Fatalf("rotated %v, updated %v", *p.Events[6].NewSessionID, *p.Events[7].Metadata)
	}

	// Pages, resumed from next; filters.
	var paged []string
	next := ""
	for range 20 {
		p := readPage(t, s, "limit=3&since="+url.QueryEscape(next))
		for _, ev := range p.Events {
			paged = append(paged, ev.ID)
		}
		next = *p.Next
		if !*p.More {
			break
		}
	}
	if len(paged) != len(want) || paged[len(paged)-1] != p.Events[len(p.Events)-1].ID {
		t.Fatalf("pages of 3: %v", paged)
	}
	if p := readPage(t, s, "since="+url.QueryEscape(next)); len(p.Events) != 0 || *p.More {
		t.Fatalf("after the last next: %+v", p)
	}
	if p := readPage(t, s, "user_id=bob&type=rotated&type=updated"); len(p.Events) != 2 || p.Events[0].Type != "rotated" {
		t.Fatalf("bob's rotated and updated: %+v", p)
	}
	if p := readPage(t, s, "type=evicted,invalidated"); len(p.Events) != 2 {
		t.Fatalf("evicted and invalidated: %+v", p)
	}
	if p := readPage(t, s, "since="+url.QueryEscape(p.Events[3].ID)+"&limit=2"); len(p.Events) != 2 || p.Events[0].ID != readPage(t, s, "").Events[4].ID {
		t.Fatalf("after the 4th event: %+v", p)
	}

	// Bad input, roles, events off.
	for q, field := range map[string]string{
		"since=nope": "since", "limit=0": "limit", "limit=1001": "limit", "limit=x": "limit",
		"type=login": "type", "type=created,": "type", "user_id=": "user_id", "user_id=%00": "user_id",
	} {
		wantError(t, do(t, s, "GET", "/v1/events?"+q, "", "Authorization", ops), 400, "invalid_argument", field)
		wantError(t, doStream(t, s, "/v1/events/stream?"+q, "Authorization", ops), 400, "invalid_argument", field)
	}
	wantError(t, doStream(t, s, "/v1/events/stream", "Authorization", ops, "Last-Event-ID", "x-y"), 400, "invalid_argument", "Last-Event-ID")
	wantError(t, doStream(t, s, "/v1/events/stream?since=1", "Authorization", ops, "Last-Event-ID", "1-0-zzz-0"), 400, "invalid_argument", "Last-Event-ID")
	wantError(t, do(t, s, "GET", "/v1/events", "", "Authorization", front), 403, "permission_denied", "")
	wantError(t, doStream(t, s, "/v1/events/stream", "Authorization", front), 403, "permission_denied", "")
	wantError(t, do(t, s, "GET", "/v1/events", ""), 401, "unauthenticated", "")
	off := newTestServer(t, sessiondb.Options{}, nil)
	wantError(t, do(t, off, "GET", "/v1/events", ""), 409, "events_off", "")
	wantError(t, doStream(t, off, "/v1/events/stream"), 409, "events_off", "")
	// Without events, a 404 never has a reason.
	tok, _ := createToken(t, off, "x")
	do(t, off, "POST", "/v1/sessions/invalidate", `{"token":"`+tok+`"}`)
	wantError(t, do(t, off, "POST", "/v1/sessions/validate", `{"token":"`+tok+`"}`), 404, "not_found", "")
}

// doStream serves GET target in process with a request that ends after a
// few seconds, so that a stream answered where an error was wanted ends
// (and fails the caller's check) instead of running on.
func doStream(tb testing.TB, h http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, "GET", target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestEventsAnonymousActor: without API keys, the actor is anonymous.
func TestEventsAnonymousActor(t *testing.T) {
	st, _ := memstore.NewWithOptions(memstore.Options{Events: &sessiondb.EventOptions{}})
	m, _ := sessiondb.New(st, sessiondb.Options{})
	s, err := New(Config{Manager: m})
	if err != nil {
		t.Fatal(err)
	}
	createToken(t, s, "anon")
	w := do(t, s, "GET", "/v1/events", "")
	var p eventPageJSON
	decodeStrict(t, w.Body.Bytes(), &p)
	if len(p.Events) != 1 || p.Events[0].Actor != ActorAnonymous {
		t.Fatalf("events = %+v, want one by %s", p.Events, ActorAnonymous)
	}
}

// sseEvent is one dispatched Server-Sent Event, or an id line without data.
type sseEvent struct {
	id, data string
}

// sseReader reads a text/event-stream as the HTML specification's
// EventSource does: id lines set the last event id even without data.
type sseReader struct {
	sc     *bufio.Scanner
	lastID string
}

// next returns the next block (up to a blank line): its id and data.
func (r *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data []string
	for r.sc.Scan() {
		line := r.sc.Text()
		if line == "" {
			ev.data = strings.Join(data, "\n")
			return ev, nil
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.id, r.lastID = value, value
		case "data":
			data = append(data, value)
		}
	}
	if err := r.sc.Err(); err != nil {
		return ev, err
	}
	return ev, io.EOF
}

// stream opens GET /v1/events/stream?query with Last-Event-ID lastID.
func stream(tb testing.TB, ctx context.Context, base, query, lastID string) (*sseReader, *http.Response) {
	tb.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/events/stream?"+query, nil)
	req.Header.Set("Authorization", bearerOf(testOpsKey))
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("stream: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	return &sseReader{sc: bufio.NewScanner(resp.Body)}, resp
}

// nextEvent reads blocks until one with data, and decodes it.
func (r *sseReader) nextEvent(tb testing.TB) eventJSON {
	tb.Helper()
	for range 1000 {
		ev, err := r.next()
		if err != nil {
			tb.Fatalf("stream ended: %v", err)
		}
		if ev.data == "" {
			continue
		}
		var e eventJSON
		decodeStrict(tb, []byte(ev.data), &e)
		if ev.id != e.ID {
			tb.Fatalf("SSE id %q, event id %q", ev.id, e.ID)
		}
		return e
	}
	tb.Fatal("no event in 1000 blocks")
	return eventJSON{}
}

// TestEventStream runs the SSE route over real HTTP, on a server whose
// read and write timeouts are a fraction of the stream's life: events
// arrive in order, heartbeats move the client's Last-Event-ID on, a client
// reconnecting with Last-Event-ID resumes exactly, and Shutdown ends the
// streams.
func TestEventStream(t *testing.T) {
	s := newEventServer(t, sessiondb.Options{MaxSessionsPerUser: -1})
	s.eventPoll, s.heartbeat = 20*time.Millisecond, 200*time.Millisecond
	ts := httptest.NewUnstartedServer(s)
	ts.Config.ReadTimeout, ts.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	ts.Config.BaseContext = func(net.Listener) context.Context { return context.Background() }
	ts.Start()
	defer ts.Close()
	front := bearerOf(testFrontendKey)
	create := func(user string) string {
		w := do(t, s, "POST", "/v1/sessions", `{"user_id":"`+user+`"}`, "Authorization", front)
		if w.Code != 201 {
			t.Fatalf("create: %d", w.Code)
		}
		var x struct{ ID string }
		json.Unmarshal(w.Body.Bytes(), &x)
		return x.ID
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Before any event: the stream starts at "now" and says so in an id line.
	r, _ := stream(t, ctx, ts.URL, "", "")
	first, err := r.next()
	if err != nil || first.id == "" || first.data != "" {
		t.Fatalf("first block = %+v, %v; want an id line without data", first, err)
	}
	var ids []string
	for i := range 5 {
		ids = append(ids, create("sse-"+string(rune('a'+i))))
	}
	var lastCursor sessiondb.EventCursor
	for i := range 5 {
		ev := r.nextEvent(t)
		if ev.SessionID != ids[i] || ev.Type != "created" || ev.Actor != "frontend" {
			t.Fatalf("event %d = %+v, want the creation of %s", i, ev, ids[i])
		}
		lastCursor, _ = sessiondb.ParseEventCursor(ev.ID)
	}
	// Quiet for longer than the write and read timeouts: heartbeats keep
	// the stream alive, each with the cursor.
	deadline := time.Now().Add(time.Second)
	beats := 0
	for time.Now().Before(deadline) {
		ev, err := r.next()
		if err != nil {
			t.Fatalf("the stream ended while quiet, after %d heartbeats: %v", beats, err)
		}
		if ev.data != "" {
			t.Fatalf("an event while nothing changed: %+v", ev)
		}
		beats++
	}
	if beats < 2 {
		t.Fatalf("%d heartbeats in a second, with a heartbeat every 200ms", beats)
	}
	// The heartbeat's id is a cursor at or after the last event sent (in
	// memory, that event's id; with Redis, a time as it moves on).
	quietID := r.lastID
	if c, err := sessiondb.ParseEventCursor(quietID); err != nil || c.Compare(lastCursor) < 0 {
		t.Fatalf("the heartbeat's id %q is not a cursor at or after the last event %v: %v", quietID, lastCursor, err)
	}
	// More events; the client then reconnects with the last id it saw.
	more := []string{create("sse-f"), create("sse-g")}
	if ev := r.nextEvent(t); ev.SessionID != more[0] {
		t.Fatalf("after the quiet spell: %+v", ev)
	}
	resumeAfter := r.lastID
	more = append(more, create("sse-h"))
	r2, _ := stream(t, ctx, ts.URL, "", resumeAfter)
	for _, want := range more[1:] {
		if ev := r2.nextEvent(t); ev.SessionID != want {
			t.Fatalf("resumed after %s: %+v, want the creation of %s", resumeAfter, ev, want)
		}
	}
	// A client that reconnects with the heartbeat's id gets only what came after.
	r3, _ := stream(t, ctx, ts.URL, "user_id=sse-h", quietID)
	if ev := r3.nextEvent(t); ev.SessionID != more[2] {
		t.Fatalf("resumed from the heartbeat, user sse-h: %+v", ev)
	}
	// since and filters work as on the page route.
	r4, _ := stream(t, ctx, ts.URL, "since=&type=created&user_id=sse-a", "")
	if ev := r4.nextEvent(t); ev.SessionID != ids[0] {
		t.Fatalf("since the start, user sse-a: %+v", ev)
	}
	// The four open streams are counted as streams, not requests in flight.
	if n, f := testutil.ToFloat64(s.streams), testutil.ToFloat64(s.inFlight); n != 4 || f != 0 {
		t.Fatalf("event streams %v, requests in flight %v; want 4 and 0", n, f)
	}
	// Shutdown ends every stream.
	s.Shutdown()
	for _, rd := range []*sseReader{r, r2, r3, r4} {
		for {
			if _, err := rd.next(); err != nil {
				if err != io.EOF {
					t.Fatalf("stream after Shutdown: %v, want its end", err)
				}
				break
			}
		}
	}
	eventuallyTrue(t, "the stream gauge goes back to 0", func() bool {
		return testutil.ToFloat64(s.streams) == 0 && testutil.ToFloat64(s.inFlight) == 0
	})
}

// TestEventsConsoleActor: a revocation made in the console is recorded
// with the name of the admin key the console was signed in with.
func TestEventsConsoleActor(t *testing.T) {
	st, err := memstore.NewWithOptions(memstore.Options{Events: &sessiondb.EventOptions{}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := sessiondb.New(st, sessiondb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := LoadKeys(testOpsKey+",admin:"+testAdminKey, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Manager: m, Keys: ks, Metrics: metrics.New("test"), Logger: slog.New(slog.DiscardHandler),
		Console: &ConsoleConfig{Store: "embedded memory store", Version: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, _ := m.Create(ctx, "alice", 0, nil)
	b, _ := m.Create(ctx, "alice", 0, nil)
	opsKey := testOpsKey[strings.LastIndexByte(testOpsKey, ':')+1:]
	for _, x := range []struct{ key, id string }{{opsKey, a.ID}, {testAdminKey, b.ID}} {
		c := signInCookie(t, s, x.key)
		w := form(t, s, "/ui/sessions/revoke", url.Values{"id": {x.id}, "confirmed": {"1"}}, withCookie(c)...)
		if w.Code != http.StatusSeeOther {
			t.Fatalf("console revoke: %d %s", w.Code, w.Body)
		}
	}
	p := readPage(t, s, "type=invalidated")
	if len(p.Events) != 2 || p.Events[0].SessionID != a.ID || p.Events[0].Actor != "ops" ||
		p.Events[1].SessionID != b.ID || p.Events[1].Actor != "admin" || *p.Events[1].Cause != "admin" {
		t.Fatalf("console revocations = %+v, want one by ops, one by admin", p.Events)
	}
}

// eventuallyTrue waits up to ten seconds for cond.
func eventuallyTrue(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
