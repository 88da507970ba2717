package httpsession_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/memstore"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// openSessions is the quick start of docs/integration.md for choosing between
// the library and a remote sessiond: everything after it is the same code.
func openSessions(sessiondURL string) (sessiondb.Sessions, error) {
	if sessiondURL == "" {
		return sessiondb.New(memstore.New(), sessiondb.Options{})
	}
	return sessiondclient.New(sessiondURL, sessiondclient.Options{APIKey: os.Getenv("SESSIOND_API_KEY")})
}

// The quick start's routes behave the same on the library and on sessiond
// through the client: login, a page, logout; and a sessiond that is down is
// a 503, not a logout.
func TestQuickStartOnLibraryAndSessiond(t *testing.T) {
	d := sessiondtest.StartWithKeys(t, nil)
	t.Setenv("SESSIOND_API_KEY", d.AppKey)
	for _, sessiondURL := range []string{"", d.URL} {
		sessions, err := openSessions(sessiondURL)
		if err != nil {
			t.Fatal(err)
		}
		h, err := routes(sessions)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewTLSServer(h)
		t.Cleanup(srv.Close)
		browser := srv.Client()
		browser.Jar, _ = cookiejar.New(nil)
		browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		a := &app{t: t, srv: srv}

		resp, body := a.do(browser, "POST", "/login", url.Values{"user": {"alice"}, "password": {"wrong"}}, nil)
		expect(t, "wrong password", resp, body, http.StatusUnauthorized, "wrong user name or password")
		resp, body = a.do(browser, "POST", "/login", url.Values{"user": {"alice"}, "password": {"wonderland"}}, nil)
		expect(t, "login", resp, body, http.StatusSeeOther, "")
		if ck := setCookie(t, resp, "__Host-session"); !ck.Secure || !ck.HttpOnly || ck.MaxAge != 3600 {
			t.Errorf("%q: cookie %+v", sessiondURL, ck)
		}
		resp, body = a.do(browser, "GET", "/account", nil, nil)
		expect(t, "account", resp, body, http.StatusOK, "Hello alice, from 127.0.0.1")
		list, err := sessions.UserSessions(t.Context(), "alice")
		if err != nil || len(list) != 1 {
			t.Fatalf("%q: alice's sessions: %d, %v", sessiondURL, len(list), err)
		}
		resp, body = a.do(browser, "POST", "/logout", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}})
		expect(t, "cross-site logout", resp, body, http.StatusForbidden, "cannot log out")
		resp, body = a.do(browser, "POST", "/logout", nil, nil)
		expect(t, "logout", resp, body, http.StatusSeeOther, "")
		resp, body = a.do(browser, "GET", "/account", nil, nil)
		expect(t, "after logout", resp, body, http.StatusSeeOther, "")
		if list, _ := sessions.UserSessions(t.Context(), "alice"); len(list) != 0 {
			t.Errorf("%q: %d sessions left after logout", sessiondURL, len(list))
		}

		if sessiondURL != "" {
			a.do(browser, "POST", "/login", url.Values{"user": {"alice"}, "password": {"wonderland"}}, nil)
			d.Stop()
			resp, body = a.do(browser, "GET", "/account", nil, nil)
			expect(t, "sessiond down", resp, body, http.StatusServiceUnavailable, `"code":"unavailable"`)
			if strings.Contains(resp.Header.Get("Location"), "login") || resp.Header.Get("Retry-After") == "" {
				t.Errorf("sessiond down: Location %q, Retry-After %q", resp.Header.Get("Location"), resp.Header.Get("Retry-After"))
			}
		}
	}
}
