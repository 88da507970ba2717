package httpsession_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/httpsession"
)

// Hand-crafted requests against the cross-origin check of cookie-authenticated
// requests.
func TestCrossOriginCheck(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	a := newApp(t, m, httpsession.Options{}, false)
	s := a.login(a.client(), "alice")
	host := a.srv.URL // https://127.0.0.1:port, the Host the server sees

	cases := []struct {
		name    string
		method  string
		headers map[string]string
		status  int
	}{
		{"cross-site POST (Sec-Fetch-Site)", "POST", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site POST from a sibling subdomain", "POST", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"Sec-Fetch-Site cross-site wins over a matching Origin", "POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": host}, http.StatusForbidden},
		{"mismatched Origin, no Sec-Fetch-Site (older browser)", "POST", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"Origin null", "POST", map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"same-origin POST", "POST", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": host}, http.StatusOK},
		{"user-initiated (Sec-Fetch-Site: none)", "POST", map[string]string{"Sec-Fetch-Site": "none"}, http.StatusOK},
		{"matching Origin, no Sec-Fetch-Site", "POST", map[string]string{"Origin": host}, http.StatusOK},
		{"no headers (not a browser)", "POST", nil, http.StatusOK},
		{"cross-site GET (safe method)", "GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := cookieHeader("__Host-session", s.Token)
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			resp, body := a.do(a.client(), tc.method, "/me", nil, h)
			want := "user=alice"
			if tc.status == http.StatusForbidden {
				want = `{"error":{"code":"permission_denied","message":"cross-origin request refused"}}`
			}
			expect(t, tc.name, resp, body, tc.status, want)
		})
	}

	// Optional pages refuse it too rather than proceeding logged out.
	h := cookieHeader("__Host-session", s.Token)
	h.Set("Sec-Fetch-Site", "cross-site")
	resp, body := a.do(a.client(), "POST", "/page", nil, h)
	expect(t, "cross-site POST to an optional page", resp, body, http.StatusForbidden, "permission_denied")
	// Without a cookie there is no ambient credential to abuse.
	resp, body = a.do(a.client(), "POST", "/page", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}})
	expect(t, "cross-site POST without a cookie", resp, body, http.StatusOK, "anonymous")
}

// Login, Logout and the other helpers refuse cross-site requests that carry
// the cookie, and change nothing.
func TestCrossOriginHelpers(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	a := newApp(t, m, httpsession.Options{}, false)
	c := a.client()
	s := a.login(c, "alice")
	xsite := http.Header{"Sec-Fetch-Site": {"cross-site"}}
	ctx := context.Background()
	before, _ := m.Stats(ctx)

	// A cross-site login form POST (login CSRF) creates nothing.
	resp, body := a.do(a.client(), "POST", "/login", url.Values{"user": {"mallory"}}, xsite)
	expect(t, "cross-site login", resp, body, http.StatusForbidden, "cross-origin request refused")
	for _, path := range []string{"/logout", "/logout-everywhere", "/sessions/" + s.ID + "/logout", "/rotate"} {
		resp, body = a.do(c, "POST", path, nil, xsite)
		expect(t, "cross-site "+path, resp, body, http.StatusForbidden, "cross-origin request refused")
		if len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Errorf("cross-site %s set a cookie", path)
		}
	}
	after, _ := m.Stats(ctx)
	if after.Created != before.Created || after.Invalidated != before.Invalidated {
		t.Errorf("cross-site requests changed sessions: %+v, then %+v", before, after)
	}
	resp, body = a.do(c, "GET", "/me", nil, nil)
	expect(t, "still logged in", resp, body, http.StatusOK, "session="+s.ID)
}

func TestCrossOriginOptions(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	const front = "https://app.example.com"
	cases := []struct {
		name   string
		opt    httpsession.Options
		origin string
		status int
	}{
		{"trusted origin", httpsession.Options{TrustedOrigins: []string{front}}, front, http.StatusOK},
		{"untrusted origin", httpsession.Options{TrustedOrigins: []string{front}}, "https://evil.example", http.StatusForbidden},
		{"bypass pattern", httpsession.Options{InsecureBypassPatterns: []string{"POST /me"}}, "https://evil.example", http.StatusOK},
		{"check disabled", httpsession.Options{DisableCrossOriginCheck: true}, "https://evil.example", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, m, tc.opt, false)
			s := a.login(a.client(), "alice")
			h := cookieHeader("__Host-session", s.Token)
			h.Set("Sec-Fetch-Site", "cross-site")
			h.Set("Origin", tc.origin)
			resp, body := a.do(a.client(), "POST", "/me", nil, h)
			if resp.StatusCode != tc.status {
				t.Errorf("got %d %q, want %d", resp.StatusCode, body, tc.status)
			}
		})
	}

	// A custom handler answers refusals.
	a := newApp(t, m, httpsession.Options{CrossOriginDenied: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusTeapot)
	})}, false)
	s := a.login(a.client(), "alice")
	h := cookieHeader("__Host-session", s.Token)
	h.Set("Sec-Fetch-Site", "cross-site")
	resp, body := a.do(a.client(), "POST", "/me", nil, h)
	expect(t, "custom handler", resp, body, http.StatusTeapot, "nope")
}

func TestCheckOrigin(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	on, _ := httpsession.New(m, httpsession.Options{})
	off, _ := httpsession.New(m, httpsession.Options{DisableCrossOriginCheck: true})
	xsite := httptest.NewRequest("POST", "https://example.com/login", nil)
	xsite.Header.Set("Sec-Fetch-Site", "cross-site")
	same := httptest.NewRequest("POST", "https://example.com/login", nil)
	same.Header.Set("Sec-Fetch-Site", "same-origin")
	safe := httptest.NewRequest("GET", "https://example.com/login", nil)
	safe.Header.Set("Sec-Fetch-Site", "cross-site")
	if err := on.CheckOrigin(xsite); err != httpsession.ErrCrossOrigin {
		t.Errorf("cross-site POST: %v, want ErrCrossOrigin", err)
	}
	for _, c := range []struct {
		mw *httpsession.Middleware
		r  *http.Request
	}{{on, same}, {on, safe}, {off, xsite}} {
		if err := c.mw.CheckOrigin(c.r); err != nil {
			t.Errorf("%s %s: %v", c.r.Method, c.r.Header.Get("Sec-Fetch-Site"), err)
		}
	}
}
