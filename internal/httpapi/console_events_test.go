package httpapi

import (
	"context"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/metrics"
	"github.com/sessiondb/sessiondb/memstore"
)

// fakeClock is a clock the tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// newEventConsole returns a console Server over a memory store that records
// events, its manager, and a cookie signed in with the admin key.
func newEventConsole(tb testing.TB, opt sessiondb.Options) (*Server, *sessiondb.Manager, []string) {
	tb.Helper()
	st, err := memstore.NewWithOptions(memstore.Options{Events: &sessiondb.EventOptions{}})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := sessiondb.New(st, opt)
	if err != nil {
		tb.Fatal(err)
	}
	ks, err := LoadKeys(testOpsKey+",admin:"+testAdminKey, "")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Config{Manager: m, Keys: ks, Metrics: metrics.New("test"), Logger: slog.New(slog.DiscardHandler),
		Console: &ConsoleConfig{Store: "embedded memory store", Version: "test"}})
	if err != nil {
		tb.Fatal(err)
	}
	return s, m, withCookie(signInCookie(tb, s, testAdminKey))
}

var (
	eventRowRE   = regexp.MustCompile(`<tr data-event="([^"]+)" data-type="([^"]+)">`)
	olderLinkRE  = regexp.MustCompile(`<a href="([^"]+)" rel="next">Older events</a>`)
	newestLinkRE = regexp.MustCompile(`<a href="([^"]+)">Newest events</a>`)
)

// eventsPageOf gets an events page and returns its body, the ids of its
// rows in order, and its Older events link ("" when none).
func eventsPageOf(tb testing.TB, s http.Handler, cookie []string, target string, status int) (body string, ids []string, older string) {
	tb.Helper()
	w := do(tb, s, "GET", target, "", cookie...)
	body = w.Body.String()
	if w.Code != status {
		tb.Fatalf("GET %s: %d, want %d\n%s", target, w.Code, status, body)
	}
	for _, m := range eventRowRE.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	if m := olderLinkRE.FindStringSubmatch(body); m != nil {
		older = html.UnescapeString(m[1])
	}
	return body, ids, older
}

// allEvents returns the ids of the events f selects, newest first, as
// the API's reader gives them (oldest first) reversed.
func allEvents(tb testing.TB, m *sessiondb.Manager, f sessiondb.EventFilter, cause sessiondb.Cause) []string {
	tb.Helper()
	var ids []string
	for e, err := range m.Events(context.Background(), "", f) {
		if err != nil {
			tb.Fatal(err)
		}
		if cause == "" || e.Cause == cause {
			ids = append(ids, e.ID)
		}
	}
	slices.Reverse(ids)
	return ids
}

// pageThrough follows the Older events links from target and returns every
// row's id, checking that pages are full but the last.
func pageThrough(tb testing.TB, s http.Handler, cookie []string, target string) []string {
	tb.Helper()
	var all []string
	for n := 0; target != ""; n++ {
		if n > 100 {
			tb.Fatalf("more than 100 pages from %s", target)
		}
		body, ids, older := eventsPageOf(tb, s, cookie, target, http.StatusOK)
		if older != "" && len(ids) != consoleEventRows {
			tb.Errorf("%s: %d rows and an Older link, want a full page of %d", target, len(ids), consoleEventRows)
		}
		if n > 0 && !newestLinkRE.MatchString(body) {
			tb.Errorf("%s: a later page without the Newest events link", target)
		}
		all = append(all, ids...)
		target = older
	}
	return all
}

// TestConsoleEventsOff: with events off the page says so and how to turn
// them on, and is in the navigation.
func TestConsoleEventsOff(t *testing.T) {
	s := newConsoleServer(t, "admin:"+testAdminKey)
	c := withCookie(signInCookie(t, s, testAdminKey))
	body, ids, _ := eventsPageOf(t, s, c, "/ui/events?type=bogus", http.StatusOK)
	for _, want := range []string{`<a href="/ui/events" aria-current="page">Events</a>`, "Events are off.", "<code>SESSION_EVENTS=true</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("events page with events off lacks %q", want)
		}
	}
	if len(ids) != 0 || strings.Contains(body, `<form class="filters"`) {
		t.Error("events page with events off shows rows or filters")
	}
	// Signed out, it sends to the sign-in page, as every page does.
	if w := do(t, s, "GET", "/ui/events", ""); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login" {
		t.Errorf("signed out: %d to %q", w.Code, w.Header().Get("Location"))
	}
}

// TestConsoleEvents: the rows, newest first, with their links; the
// filters; bad filter values; the empty state; no token anywhere.
func TestConsoleEvents(t *testing.T) {
	s, m, c := newEventConsole(t, sessiondb.Options{MaxSessionsPerUser: 2})
	ctx := context.Background()
	opsCtx := sessiondb.WithActor(ctx, "ops")
	var tokens []string
	create := func(user string) *sessiondb.Session {
		sess, err := m.Create(ctx, user, 0, map[string]string{"user_agent": "test"})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, string(sess.Token))
		return sess
	}
	a1, a2 := create("alice"), create("alice")
	create("alice") // evicts a1
	b1, b2 := create("bob"), create("bob")
	if err := m.InvalidateByID(opsCtx, a2.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.Invalidate(ctx, string(b1.Token)); err != nil {
		t.Fatal(err)
	}
	rotated, err := m.Rotate(ctx, string(b2.Token))
	if err != nil {
		t.Fatal(err)
	}
	tokens = append(tokens, string(rotated.Token))
	if _, err := m.InvalidateUser(opsCtx, "bob", ""); err != nil {
		t.Fatal(err)
	}

	// Everything, newest first, as the log has it.
	body, ids, older := eventsPageOf(t, s, c, "/ui/events", http.StatusOK)
	if want := allEvents(t, m, sessiondb.EventFilter{}, ""); !slices.Equal(ids, want) || len(ids) != 10 {
		t.Errorf("rows %v, want the 10 events newest first %v", ids, want)
	}
	if older != "" {
		t.Errorf("an Older link %q with every event shown", older)
	}
	for _, tok := range tokens {
		if strings.Contains(body, tok) {
			t.Fatalf("the events page shows a token")
		}
	}
	for _, want := range []string{
		`<td data-label="User"><a href="/ui/users?user_id=alice">alice</a></td>`,
		`<a class="id" href="/ui/sessions?id=` + a1.ID + `">` + a1.ID + `</a>`,
		`<a class="id" href="/ui/sessions?id=` + rotated.ID + `">` + rotated.ID + `</a>`,
		`<td data-label="Actor">ops</td>`, `<td data-label="Actor">library</td>`,
		`<td data-label="Cause">revoke_all</td>`, `<tr data-event="` + ids[0] + `" data-type="invalidated">`,
		`<h2 id="results">Recent events, newest first</h2>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("events page lacks %s", want)
		}
	}

	// Filters: by user, type, cause, together; an empty field is no filter.
	for _, c2 := range []struct {
		query string
		f     sessiondb.EventFilter
		cause sessiondb.Cause
		n     int
	}{
		{"user_id=alice", sessiondb.EventFilter{UserID: "alice"}, "", 5},
		{"user_id=alice&type=&cause=", sessiondb.EventFilter{UserID: "alice"}, "", 5},
		{"type=evicted", sessiondb.EventFilter{Types: []sessiondb.EventType{sessiondb.EventEvicted}}, "", 1},
		{"type=invalidated", sessiondb.EventFilter{Types: []sessiondb.EventType{sessiondb.EventInvalidated}}, "", 3},
		{"cause=admin", sessiondb.EventFilter{Types: []sessiondb.EventType{sessiondb.EventInvalidated}}, sessiondb.CauseAdmin, 1},
		{"type=invalidated&cause=logout&user_id=bob", sessiondb.EventFilter{UserID: "bob", Types: []sessiondb.EventType{sessiondb.EventInvalidated}}, sessiondb.CauseLogout, 1},
		{"user_id=bob&type=rotated", sessiondb.EventFilter{UserID: "bob", Types: []sessiondb.EventType{sessiondb.EventRotated}}, "", 1},
	} {
		body, ids, _ := eventsPageOf(t, s, c, "/ui/events?"+c2.query, http.StatusOK)
		if want := allEvents(t, m, c2.f, c2.cause); !slices.Equal(ids, want) || len(ids) != c2.n {
			t.Errorf("%s: rows %v, want %d: %v", c2.query, ids, c2.n, want)
		}
		if !strings.Contains(body, "that match, newest first") || !strings.Contains(body, `href="/ui/events">Clear the filters</a>`) {
			t.Errorf("%s: the page does not say it is filtered", c2.query)
		}
	}
	// The form keeps the filters.
	body, _, _ = eventsPageOf(t, s, c, "/ui/events?user_id=bob&type=invalidated&cause=revoke_all", http.StatusOK)
	for _, want := range []string{`name="user_id" value="bob"`, `<option value="invalidated" selected>`, `<option value="revoke_all" selected>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the filter form lacks %s", want)
		}
	}

	// Nothing matches: said so.
	body, ids, _ = eventsPageOf(t, s, c, "/ui/events?user_id=nobody", http.StatusOK)
	if len(ids) != 0 || !strings.Contains(body, `<p class="empty" role="status">No events match these filters.</p>`) {
		t.Errorf("no match: %d rows\n%s", len(ids), body)
	}

	// Bad values: 400 with what to fix, the form still there, no rows.
	for _, c2 := range []struct{ query, says string }{
		{"type=bogus", "invalid type: unknown event type &#34;bogus&#34; (want one of created,"},
		{"cause=bogus", "unknown cause &#34;bogus&#34; (want one of logout, admin, revoke_all, revoke_others)"},
		{"type=created&cause=admin", "a cause belongs to invalidated events only"},
		{"user_id=" + url.QueryEscape("a\x01b"), "invalid user_id:"},
		{"user_id=" + strings.Repeat("u", 300), "invalid user_id: longer than"},
		{"before=yesterday", "invalid position &#34;yesterday&#34;: want an event id"},
		{"before=0", "invalid position &#34;0&#34;"},
		{"before=1-2-zzz-0", "invalid position"},
	} {
		body, ids, _ := eventsPageOf(t, s, c, "/ui/events?"+c2.query, http.StatusBadRequest)
		if !strings.Contains(body, `<p class="error" role="alert">`) || !strings.Contains(body, c2.says) {
			t.Errorf("%s: the page does not say %q\n%s", c2.query, c2.says, body)
		}
		if len(ids) != 0 || !strings.Contains(body, `<form class="filters"`) {
			t.Errorf("%s: rows shown, or no form", c2.query)
		}
	}
}

// TestConsoleEventsPaging: events spread over hours are shown newest
// first, 50 a page, and the Older events links go through every one of
// them once, with and without filters.
func TestConsoleEventsPaging(t *testing.T) {
	clock := &fakeClock{}
	s, m, c := newEventConsole(t, sessiondb.Options{Clock: clock.Now, MaxSessionsPerUser: sessiondb.NoLimit})
	ctx := context.Background()
	now := time.Now().Add(-time.Hour)
	// Three bursts: 40 logins and logouts of three users two hours ago, 30
	// ten minutes ago, 25 five seconds ago.
	for _, burst := range []struct {
		ago time.Duration
		n   int
	}{{2 * time.Hour, 40}, {10 * time.Minute, 30}, {5 * time.Second, 25}} {
		for i := range burst.n {
			clock.Set(now.Add(-burst.ago + time.Duration(i)*time.Millisecond))
			user := []string{"ann", "ben", "cat"}[i%3]
			sess, err := m.Create(ctx, user, time.Hour, nil)
			if err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				if err := m.Invalidate(ctx, string(sess.Token)); err != nil {
					t.Fatal(err)
				}
			} else if err := m.InvalidateByID(ctx, sess.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	clock.Set(now)
	for _, c2 := range []struct {
		query string
		f     sessiondb.EventFilter
		cause sessiondb.Cause
	}{
		{"", sessiondb.EventFilter{}, ""},
		{"user_id=ann", sessiondb.EventFilter{UserID: "ann"}, ""},
		{"type=created", sessiondb.EventFilter{Types: []sessiondb.EventType{sessiondb.EventCreated}}, ""},
		{"cause=logout&user_id=ben", sessiondb.EventFilter{UserID: "ben", Types: []sessiondb.EventType{sessiondb.EventInvalidated}}, sessiondb.CauseLogout},
	} {
		got := pageThrough(t, s, c, "/ui/events?"+c2.query)
		want := allEvents(t, m, c2.f, c2.cause)
		if !slices.Equal(got, want) {
			t.Errorf("%q: paged through %d events, want %d:\n got %v\nwant %v", c2.query, len(got), len(want), got, want)
		}
	}
	if n := len(allEvents(t, m, sessiondb.EventFilter{}, "")); n != 190 {
		t.Fatalf("%d events, want 190", n)
	}

	// A later page past the oldest event says there is nothing older.
	_, ids, _ := eventsPageOf(t, s, c, "/ui/events?before="+url.QueryEscape(allEvents(t, m, sessiondb.EventFilter{}, "")[189]), http.StatusOK)
	if len(ids) != 0 {
		t.Errorf("before the oldest event: %v", ids)
	}
}

// TestConsoleEventsBounded: a page view reads the log a bounded number of
// times; when that is not enough it shows what it found, says where it
// stopped, and links on from there (or asks for a narrower filter when it
// got nowhere).
func TestConsoleEventsBounded(t *testing.T) {
	clock := &fakeClock{}
	s, m, c := newEventConsole(t, sessiondb.Options{Clock: clock.Now, MaxSessionsPerUser: sessiondb.NoLimit})
	s.console.eventSearch = eventSearchBounds{reads: 8, limit: 10}
	ctx := context.Background()
	now := time.Now().Add(-time.Hour)
	// 200 logins an hour before now; 5 ten seconds before.
	for i := range 205 {
		ago := time.Hour
		if i >= 200 {
			ago = 10 * time.Second
		}
		clock.Set(now.Add(-ago + time.Duration(i)*time.Millisecond))
		if _, err := m.Create(ctx, "dan", time.Hour, nil); err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(now)

	body, ids, older := eventsPageOf(t, s, c, "/ui/events", http.StatusOK)
	all := allEvents(t, m, sessiondb.EventFilter{}, "")
	if !slices.Equal(ids, all[:5]) {
		t.Errorf("rows %v, want the 5 newest %v", ids, all[:5])
	}
	if !strings.Contains(body, "The search stopped at") || !strings.Contains(body, "Older events goes on from there.") {
		t.Errorf("the page does not say the search stopped\n%s", body)
	}
	u, err := url.Parse(older)
	if err != nil || u.Query().Get("before") == "" {
		t.Fatalf("Older link %q", older)
	}
	// With the usual bounds, the link goes on with the rest.
	s.console.eventSearch = defaultEventSearch
	if got := pageThrough(t, s, c, older); !slices.Equal(got, all[5:]) {
		t.Errorf("from %s: %d events, want the other %d", older, len(got), len(all)-5)
	}

	// When the first window alone is too much: no link, and a way out.
	s.console.eventSearch = eventSearchBounds{reads: 2, limit: 10}
	body, ids, older = eventsPageOf(t, s, c, "/ui/events?before="+url.QueryEscape(all[5]), http.StatusOK)
	if len(ids) != 0 || older != "" || !strings.Contains(body, "Narrow the filters to search further.") {
		t.Errorf("stopped at once: rows %v, Older %q\n%s", ids, older, body)
	}
}
