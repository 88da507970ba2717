package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/httpsession"
	"github.com/sessiondb/sessiondb/internal/useragent"
)

// overview is what the overview page shows, and what GET /ui/api/overview
// answers for its live charts.
type overview struct {
	Time             time.Time      `json:"time"`
	Store            storeFigures   `json:"store"`
	Replica          replicaFigures `json:"replica"`
	MemoryAlertRatio float64        `json:"memory_alert_ratio"`
}

// storeFigures are the store's own statistics, shared by every replica.
// While the store does not answer, Up is false and the figures are the last
// ones read, from ReadAt (absent when there were none).
type storeFigures struct {
	Description     string     `json:"description"`
	Up              bool       `json:"up"`
	Error           string     `json:"error,omitempty"`
	DownSince       *time.Time `json:"down_since,omitempty"`
	ReadAt          *time.Time `json:"read_at,omitempty"`
	ActiveSessions  int64      `json:"active_sessions"`
	ExpiredSessions int64      `json:"expired_sessions"`
	Users           int64      `json:"users"`
	Created         int64      `json:"created"`
	Invalidated     int64      `json:"invalidated"`
	Evicted         int64      `json:"evicted"`
	MemoryUsed      int64      `json:"memory_used_bytes"`
	MemoryMax       int64      `json:"memory_max_bytes"`
}

// replicaFigures are this process's counters, as /metrics exports them.
type replicaFigures struct {
	Validations         int64            `json:"validations"`
	ValidationsInvalid  int64            `json:"validations_invalid"`
	Created             int64            `json:"created"`
	Invalidated         int64            `json:"invalidated"`
	CleanupRuns         int64            `json:"cleanup_runs"`
	CleanupErrors       int64            `json:"cleanup_errors"`
	CleanupRemoved      int64            `json:"cleanup_removed"`
	LastCleanup         *time.Time       `json:"last_cleanup,omitempty"`
	LastCleanupFailed   bool             `json:"last_cleanup_failed"`
	StoreErrors         int64            `json:"store_errors"`
	StoreErrorsByReason map[string]int64 `json:"store_errors_by_reason"`
}

// MemoryRatio is used/max, or 0 without a limit.
func (f storeFigures) MemoryRatio() float64 {
	if f.MemoryMax <= 0 {
		return 0
	}
	return float64(f.MemoryUsed) / float64(f.MemoryMax)
}

// MemoryHigh reports whether memory is past the alert threshold.
func (f storeFigures) MemoryHigh() bool { return f.MemoryRatio() > memoryAlertRatio }

// figures reads the overview's figures, the store's at most once per
// figuresMaxAge.
func (s *Server) figures(ctx context.Context) overview {
	now := time.Now().UTC()
	o := overview{Time: now, MemoryAlertRatio: memoryAlertRatio}
	c := &s.console.figures
	c.mu.Lock()
	if now.Sub(c.checked) >= figuresMaxAge {
		rctx, cancel := context.WithTimeout(ctx, figuresTimeout)
		st, err := s.m.Stats(rctx)
		cancel()
		c.checked, c.err = now, err
		if err == nil {
			c.stats, c.readAt, c.downSince = st, now, time.Time{}
		} else if c.downSince.IsZero() {
			c.downSince = now
		}
	}
	f := storeFigures{Description: s.console.cfg.Store, Up: c.err == nil}
	if c.err != nil {
		f.Error = c.err.Error()
		ds := c.downSince
		f.DownSince = &ds
	}
	if !c.readAt.IsZero() {
		ra := c.readAt
		f.ReadAt = &ra
		st := c.stats
		f.ActiveSessions, f.ExpiredSessions, f.Users = st.Active, st.Expired, st.Users
		f.Created, f.Invalidated, f.Evicted = st.Created, st.Invalidated, st.Evicted
		f.MemoryUsed, f.MemoryMax = st.MemoryUsed, st.MemoryMax
	}
	c.mu.Unlock()
	o.Store = f

	snap := s.metrics.Snapshot()
	rf := replicaFigures{
		Validations:        snap.ValidationsValid + snap.ValidationsInvalid,
		ValidationsInvalid: snap.ValidationsInvalid,
		Created:            snap.Created, Invalidated: snap.Invalidated,
		CleanupRuns: snap.CleanupRuns, CleanupErrors: snap.CleanupErrors, CleanupRemoved: snap.CleanupRemoved,
		LastCleanupFailed:   snap.LastCleanupErr,
		StoreErrorsByReason: snap.StoreErrors,
	}
	if !snap.LastCleanup.IsZero() {
		lc := snap.LastCleanup
		rf.LastCleanup = &lc
	}
	for _, n := range snap.StoreErrors {
		rf.StoreErrors += n
	}
	o.Replica = rf
	return o
}

// GET /ui/: the overview.
func (s *Server) consoleOverview(w http.ResponseWriter, r *http.Request) error {
	o := s.figures(r.Context())
	s.render(w, r, http.StatusOK, "overview.html", pageData{Title: "Overview", Data: o})
	return nil
}

// GET /ui/api/overview: the overview's figures, polled by its live charts.
func (s *Server) consoleOverviewJSON(w http.ResponseWriter, r *http.Request) error {
	b, err := json.Marshal(s.figures(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, append(b, '\n'))
	return nil
}

// sessionRow is a session as the console's tables show it.
type sessionRow struct {
	*sessiondb.Session
	Device string
	IP     string
	// ExpiresAt is when the session really ends, as expires_at means in the
	// API: the earlier of the absolute expiry and the idle deadline. It
	// hides the record's absolute ExpiresAt.
	ExpiresAt time.Time
}

func newSessionRow(sess *sessiondb.Session) sessionRow {
	return sessionRow{
		Session:   sess,
		Device:    useragent.Describe(sess.Metadata[httpsession.MetadataUserAgent]),
		IP:        sess.Metadata[httpsession.MetadataIP],
		ExpiresAt: sess.EffectiveExpiry(),
	}
}

// usersPage is the data of the user lookup.
type usersPage struct {
	UserID   string
	Searched bool
	Sessions []sessionRow
}

// GET /ui/users?user_id=: a user's live sessions, with revocation.
func (s *Server) consoleUsers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p := usersPage{UserID: q.Get("user_id")}
	d := pageData{Title: "Users", Data: &p}
	if n, err := strconv.Atoi(q.Get("revoked")); err == nil && n >= 0 {
		d.Notice = "Revoked " + plural(n, "session") + "."
	}
	if q.Get("gone") == "1" {
		d.Notice = "That session had already ended."
	}
	status := http.StatusOK
	if q.Has("user_id") {
		p.Searched = true
		list, err := s.m.UserSessions(r.Context(), p.UserID)
		if err != nil {
			ae := toAPIError(err)
			s.logConsoleFailure(r, ae)
			status, d.Error = ae.status, ae.message
		}
		for _, sess := range list {
			p.Sessions = append(p.Sessions, newSessionRow(sess))
		}
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	s.render(w, r, status, "users.html", d)
	return nil
}

// sessionPage is the data of the session lookup.
type sessionPage struct {
	ID       string
	Searched bool
	Session  *sessionRow
}

// GET /ui/sessions?id=: one session by id.
func (s *Server) consoleSession(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p := sessionPage{ID: q.Get("id")}
	d := pageData{Title: "Sessions", Data: &p}
	if q.Get("revoked") == "1" {
		d.Notice = "Revoked the session."
	}
	if q.Get("gone") == "1" {
		d.Notice = "That session had already ended."
	}
	status := http.StatusOK
	if q.Has("id") {
		p.Searched = true
		sess, err := s.m.Get(r.Context(), p.ID)
		switch {
		case err == nil:
			row := newSessionRow(sess)
			p.Session = &row
		case errors.Is(err, sessiondb.ErrNotFound):
			if d.Notice == "" {
				status = http.StatusNotFound
			}
		default:
			ae := toAPIError(err)
			s.logConsoleFailure(r, ae)
			status, d.Error = ae.status, ae.message
		}
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	s.render(w, r, status, "sessions.html", d)
	return nil
}

// GET /ui/config: the effective settings.
func (s *Server) consoleConfig(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "config.html", pageData{Title: "Configuration", Data: s.console.cfg})
	return nil
}

// confirmPage is the data of the confirmation page, shown when a revocation
// form arrives without its confirmation (scripts off; with scripts, a dialog
// asks first).
type confirmPage struct {
	Action   string
	Question string
	Button   string
	Fields   map[string]string
	Back     string // the page to go back to on Cancel
}

// POST /ui/sessions/revoke {id, user_id?, confirmed}: ends one session, then
// back to the user's sessions (or the session lookup).
func (s *Server) consoleRevokeSession(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id, userID := r.PostForm.Get("id"), r.PostForm.Get("user_id")
	if id == "" {
		return invalidArgument("id", "no session id given")
	}
	back := "/ui/sessions?id=" + url.QueryEscape(id)
	if userID != "" {
		back = "/ui/users?user_id=" + url.QueryEscape(userID)
	}
	if r.PostForm.Get("confirmed") != "1" {
		s.render(w, r, http.StatusOK, "confirm.html", pageData{Title: "Confirm", Data: confirmPage{
			Action: "/ui/sessions/revoke", Question: "Revoke session " + id + "? Whoever uses it is logged out at once.",
			Button: "Revoke the session", Fields: map[string]string{"id": id, "user_id": userID}, Back: back,
		}})
		return nil
	}
	err := s.m.InvalidateByID(r.Context(), id)
	switch {
	case err == nil:
		s.metrics.SessionsInvalidated(1)
		s.log.Info("console: revoked a session", "session_id", id, "user_id", userID)
		http.Redirect(w, r, back+"&revoked=1", http.StatusSeeOther)
	case errors.Is(err, sessiondb.ErrNotFound):
		http.Redirect(w, r, back+"&gone=1", http.StatusSeeOther)
	default:
		return err
	}
	return nil
}

// POST /ui/users/revoke {user_id, except?, confirmed}: ends every session of
// a user, or every one but except.
func (s *Server) consoleRevokeUser(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	userID, except := r.PostForm.Get("user_id"), r.PostForm.Get("except")
	if r.PostForm.Get("confirmed") != "1" {
		q := "Revoke every session of " + userID + "? The user is logged out everywhere."
		button := "Revoke all sessions"
		if except != "" {
			q = "Revoke every session of " + userID + " but " + except + "? The user stays logged in on that one only."
			button = "Revoke all others"
		}
		s.render(w, r, http.StatusOK, "confirm.html", pageData{Title: "Confirm", Data: confirmPage{
			Action: "/ui/users/revoke", Question: q, Button: button,
			Fields: map[string]string{"user_id": userID, "except": except},
			Back:   "/ui/users?user_id=" + url.QueryEscape(userID),
		}})
		return nil
	}
	n, err := s.m.InvalidateUser(r.Context(), userID, except)
	if err != nil {
		return err
	}
	s.metrics.SessionsInvalidated(n)
	s.log.Info("console: revoked a user's sessions", "user_id", userID, "except", except, "count", n)
	http.Redirect(w, r, "/ui/users?user_id="+url.QueryEscape(userID)+"&revoked="+strconv.Itoa(n), http.StatusSeeOther)
	return nil
}

// loginPage is the data of the sign-in page.
type loginPage struct {
	PlainHTTP bool // served over plain HTTP off loopback: the cookie cannot work
}

// GET /ui/login: the sign-in form.
func (s *Server) consoleLoginPage(w http.ResponseWriter, r *http.Request) error {
	if ok, _ := s.consoleSignedIn(r); ok {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return nil
	}
	d := pageData{Title: "Sign in", Data: loginPage{PlainHTTP: plainHTTPElsewhere(r)}}
	q := r.URL.Query()
	switch {
	case q.Get("expired") == "1":
		d.Notice = "Your console session has ended: sign in again."
	case q.Get("signedout") == "1":
		d.Notice = "You have signed out."
	}
	s.render(w, r, http.StatusOK, "login.html", d)
	return nil
}

// POST /ui/login {key}: checks an admin API key and sets the console's
// cookie. The key itself is kept nowhere.
func (s *Server) consoleLogin(w http.ResponseWriter, r *http.Request) error {
	if s.keys.Len() == 0 {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return nil
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	key := r.PostForm.Get("key")
	role, ok := s.keys.Lookup(key)
	d := pageData{Title: "Sign in", Data: loginPage{PlainHTTP: plainHTTPElsewhere(r)}}
	switch {
	case key == "":
		d.Error = "Enter an admin API key."
		s.render(w, r, http.StatusBadRequest, "login.html", d)
		return nil
	case !ok:
		d.Error = "That key is not valid."
		s.render(w, r, http.StatusUnauthorized, "login.html", d)
		return nil
	case role != RoleAdmin:
		d.Error = "That is an app key: the console needs an admin key."
		s.render(w, r, http.StatusForbidden, "login.html", d)
		return nil
	}
	setConsoleCookie(w, newConsoleToken(key, time.Now().Add(consoleLifetime)), int(consoleLifetime/time.Second))
	s.log.Info("console: signed in", "remote", r.RemoteAddr)
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
	return nil
}

// POST /ui/logout: clears the cookie and refuses its token on this replica
// from now on.
func (s *Server) consoleLogout(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(consoleCookie); err == nil {
		now := time.Now()
		if tok, ok := s.keys.checkConsoleToken(c.Value, now); ok {
			s.console.signedOut.add(tok, now)
		}
	}
	setConsoleCookie(w, "", -1)
	http.Redirect(w, r, "/ui/login?signedout=1", http.StatusSeeOther)
	return nil
}

// logConsoleFailure logs a store failure that a page shows rather than
// returns.
func (s *Server) logConsoleFailure(r *http.Request, ae *apiError) {
	if ae.cause != nil {
		s.log.Warn("console: store call failed", "page", r.URL.Path, "err", ae.cause.Error())
	}
}
