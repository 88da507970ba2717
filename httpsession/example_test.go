package httpsession_test

import (
	"crypto/subtle"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/httpsession"
	"github.com/sessiondb/sessiondb/memstore"
)

// routes is the middleware quick start of docs/integration.md: a login
// form's handler, a page that needs a session and logout.
func routes(sessions httpsession.Sessions) (http.Handler, error) {
	mw, err := httpsession.New(sessions, httpsession.Options{LoginURL: "/login"})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		userID, ok := checkPassword(r.PostFormValue("user"), r.PostFormValue("password"))
		if !ok {
			http.Error(w, "wrong user name or password", http.StatusUnauthorized)
			return
		}
		// Ends any session the browser brought, starts a new one and sets
		// the __Host-session cookie.
		if _, err := mw.Login(w, r, userID, nil); err != nil {
			http.Error(w, "cannot log in", httpsession.StatusCode(err))
			return
		}
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	})
	mux.Handle("GET /account", mw.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := httpsession.FromContext(r.Context())
		fmt.Fprintf(w, "Hello %s, from %s\n", s.UserID, s.Metadata["ip"])
	})))
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := mw.Logout(w, r); err != nil {
			http.Error(w, "cannot log out", httpsession.StatusCode(err))
			return
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	})
	return mux, nil
}

// checkPassword stands for the application's own user store.
func checkPassword(user, password string) (userID string, ok bool) {
	if user == "alice" && subtle.ConstantTimeCompare([]byte(password), []byte("wonderland")) == 1 {
		return "alice", true
	}
	return "", false
}

func Example() {
	m, err := sessiondb.New(memstore.New(), sessiondb.Options{})
	if err != nil {
		log.Fatal(err)
	}
	h, err := routes(m)
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewTLSServer(h) // the __Host- cookie needs HTTPS
	defer srv.Close()

	// A browser: a client with a cookie jar.
	browser := srv.Client()
	browser.Jar, _ = cookiejar.New(nil)
	get := func(path string) {
		resp, err := browser.Get(srv.URL + path)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get("/account")
	resp, err := browser.PostForm(srv.URL+"/login", url.Values{"user": {"alice"}, "password": {"wonderland"}})
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	c := resp.Cookies()[0]
	fmt.Println("login:", resp.StatusCode, c.Name, c.Secure, c.HttpOnly, c.SameSite == http.SameSiteLaxMode, c.Path, c.MaxAge)
	get("/account")
	// Output:
	// GET /account: 303 <a href="/login">See Other</a>.
	//
	// login: 303 __Host-session true true true / 3600
	// GET /account: 200 Hello alice, from 127.0.0.1
}

func ExampleMiddleware_ClientIP() {
	m, err := sessiondb.New(memstore.New(), sessiondb.Options{})
	if err != nil {
		log.Fatal(err)
	}
	mw, err := httpsession.New(m, httpsession.Options{TrustedProxies: []string{"10.0.0.0/8", "fd00::/8"}})
	if err != nil {
		log.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.7:51000" // the proxy
	r.Header.Set("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
	fmt.Println(mw.ClientIP(r)) // the proxy's entry; the client wrote the left one

	r.RemoteAddr = "192.0.2.5:4000" // not a proxy: its header is ignored
	fmt.Println(mw.ClientIP(r))
	// Output:
	// 203.0.113.9
	// 192.0.2.5
}
