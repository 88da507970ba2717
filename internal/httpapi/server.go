// Package httpapi is sessiond's HTTP API: the /v1 session calls, API-key
// authentication with roles, the health and readiness probes, the metrics
// endpoint and the OpenAPI document, with one log line and one set of
// metrics per request. Every route is registered in one place, [routes].
package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/metrics"
	"github.com/sessiondb/sessiondb/internal/statuswriter"
)

// Defaults of Config's zero fields.
const (
	DefaultMaxBodyBytes = 16 << 10
	DefaultReadyTimeout = time.Second
)

// Config configures a Server.
type Config struct {
	// Manager serves the sessions. Required.
	Manager *sessiondb.Manager
	// Keys are the API keys. Empty or nil means no authentication at all:
	// the caller must then serve on loopback only.
	Keys *KeySet
	// Logger receives one line per request and the readiness changes.
	// Default: discard.
	Logger *slog.Logger
	// Metrics records requests and session events. Default: a fresh set,
	// served at /metrics.
	Metrics *metrics.Metrics
	// MaxBodyBytes caps request bodies; larger ones get 413. Default 16 KiB.
	MaxBodyBytes int64
	// ReadyTimeout bounds the store ping of /readyz. Default 1s.
	ReadyTimeout time.Duration
	// Console, when set, serves the admin console under /ui/ (console.go).
	Console *ConsoleConfig
}

// Server is the HTTP API. It is an http.Handler, safe for concurrent use.
type Server struct {
	m        *sessiondb.Manager
	keys     *KeySet
	log      *slog.Logger
	metrics  *metrics.Metrics
	inFlight prometheus.Gauge
	streams  prometheus.Gauge // open event streams

	maxBody      int64
	readyTimeout time.Duration
	errTooLarge  *apiError
	bodies       sync.Pool // *[]byte of maxBody+1 bytes
	outBufs      sync.Pool // *[]byte for answers

	mux       *http.ServeMux
	unmatched http.Handler
	metricsH  http.Handler

	// stdJSON turns the fast paths off (scanTokenBody, appendSession) for
	// encoding/json: only BenchmarkValidateLoopback sets it, to compare.
	stdJSON bool

	shuttingDown atomic.Bool
	storeReady   atomic.Bool   // the last readiness probe's result
	stop         chan struct{} // closed by Shutdown: event streams end
	stopOnce     sync.Once
	eventPoll    time.Duration // how often event streams look for new events
	heartbeat    time.Duration // the longest an event stream stays silent

	console *consoleState // nil when the console is off
}

// New returns a Server. Its readiness probe answers 200 while the store
// answers, until Shutdown is called.
func New(cfg Config) (*Server, error) {
	if cfg.Manager == nil {
		return nil, errors.New("httpapi: nil Manager")
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, errors.New("httpapi: negative MaxBodyBytes")
	}
	s := &Server{
		m:            cfg.Manager,
		keys:         cfg.Keys,
		log:          cfg.Logger,
		metrics:      cfg.Metrics,
		maxBody:      cfg.MaxBodyBytes,
		readyTimeout: cfg.ReadyTimeout,
		mux:          http.NewServeMux(),
		stop:         make(chan struct{}),
		eventPoll:    defaultEventPoll,
		heartbeat:    defaultHeartbeat,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = metrics.New("dev")
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.readyTimeout <= 0 {
		s.readyTimeout = DefaultReadyTimeout
	}
	s.inFlight = s.metrics.InFlight()
	s.streams = s.metrics.EventStreams()
	s.errTooLarge = &apiError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge,
		message: "the request body is larger than " + strconv.FormatInt(s.maxBody, 10) + " bytes"}
	s.bodies.New = func() any {
		b := make([]byte, s.maxBody+1)
		return &b
	}
	s.outBufs.New = func() any {
		b := make([]byte, 0, outBufSize)
		return &b
	}
	s.storeReady.Store(true)
	s.metricsH = promhttp.InstrumentMetricHandler(s.metrics.Registry,
		promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{
			Registry:            s.metrics.Registry,
			MaxRequestsInFlight: 4,
			Timeout:             10 * time.Second,
			ErrorLog:            slog.NewLogLogger(s.log.Handler(), slog.LevelError),
		}))
	if cfg.Console != nil {
		var err error
		if s.console, err = newConsoleState(*cfg.Console); err != nil {
			return nil, err
		}
	}
	for _, rt := range routes() {
		switch {
		case rt.console == consoleNone:
			s.mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
		case s.console != nil:
			s.mux.Handle(rt.Method+" "+rt.Path, s.consoleRoute(rt))
		}
	}
	// Requests that match no route are counted under fixed labels: their
	// paths and methods are the client's, unbounded.
	s.unmatched = s.wrap(Route{Method: "other", Path: "unmatched", handle: (*Server).noRoute})
	s.mux.Handle("/", s.unmatched)
	return s, nil
}

// Route is one entry of the API's route table.
type Route struct {
	Method string // GET, POST, PATCH or DELETE
	Path   string // a net/http pattern path, e.g. /v1/sessions/{id}
	Role   Role   // the least role allowed; RoleNone needs no key

	quiet   bool          // logged at debug level: probes and scrapes
	writes  bool          // changes sessions: the key's name is the actor of its events
	console consoleAccess // console routes: how they are guarded
	title   string        // console pages: the title in the navigation
	handle  func(s *Server, w http.ResponseWriter, r *http.Request) error
}

// routes is the one place where routes are declared.
func routes() []Route {
	return []Route{
		{Method: "POST", Path: "/v1/sessions", Role: RoleApp, writes: true, handle: (*Server).createSession},
		{Method: "POST", Path: "/v1/sessions/validate", Role: RoleApp, handle: (*Server).validateSession},
		{Method: "POST", Path: "/v1/sessions/refresh", Role: RoleApp, writes: true, handle: (*Server).refreshSession},
		{Method: "POST", Path: "/v1/sessions/rotate", Role: RoleApp, writes: true, handle: (*Server).rotateSession},
		{Method: "POST", Path: "/v1/sessions/invalidate", Role: RoleApp, writes: true, handle: (*Server).invalidateSession},
		{Method: "POST", Path: "/v1/sessions/metadata", Role: RoleApp, writes: true, handle: (*Server).updateSessionMetadata},
		{Method: "GET", Path: "/v1/sessions/{id}", Role: RoleApp, handle: (*Server).getSession},
		{Method: "PATCH", Path: "/v1/sessions/{id}", Role: RoleApp, writes: true, handle: (*Server).patchSession},
		{Method: "DELETE", Path: "/v1/sessions/{id}", Role: RoleApp, writes: true, handle: (*Server).deleteSession},
		{Method: "GET", Path: "/v1/users/{user_id}/sessions", Role: RoleApp, handle: (*Server).listUserSessions},
		{Method: "DELETE", Path: "/v1/users/{user_id}/sessions", Role: RoleApp, writes: true, handle: (*Server).deleteUserSessions},
		{Method: "GET", Path: "/v1/stats", Role: RoleAdmin, handle: (*Server).stats},
		{Method: "POST", Path: "/v1/cleanup", Role: RoleAdmin, writes: true, handle: (*Server).cleanup},
		{Method: "GET", Path: "/v1/events", Role: RoleAdmin, handle: (*Server).events},
		{Method: "GET", Path: "/v1/events/stream", Role: RoleAdmin, handle: (*Server).eventStream},
		{Method: "GET", Path: "/healthz", quiet: true, handle: (*Server).healthz},
		{Method: "GET", Path: "/readyz", quiet: true, handle: (*Server).readyz},
		{Method: "GET", Path: "/metrics", quiet: true, handle: (*Server).serveMetrics},
		{Method: "GET", Path: "/openapi.json", handle: (*Server).openAPI},

		// The admin console (console.go), signed in with an admin key's
		// cookie instead of bearer keys. Pages with a title make the
		// navigation, in this order.
		{Method: "GET", Path: "/ui/{$}", console: consolePage, title: "Overview", handle: (*Server).consoleOverview},
		{Method: "GET", Path: "/ui/users", console: consolePage, title: "Users", handle: (*Server).consoleUsers},
		{Method: "GET", Path: "/ui/sessions", console: consolePage, title: "Sessions", handle: (*Server).consoleSession},
		{Method: "GET", Path: "/ui/events", console: consolePage, title: "Events", handle: (*Server).consoleEvents},
		{Method: "GET", Path: "/ui/config", console: consolePage, title: "Configuration", handle: (*Server).consoleConfig},
		{Method: "POST", Path: "/ui/users/revoke", console: consolePage, writes: true, handle: (*Server).consoleRevokeUser},
		{Method: "POST", Path: "/ui/sessions/revoke", console: consolePage, writes: true, handle: (*Server).consoleRevokeSession},
		{Method: "GET", Path: "/ui/api/overview", console: consoleJSON, quiet: true, handle: (*Server).consoleOverviewJSON},
		{Method: "GET", Path: "/ui/login", console: consolePublic, handle: (*Server).consoleLoginPage},
		{Method: "POST", Path: "/ui/login", console: consolePublic, handle: (*Server).consoleLogin},
		{Method: "POST", Path: "/ui/logout", console: consolePublic, handle: (*Server).consoleLogout},
		{Method: "GET", Path: "/ui/assets/{file}", console: consolePublic, quiet: true, handle: (*Server).consoleAsset},
		{Method: "GET", Path: "/ui", console: consolePublic, handle: (*Server).consoleRedirect},
		{Method: "GET", Path: "/ui/", console: consolePublic, handle: (*Server).consoleNotFound},
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.EscapedPath(); r.Method != http.MethodConnect && cleanPath(p) != p {
		// ServeMux would redirect to the cleaned path, which would turn a
		// POST into a GET in many clients: answer here instead.
		s.unmatched.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Shutdown makes /readyz answer 503 from now on, so that load balancers stop
// sending requests while the server drains, and ends the event streams
// (their clients reconnect elsewhere, resuming with Last-Event-ID).
func (s *Server) Shutdown() {
	s.shuttingDown.Store(true)
	s.stopOnce.Do(func() { close(s.stop) })
}

// wrap makes a route's http.Handler: authentication, error answers, metrics
// and the log line.
func (s *Server) wrap(rt Route) http.Handler {
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
		h := sw.Header()
		h["Cache-Control"] = hdrNoStore
		h["X-Content-Type-Options"] = hdrNosniff

		// No deadline is added to the request's context: each store call
		// is bounded by the store's own timeout (REDIS_TIMEOUT_MS), which a
		// longer deadline would replace.
		// A wrong method on an action path is a routing answer: it comes
		// before the key, like a 405 of the mux.
		var role Role
		var name string
		err := actionMethod(r)
		if err == nil {
			role, name, err = s.authorize(r, rt.Role)
		}
		if err == nil {
			if rt.writes && s.m.EventsEnabled() {
				r = r.WithContext(sessiondb.WithActor(r.Context(), name))
			}
			err = s.call(rt, sw, r)
		}
		var ae *apiError
		if err != nil {
			if sw.Started() {
				// The answer has started: nothing more can be said to the client.
				ae = toAPIError(err)
			} else {
				ae = writeError(sw, err)
			}
		}
		took := time.Since(start)
		status := sw.Status()
		if sw.opened > 0 {
			// An event stream: its latency is the time to start it, not
			// its whole life, which would swamp the route's histogram.
			rm.Observe(status, sw.opened)
		} else {
			rm.Observe(status, took)
		}
		s.logRequest(r, rt, level, status, role, name, took, ae)
	})
}

// call runs a route's handler and turns a panic into an error, so that the
// client gets a 500 in the API's error shape and the log gets the stack.
func (s *Server) call(rt Route, w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("handler panic", "route", rt.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic in %s %s", rt.Method, rt.Path)
		}
	}()
	return rt.handle(s, w, r)
}

// logRequest logs one line per request. It never logs the path (it holds
// user ids), the query, headers or bodies: only the route pattern. Tokens and
// API keys travel in bodies and headers, so they are never logged.
func (s *Server) logRequest(r *http.Request, rt Route, level slog.Level, status int, role Role, name string, took time.Duration, ae *apiError) {
	switch {
	case ae != nil && ae.status >= 500:
		level = slog.LevelError
		if ae.status == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
	case level == slog.LevelDebug && status >= 400:
		level = slog.LevelInfo
	}
	ctx := r.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("route", rt.Path),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		slog.String("remote", r.RemoteAddr),
	)
	if role != RoleNone {
		attrs = append(attrs, slog.String("role", role.String()))
	}
	if name != "" {
		attrs = append(attrs, slog.String("key", name))
	}
	if ae != nil {
		attrs = append(attrs, slog.String("code", ae.code))
		if ae.field != "" {
			attrs = append(attrs, slog.String("field", ae.field))
		}
		if ae.cause != nil {
			attrs = append(attrs, slog.String("err", ae.cause.Error()))
		}
	}
	s.log.LogAttrs(ctx, level, "request", attrs...)
}

// ActorAnonymous is the actor of changes made through a sessiond without
// API keys.
const ActorAnonymous = "anonymous"

// authorize checks the request's API key against the route's role and
// returns the caller's role and the key's name. Without configured keys
// every caller is admin, named ActorAnonymous.
func (s *Server) authorize(r *http.Request, need Role) (Role, string, error) {
	if need == RoleNone {
		return RoleNone, "", nil
	}
	if s.keys.Len() == 0 {
		return RoleAdmin, ActorAnonymous, nil
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return RoleNone, "", errNoKey
	}
	key, ok := bearer(h)
	if !ok {
		if scheme, _, _ := strings.Cut(h, " "); strings.EqualFold(scheme, "Bearer") {
			return RoleNone, "", errNoKey // "Bearer" without a key
		}
		return RoleNone, "", errNotBearer
	}
	role, name, ok := s.keys.Identify(key)
	if !ok {
		return RoleNone, "", errBadKey
	}
	if role < need {
		return role, name, errForbidden
	}
	return role, name, nil
}

// noRoute answers requests that match no route: 405 with an Allow header
// when the path exists with other methods, 404 otherwise.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.EscapedPath()
	if cleanPath(p) != p {
		if p == "/v1/users//sessions" && (r.Method == http.MethodGet || r.Method == http.MethodDelete) {
			return invalidArgument("user_id", "invalid user_id: must not be empty")
		}
		return errNoRoute
	}
	if name, ok := strings.CutPrefix(p, "/v1/sessions/"); ok && isAction(name) {
		// The {id} routes match these paths too, but they are never ids.
		return methodNotAllowed(http.MethodPost)
	}
	var allow []string
	probe := new(http.Request)
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		*probe = *r
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) == 0 {
		return errNoRoute
	}
	return methodNotAllowed(strings.Join(allow, ", "))
}

// cleanPath is net/http's: the canonical path, which ServeMux redirects to.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			np = p
		} else {
			np += "/"
		}
	}
	return np
}

// statusWriter remembers the status of the answer and, for an event stream,
// the time it took to start it.
type statusWriter struct {
	statuswriter.Writer
	opened time.Duration
}
