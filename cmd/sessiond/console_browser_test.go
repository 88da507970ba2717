package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sessiondb/sessiondb/internal/browsertest"
	"github.com/sessiondb/sessiondb/internal/redistest"
)

// User agents of the sessions the console lists.
const (
	uaFirefoxLinux  = "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0"
	uaSafariIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1"
	uaChromeAndroid = "Mozilla/5.0 (Linux; Android 16; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36"
)

// Keys of the console tests: long enough for any key policy, and easy to
// find in a page or a cookie if they ever leaked there.
const (
	consoleAppKey   = "console-app-key-7f3a9c1e5b2d4f6a8c0e"
	consoleAdminKey = "console-admin-key-2b4d6f8a0c1e3a5c7e9f"
)

// consoleDaemon runs sessiond with the console on, over a real Redis.
func consoleDaemon(t *testing.T, redis *redistest.Server) *daemon {
	t.Helper()
	d := startDaemon(t, map[string]string{
		"REDIS_URL":   redis.URL(),
		"SESSIOND_UI": "true",
		// Cleanup every second, so that its figures move too.
		"CLEANUP_INTERVAL_SECONDS": "1",
		"SESSIOND_API_KEYS":        "app:" + consoleAppKey + ",admin:" + consoleAdminKey,
		"SESSIOND_LOG_LEVEL":       "info",
	})
	d.Key = consoleAppKey
	return d
}

// login creates a session through the API as a login service would, with
// the device's user agent and address.
func (d *daemon) login(t *testing.T, user, ua, ip string) session {
	t.Helper()
	return d.create(t, user, `,"metadata":{"user_agent":`+jsonString(ua)+`,"ip":`+jsonString(ip)+`}`)
}

// signIn opens the console in tab and signs in with key.
func signIn(tab *browsertest.Tab, url, key string) {
	tab.Do("open the console", chromedp.Navigate(url+"/ui/"), chromedp.WaitVisible("#key"))
	tab.Load("sign in", chromedp.SendKeys("#key", key), chromedp.Submit("#key"))
}

// TestConsoleBrowser drives the console in headless Chromium as an operator
// would: a wrong key, signing in, the overview moving under load, finding a
// user, revoking one session and all others, looking a session up, the
// configuration, Redis stopped under the overview, keyboard use, signing
// out, and every page at phone width; each page is checked by axe-core.
func TestConsoleBrowser(t *testing.T) {
	browser := browsertest.Start(t)
	redis := redistest.Start(t, "--maxmemory", "64mb")
	d := consoleDaemon(t, redis)

	alice := []session{
		d.login(t, "alice", uaFirefoxLinux, "192.0.2.10"),
		d.login(t, "alice", uaSafariIPhone, "198.51.100.7"),
		d.login(t, "alice", uaChromeAndroid, "203.0.113.42"),
	}
	d.login(t, "bob", uaFirefoxLinux, "192.0.2.11")

	tab := browser.NewTab(t, 1280, 900, 3*time.Minute)

	t.Run("wrong keys are refused", func(t *testing.T) {
		tab := tab.With(t)
		tab.Do("open the console", chromedp.Navigate(d.URL+"/ui/users"), chromedp.WaitVisible("#key"))
		if loc := location(tab); !strings.HasSuffix(loc, "/ui/login") {
			t.Errorf("the console signed out sent the browser to %s, want /ui/login", loc)
		}
		tab.CheckAccessibility("the sign-in page")
		tab.Screenshot("console-sign-in")
		for _, c := range []struct{ key, want string }{
			{"not-a-key-at-all-0123456789abcdef", "That key is not valid."},
			{consoleAppKey, "That is an app key: the console needs an admin key."},
		} {
			signIn(tab, d.URL, c.key)
			if got := tab.Text(".error"); got != c.want {
				t.Errorf("signing in with a wrong key: %q, want %q", got, c.want)
			}
			if ck := consoleCookies(tab); len(ck) != 0 {
				t.Errorf("a refused key set the cookie %+v", ck)
			}
		}
	})

	t.Run("sign in", func(t *testing.T) {
		tab := tab.With(t)
		signIn(tab, d.URL, consoleAdminKey)
		tab.WaitFor("the overview", `document.querySelector('h1') && document.querySelector('h1').textContent === 'Overview'`)
		if got := tab.Text(`[data-field="store.active_sessions"]`); got != "4" {
			t.Errorf("live sessions %q, want 4", got)
		}
		if got := tab.Text(`[data-field="store.users"]`); got != "2" {
			t.Errorf("users %q, want 2", got)
		}

		// The key is kept nowhere the page or a URL could show it: only an
		// HttpOnly, Secure, SameSite=Strict cookie that does not hold it.
		ck := consoleCookies(tab)
		if len(ck) != 1 {
			t.Fatalf("console cookies %+v, want one", ck)
		}
		c := ck[0]
		if !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" || strings.Contains(c.Value, consoleAdminKey) {
			t.Errorf("cookie %s: HttpOnly %v, Secure %v, SameSite %s, Path %s; want HttpOnly, Secure, Strict, /, without the key",
				c.Name, c.HTTPOnly, c.Secure, c.SameSite, c.Path)
		}
		if exp := time.Unix(int64(c.Expires), 0); time.Until(exp) > time.Hour+time.Minute || time.Until(exp) < 50*time.Minute {
			t.Errorf("cookie expires at %v, want about an hour from now", exp)
		}
		stored := browsertest.Eval[string](tab, `document.cookie + '|' + JSON.stringify(localStorage) + '|' + JSON.stringify(sessionStorage) + '|' + location.href`)
		if strings.Contains(stored, consoleAdminKey) || strings.Contains(stored, "sessiond-console") {
			t.Errorf("scripts can read the key or the cookie: %s", stored)
		}
	})

	t.Run("counters move under load", func(t *testing.T) {
		tab := tab.With(t)
		// A bounded load through the API: 40 rounds of a login, two
		// validations and a logout, spread over about two seconds so that
		// the overview's polls see it.
		before := tab.Text(`[data-field="store.created"]`)
		for i := range 40 {
			s := d.create(t, "load-"+strconv.Itoa(i%5), "")
			for range 2 {
				d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).want(t, 200)
			}
			d.do("POST", "/v1/sessions/invalidate", `{"token":"`+s.Token+`"}`).want(t, 204)
			time.Sleep(50 * time.Millisecond)
		}
		tab.WaitFor("the created counter to count the load",
			`document.querySelector('[data-field="store.created"]').textContent === '`+addCount(before, 40)+`'`)
		for _, series := range []string{"creates", "validations", "revocations"} {
			tab.WaitFor("a rise in the "+series+" chart", `(function () {
				const pts = document.querySelector('figure[data-series="`+series+`"] polyline').getAttribute('points');
				return pts !== '' && pts.split(' ').some(function (p) { return Number(p.split(',')[1]) < 95.9; });
			})()`)
		}
		tab.WaitFor("a cleanup run", `document.querySelector('[data-field="replica.cleanup_runs"]').textContent !== '0'`)
		if got := tab.Text(`[data-field="replica.last_cleanup"]`); !strings.HasSuffix(got, " UTC") {
			t.Errorf("last cleanup %q, want a time", got)
		}
		tab.CheckAccessibility("the overview")
		tab.Screenshot("console-overview")
	})

	t.Run("find a user and revoke one session", func(t *testing.T) {
		tab := tab.With(t)
		tab.Load("open Users from the navigation", chromedp.Click(`nav a[href="/ui/users"]`))
		tab.Load("find alice", chromedp.SendKeys("#user_id", "alice"), chromedp.Submit("#user_id"))
		rows := sessionRows(tab)
		if len(rows) != 3 {
			t.Fatalf("alice's sessions: %v, want 3", rows)
		}
		for _, want := range []string{"Chrome 142 on Android", "Safari 18 on iPhone", "Firefox 145 on Linux"} {
			if !strings.Contains(tab.Text("table.sessions"), want) {
				t.Errorf("the sessions table lacks the device %q", want)
			}
		}
		if !strings.Contains(tab.Text("table.sessions"), "198.51.100.7") {
			t.Error("the sessions table lacks the IP address 198.51.100.7")
		}
		tab.CheckAccessibility("the user lookup")
		tab.Screenshot("console-users")

		target := alice[1].ID
		revoke := `tr[data-session="` + target + `"] button[data-action="revoke"]`
		// Cancel first: nothing happens.
		tab.Do("cancel a revocation",
			chromedp.Click(revoke),
			chromedp.WaitVisible("#confirm-dialog"),
		)
		if q := tab.Text("#confirm-question"); !strings.Contains(q, target) || !strings.Contains(q, "Safari 18 on iPhone") {
			t.Errorf("the confirmation asks %q, want the session and its device", q)
		}
		tab.CheckAccessibility("the confirmation dialog")
		tab.Screenshot("console-confirm")
		if f := browsertest.Eval[string](tab, `document.activeElement.textContent`); f != "Cancel" {
			t.Errorf("the dialog opened with the focus on %q, want Cancel", f)
		}
		tab.Do("press Escape", chromedp.KeyEvent("\u001b"), chromedp.WaitNotVisible("#confirm-dialog"))
		if n := len(sessionRows(tab)); n != 3 {
			t.Fatalf("after cancelling, %d rows", n)
		}
		d.do("GET", "/v1/sessions/"+target, "").want(t, 200)

		tab.Do("ask to revoke", chromedp.Click(revoke), chromedp.WaitVisible("#confirm-ok"))
		tab.Load("confirm", chromedp.Click("#confirm-ok"))
		if got := tab.Text(".notice"); got != "Revoked 1 session." {
			t.Errorf("notice %q", got)
		}
		if rows := sessionRows(tab); len(rows) != 2 || contains(rows, target) {
			t.Errorf("rows after revoking %s: %v", target, rows)
		}
		d.do("GET", "/v1/sessions/"+target, "").wantError(t, 404, "not_found", "")
	})

	t.Run("revoke all others", func(t *testing.T) {
		tab := tab.With(t)
		keep := alice[0].ID
		tab.Do("ask to revoke all but one",
			chromedp.Click(`tr[data-session="`+keep+`"] button[data-action="revoke-others"]`),
			chromedp.WaitVisible("#confirm-ok"))
		tab.Load("confirm", chromedp.Click("#confirm-ok"))
		if got := tab.Text(".notice"); got != "Revoked 1 session." {
			t.Errorf("notice %q", got)
		}
		if rows := sessionRows(tab); len(rows) != 1 || rows[0] != keep {
			t.Errorf("rows after revoking all others: %v, want only %s", rows, keep)
		}
		var list struct{ Sessions []session }
		decodeInto(t, d.do("GET", "/v1/users/alice/sessions", "").want(t, 200).Body, &list)
		if len(list.Sessions) != 1 || list.Sessions[0].ID != keep {
			t.Errorf("the API lists %+v for alice, want only %s", list.Sessions, keep)
		}
		var bob struct{ Sessions []session }
		decodeInto(t, d.do("GET", "/v1/users/bob/sessions", "").want(t, 200).Body, &bob)
		if len(bob.Sessions) != 1 {
			t.Errorf("bob lost sessions: %+v", bob.Sessions)
		}

		tab.Do("look up a user without sessions",
			chromedp.Navigate(d.URL+"/ui/users?user_id=nobody"), chromedp.WaitVisible(".empty"))
		if got := tab.Text(".empty"); got != "No live sessions for the user nobody." {
			t.Errorf("empty result %q", got)
		}
	})

	t.Run("session lookup", func(t *testing.T) {
		tab := tab.With(t)
		id := alice[0].ID
		tab.Load("open Sessions", chromedp.Click(`nav a[href="/ui/sessions"]`))
		tab.Load("look a session up", chromedp.SendKeys("#id", id), chromedp.Submit("#id"))
		details := tab.Text("dl.details")
		for _, want := range []string{"alice", "Firefox 145 on Linux", "192.0.2.10"} {
			if !strings.Contains(details, want) {
				t.Errorf("session details %q lack %q", details, want)
			}
		}
		tab.CheckAccessibility("the session lookup")
		tab.Screenshot("console-session")
		tab.Do("look up an unknown id", chromedp.Navigate(d.URL+"/ui/sessions?id=nonexistent"), chromedp.WaitVisible(".empty"))
		if got := tab.Text(".empty"); got != "No live session has the id nonexistent." {
			t.Errorf("unknown id: %q", got)
		}
	})

	t.Run("configuration", func(t *testing.T) {
		tab := tab.With(t)
		tab.Load("open Configuration", chromedp.Click(`nav a[href="/ui/config"]`))
		text := tab.Text("table.settings")
		for _, want := range []string{"REDIS_URL", redis.URL(), "SESSIOND_API_KEYS", "(set, hidden)", "SESSIOND_UI", "true"} {
			if !strings.Contains(text, want) {
				t.Errorf("the configuration lacks %q", want)
			}
		}
		html := browsertest.Eval[string](tab, `document.documentElement.outerHTML`)
		if strings.Contains(html, consoleAdminKey) || strings.Contains(html, consoleAppKey) {
			t.Error("the configuration page shows an API key")
		}
		tab.CheckAccessibility("the configuration")
		tab.Screenshot("console-config")
	})

	t.Run("keyboard", func(t *testing.T) {
		tab := tab.With(t)
		tab.Do("open Users", chromedp.Navigate(d.URL+"/ui/users?user_id=alice"), chromedp.WaitVisible("table.sessions"))
		// Focus order from the top: the skip link, the console's name, the
		// navigation, sign out, then the page.
		want := []string{"Skip to the content", "sessiond console", "Overview", "Users", "Sessions", "Configuration", "Sign out", "user_id", "Find sessions", "Revoke all sessions"}
		for i, w := range want {
			tab.Do("press Tab", chromedp.KeyEvent("\t"))
			got := browsertest.Eval[string](tab, `document.activeElement.id || document.activeElement.textContent.trim()`)
			if got != w {
				t.Fatalf("Tab %d focuses %q, want %q", i+1, got, w)
			}
		}
		// The skip link moves the focus to the content.
		tab.Do("follow the skip link", chromedp.Navigate(d.URL+"/ui/users"), chromedp.KeyEvent("\t"), chromedp.KeyEvent("\r"))
		tab.WaitFor("the focus on main", `document.activeElement.id === 'main'`)
	})

	t.Run("phone width", func(t *testing.T) {
		phone := browser.NewTab(t, 360, 740, 2*time.Minute)
		signIn(phone, d.URL, consoleAdminKey)
		for _, p := range []struct{ path, name, ready string }{
			{"/ui/", "console-phone-overview", `[data-field="store.active_sessions"]`},
			{"/ui/users?user_id=alice", "console-phone-users", "table.sessions"},
			{"/ui/config", "console-phone-config", "table.settings"},
		} {
			phone.Do("open "+p.path, chromedp.Navigate(d.URL+p.path), chromedp.WaitVisible(p.ready))
			if w := browsertest.Eval[int](phone, `document.documentElement.scrollWidth`); w > 360 {
				t.Errorf("%s is %d px wide at a 360 px viewport", p.path, w)
			}
			phone.CheckAccessibility(p.path + " at phone width")
			phone.Screenshot(p.name)
		}
	})

	t.Run("Redis down", func(t *testing.T) {
		tab := tab.With(t)
		tab.Do("open the overview", chromedp.Navigate(d.URL+"/ui/"), chromedp.WaitVisible(`[data-field="store.active_sessions"]`))
		tab.WaitFor("the figures", `document.querySelector('[data-field="store.active_sessions"]').textContent === '2'`)
		redis.Stop()
		tab.WaitFor("the banner", `!document.getElementById('store-banner').hidden`)
		banner := tab.Text("#store-banner")
		if !strings.Contains(banner, "The session store is not answering") || !strings.Contains(banner, "last known") {
			t.Errorf("banner %q", banner)
		}
		if got := tab.Text(`[data-field="store.active_sessions"]`); got != "2" {
			t.Errorf("live sessions %q while Redis is down, want the last known 2", got)
		}
		tab.Screenshot("console-redis-down")
		// A fresh page load shows the banner and the figures too.
		tab.Do("reload", chromedp.Reload(), chromedp.WaitVisible("#store-banner"))
		if got := tab.Text(`[data-field="store.active_sessions"]`); got != "2" {
			t.Errorf("live sessions %q after a reload while Redis is down", got)
		}
		tab.CheckAccessibility("the overview with Redis down")
		tab.Do("user lookup with Redis down", chromedp.Navigate(d.URL+"/ui/users?user_id=alice"), chromedp.WaitVisible(".error"))
		if got := tab.Text(".error"); !strings.Contains(got, "unavailable") {
			t.Errorf("user lookup with Redis down: %q", got)
		}

		redis.Restart()
		tab.Do("open the overview", chromedp.Navigate(d.URL+"/ui/"))
		tab.WaitFor("the banner to go", `document.getElementById('store-banner').hidden`)
	})

	t.Run("sign out", func(t *testing.T) {
		tab := tab.With(t)
		tab.Do("open the overview", chromedp.Navigate(d.URL+"/ui/"))
		tab.Load("sign out", chromedp.Click(".signout button"))
		if got := tab.Text(".notice"); got != "You have signed out." {
			t.Errorf("after signing out: %q", got)
		}
		if ck := consoleCookies(tab); len(ck) != 0 {
			t.Errorf("the cookie survived signing out: %+v", ck)
		}
		tab.Do("open the overview", chromedp.Navigate(d.URL+"/ui/"), chromedp.WaitVisible("#key"))
	})
}

// location is the tab's URL.
func location(tab *browsertest.Tab) string {
	return browsertest.Eval[string](tab, `location.href`)
}

// consoleCookies returns the console's cookies in the tab's browser context.
func consoleCookies(tab *browsertest.Tab) []*network.Cookie {
	res, err := chromedp.Call(tab.Ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		tab.Fatalf("reading the cookies: %v", err)
	}
	var out []*network.Cookie
	for _, c := range res.Cookies {
		if c.Name == "__Host-sessiond-console" {
			out = append(out, c)
		}
	}
	return out
}

// sessionRows returns the session ids of the rows of the sessions table.
func sessionRows(tab *browsertest.Tab) []string {
	return browsertest.Eval[[]string](tab,
		`Array.from(document.querySelectorAll('table.sessions tbody tr')).map(function (tr) { return tr.dataset.session; })`)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// addCount adds n to a figure as the console writes it (1,234).
func addCount(figure string, n int64) string {
	v, _ := strconv.ParseInt(strings.ReplaceAll(figure, ",", ""), 10, 64)
	return formatThousands(v + n)
}

func formatThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func decodeInto(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

// TestConsoleTLS: behind sessiond's own TLS listener the console signs in,
// its Secure cookie comes back over HTTPS, and its pages carry HSTS.
func TestConsoleTLS(t *testing.T) {
	cert, key := selfSigned(t)
	d := startDaemon(t, map[string]string{
		"SESSIOND_TLS_CERT_FILE": cert, "SESSIOND_TLS_KEY_FILE": key, "SESSIOND_UI": "true",
		"SESSIOND_API_KEYS": "admin:" + consoleAdminKey,
	})
	if !strings.HasPrefix(d.URL, "https://") {
		t.Fatalf("URL %s is not https", d.URL)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *d.client
	c.Jar = jar
	post, err := http.NewRequest("POST", d.URL+"/ui/login", strings.NewReader(url.Values{"key": {consoleAdminKey}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	post.Header.Set("Origin", d.URL)
	resp, err := c.Do(post) // follows the redirect to /ui/ with the cookie
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/ui/" || !strings.Contains(string(body), "<h1>Overview</h1>") {
		t.Fatalf("after signing in over HTTPS: %d at %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("console over TLS without HSTS: %q", hsts)
	}
	u, _ := url.Parse(d.URL)
	if ck := jar.Cookies(u); len(ck) != 1 || ck[0].Name != "__Host-sessiond-console" {
		t.Errorf("cookies kept for %s: %v", d.URL, ck)
	}
}
