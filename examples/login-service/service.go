package main

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/httpsession"
	"github.com/sessiondb/sessiondb/internal/useragent"
)

//go:embed web
var webFS embed.FS

// service is the web service: its pages, its users and its sessions.
type service struct {
	sessions sessiondb.Sessions
	mw       *httpsession.Middleware
	users    *directory
	pages    map[string]*template.Template
	style    []byte
	dev      bool   // plain HTTP on loopback, with the development cookie
	hsts     bool   // served over HTTPS by this process
	backend  string // what keeps the sessions, for the footer
	log      *slog.Logger
}

// serviceConfig is what newService needs.
type serviceConfig struct {
	sessions       sessiondb.Sessions
	users          []user
	dev            bool // InsecureLoopbackHTTP: plain HTTP on loopback
	hsts           bool
	trustedProxies []string
	backend        string
	log            *slog.Logger
}

func newService(c serviceConfig) (*service, error) {
	mw, err := httpsession.New(c.sessions, httpsession.Options{
		LoginURL:             "/login",
		InsecureLoopbackHTTP: c.dev,
		TrustedProxies:       c.trustedProxies,
		Logger:               c.log,
	})
	if err != nil {
		return nil, err
	}
	s := &service{
		sessions: c.sessions, mw: mw, users: newDirectory(c.users),
		pages: make(map[string]*template.Template),
		dev:   c.dev, hsts: c.hsts, backend: c.backend, log: c.log,
	}
	for _, name := range []string{"login.html", "devices.html", "error.html"} {
		t, err := template.ParseFS(webFS, "web/layout.html", "web/"+name)
		if err != nil {
			return nil, err
		}
		s.pages[name] = t
	}
	if s.style, err = webFS.ReadFile("web/style.css"); err != nil {
		return nil, err
	}
	return s, nil
}

// handler returns the service's routes.
func (s *service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", s.mw.Optional(http.HandlerFunc(s.home)))
	mux.Handle("GET /login", s.mw.Optional(http.HandlerFunc(s.loginPage)))
	mux.HandleFunc("POST /login", s.login)
	mux.Handle("GET /devices", s.mw.Require(http.HandlerFunc(s.devices)))
	mux.Handle("POST /devices/{id}/logout", s.mw.Require(http.HandlerFunc(s.logoutDevice)))
	mux.Handle("POST /devices/logout-others", s.mw.Require(http.HandlerFunc(s.logoutOthers)))
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Write(s.style)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	return s.secureHeaders(mux)
}

// secureHeaders sets the headers every answer carries: no caching of
// personal pages, no framing (the buttons log devices out), no scripts.
func (s *service) secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if s.hsts {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// pageData is what the templates show.
type pageData struct {
	Title      string
	Dev        bool
	CookieName string
	Backend    string
	User       *user
	Notice     string
	Error      string

	Username  string // login form
	DemoUsers []user // login page
	Devices   []deviceRow
}

type deviceRow struct {
	ID       string
	Device   string
	IP       string
	Created  time.Time
	LastSeen time.Time
	Current  bool
}

func (s *service) render(w http.ResponseWriter, status int, page string, d pageData) {
	d.Dev, d.CookieName, d.Backend = s.dev, s.mw.CookieName(), s.backend
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.pages[page].Execute(w, d); err != nil {
		s.log.Error("render page", "page", page, "err", err)
	}
}

// fail answers with an error page.
func (s *service) fail(w http.ResponseWriter, status int, title string) {
	s.render(w, status, "error.html", pageData{Title: title})
}

// sessionErrorTitles are the error pages of failed session calls, by the
// status httpsession.StatusCode gives them.
var sessionErrorTitles = map[int]string{
	http.StatusForbidden:          "Refused: this form was sent from another site",
	http.StatusUnauthorized:       "Your session has ended: log in again",
	http.StatusNotFound:           "That session has already ended",
	http.StatusBadRequest:         "The request could not be understood",
	http.StatusConflict:           "Too many devices are logged in: log one out first",
	http.StatusServiceUnavailable: "Sessions are unavailable right now; try again in a moment",
}

// failSession answers a failed session call: a cross-site form, a missing
// session, or an unavailable store.
func (s *service) failSession(w http.ResponseWriter, r *http.Request, err error) {
	status := httpsession.StatusCode(err)
	if status == http.StatusServiceUnavailable {
		s.log.Warn("session service", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
	}
	s.fail(w, status, sessionErrorTitles[status])
}

func (s *service) currentUser(r *http.Request) (*sessiondb.Session, *user) {
	cur, ok := httpsession.FromContext(r.Context())
	if !ok {
		return nil, nil
	}
	u, ok := s.users.byID[cur.UserID]
	if !ok {
		u = user{ID: cur.UserID, Name: cur.UserID}
	}
	return cur, &u
}

func (s *service) home(w http.ResponseWriter, r *http.Request) {
	if cur, _ := s.currentUser(r); cur != nil {
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *service) loginPage(w http.ResponseWriter, r *http.Request) {
	_, u := s.currentUser(r)
	d := pageData{Title: "Log in", User: u, DemoUsers: s.users.list}
	if u != nil {
		d.Notice = "You are logged in as " + u.Name + ". Logging in again replaces this session."
	}
	s.render(w, http.StatusOK, "login.html", d)
}

// maxFormBytes bounds the login form.
const maxFormBytes = 16 << 10

func (s *service) login(w http.ResponseWriter, r *http.Request) {
	// Refuse a cross-site form before spending a password hash on it.
	if err := s.mw.CheckOrigin(r); err != nil {
		s.failSession(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, http.StatusBadRequest, "The form could not be read")
		return
	}
	name := r.PostForm.Get("user")
	u, ok := s.users.check(name, r.PostForm.Get("password"))
	if !ok {
		s.render(w, http.StatusUnauthorized, "login.html", pageData{
			Title: "Log in", Error: "Wrong user name or password.", Username: name, DemoUsers: s.users.list,
		})
		return
	}
	if _, err := s.mw.Login(w, r, u.ID, nil); err != nil {
		s.failSession(w, r, err)
		return
	}
	http.Redirect(w, r, "/devices", http.StatusSeeOther)
}

func (s *service) devices(w http.ResponseWriter, r *http.Request) {
	cur, u := s.currentUser(r)
	list, err := s.sessions.UserSessions(r.Context(), cur.UserID)
	if err != nil {
		s.failSession(w, r, err)
		return
	}
	d := pageData{Title: "My devices", User: u}
	for _, x := range list {
		d.Devices = append(d.Devices, deviceRow{
			ID:       x.ID,
			Device:   useragent.Describe(x.Metadata[httpsession.MetadataUserAgent]),
			IP:       x.Metadata[httpsession.MetadataIP],
			Created:  x.CreatedAt.UTC(),
			LastSeen: x.LastSeenAt.UTC(),
			Current:  x.ID == cur.ID,
		})
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("ended")); err == nil && n >= 0 {
		d.Notice = "Logged out " + plural(n, "other device") + "."
	}
	s.render(w, http.StatusOK, "devices.html", d)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func (s *service) logoutDevice(w http.ResponseWriter, r *http.Request) {
	cur, _ := httpsession.FromContext(r.Context())
	id := r.PathValue("id")
	if err := s.mw.LogoutSession(w, r, id); err != nil {
		s.failSession(w, r, err)
		return
	}
	if id == cur.ID {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/devices?ended=1", http.StatusSeeOther)
}

func (s *service) logoutOthers(w http.ResponseWriter, r *http.Request) {
	n, err := s.mw.LogoutEverywhere(w, r, true)
	if err != nil {
		s.failSession(w, r, err)
		return
	}
	http.Redirect(w, r, "/devices?ended="+strconv.Itoa(n), http.StatusSeeOther)
}

func (s *service) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.mw.Logout(w, r); err != nil {
		s.failSession(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
