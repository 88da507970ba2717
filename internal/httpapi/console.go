package httpapi

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/statuswriter"
)

// The admin console: HTML pages under /ui/ for operators, served when
// Config.Console is set (SESSIOND_UI=true). Its routes are in the route
// table with the API's, marked with how they are guarded (consoleAccess):
// instead of a bearer key, a signed-in browser shows the cookie of
// console_auth.go. Every page is rendered on the server, so that it shows
// its figures before any script runs; app.js adds the live charts of the
// overview and the confirmation dialogs. The pages allow no inline script or
// style (Content-Security-Policy), and every asset is embedded.
//
// Adding a page takes a route with a title in routes() (the navigation is
// built from those, in table order), its handler, and its template in
// console/ defining "content" (rendered inside layout.html).

//go:embed console
var consoleFS embed.FS

// ConsoleConfig configures the admin console.
type ConsoleConfig struct {
	// Settings are the effective settings shown on the configuration page,
	// secrets already hidden.
	Settings []ConsoleSetting
	// Store describes the store in one line, without secrets.
	Store string
	// Version is shown at the foot of every page.
	Version string
}

// ConsoleSetting is one line of the configuration page.
type ConsoleSetting struct {
	Env    string // the environment variable
	Flag   string // the flag, without its dash; "" when there is none
	Value  string // the effective value, or a note such as "(set, hidden)"
	Source string // default, environment or flag
}

// consoleAccess tells how a console route is guarded.
type consoleAccess int

const (
	consoleNone   consoleAccess = iota // an API route
	consolePublic                      // no sign-in: the sign-in page, assets
	consolePage                        // signed in, or redirected to the sign-in page
	consoleJSON                        // signed in, or 401 in the API's error shape
)

// memoryAlertRatio is the share of Redis's maxmemory past which the overview
// shows the memory alert, as the SessionStoreMemoryHigh rule does.
const memoryAlertRatio = 0.8

// consoleState is the console's part of a Server.
type consoleState struct {
	cfg       ConsoleConfig
	pages     map[string]*template.Template
	csrf      *http.CrossOriginProtection
	signedOut signedOut
	nav       []navItem
	figures   figuresCache
	// eventSearch bounds the events page's search (console_events.go).
	eventSearch eventSearchBounds
}

// navItem is an entry of the navigation: every console page with a title,
// in the order of the route table.
type navItem struct {
	Path, Title string
}

func newConsoleState(cfg ConsoleConfig) (*consoleState, error) {
	c := &consoleState{cfg: cfg, pages: make(map[string]*template.Template), csrf: http.NewCrossOriginProtection(),
		eventSearch: defaultEventSearch}
	for _, rt := range routes() {
		if rt.title != "" {
			c.nav = append(c.nav, navItem{Path: strings.TrimSuffix(rt.Path, "{$}"), Title: rt.title})
		}
	}
	pages, err := consoleFS.ReadDir("console")
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		name := p.Name()
		if !strings.HasSuffix(name, ".html") || name == "layout.html" {
			continue
		}
		t, err := template.New(name).Funcs(consoleFuncs).ParseFS(consoleFS, "console/layout.html", "console/"+name)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		c.pages[name] = t
	}
	return c, nil
}

// consoleRoute makes the http.Handler of a console route: the console's
// headers, its guard, then the handler, with the same metrics and log line
// as the API's routes.
func (s *Server) consoleRoute(rt Route) http.Handler {
	rm := s.metrics.Route(rt.Path, rt.Method)
	level := slog.LevelInfo
	if rt.quiet {
		level = slog.LevelDebug
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.inFlight.Inc()
		defer s.inFlight.Dec()
		sw := &statusWriter{Writer: statuswriter.Writer{ResponseWriter: w}}
		consoleHeaders(sw.Header(), r)

		role, name := RoleNone, ""
		err := s.console.csrf.Check(r)
		if err != nil {
			err = errCrossOrigin
		} else if rt.console != consolePublic {
			var ok, hadCookie bool
			if name, ok, hadCookie = s.consoleSigner(r); !ok {
				err = errSignIn
				if hadCookie {
					err = errSignInAgain
				}
			} else {
				role = RoleAdmin
			}
		}
		if err == nil {
			if rt.writes && s.m.EventsEnabled() {
				// The console's changes are made by the admin key it was
				// signed in with.
				r = r.WithContext(sessiondb.WithActor(r.Context(), name))
			}
			err = s.call(rt, sw, r)
		}
		var ae *apiError
		if err != nil {
			if sw.Started() {
				ae = toAPIError(err)
			} else {
				ae = s.consoleError(sw, r, rt, err)
			}
		}
		took := time.Since(start)
		status := sw.Status()
		rm.Observe(status, took)
		s.logRequest(r, rt, level, status, role, name, took, ae)
	})
}

var (
	errSignIn = &apiError{status: http.StatusUnauthorized, code: CodeUnauthenticated,
		message: "sign in to the console with an admin API key"}
	errSignInAgain = &apiError{status: http.StatusUnauthorized, code: CodeUnauthenticated,
		message: "the console session has ended: sign in again"}
	errCrossOrigin = &apiError{status: http.StatusForbidden, code: CodePermissionDenied,
		message: "refused: this request came from another site"}
)

// consoleError answers a console request that failed: the API's error
// object on JSON routes; on pages, the sign-in page for a missing sign-in and
// an error page otherwise.
func (s *Server) consoleError(w http.ResponseWriter, r *http.Request, rt Route, err error) *apiError {
	if rt.console == consoleJSON {
		return writeError(w, err)
	}
	ae := toAPIError(err)
	switch {
	case ae == errSignIn:
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
		return nil
	case ae == errSignInAgain:
		http.Redirect(w, r, "/ui/login?expired=1", http.StatusSeeOther)
		return nil
	}
	if ae.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	s.render(w, r, ae.status, "error.html", pageData{Title: http.StatusText(ae.status), Error: ae.message})
	return ae
}

// consoleHeaders are set on every console answer: a strict
// Content-Security-Policy (only the console's own files; no inline script
// or style, no framing, forms post only to the console), no referrer (user
// ids travel in query strings), and HSTS over TLS.
func consoleHeaders(h http.Header, r *http.Request) {
	h["Cache-Control"] = hdrNoStore
	h["X-Content-Type-Options"] = hdrNosniff
	h.Set("Content-Security-Policy", "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// pageData is what every console template gets.
type pageData struct {
	Title    string
	Path     string // the current page, to mark it in the navigation
	Nav      []navItem
	Version  string
	SignedIn bool // show the sign-out button
	Open     bool // no API keys: no sign-in
	Notice   string
	Error    string
	Data     any // the page's own
}

// render writes a console page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, d pageData) {
	t := s.console.pages[page]
	if t == nil {
		s.log.Error("console: no such page template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	d.Nav = s.console.nav
	d.Path = r.URL.Path
	d.Version = s.console.cfg.Version
	d.Open = s.keys.Len() == 0
	if !d.Open && page != "login.html" {
		d.SignedIn, _ = s.consoleSignedIn(r)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		s.log.Error("console: render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// GET /ui/assets/{file}: the console's stylesheet, script and icon.
func (s *Server) consoleAsset(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("file")
	ext := path.Ext(name)
	if ext != ".css" && ext != ".js" && ext != ".svg" || strings.ContainsAny(name, "/\\") {
		return errNoRoute
	}
	b, err := consoleFS.ReadFile("console/" + name)
	if err != nil {
		return errNoRoute
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(ext))
	w.Write(b)
	return nil
}

// GET /ui: the overview is at /ui/.
func (s *Server) consoleRedirect(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
	return nil
}

// GET /ui/ pages that do not exist.
func (s *Server) consoleNotFound(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusNotFound, "error.html", pageData{Title: "Not found", Error: "There is no such page."})
	return nil
}

// maxFormBytes bounds the console's forms.
const maxFormBytes = 8 << 10

// parseForm reads a console form: URL-encoded, at most maxFormBytes.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	// A malformed Content-Type is refused as the API's JSON calls refuse it:
	// net/http would read the form and then fail on the type's parameters.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return &apiError{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType,
			message: "the console's forms are sent as application/x-www-form-urlencoded"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge, message: "the form is too large"}
		}
		return invalidArgument("", "the form could not be read")
	}
	return nil
}

// plainHTTPElsewhere reports whether the page was served over plain HTTP to
// a host that is not a loopback address: a browser then refuses to keep the
// console's Secure cookie, so signing in cannot work.
func plainHTTPElsewhere(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return !isLoopbackHost(host)
}

func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// figuresCache keeps the store's statistics for the overview: read at most
// once a second however many consoles poll, and the last good ones kept
// while the store is down.
type figuresCache struct {
	mu        sync.Mutex
	checked   time.Time // the last read, good or not
	err       error     // of the last read
	downSince time.Time // first failed read since the last good one
	stats     sessiondb.Stats
	readAt    time.Time // of stats; zero before the first good read
}

// figuresMaxAge is how long a statistics read serves the overview.
const figuresMaxAge = time.Second

// figuresTimeout bounds a statistics read for the overview.
const figuresTimeout = 2 * time.Second

// Template helpers.
var consoleFuncs = template.FuncMap{
	"datetime": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
	},
	"stamp": func(t time.Time) string {
		return t.UTC().Format("2006-01-02 15:04:05.000") + " UTC"
	},
	"count":  formatCount,
	"bytes":  formatBytes,
	"plural": plural,
	"pct": func(used, max int64) string {
		if max <= 0 {
			return "0"
		}
		return strconv.FormatFloat(min(100, float64(used)*100/float64(max)), 'f', 1, 64)
	},
	"alertPct": func() string { return strconv.FormatFloat(memoryAlertRatio*100, 'f', 0, 64) },
}

// formatCount writes n with thousands separators: 1,234,567.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatBytes writes a size in binary units: 12.3 MiB.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + string("KMGTP"[i]) + "iB"
}

// plural writes "1 session" or "3 sessions".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return formatCount(int64(n)) + " " + noun + "s"
}
