package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/browsertest"
	"github.com/sessiondb/sessiondb/internal/redistest"
)

// TestConsoleBrowserEvents drives the console's events page in headless
// Chromium: sessions created, evicted and revoked through the library's
// Manager and through sessiond's API show as rows, newest first, with
// their actors; filtering by user, type and cause; the empty result; no
// token in the page; phone width; Redis stopped. Each view is checked by
// axe-core.
func TestConsoleBrowserEvents(t *testing.T) {
	browser := browsertest.Start(t)
	redis := redistest.Start(t)
	env := map[string]string{
		"REDIS_URL":             redis.URL(),
		"SESSION_EVENTS":        "true",
		"MAX_SESSIONS_PER_USER": "2",
	}
	d := startDaemon(t, map[string]string{
		"REDIS_URL": redis.URL(), "SESSION_EVENTS": "true", "MAX_SESSIONS_PER_USER": "2",
		"SESSIOND_UI":        "true",
		"SESSIOND_API_KEYS":  "app:" + consoleAppKey + ",ops:admin:" + consoleAdminKey,
		"SESSIOND_LOG_LEVEL": "info",
	})
	d.Key = consoleAppKey

	// The library's Manager on the same Redis, configured as sessiond is.
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	m, err := cfg.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Store().Close()
	ctx := context.Background()
	var tokens []string
	create := func(user string) *sessiondb.Session {
		s, err := m.Create(ctx, user, 0, map[string]string{"user_agent": uaFirefoxLinux, "ip": "192.0.2.20"})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, string(s.Token))
		return s
	}
	carol := []*sessiondb.Session{create("carol"), create("carol"), create("carol")} // the third evicts the first
	create("dave")
	create("dave")
	if err := m.InvalidateByID(ctx, carol[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.InvalidateUser(ctx, "dave", ""); err != nil {
		t.Fatal(err)
	}
	// One through the API with the admin key named ops.
	d.do("DELETE", "/v1/sessions/"+carol[2].ID, "", "Authorization", "Bearer "+consoleAdminKey).want(t, 204)
	// 5 created, 1 evicted, 1 invalidated (admin) by the library, 2
	// (revoke_all) by the library, 1 (admin) by ops.
	const total = 10

	// The log as the API reads it, once every event is final.
	var log []streamEvent
	eventually(t, 20*time.Second, "the events are readable", func() bool {
		var p eventPage
		a := d.do("GET", "/v1/events?since=", "", "Authorization", "Bearer "+consoleAdminKey).want(t, 200)
		if err := json.Unmarshal(a.Body, &p); err != nil {
			t.Fatal(err)
		}
		log = p.Events
		return len(log) == total
	})
	newestFirst := func(keep func(e streamEvent) bool) []string {
		var ids []string
		for _, e := range slices.Backward(log) {
			if keep(e) {
				ids = append(ids, e.ID)
			}
		}
		return ids
	}

	tab := browser.NewTab(t, 1280, 900, 3*time.Minute)
	signIn(tab, d.URL, consoleAdminKey)

	t.Run("every event, newest first", func(t *testing.T) {
		tab := tab.With(t)
		tab.Load("open Events from the navigation", chromedp.Click(`nav a[href="/ui/events"]`))
		if got, want := eventRows(tab), newestFirst(func(streamEvent) bool { return true }); !slices.Equal(got, want) {
			t.Errorf("rows %v, want %v", got, want)
		}
		evicted := carol[0].ID
		row := tab.Text(`tr[data-type="evicted"]`)
		for _, want := range []string{"evicted", "carol", evicted, "library"} {
			if !strings.Contains(row, want) {
				t.Errorf("the evicted row %q lacks %q", row, want)
			}
		}
		byOps := tab.Text(`tr[data-event="` + newestFirst(func(streamEvent) bool { return true })[0] + `"]`)
		for _, want := range []string{"invalidated", "admin", "carol", carol[2].ID, "ops"} {
			if !strings.Contains(byOps, want) {
				t.Errorf("the newest row %q lacks %q", byOps, want)
			}
		}
		links := browsertest.Eval[[]string](tab, `Array.from(document.querySelectorAll('tr[data-type="evicted"] a')).map(function (a) { return a.getAttribute('href'); })`)
		if !slices.Equal(links, []string{"/ui/users?user_id=carol", "/ui/sessions?id=" + evicted}) {
			t.Errorf("the evicted row links to %v", links)
		}
		html := browsertest.Eval[string](tab, `document.documentElement.outerHTML`)
		for _, tok := range tokens {
			if strings.Contains(html, tok) {
				t.Fatal("the events page shows a token")
			}
		}
		tab.CheckAccessibility("the events page")
		tab.Screenshot("console-events")
	})

	t.Run("filters", func(t *testing.T) {
		tab := tab.With(t)
		tab.Load("filter by user", chromedp.SendKeys("#user_id", "carol"), chromedp.Submit("#user_id"))
		if got, want := eventRows(tab), newestFirst(func(e streamEvent) bool { return e.UserID == "carol" }); !slices.Equal(got, want) || len(got) != 6 {
			t.Errorf("carol's rows %v, want 6: %v", got, want)
		}
		if !strings.Contains(location(tab), "user_id=carol") {
			t.Errorf("the filter is not in the address %s", location(tab))
		}
		tab.Load("and by type", chromedp.SetValue("#type", "evicted"), chromedp.Submit("#type"))
		if got := eventRows(tab); len(got) != 1 || got[0] != newestFirst(func(e streamEvent) bool { return e.Type == "evicted" })[0] {
			t.Errorf("carol's evicted rows %v", got)
		}
		tab.CheckAccessibility("the events page, filtered")
		tab.Load("clear the filters", chromedp.Click(`a[href="/ui/events"].button`))
		tab.Load("by type and cause", chromedp.SetValue("#type", "invalidated"), chromedp.SetValue("#cause", "revoke_all"), chromedp.Submit("#type"))
		if got, want := eventRows(tab), newestFirst(func(e streamEvent) bool { return e.Cause == "revoke_all" }); !slices.Equal(got, want) || len(got) != 2 {
			t.Errorf("revoke_all rows %v, want 2: %v", got, want)
		}
		if got := tab.Text("table.events"); strings.Contains(got, "carol") || !strings.Contains(got, "dave") {
			t.Errorf("revoke_all rows: %q", got)
		}
		tab.Do("a user without events", chromedp.Navigate(d.URL+"/ui/events?user_id=nobody"), chromedp.WaitVisible(".empty"))
		if got := tab.Text(".empty"); got != "No events match these filters." {
			t.Errorf("no match: %q", got)
		}
		tab.Do("a bad type", chromedp.Navigate(d.URL+"/ui/events?type=bogus"), chromedp.WaitVisible(".error"))
		if got := tab.Text(".error"); !strings.Contains(got, `unknown event type "bogus"`) {
			t.Errorf("bad type: %q", got)
		}
	})

	t.Run("keyboard", func(t *testing.T) {
		tab := tab.With(t)
		tab.Do("open Events", chromedp.Navigate(d.URL+"/ui/events"), chromedp.WaitVisible("table.events"))
		// After the skip link, the name, five pages and sign out: the filters.
		for range 8 {
			tab.Do("press Tab", chromedp.KeyEvent("\t"))
		}
		for _, w := range []string{"user_id", "type", "cause", "Show events"} {
			tab.Do("press Tab", chromedp.KeyEvent("\t"))
			if got := browsertest.Eval[string](tab, `document.activeElement.id || document.activeElement.textContent.trim()`); got != w {
				t.Fatalf("Tab focuses %q, want %q", got, w)
			}
		}
	})

	t.Run("phone width", func(t *testing.T) {
		phone := browser.NewTab(t, 360, 740, 2*time.Minute)
		signIn(phone, d.URL, consoleAdminKey)
		phone.Do("open Events", chromedp.Navigate(d.URL+"/ui/events"), chromedp.WaitVisible("table.events"))
		if w := browsertest.Eval[int](phone, `document.documentElement.scrollWidth`); w > 360 {
			t.Errorf("the events page is %d px wide at a 360 px viewport", w)
		}
		phone.CheckAccessibility("the events page at phone width")
		phone.Screenshot("console-phone-events")
	})

	t.Run("Redis down", func(t *testing.T) {
		tab := tab.With(t)
		redis.Stop()
		tab.Do("open Events", chromedp.Navigate(d.URL+"/ui/events?user_id=carol"), chromedp.WaitVisible(".error"))
		if got := tab.Text(".error"); !strings.Contains(got, "unavailable") {
			t.Errorf("events with Redis down: %q", got)
		}
		tab.CheckAccessibility("the events page with Redis down")
		redis.Restart()
		eventually(t, 20*time.Second, "the page without the error", func() bool {
			tab.Do("open Events", chromedp.Navigate(d.URL+"/ui/events?user_id=carol"), chromedp.WaitVisible("main"))
			return browsertest.Eval[bool](tab, `document.querySelector('.error') === null`)
		})
	})
}

// eventRows returns the event ids of the rows of the events table.
func eventRows(tab *browsertest.Tab) []string {
	return browsertest.Eval[[]string](tab,
		`Array.from(document.querySelectorAll('table.events tbody tr')).map(function (tr) { return tr.dataset.event; })`)
}
