package httpsession_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/httpsession"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
)

func TestLoginSetsStrictCookie(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	a := newApp(t, m, httpsession.Options{}, false)
	c := a.client()

	resp, body := a.do(c, "POST", "/login", url.Values{"user": {"alice"}}, http.Header{"User-Agent": {"TestBrowser/1.0"}})
	expect(t, "login", resp, body, http.StatusOK, `"id"`)
	ck := setCookie(t, resp, "__Host-session")
	if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
		t.Errorf("cookie attributes: %+v, want Secure, HttpOnly, SameSite=Lax, Path=/, no Domain", ck)
	}
	if ck.MaxAge != int(sessiondb.DefaultTTL/time.Second) {
		t.Errorf("Max-Age = %d, want the session's lifetime %d", ck.MaxAge, int(sessiondb.DefaultTTL/time.Second))
	}
	raw := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"__Host-session=sdb_", "; Path=/", "; Max-Age=3600", "; HttpOnly", "; Secure", "; SameSite=Lax"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %q", strings.Replace(raw, ck.Value, "<token>", 1), want)
		}
	}
	if strings.Contains(strings.ToLower(raw), "domain=") || len(raw) > 4096 {
		t.Errorf("Set-Cookie has a Domain or is over 4096 bytes: %d bytes", len(raw))
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}

	// The cookie names the session, which recorded the client.
	s, err := m.Validate(context.Background(), ck.Value)
	if err != nil {
		t.Fatal(err)
	}
	if s.UserID != "alice" || s.Metadata["ip"] != "127.0.0.1" || s.Metadata["user_agent"] != "TestBrowser/1.0" {
		t.Errorf("session = %s %v, want alice from 127.0.0.1 with TestBrowser/1.0", s.UserID, s.Metadata)
	}

	// The jar sends it back, and the session reaches the handler.
	resp, body = a.do(c, "GET", "/me", nil, nil)
	expect(t, "GET /me", resp, body, http.StatusOK, "user=alice session="+s.ID)
}

func TestLoginTTLAndMetadata(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	mw, err := httpsession.New(m, httpsession.Options{TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, m, httpsession.Options{TTL: 10 * time.Minute}, false)
	resp, _ := a.do(a.client(), "POST", "/login", url.Values{"user": {"alice"}}, nil)
	if ck := setCookie(t, resp, mw.CookieName()); ck.MaxAge != 600 {
		t.Errorf("Max-Age = %d, want 600", ck.MaxAge)
	}

	// The caller's metadata wins over what Login captures; a long user
	// agent is cut to valid UTF-8.
	long := strings.Repeat("é", httpsession.MaxUserAgentBytes)
	srv := a.srv
	req, _ := http.NewRequest("POST", srv.URL, nil)
	req.Header.Set("User-Agent", long)
	req.RemoteAddr = "192.0.2.7:5000"
	s, err := mw.Login(httptest.NewRecorder(), req, "bob", map[string]string{"ip": "198.51.100.1", "tenant": "acme"})
	if err != nil {
		t.Fatal(err)
	}
	ua := s.Metadata["user_agent"]
	if s.Metadata["ip"] != "198.51.100.1" || s.Metadata["tenant"] != "acme" || len(ua) > httpsession.MaxUserAgentBytes || len(ua) < httpsession.MaxUserAgentBytes-1 || !strings.HasPrefix(long, ua) {
		t.Errorf("metadata = ip %q tenant %q, user agent of %d bytes", s.Metadata["ip"], s.Metadata["tenant"], len(ua))
	}
}

func TestRequireTurnsAwayRequestsWithoutSession(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	a := newApp(t, m, httpsession.Options{}, false)
	live := a.login(a.client(), "alice")
	anon := a.client()

	cases := []struct {
		name   string
		path   string
		header http.Header
	}{
		{"no cookie", "/me", nil},
		{"malformed cookie", "/me", cookieHeader("__Host-session", "not-a-token")},
		{"forged token", "/me", cookieHeader("__Host-session", "sdb_"+strings.Repeat("A", 51))},
		{"oversized cookie", "/me", cookieHeader("__Host-session", "sdb_"+strings.Repeat("A", 3000))},
		{"token in the URL", "/me?sid=" + live.Token + "&token=" + live.Token, nil},
		{"token in another cookie", "/me", cookieHeader("session", live.Token)},
		{"token as a bearer header (cookie mode)", "/me", http.Header{"Authorization": {"Bearer " + live.Token}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := a.do(anon, "GET", tc.path, nil, tc.header)
			expect(t, tc.name, resp, body, http.StatusUnauthorized, `{"error":{"code":"unauthenticated","message":`)
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if resp.Header.Get("WWW-Authenticate") != "" {
				t.Errorf("cookie-only mode sent WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}

	// A cookie that names no session is cleared.
	resp, _ := a.do(anon, "GET", "/me", nil, cookieHeader("__Host-session", "sdb_"+strings.Repeat("A", 51)))
	if ck := setCookie(t, resp, "__Host-session"); ck.MaxAge != -1 || ck.Value != "" || !ck.Secure || ck.Path != "/" {
		t.Errorf("clearing cookie = %+v, want an empty Secure cookie with Max-Age=0 and Path=/", ck)
	}
}

func TestRequireRedirectsToLoginURL(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	a := newApp(t, m, httpsession.Options{LoginURL: "/login?from=app"}, false)
	resp, _ := a.do(a.client(), "GET", "/me", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?from=app" {
		t.Errorf("got %s to %q, want 303 to /login?from=app", resp.Status, resp.Header.Get("Location"))
	}
}

func TestOptional(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	a := newApp(t, m, httpsession.Options{}, false)
	c := a.client()

	resp, body := a.do(c, "GET", "/page", nil, nil)
	expect(t, "logged out", resp, body, http.StatusOK, "anonymous")
	if len(resp.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("a request without a cookie got Set-Cookie %q", resp.Header.Values("Set-Cookie"))
	}
	s := a.login(c, "alice")
	resp, body = a.do(c, "GET", "/page", nil, nil)
	expect(t, "logged in", resp, body, http.StatusOK, "user=alice session="+s.ID)

	// Revoked elsewhere: the page works logged out and the cookie goes.
	if err := m.InvalidateByID(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	resp, body = a.do(c, "GET", "/page", nil, nil)
	expect(t, "revoked", resp, body, http.StatusOK, "anonymous")
	if ck := setCookie(t, resp, "__Host-session"); ck.MaxAge != -1 {
		t.Errorf("the revoked session's cookie was not cleared: %+v", ck)
	}
}

func TestLogout(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	a := newApp(t, m, httpsession.Options{}, false)
	c := a.client()
	s := a.login(c, "alice")

	resp, body := a.do(c, "POST", "/logout", nil, nil)
	expect(t, "logout", resp, body, http.StatusOK, "")
	ck := setCookie(t, resp, "__Host-session")
	raw := resp.Header.Get("Set-Cookie")
	if ck.Value != "" || ck.MaxAge != -1 || !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.SameSite != http.SameSiteLaxMode ||
		!strings.Contains(raw, "Max-Age=0") || !strings.Contains(raw, "Expires=Thu, 01 Jan 1970") {
		t.Errorf("logout Set-Cookie = %q, want an expired cookie with the same attributes", raw)
	}
	// The jar dropped it, and the server ended it: replaying it fails.
	resp, body = a.do(c, "GET", "/me", nil, nil)
	expect(t, "after logout", resp, body, http.StatusUnauthorized, "unauthenticated")
	resp, body = a.do(a.client(), "GET", "/me", nil, cookieHeader("__Host-session", s.Token))
	expect(t, "replayed cookie", resp, body, http.StatusUnauthorized, "unauthenticated")
	if _, err := m.Get(context.Background(), s.ID); !errors.Is(err, sessiondb.ErrNotFound) {
		t.Errorf("Get after logout: %v, want ErrNotFound", err)
	}

	// Logging out again, or without ever logging in, is not an error.
	resp, body = a.do(c, "POST", "/logout", nil, nil)
	expect(t, "second logout", resp, body, http.StatusOK, "")
	resp, body = a.do(c, "POST", "/logout", nil, cookieHeader("__Host-session", "garbage"))
	expect(t, "logout with garbage", resp, body, http.StatusOK, "")
}

// A token planted in the browser before login (an attacker's own session,
// or any value) never becomes the victim's authenticated session.
func TestLoginEndsPresentedSession(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	a := newApp(t, m, httpsession.Options{}, false)
	attacker := a.login(a.client(), "mallory")

	victim := a.client()
	u, _ := url.Parse(a.srv.URL)
	victim.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-session", Value: attacker.Token, Path: "/", Secure: true}})
	got := a.login(victim, "alice")
	if got.Token == attacker.Token || got.ID == attacker.ID {
		t.Fatal("login adopted the planted token")
	}
	if _, err := m.Validate(context.Background(), attacker.Token); !errors.Is(err, sessiondb.ErrNotFound) {
		t.Errorf("the planted session survived the login: %v", err)
	}
	resp, body := a.do(victim, "GET", "/me", nil, nil)
	expect(t, "victim after login", resp, body, http.StatusOK, "user=alice session="+got.ID)

	// Logging in again ends the previous session of the same browser.
	again := a.login(victim, "alice")
	if _, err := m.Get(context.Background(), got.ID); !errors.Is(err, sessiondb.ErrNotFound) {
		t.Errorf("re-login kept the previous session: %v", err)
	}
	list, _ := m.UserSessions(context.Background(), "alice")
	if len(list) != 1 || list[0].ID != again.ID {
		t.Errorf("alice has %d sessions after two logins in one browser, want 1", len(list))
	}
}

func TestLogoutEverywhere(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	a := newApp(t, m, httpsession.Options{}, false)
	laptop, phone, bob := a.client(), a.client(), a.client()
	a.login(laptop, "alice")
	a.login(phone, "alice")
	a.login(bob, "bob")

	resp, body := a.do(laptop, "POST", "/logout-everywhere", url.Values{"except": {"1"}}, nil)
	expect(t, "log out other devices", resp, body, http.StatusOK, "1")
	if len(resp.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("log out other devices touched this device's cookie: %q", resp.Header.Values("Set-Cookie"))
	}
	resp, body = a.do(laptop, "GET", "/me", nil, nil)
	expect(t, "laptop", resp, body, http.StatusOK, "user=alice")
	resp, body = a.do(phone, "GET", "/me", nil, nil)
	expect(t, "phone", resp, body, http.StatusUnauthorized, "unauthenticated")
	resp, body = a.do(bob, "GET", "/me", nil, nil)
	expect(t, "bob", resp, body, http.StatusOK, "user=bob")

	a.login(phone, "alice")
	resp, body = a.do(laptop, "POST", "/logout-everywhere", nil, nil)
	expect(t, "log out everywhere", resp, body, http.StatusOK, "2")
	setCookie(t, resp, "__Host-session")
	for _, c := range []*http.Client{laptop, phone} {
		resp, body = a.do(c, "GET", "/me", nil, nil)
		expect(t, "after log out everywhere", resp, body, http.StatusUnauthorized, "unauthenticated")
	}
	resp, body = a.do(laptop, "POST", "/logout-everywhere", nil, nil)
	expect(t, "without a session", resp, body, http.StatusNotFound, "no valid session")
}

func TestLogoutSession(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	a := newApp(t, m, httpsession.Options{}, false)
	laptop, phone, bob := a.client(), a.client(), a.client()
	self := a.login(laptop, "alice")
	other := a.login(phone, "alice")
	bobs := a.login(bob, "bob")

	resp, body := a.do(laptop, "POST", "/sessions/"+other.ID+"/logout", nil, nil)
	expect(t, "log out the phone", resp, body, http.StatusOK, "")
	resp, body = a.do(phone, "GET", "/me", nil, nil)
	expect(t, "phone", resp, body, http.StatusUnauthorized, "unauthenticated")

	// Another user's session, an ended one and a malformed id look alike.
	for _, id := range []string{bobs.ID, other.ID, "nonsense"} {
		resp, body = a.do(laptop, "POST", "/sessions/"+id+"/logout", nil, nil)
		expect(t, "log out "+id, resp, body, http.StatusNotFound, "session not found")
	}
	resp, body = a.do(bob, "GET", "/me", nil, nil)
	expect(t, "bob", resp, body, http.StatusOK, "user=bob")

	resp, body = a.do(laptop, "POST", "/sessions/"+self.ID+"/logout", nil, nil)
	expect(t, "log out this device", resp, body, http.StatusOK, "")
	if ck := setCookie(t, resp, "__Host-session"); ck.MaxAge != -1 {
		t.Errorf("ending the current session kept the cookie: %+v", ck)
	}
}

func TestRotate(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	a := newApp(t, m, httpsession.Options{}, false)
	c := a.client()
	old := a.login(c, "alice")
	resp, newID := a.do(c, "POST", "/rotate", nil, nil)
	expect(t, "rotate", resp, newID, http.StatusOK, "")
	ck := setCookie(t, resp, "__Host-session")
	if newID == old.ID || ck.Value == old.Token || !ck.Secure || ck.MaxAge < 3590 {
		t.Errorf("rotate: id %s, cookie %+v", newID, ck)
	}
	if _, err := m.Validate(context.Background(), old.Token); !errors.Is(err, sessiondb.ErrNotFound) {
		t.Errorf("old token after rotate: %v", err)
	}
	resp, body := a.do(c, "GET", "/me", nil, nil)
	expect(t, "after rotate", resp, body, http.StatusOK, "session="+newID)
}

func TestBearer(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	a := newApp(t, m, httpsession.Options{Source: httpsession.FromBearer}, false)
	c := a.client()
	resp, body := a.do(c, "POST", "/login", url.Values{"user": {"alice"}}, nil)
	expect(t, "login", resp, body, http.StatusOK, `"token":"sdb_`)
	if v := resp.Header.Values("Set-Cookie"); len(v) != 0 {
		t.Errorf("bearer login set a cookie: %q", v)
	}
	s := a.login(c, "alice")

	auth := http.Header{"Authorization": {"Bearer " + s.Token}}
	resp, body = a.do(c, "GET", "/me", nil, auth)
	expect(t, "bearer", resp, body, http.StatusOK, "user=alice")
	resp, body = a.do(c, "GET", "/me", nil, http.Header{"Authorization": {"bearer  " + s.Token + " "}})
	expect(t, "bearer, lower case and spaces", resp, body, http.StatusOK, "user=alice")

	// A bearer token is no ambient credential: no cross-origin check.
	xsite := http.Header{"Authorization": auth["Authorization"], "Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}
	resp, body = a.do(c, "POST", "/me", nil, xsite)
	expect(t, "cross-site bearer POST", resp, body, http.StatusOK, "user=alice")

	for _, h := range []http.Header{
		cookieHeader("__Host-session", s.Token),
		{"Authorization": {"Basic " + s.Token}},
		{"Authorization": {"Bearer"}},
		{"Authorization": {"Bearer sdb_forged"}},
	} {
		resp, body = a.do(c, "GET", "/me", nil, h)
		expect(t, "no bearer token", resp, body, http.StatusUnauthorized, "unauthenticated")
		if resp.Header.Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("WWW-Authenticate = %q, want Bearer", resp.Header.Get("WWW-Authenticate"))
		}
	}
	resp, body = a.do(c, "POST", "/logout", nil, auth)
	expect(t, "logout", resp, body, http.StatusOK, "")
	resp, body = a.do(c, "GET", "/me", nil, auth)
	expect(t, "after logout", resp, body, http.StatusUnauthorized, "unauthenticated")
}

func TestCookieOrBearer(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	a := newApp(t, m, httpsession.Options{Source: httpsession.FromCookieOrBearer}, false)
	browser := a.client()
	alice := a.login(browser, "alice")
	bob := a.login(a.client(), "bob")

	resp, body := a.do(browser, "GET", "/me", nil, nil)
	expect(t, "cookie", resp, body, http.StatusOK, "user=alice")
	resp, body = a.do(browser, "GET", "/me", nil, http.Header{"Authorization": {"Bearer " + bob.Token}})
	expect(t, "the bearer header wins", resp, body, http.StatusOK, "user=bob")
	resp, body = a.do(browser, "GET", "/me", nil, http.Header{"Authorization": {"Bearer sdb_forged"}})
	expect(t, "a bad bearer header does not fall back to the cookie", resp, body, http.StatusUnauthorized, "unauthenticated")
	resp, body = a.do(browser, "POST", "/me", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}})
	expect(t, "cross-site with the cookie", resp, body, http.StatusForbidden, "permission_denied")
	_ = alice
}

// An outage of the store is not a logout: 503, never 401 or the login page.
func TestStoreOutage(t *testing.T) {
	srv := redistest.Start(t)
	st, err := redisstore.Open(rueidis.ClientOption{InitAddress: []string{srv.Addr()}}, redisstore.Options{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := sessiondb.New(st, sessiondb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	a := newApp(t, m, httpsession.Options{LoginURL: "/login", Logger: slog.New(slog.NewTextHandler(&log, nil))}, false)
	c := a.client()
	s := a.login(c, "alice")
	resp, body := a.do(c, "GET", "/me", nil, nil)
	expect(t, "before the outage", resp, body, http.StatusOK, "user=alice")

	srv.Stop()
	for _, path := range []string{"/me", "/page"} {
		resp, body = a.do(c, "GET", path, nil, nil)
		expect(t, path+" during the outage", resp, body, http.StatusServiceUnavailable, `{"error":{"code":"unavailable","message":`)
		if resp.Header.Get("Retry-After") != "1" || len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Errorf("%s: Retry-After %q, Set-Cookie %q; want 1 and none", path, resp.Header.Get("Retry-After"), resp.Header.Values("Set-Cookie"))
		}
	}
	resp, body = a.do(a.client(), "GET", "/page", nil, nil)
	expect(t, "a logged-out page needs no store", resp, body, http.StatusOK, "anonymous")
	resp, body = a.do(c, "POST", "/logout", nil, nil)
	expect(t, "logout during the outage", resp, body, http.StatusServiceUnavailable, "unavailable")
	if len(resp.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("a failed logout cleared the cookie")
	}
	resp, body = a.do(a.client(), "POST", "/login", url.Values{"user": {"bob"}}, nil)
	expect(t, "login during the outage", resp, body, http.StatusServiceUnavailable, "unavailable")

	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body = a.do(c, "GET", "/me", nil, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The restarted server kept nothing (persistence is off): the session is
	// gone, and now the answer is a redirect to the login page.
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the restart: %s %q, want 303", resp.Status, body)
	}
	if !strings.Contains(log.String(), "session store unavailable") || strings.Contains(log.String(), s.Token) || strings.Contains(log.String(), s.Token[4:20]) {
		t.Errorf("log: want the outage without the token; got:\n%s", log.String())
	}
}

// Whatever a request carries as a cookie or bearer header, Require answers
// 401 without reaching the handler (no valid token can be guessed), and never
// panics.
func FuzzRequire(f *testing.F) {
	m := newManager(f, sessiondb.Options{})
	mw, err := httpsession.New(m, httpsession.Options{Source: httpsession.FromCookieOrBearer})
	if err != nil {
		f.Fatal(err)
	}
	h := mw.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot) // a forged token got through
	}))
	f.Add("sdb_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Bearer sdb_x")
	f.Add("\x00;;\"=", "Bearer \xff")
	f.Fuzz(func(t *testing.T, cookie, auth string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", "__Host-session="+cookie)
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("cookie %q, auth %q: %d", cookie, auth, w.Code)
		}
	})
}

// With an idle timeout the cookie still lasts the session's absolute
// lifetime: the server, not the cookie, ends idle sessions.
func TestCookieOutlivesIdleTimeout(t *testing.T) {
	m := newManager(t, sessiondb.Options{IdleTimeout: 5 * time.Minute})
	for _, tc := range []struct {
		ttl  time.Duration
		want int
	}{{0, 3600}, {2 * time.Hour, 7200}} {
		a := newApp(t, m, httpsession.Options{TTL: tc.ttl}, false)
		resp, _ := a.do(a.client(), "POST", "/login", url.Values{"user": {"alice"}}, nil)
		if ck := setCookie(t, resp, "__Host-session"); ck.MaxAge != tc.want {
			t.Errorf("TTL %v: Max-Age = %d, want %d", tc.ttl, ck.MaxAge, tc.want)
		}
	}
}

// Require inside Optional of the same Middleware validates once.
func TestNestedValidatesOnce(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	mw, err := httpsession.New(m, httpsession.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Create(context.Background(), "alice", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var inner *sessiondb.Session
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "__Host-session="+string(s.Token))
	w := httptest.NewRecorder()
	// The session ends between the two layers: the inner one does not ask
	// again, and sees the outer one's session.
	outer := mw.Optional(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := m.Invalidate(r.Context(), string(s.Token)); err != nil {
			t.Fatal(err)
		}
		mw.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inner, _ = httpsession.FromContext(r.Context())
		})).ServeHTTP(w, r)
	}))
	outer.ServeHTTP(w, r)
	if w.Code != http.StatusOK || inner == nil || inner.ID != s.ID {
		t.Errorf("nested: %d, session %v; want the outer layer's session", w.Code, inner)
	}
}
