package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/metrics"
	"github.com/sessiondb/sessiondb/memstore"
)

const (
	testAdminKey = "admin-key-for-the-console-tests-0123456789"
	testAppKey   = "app-key-for-the-console-tests-0123456789"
)

// consoleServer is a Server with the console on, over a memory store, and
// the log it writes.
type consoleServer struct {
	*Server
	log *bytes.Buffer
}

func newConsoleServer(tb testing.TB, keys string) consoleServer {
	tb.Helper()
	return newConsoleServerWith(tb, keys, sessiondb.Options{})
}

func newConsoleServerWith(tb testing.TB, keys string, opt sessiondb.Options) consoleServer {
	tb.Helper()
	m, err := sessiondb.New(memstore.New(), opt)
	if err != nil {
		tb.Fatal(err)
	}
	ks, err := LoadKeys(keys, "")
	if err != nil {
		tb.Fatal(err)
	}
	var log bytes.Buffer
	s, err := New(Config{Manager: m, Keys: ks, Metrics: metrics.New("test"),
		Logger:  slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Console: &ConsoleConfig{Store: "embedded memory store", Version: "test"}})
	if err != nil {
		tb.Fatal(err)
	}
	return consoleServer{Server: s, log: &log}
}

// form sends a console form as a same-origin browser would.
func form(tb testing.TB, h http.Handler, target string, values url.Values, hdr ...string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest("POST", target, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// signInCookie signs in with key and returns the console's cookie.
func signInCookie(tb testing.TB, h http.Handler, key string) *http.Cookie {
	tb.Helper()
	w := form(tb, h, "/ui/login", url.Values{"key": {key}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/" {
		tb.Fatalf("sign-in: %d to %q, want 303 to /ui/\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == consoleCookie {
			return c
		}
	}
	tb.Fatalf("sign-in set no %s cookie: %q", consoleCookie, w.Header().Values("Set-Cookie"))
	return nil
}

func withCookie(c *http.Cookie) []string {
	return []string{"Cookie", c.Name + "=" + c.Value}
}

func TestConsoleOff(t *testing.T) {
	s := newTestServer(t, sessiondb.Options{}, nil)
	for _, p := range []string{"/ui/", "/ui/login", "/ui/assets/app.js", "/ui/api/overview"} {
		wantError(t, do(t, s, "GET", p, ""), http.StatusNotFound, CodeNotFound, "")
	}
}

func TestConsoleSignIn(t *testing.T) {
	s := newConsoleServer(t, "app:"+testAppKey+",admin:"+testAdminKey)

	// Signed out, pages send to the sign-in page and JSON says 401.
	w := do(t, s, "GET", "/ui/users?user_id=alice", "")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login" {
		t.Errorf("signed out: %d to %q, want 303 to /ui/login", w.Code, w.Header().Get("Location"))
	}
	wantError(t, do(t, s, "GET", "/ui/api/overview", ""), http.StatusUnauthorized, CodeUnauthenticated, "")
	if w := do(t, s, "GET", "/ui/login", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `name="key" type="password"`) {
		t.Errorf("sign-in page: %d\n%s", w.Code, w.Body)
	}

	// Wrong keys: refused, with no cookie.
	for _, c := range []struct {
		key    string
		status int
		says   string
	}{
		{"", 400, "Enter an admin API key."},
		{"not-a-key-0123456789abcdef", 401, "That key is not valid."},
		{testAppKey, 403, "That is an app key: the console needs an admin key."},
		{testAdminKey + "x", 401, "That key is not valid."},
	} {
		w := form(t, s, "/ui/login", url.Values{"key": {c.key}})
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.says) {
			t.Errorf("sign-in with %q: %d, want %d saying %q", c.key, w.Code, c.status, c.says)
		}
		if sc := w.Header().Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("sign-in with %q set %q", c.key, sc)
		}
	}

	// The admin key: a cookie held to HttpOnly, Secure, SameSite=Strict,
	// Path=/ and no Domain (the __Host- prefix), for an hour, without the key.
	c := signInCookie(t, s, testAdminKey)
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || c.MaxAge != 3600 {
		t.Errorf("cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/, no Domain, Max-Age=3600", c)
	}
	if strings.Contains(c.Value, testAdminKey) || !strings.HasPrefix(c.Name, "__Host-") {
		t.Errorf("cookie %s=%s", c.Name, c.Value)
	}
	for _, p := range []string{"/ui/", "/ui/users", "/ui/users?user_id=alice", "/ui/sessions?id=x", "/ui/config"} {
		if w := do(t, s, "GET", p, "", withCookie(c)...); w.Code != 200 && w.Code != 404 {
			t.Errorf("GET %s signed in: %d\n%s", p, w.Code, w.Body)
		}
	}
	if w := do(t, s, "GET", "/ui/api/overview", "", withCookie(c)...); w.Code != 200 {
		t.Errorf("overview JSON: %d %s", w.Code, w.Body)
	}
	if strings.Contains(s.log.String(), testAdminKey) || strings.Contains(s.log.String(), testAppKey) {
		t.Error("the log holds an API key")
	}

	// A bearer key does not open the console, nor a cookie the API.
	if w := do(t, s, "GET", "/ui/", "", "Authorization", "Bearer "+testAdminKey); w.Code != http.StatusSeeOther {
		t.Errorf("console with a bearer key: %d, want the sign-in page", w.Code)
	}
	wantError(t, do(t, s, "GET", "/v1/stats", "", withCookie(c)...), http.StatusUnauthorized, CodeUnauthenticated, "")
}

func TestConsoleToken(t *testing.T) {
	keys := "app:" + testAppKey + ",admin:" + testAdminKey
	s := newConsoleServer(t, keys)
	c := signInCookie(t, s, testAdminKey)
	signedIn := func(s http.Handler, value string) bool {
		t.Helper()
		w := do(t, s, "GET", "/ui/api/overview", "", "Cookie", consoleCookie+"="+value)
		return w.Code == 200
	}

	// Another replica with the same keys accepts it; one without that admin
	// key does not.
	if !signedIn(newConsoleServer(t, keys), c.Value) {
		t.Error("a replica with the same keys refuses the cookie")
	}
	if signedIn(newConsoleServer(t, "admin:another-admin-key-0123456789abcdef"), c.Value) {
		t.Error("a replica without the admin key accepts the cookie")
	}

	// Tampered, truncated, expired and app-key tokens are refused.
	now := time.Now()
	flip := []byte(c.Value)
	flip[len(flip)-3] ^= 1
	for name, v := range map[string]string{
		"tampered mac":     string(flip),
		"truncated":        c.Value[:len(c.Value)-5],
		"no mac":           strings.SplitN(c.Value, ".", 3)[0] + "." + strings.SplitN(c.Value, ".", 3)[1],
		"expired":          newConsoleToken(testAdminKey, now.Add(-time.Second)),
		"too long-lived":   newConsoleToken(testAdminKey, now.Add(3*time.Hour)),
		"made with an app": newConsoleToken(testAppKey, now.Add(time.Minute)),
		"another version":  "v2" + strings.TrimPrefix(c.Value, "v1"),
		"empty":            "",
		"the key itself":   testAdminKey,
	} {
		if signedIn(s, v) {
			t.Errorf("%s token accepted", name)
		}
		w := do(t, s, "GET", "/ui/", "", "Cookie", consoleCookie+"="+v)
		if want := "/ui/login?expired=1"; v != "" && w.Header().Get("Location") != want {
			t.Errorf("page with a %s token: %d to %q, want %s", name, w.Code, w.Header().Get("Location"), want)
		}
	}
	if !signedIn(s, newConsoleToken(testAdminKey, now.Add(time.Minute))) {
		t.Error("a fresh token is refused")
	}

	// Signing out clears the cookie and refuses the token here at once.
	other := newConsoleServer(t, keys)
	w := form(t, s, "/ui/logout", nil, withCookie(c)...)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login?signedout=1" {
		t.Errorf("sign out: %d to %q", w.Code, w.Header().Get("Location"))
	}
	cleared := w.Result().Cookies()
	if len(cleared) != 1 || cleared[0].MaxAge != -1 || !cleared[0].Secure || !cleared[0].HttpOnly {
		t.Errorf("sign out sets %+v, want the cookie expired", cleared)
	}
	if signedIn(s, c.Value) {
		t.Error("the token still works after signing out")
	}
	// As documented: another replica accepts a copy until it expires.
	if !signedIn(other, c.Value) {
		t.Error("another replica refuses a signed-out token: update docs/sessiond.md")
	}
}

func TestConsoleHeaders(t *testing.T) {
	s := newConsoleServer(t, "admin:"+testAdminKey)
	c := signInCookie(t, s, testAdminKey)
	for _, p := range []string{"/ui/", "/ui/login", "/ui/config", "/ui/assets/app.js", "/ui/assets/app.css", "/ui/nope"} {
		w := do(t, s, "GET", p, "", withCookie(c)...)
		h := w.Header()
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %s", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http") {
			t.Errorf("%s: Content-Security-Policy %q allows inline code or other sites", p, csp)
		}
		for k, v := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", p, k, h.Get(k), v)
			}
		}
		// No inline script or style in any page.
		body := w.Body.String()
		if strings.Contains(h.Get("Content-Type"), "html") {
			for _, bad := range []string{"<script>", "style=", "<style", "onclick", "javascript:", "http://", "https://"} {
				if strings.Contains(body, bad) {
					t.Errorf("%s holds %q", p, bad)
				}
			}
		}
	}
	if ct := do(t, s, "GET", "/ui/assets/app.js", "").Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("app.js served as %q", ct)
	}
	for _, p := range []string{"/ui/assets/nope.js", "/ui/assets/layout.html", "/ui/assets/..%2Flayout.html"} {
		if w := do(t, s, "GET", p, ""); w.Code != 404 {
			t.Errorf("GET %s: %d, want 404", p, w.Code)
		}
	}
}

func TestConsoleRevokeAndCSRF(t *testing.T) {
	s := newConsoleServer(t, "admin:"+testAdminKey)
	c := signInCookie(t, s, testAdminKey)
	ctx := context.Background()
	var ids []string
	for range 3 {
		sess, err := s.m.Create(ctx, "alice", 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sess.ID)
	}
	live := func() int {
		list, err := s.m.UserSessions(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}

	// Cross-site forms are refused, whatever the cookie (SameSite=Strict
	// would keep it from being sent; CrossOriginProtection refuses anyway).
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Sec-Fetch-Site", "", "Origin", "https://evil.example"},
	} {
		w := form(t, s, "/ui/users/revoke", url.Values{"user_id": {"alice"}, "confirmed": {"1"}}, append(withCookie(c), h...)...)
		if w.Code != http.StatusForbidden {
			t.Errorf("cross-origin form %v: %d, want 403", h, w.Code)
		}
		w = form(t, s, "/ui/login", url.Values{"key": {testAdminKey}}, h...)
		if w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
			t.Errorf("cross-origin sign-in %v: %d, want 403 without a cookie", h, w.Code)
		}
	}
	if n := live(); n != 3 {
		t.Fatalf("%d sessions after refused forms, want 3", n)
	}

	// Without the confirmation: a confirmation page, nothing revoked.
	w := form(t, s, "/ui/sessions/revoke", url.Values{"id": {ids[0]}, "user_id": {"alice"}}, withCookie(c)...)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `name="confirmed" value="1"`) || live() != 3 {
		t.Errorf("unconfirmed revoke: %d, %d sessions\n%s", w.Code, live(), w.Body)
	}
	// Signed out: refused.
	w = form(t, s, "/ui/sessions/revoke", url.Values{"id": {ids[0]}, "confirmed": {"1"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login" || live() != 3 {
		t.Errorf("signed-out revoke: %d to %q, %d sessions", w.Code, w.Header().Get("Location"), live())
	}
	// Bad forms.
	if w := form(t, s, "/ui/sessions/revoke", url.Values{"confirmed": {"1"}}, withCookie(c)...); w.Code != 400 {
		t.Errorf("revoke without an id: %d", w.Code)
	}
	if w := form(t, s, "/ui/sessions/revoke", url.Values{"id": {strings.Repeat("x", 9000)}}, withCookie(c)...); w.Code != 413 {
		t.Errorf("oversized form: %d", w.Code)
	}
	if w := form(t, s, "/ui/sessions/revoke", url.Values{"id": {ids[0]}}, append(withCookie(c), "Content-Type", "application/json")...); w.Code != 415 {
		t.Errorf("JSON body: %d", w.Code)
	}

	// Confirmed: one session, then all others, then a gone one.
	w = form(t, s, "/ui/sessions/revoke", url.Values{"id": {ids[0]}, "user_id": {"alice"}, "confirmed": {"1"}}, withCookie(c)...)
	if w.Header().Get("Location") != "/ui/users?user_id=alice&revoked=1" || live() != 2 {
		t.Errorf("revoke: %d to %q, %d sessions", w.Code, w.Header().Get("Location"), live())
	}
	w = form(t, s, "/ui/users/revoke", url.Values{"user_id": {"alice"}, "except": {ids[2]}, "confirmed": {"1"}}, withCookie(c)...)
	if w.Header().Get("Location") != "/ui/users?user_id=alice&revoked=1" || live() != 1 {
		t.Errorf("revoke all others: %d to %q, %d sessions", w.Code, w.Header().Get("Location"), live())
	}
	if _, err := s.m.Get(ctx, ids[2]); err != nil {
		t.Errorf("the kept session: %v", err)
	}
	w = form(t, s, "/ui/sessions/revoke", url.Values{"id": {ids[0]}, "user_id": {"alice"}, "confirmed": {"1"}}, withCookie(c)...)
	if w.Header().Get("Location") != "/ui/users?user_id=alice&gone=1" {
		t.Errorf("revoking a gone session: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if !strings.Contains(s.log.String(), "console: revoked a session") {
		t.Error("no log line for the revocation")
	}
}

func TestConsoleWithoutKeys(t *testing.T) {
	s := newConsoleServer(t, "")
	if w := do(t, s, "GET", "/ui/", ""); w.Code != 200 || !strings.Contains(w.Body.String(), "no API keys are configured") {
		t.Errorf("console without keys: %d\n%s", w.Code, w.Body)
	}
	if w := do(t, s, "GET", "/ui/login", ""); w.Code != http.StatusSeeOther {
		t.Errorf("sign-in page without keys: %d, want a redirect to the overview", w.Code)
	}
}

func TestConsoleOverviewJSON(t *testing.T) {
	s := newConsoleServer(t, "")
	ctx := context.Background()
	sess, err := s.m.Create(ctx, "u", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.metrics.SessionValidated(true)
	s.metrics.SessionValidated(false)
	s.metrics.CleanupDone(3, time.Millisecond, nil)
	if err := s.m.InvalidateByID(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.m.Create(ctx, "v", 0, nil); err != nil {
		t.Fatal(err)
	}
	w := do(t, s, "GET", "/ui/api/overview", "")
	var o overview
	if err := json.Unmarshal(w.Body.Bytes(), &o); err != nil || w.Code != 200 {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	st, r := o.Store, o.Replica
	if !st.Up || st.ReadAt == nil || st.ActiveSessions != 1 || st.Users != 1 || st.Created != 2 || st.Invalidated != 1 {
		t.Errorf("store figures %+v", st)
	}
	if r.Validations != 2 || r.ValidationsInvalid != 1 || r.CleanupRuns != 1 || r.CleanupRemoved != 3 || r.LastCleanup == nil {
		t.Errorf("replica figures %+v", r)
	}
	if o.MemoryAlertRatio != 0.8 {
		t.Errorf("memory alert ratio %v", o.MemoryAlertRatio)
	}
}

// TestConsoleExpires: the console's "Expires" is when the session really
// ends, as expires_at in the API: here the idle deadline, before the
// absolute expiry.
func TestConsoleExpires(t *testing.T) {
	s := newConsoleServerWith(t, "admin:"+testAdminKey, sessiondb.Options{IdleTimeout: 10 * time.Minute})
	c := signInCookie(t, s, testAdminKey)
	sess, err := s.m.Create(context.Background(), "alice", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `<time datetime="` + sess.LastSeenAt.Add(10*time.Minute).UTC().Format(time.RFC3339) + `">`
	absolute := `<time datetime="` + sess.ExpiresAt.UTC().Format(time.RFC3339) + `">`
	for _, target := range []string{"/ui/sessions?id=" + sess.ID, "/ui/users?user_id=alice"} {
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("Cookie", c.Name+"="+c.Value)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		body := w.Body.String()
		if w.Code != http.StatusOK || !strings.Contains(body, want) || strings.Contains(body, absolute) {
			t.Errorf("GET %s: %d; want the idle deadline %s, not the absolute expiry %s\n%s", target, w.Code, want, absolute, body)
		}
	}
}
