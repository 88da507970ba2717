package httpsession_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/httpsession"
	"github.com/sessiondb/sessiondb/memstore"
)

// newManager returns a library Manager on the embedded store.
func newManager(t testing.TB, opt sessiondb.Options) *sessiondb.Manager {
	t.Helper()
	m, err := sessiondb.New(memstore.New(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Store().Close() })
	return m
}

// app is a small service behind the middleware, served over real HTTP.
type app struct {
	t   *testing.T
	mw  *httpsession.Middleware
	srv *httptest.Server
}

// loginReply is what the test service's POST /login answers.
type loginReply struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// newApp serves the test routes over HTTPS (or plain HTTP when plain is
// set) on a loopback port.
func newApp(t *testing.T, sessions httpsession.Sessions, opt httpsession.Options, plain bool) *app {
	t.Helper()
	mw, err := httpsession.New(sessions, opt)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	who := func(w http.ResponseWriter, r *http.Request) {
		s, ok := httpsession.FromContext(r.Context())
		if !ok {
			fmt.Fprint(w, "anonymous")
			return
		}
		if s.Token != "" {
			t.Errorf("the session in the context carries a token")
		}
		fmt.Fprintf(w, "user=%s session=%s", s.UserID, s.ID)
	}
	mux.Handle("GET /me", mw.Require(http.HandlerFunc(who)))
	mux.Handle("POST /me", mw.Require(http.HandlerFunc(who)))
	mux.Handle("GET /page", mw.Optional(http.HandlerFunc(who)))
	mux.Handle("POST /page", mw.Optional(http.HandlerFunc(who)))
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s, err := mw.Login(w, r, r.FormValue("user"), nil)
		if err != nil {
			writeErr(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(loginReply{ID: s.ID, Token: string(s.Token)})
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := mw.Logout(w, r); err != nil {
			writeErr(w, err)
		}
	})
	mux.HandleFunc("POST /logout-everywhere", func(w http.ResponseWriter, r *http.Request) {
		n, err := mw.LogoutEverywhere(w, r, r.FormValue("except") == "1")
		if err != nil {
			writeErr(w, err)
			return
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("POST /sessions/{id}/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := mw.LogoutSession(w, r, r.PathValue("id")); err != nil {
			writeErr(w, err)
		}
	})
	mux.Handle("POST /rotate", mw.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := mw.Rotate(w, r)
		if err != nil {
			writeErr(w, err)
			return
		}
		fmt.Fprint(w, s.ID)
	})))
	var srv *httptest.Server
	if plain {
		srv = httptest.NewServer(mux)
	} else {
		srv = httptest.NewTLSServer(mux)
	}
	t.Cleanup(srv.Close)
	return &app{t: t, mw: mw, srv: srv}
}

func writeErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, httpsession.ErrCrossOrigin):
		http.Error(w, err.Error(), http.StatusForbidden)
	case errors.Is(err, httpsession.ErrInsecureCookie):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, sessiondb.ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, sessiondb.ErrInvalidArgument):
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	}
}

// client returns an HTTP client of the app's server with its own cookie jar:
// one browser, or one device. It does not follow redirects.
func (a *app) client() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		a.t.Fatal(err)
	}
	c := *a.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// do sends a request and returns the response with its body read.
func (a *app) do(c *http.Client, method, path string, form url.Values, header http.Header) (*http.Response, string) {
	a.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, a.srv.URL+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp, string(b)
}

// login logs c in as user and returns the new session's id and token.
func (a *app) login(c *http.Client, user string) loginReply {
	a.t.Helper()
	resp, body := a.do(c, "POST", "/login", url.Values{"user": {user}}, nil)
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("login %s: %s %s", user, resp.Status, body)
	}
	var r loginReply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		a.t.Fatal(err)
	}
	return r
}

// expect checks a response's status, and that its body contains want.
func expect(t *testing.T, what string, resp *http.Response, body string, status int, want string) {
	t.Helper()
	if resp.StatusCode != status || !strings.Contains(body, want) {
		t.Errorf("%s: got %d %q, want %d with %q", what, resp.StatusCode, body, status, want)
	}
}

// setCookie returns the response's Set-Cookie for name, parsed, failing the
// test if there is not exactly one.
func setCookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	var found []*http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == name {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("Set-Cookie for %s: got %d (%q), want 1", name, len(found), resp.Header.Values("Set-Cookie"))
	}
	return found[0]
}

// cookieHeader is a hand-made Cookie header carrying a session token.
func cookieHeader(name, token string) http.Header {
	return http.Header{"Cookie": {name + "=" + token}}
}
