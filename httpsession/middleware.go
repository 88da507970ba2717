package httpsession

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
)

// Sessions is what the middleware needs of a session service: a part of
// sessiondb.Sessions, which the embedded library's *sessiondb.Manager and the
// sessiond client's *sessiondclient.Client both provide, with the errors of
// package sessiondb.
type Sessions interface {
	Create(ctx context.Context, userID string, ttl time.Duration, metadata map[string]string) (*sessiondb.Session, error)
	Validate(ctx context.Context, token string) (*sessiondb.Session, error)
	Get(ctx context.Context, id string) (*sessiondb.Session, error)
	Rotate(ctx context.Context, token string) (*sessiondb.Session, error)
	Invalidate(ctx context.Context, token string) error
	InvalidateByID(ctx context.Context, id string) error
	InvalidateUser(ctx context.Context, userID, except string) (int, error)
}

// Whatever provides sessiondb.Sessions (the library's Manager, the sessiond
// client) provides Sessions.
var _ Sessions = sessiondb.Sessions(nil)

// maxTokenBytes bounds the token read from a request: a longer value is no
// token, and is turned away without asking the store.
const maxTokenBytes = 256

// Middleware authenticates requests by their session token and logs users in
// and out. Make one with New; it is safe for concurrent use, and its settings
// are fixed at New.
type Middleware struct {
	sessions Sessions
	c        *config
}

// New returns a Middleware over sessions. It returns an error if sessions is
// nil or an option is invalid.
func New(sessions Sessions, opt Options) (*Middleware, error) {
	if sessions == nil {
		return nil, errors.New("httpsession: nil Sessions")
	}
	c, err := opt.config()
	if err != nil {
		return nil, err
	}
	return &Middleware{sessions: sessions, c: c}, nil
}

// CookieName returns the name of the session cookie.
func (m *Middleware) CookieName() string { return m.c.CookieName }

type ctxKey struct{}

// current is what the middleware keeps in the request context.
type current struct {
	mw         *Middleware // the one that found it
	session    *sessiondb.Session
	token      string
	fromCookie bool
}

// FromContext returns the session that Require or Optional found for the
// request, and whether there is one. The session carries no token.
func FromContext(ctx context.Context) (*sessiondb.Session, bool) {
	if cur, ok := ctx.Value(ctxKey{}).(*current); ok {
		return cur.session, true
	}
	return nil, false
}

// Require passes to next only requests with a valid session, which next finds
// with FromContext. Others get Options.Unauthenticated (401 JSON, or a
// redirect to LoginURL); a store failure gets Options.Unavailable (503); a
// cookie-authenticated unsafe request from another origin gets
// Options.CrossOriginDenied (403).
func (m *Middleware) Require(next http.Handler) http.Handler {
	return m.handler(next, true)
}

// Optional is Require for pages that also work logged out: a request without
// a session, or with an unknown or expired one, reaches next with no session
// in its context. A store failure still gets Options.Unavailable, and a
// cross-origin unsafe request with a cookie Options.CrossOriginDenied.
func (m *Middleware) Optional(next http.Handler) http.Handler {
	return m.handler(next, false)
}

func (m *Middleware) handler(next http.Handler, required bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cur, ok := r.Context().Value(ctxKey{}).(*current); ok && cur.mw == m {
			next.ServeHTTP(w, r) // checked already, by an outer Require or Optional
			return
		}
		token, fromCookie := m.token(r)
		if token == "" {
			if required {
				m.c.Unauthenticated.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if fromCookie && !m.sameOrigin(r) {
			m.c.CrossOriginDenied.ServeHTTP(w, r)
			return
		}
		s, err := m.validate(r.Context(), token)
		switch {
		case err == nil:
			cur := &current{mw: m, session: s, token: token, fromCookie: fromCookie}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, cur)))
		case isNotFound(err):
			if fromCookie {
				m.clearCookie(w)
			}
			if required {
				m.c.Unauthenticated.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		default:
			m.c.Logger.LogAttrs(r.Context(), slog.LevelWarn, "session store unavailable", slog.Any("err", err))
			m.c.Unavailable.ServeHTTP(w, r)
		}
	})
}

func (m *Middleware) validate(ctx context.Context, token string) (*sessiondb.Session, error) {
	if len(token) > maxTokenBytes {
		return nil, sessiondb.ErrNotFound
	}
	return m.sessions.Validate(ctx, token)
}

// CheckOrigin returns ErrCrossOrigin if the cross-origin check refuses r,
// and nil otherwise (always for safe methods, and when the check is
// disabled). Require, Optional, Login and the logout helpers apply it by
// themselves; call it first in a handler that should refuse a cross-site
// request before doing any work, such as a login form's password check.
func (m *Middleware) CheckOrigin(r *http.Request) error {
	if !m.sameOrigin(r) {
		return ErrCrossOrigin
	}
	return nil
}

// sameOrigin applies the cross-origin check (a no-op for safe methods) and
// reports whether the request may proceed.
func (m *Middleware) sameOrigin(r *http.Request) bool {
	return m.c.csrf == nil || m.c.csrf.Check(r) == nil
}

// token returns the request's session token, if any, and whether it came from
// the cookie. It never reads the URL: tokens do not belong there.
func (m *Middleware) token(r *http.Request) (token string, fromCookie bool) {
	if m.c.Source != FromCookie {
		if t, ok := bearer(r); ok {
			return t, false
		}
		if m.c.Source == FromBearer {
			return "", false
		}
	}
	c, err := r.Cookie(m.c.CookieName)
	if err != nil || c.Value == "" {
		return "", false
	}
	return c.Value, true
}

// bearer returns the token of an "Authorization: Bearer" header. ok is true
// when the header uses the Bearer scheme, even with an empty token.
func bearer(r *http.Request) (token string, ok bool) {
	h := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(rest), true
}
