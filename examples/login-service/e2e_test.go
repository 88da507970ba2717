package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/memstore"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// User agents of the devices in the tests.
const (
	firefoxLinux  = "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0"
	safariIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1"
	chromeAndroid = "Mozilla/5.0 (Linux; Android 16; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36"
)

// fastUsers are the demo users with cheap hashes, so that the end-to-end
// tests do not spend a second of CPU per login under the race detector.
// TestDemoUsers checks the real table.
func fastUsers() []user {
	var out []user
	for _, u := range demoUsers {
		u.Hash = hashPassword(u.Password, 1000)
		out = append(out, u)
	}
	return out
}

// startService serves the service over real HTTP on loopback: HTTPS with the
// strict cookie, or plain HTTP in development mode.
func startService(t *testing.T, sessions sessiondb.Sessions, backend string, tls bool) *httptest.Server {
	t.Helper()
	svc, err := newService(serviceConfig{
		sessions: sessions, users: fastUsers(), dev: !tls, hsts: tls, backend: backend,
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(svc.handler())
	} else {
		srv = httptest.NewServer(svc.handler())
	}
	t.Cleanup(srv.Close)
	return srv
}

// device is one browser: an HTTP client with its own cookie jar and user
// agent. It does not follow redirects, so that the tests see them.
type device struct {
	t   *testing.T
	srv *httptest.Server
	c   *http.Client
	ua  string
}

func newDevice(t *testing.T, srv *httptest.Server, ua string) *device {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &device{t: t, srv: srv, c: &c, ua: ua}
}

// page is one answer.
type page struct {
	status   int
	location string
	body     string
	resp     *http.Response
}

// send makes a request the way a browser would for a same-origin page or
// form (Sec-Fetch-Site and Origin), plus any extra headers.
func (d *device) send(method, path string, form url.Values, extra map[string]string) page {
	d.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, d.srv.URL+path, body)
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("User-Agent", d.ua)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if method == "POST" {
		req.Header.Set("Origin", d.srv.URL)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := d.c.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b), resp: resp}
}

func (d *device) get(path string) page { d.t.Helper(); return d.send("GET", path, nil, nil) }

func (d *device) post(path string, form url.Values) page {
	d.t.Helper()
	return d.send("POST", path, form, nil)
}

func (d *device) login(user, password string) page {
	d.t.Helper()
	return d.post("/login", url.Values{"user": {user}, "password": {password}})
}

// expectRedirect checks that p is a 303 to location.
func expectRedirect(t *testing.T, what string, p page, location string) {
	t.Helper()
	if p.status != http.StatusSeeOther || p.location != location {
		t.Errorf("%s: got %d to %q, want 303 to %q\n%s", what, p.status, p.location, location, p.body)
	}
}

// expectPage checks p's status and that its body holds every want.
func expectPage(t *testing.T, what string, p page, status int, want ...string) {
	t.Helper()
	if p.status != status {
		t.Errorf("%s: got %d, want %d\n%s", what, p.status, status, p.body)
		return
	}
	for _, w := range want {
		if !strings.Contains(p.body, w) {
			t.Errorf("%s: the page lacks %q\n%s", what, w, p.body)
		}
	}
}

var rowRE = regexp.MustCompile(`<tr data-session="([^"]+)"( class="current")?>\s*<td>([^<]*)`)

// row is one line of the devices page.
type row struct {
	id      string
	current bool
	device  string
}

// rows reads the devices page.
func rows(body string) []row {
	var out []row
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		out = append(out, row{id: m[1], current: m[2] != "", device: strings.TrimSpace(m[3])})
	}
	return out
}

// scenario drives the service the way its users would: two devices of one
// user, a wrong password, a cross-site form, "log out this device", "log out
// all other devices", logout.
func scenario(t *testing.T, srv *httptest.Server, sessions sessiondb.Sessions, tls bool) {
	cookieName := "session"
	if tls {
		cookieName = "__Host-session"
	}
	laptop := newDevice(t, srv, firefoxLinux)
	phone := newDevice(t, srv, safariIPhone)
	tablet := newDevice(t, srv, chromeAndroid)
	attacker := newDevice(t, srv, firefoxLinux)

	expectRedirect(t, "home, logged out", laptop.get("/"), "/login")
	expectRedirect(t, "devices, logged out", laptop.get("/devices"), "/login")
	p := laptop.get("/login")
	expectPage(t, "login page", p, http.StatusOK, `<form method="post" action="/login"`, "<code>alice</code>", "<code>wonderland</code>")
	if strings.Contains(p.body, `id="dev-mode"`) == tls {
		t.Errorf("the development-mode notice is shown: %v, over TLS: %v", !tls, tls)
	}

	// Wrong passwords and unknown users are refused alike, with no session.
	for _, creds := range [][2]string{{"alice", "wrong"}, {"alice", ""}, {"nobody", "wonderland"}, {"bob", "wonderland"}} {
		p = laptop.login(creds[0], creds[1])
		expectPage(t, "login "+creds[0]+"/"+creds[1], p, http.StatusUnauthorized, "Wrong user name or password.")
		if len(p.resp.Header.Values("Set-Cookie")) != 0 {
			t.Errorf("a refused login set a cookie")
		}
	}
	if list, err := sessions.UserSessions(t.Context(), "alice"); err != nil || len(list) != 0 {
		t.Fatalf("refused logins made sessions: %d, %v", len(list), err)
	}

	// A login form posted from another site is refused before the password
	// is checked (login CSRF).
	p = attacker.send("POST", "/login", url.Values{"user": {"alice"}, "password": {"wonderland"}},
		map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
	expectPage(t, "cross-site login", p, http.StatusForbidden, "another site")

	// Alice logs in on her laptop and her phone.
	p = laptop.login("alice", "wonderland")
	expectRedirect(t, "laptop login", p, "/devices")
	ck := setCookie(t, p.resp, cookieName)
	if ck.Secure != tls || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" || ck.MaxAge != int(sessiondb.DefaultTTL.Seconds()) {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/, Max-Age=3600, no Domain, Secure %v", ck, tls)
	}
	expectRedirect(t, "phone login", phone.login("alice", "wonderland"), "/devices")
	expectRedirect(t, "home, logged in", laptop.get("/"), "/devices")

	p = laptop.get("/devices")
	expectPage(t, "laptop's devices", p, http.StatusOK, "Signed in as Alice", "127.0.0.1")
	r := rows(p.body)
	if len(r) != 2 || !r[1].current || r[1].device != "Firefox 145 on Linux" || r[0].current || r[0].device != "Safari 18 on iPhone" {
		t.Fatalf("laptop's devices: %+v, want the iPhone, then this Firefox on Linux", r)
	}
	phoneID, laptopID := r[0].id, r[1].id
	r = rows(phone.get("/devices").body)
	if len(r) != 2 || !r[0].current || r[0].id != phoneID {
		t.Errorf("phone's devices: %+v, want the phone marked as this device", r)
	}

	// A cross-site form that would log the phone out is refused.
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "", "Origin": "https://evil.example"},
	} {
		p = laptop.send("POST", "/devices/"+phoneID+"/logout", url.Values{}, h)
		expectPage(t, "cross-site log out", p, http.StatusForbidden)
	}
	expectPage(t, "phone after the cross-site form", phone.get("/devices"), http.StatusOK, "My devices")

	// "Log out this device" on the phone's row, from the laptop.
	expectRedirect(t, "log out the phone", laptop.post("/devices/"+phoneID+"/logout", url.Values{}), "/devices?ended=1")
	expectRedirect(t, "phone after being logged out", phone.get("/devices"), "/login")
	p = laptop.get("/devices?ended=1")
	expectPage(t, "laptop after logging the phone out", p, http.StatusOK, "Logged out 1 other device.")
	if r = rows(p.body); len(r) != 1 || r[0].id != laptopID {
		t.Errorf("devices after logging the phone out: %+v", r)
	}
	// Ending it again, or a made-up id, finds nothing.
	expectPage(t, "log out an ended session", laptop.post("/devices/"+phoneID+"/logout", url.Values{}), http.StatusNotFound, "already ended")
	expectPage(t, "log out a made-up id", laptop.post("/devices/nonsense/logout", url.Values{}), http.StatusNotFound)

	// Bob cannot log out Alice's devices.
	bob := newDevice(t, srv, chromeAndroid)
	expectRedirect(t, "bob's login", bob.login("bob", "builder"), "/devices")
	expectPage(t, "bob logs out alice's laptop", bob.post("/devices/"+laptopID+"/logout", url.Values{}), http.StatusNotFound)
	expectPage(t, "laptop after bob's try", laptop.get("/devices"), http.StatusOK, "My devices")

	// "Log out all other devices".
	expectRedirect(t, "phone login again", phone.login("alice", "wonderland"), "/devices")
	expectRedirect(t, "tablet login", tablet.login("alice", "wonderland"), "/devices")
	if r = rows(laptop.get("/devices").body); len(r) != 3 {
		t.Errorf("devices before log out all others: %+v", r)
	}
	expectRedirect(t, "log out all other devices", laptop.post("/devices/logout-others", url.Values{}), "/devices?ended=2")
	expectRedirect(t, "phone after log out others", phone.get("/devices"), "/login")
	expectRedirect(t, "tablet after log out others", tablet.get("/devices"), "/login")
	p = laptop.get("/devices?ended=2")
	expectPage(t, "laptop after log out others", p, http.StatusOK, "Logged out 2 other devices.")
	if r = rows(p.body); len(r) != 1 || !r[0].current {
		t.Errorf("devices after log out all others: %+v", r)
	}
	expectPage(t, "bob after alice's log out others", bob.get("/devices"), http.StatusOK, "Signed in as Bob")

	// Logout ends the session and clears the cookie.
	u, _ := url.Parse(srv.URL)
	old := laptop.c.Jar.Cookies(u)
	p = laptop.post("/logout", url.Values{})
	expectRedirect(t, "logout", p, "/login")
	if ck := setCookie(t, p.resp, cookieName); ck.MaxAge != -1 || ck.Secure != tls || !ck.HttpOnly || ck.Path != "/" {
		t.Errorf("logout cookie %+v, want an expired cookie with the same attributes", ck)
	}
	expectRedirect(t, "laptop after logout", laptop.get("/devices"), "/login")
	replay := newDevice(t, srv, firefoxLinux)
	replay.c.Jar.SetCookies(u, old)
	if len(old) != 1 {
		t.Fatalf("the laptop's jar held %d cookies before logout", len(old))
	}
	expectRedirect(t, "replayed cookie after logout", replay.get("/devices"), "/login")
	if list, err := sessions.UserSessions(t.Context(), "alice"); err != nil || len(list) != 0 {
		t.Errorf("alice has %d sessions after logging out everywhere (%v)", len(list), err)
	}
}

// setCookie returns the response's one Set-Cookie named name, parsed.
func setCookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no Set-Cookie %s in %q", name, resp.Header.Values("Set-Cookie"))
	return nil
}

func TestEndToEndLibrary(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain HTTP loopback", true: "HTTPS"}[tls], func(t *testing.T) {
			m, err := sessiondb.New(memstore.New(), sessiondb.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Store().Close() })
			srv := startService(t, m, "library", tls)
			scenario(t, srv, m, tls)
		})
	}
}

func TestEndToEndSessiond(t *testing.T) {
	t.Run("embedded store", func(t *testing.T) {
		d := sessiondtest.Start(t, nil)
		c, err := sessiondclient.New(d.URL, sessiondclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		scenario(t, startService(t, c, "sessiond", false), c, false)
	})
	t.Run("redis", func(t *testing.T) {
		redis := redistest.Start(t)
		d := sessiondtest.StartWithKeys(t, map[string]string{"REDIS_URL": redis.URL()})
		c, err := sessiondclient.New(d.URL, sessiondclient.Options{APIKey: d.AppKey})
		if err != nil {
			t.Fatal(err)
		}
		scenario(t, startService(t, c, "sessiond on redis", true), c, true)
	})
}
