package httpsession

import (
	"fmt"
	"maps"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/sessiondb/sessiondb"
)

// Metadata keys Login fills in (sessiondb's stores keep these keys in one
// byte each).
const (
	MetadataIP        = "ip"
	MetadataUserAgent = "user_agent"
)

// Login starts a session for userID, after the caller has checked the user's
// credentials, and sets the session cookie on w (unless Source is
// FromBearer: then hand the returned session's Token to the client). Call it
// before writing the response body.
//
// The session's metadata is metadata plus the client's address (ClientIP)
// under "ip" and its User-Agent, cut to MaxUserAgentBytes, under
// "user_agent"; entries of metadata with those keys win.
//
// Any session the request presents, whoever it belongs to, is ended first:
// a token planted in the browser before login never becomes an authenticated
// session (see the package documentation). If the store cannot end it,
// Login creates nothing and returns the error.
//
// Login returns ErrCrossOrigin for a cross-origin browser request when cookies
// are in use, ErrInsecureCookie under InsecureLoopbackHTTP off loopback, and
// the service's errors (sessiondb.ErrInvalidArgument, ErrSessionLimit,
// ErrUnavailable) as they are.
func (m *Middleware) Login(w http.ResponseWriter, r *http.Request, userID string, metadata map[string]string) (*sessiondb.Session, error) {
	if m.c.Source != FromBearer {
		if !m.sameOrigin(r) {
			return nil, ErrCrossOrigin
		}
		if m.c.InsecureLoopbackHTTP && !onLoopback(r) {
			return nil, ErrInsecureCookie
		}
	}
	md := make(map[string]string, len(metadata)+2)
	if ip := m.ClientIP(r); ip != "" {
		md[MetadataIP] = ip
	}
	if ua := userAgent(r); ua != "" {
		md[MetadataUserAgent] = ua
	}
	maps.Copy(md, metadata)

	ctx := r.Context()
	if old, _ := m.token(r); old != "" && len(old) <= maxTokenBytes {
		if err := m.sessions.Invalidate(ctx, old); err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("httpsession: login: end the session the request presented: %w", err)
		}
	}
	s, err := m.sessions.Create(ctx, userID, m.c.TTL, md)
	if err != nil {
		return nil, fmt.Errorf("httpsession: login: %w", err)
	}
	if m.c.Source != FromBearer {
		m.setCookie(w, s, m.c.TTL)
	}
	return s, nil
}

// userAgent returns the request's User-Agent as valid UTF-8 of at most
// MaxUserAgentBytes.
func userAgent(r *http.Request) string {
	ua := strings.ToValidUTF8(strings.TrimSpace(r.UserAgent()), "")
	if len(ua) > MaxUserAgentBytes {
		ua = ua[:MaxUserAgentBytes]
		for !utf8.ValidString(ua) {
			ua = ua[:len(ua)-1]
		}
	}
	return ua
}

// Logout ends the request's session and clears the cookie. A request without
// a session, or with one that already ended, is logged out already: Logout
// clears the cookie and returns nil. If the store cannot end the session,
// Logout keeps the cookie (so that the user can retry) and returns the
// error. It returns ErrCrossOrigin for a cross-origin browser request that
// carries the cookie.
func (m *Middleware) Logout(w http.ResponseWriter, r *http.Request) error {
	token, fromCookie := m.token(r)
	if cur, ok := r.Context().Value(ctxKey{}).(*current); ok && cur.mw == m {
		token, fromCookie = cur.token, cur.fromCookie
	}
	if fromCookie && !m.sameOrigin(r) {
		return ErrCrossOrigin
	}
	if token != "" && len(token) <= maxTokenBytes {
		if err := m.sessions.Invalidate(r.Context(), token); err != nil && !isNotFound(err) {
			return fmt.Errorf("httpsession: logout: %w", err)
		}
	}
	if m.c.Source != FromBearer {
		m.clearCookie(w)
	}
	return nil
}

// LogoutEverywhere ends every session of the request's user, or every one
// but the request's own if exceptCurrent is set (the "log out all other
// devices" button), and returns how many it ended. Without exceptCurrent the
// cookie is cleared too. It returns ErrNoSession when the request has no
// valid session, and ErrCrossOrigin for a cross-origin browser request that
// carries the cookie.
func (m *Middleware) LogoutEverywhere(w http.ResponseWriter, r *http.Request, exceptCurrent bool) (int, error) {
	cur, err := m.state(r)
	if err != nil {
		return 0, err
	}
	except := ""
	if exceptCurrent {
		except = cur.session.ID
	}
	n, err := m.sessions.InvalidateUser(r.Context(), cur.session.UserID, except)
	if err != nil {
		return 0, fmt.Errorf("httpsession: log out everywhere: %w", err)
	}
	if !exceptCurrent && m.c.Source != FromBearer {
		m.clearCookie(w)
	}
	return n, nil
}

// LogoutSession ends the session with the given id if it belongs to the
// request's user (the "log out this device" button of a list of the user's
// sessions). Ending the request's own session clears the cookie. It returns
// an error matching sessiondb.ErrNotFound when the id names no live session
// of this user, whether it names another user's or none, ErrNoSession when
// the request has no valid session, and ErrCrossOrigin for a cross-origin
// browser request that carries the cookie.
func (m *Middleware) LogoutSession(w http.ResponseWriter, r *http.Request, id string) error {
	cur, err := m.state(r)
	if err != nil {
		return err
	}
	s, err := m.sessions.Get(r.Context(), id)
	if err == nil && s.UserID != cur.session.UserID {
		err = sessiondb.ErrNotFound // another user's: say no more than for none
	}
	if err == nil {
		err = m.sessions.InvalidateByID(r.Context(), id)
	}
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("httpsession: log out session: %w", sessiondb.ErrNotFound)
		}
		return fmt.Errorf("httpsession: log out session: %w", err)
	}
	if id == cur.session.ID && m.c.Source != FromBearer {
		m.clearCookie(w)
	}
	return nil
}

// Rotate gives the request's session a new token, ending the old one, and
// sets the new cookie; call it after a privilege change such as a step-up
// authentication. The session keeps its user, metadata, creation time and
// absolute expiry. It returns the session with its new token, ErrNoSession
// when the request has no valid session, and ErrCrossOrigin for a
// cross-origin browser request that carries the cookie.
func (m *Middleware) Rotate(w http.ResponseWriter, r *http.Request) (*sessiondb.Session, error) {
	cur, err := m.state(r)
	if err != nil {
		return nil, err
	}
	s, err := m.sessions.Rotate(r.Context(), cur.token)
	if err != nil {
		return nil, fmt.Errorf("httpsession: rotate: %w", err)
	}
	if m.c.Source != FromBearer {
		m.setCookie(w, s, 0)
	}
	return s, nil
}

// state returns the request's session for a helper that changes state: the
// one Require or Optional put in the context, or else the one its token
// names. The cross-origin check comes first, before any I/O.
func (m *Middleware) state(r *http.Request) (*current, error) {
	cur, ok := r.Context().Value(ctxKey{}).(*current)
	if !ok || cur.mw != m {
		token, fromCookie := m.token(r)
		if token == "" {
			return nil, ErrNoSession
		}
		cur = &current{mw: m, token: token, fromCookie: fromCookie}
	}
	if cur.fromCookie && !m.sameOrigin(r) {
		return nil, ErrCrossOrigin
	}
	if cur.session == nil {
		s, err := m.validate(r.Context(), cur.token)
		if isNotFound(err) {
			return nil, ErrNoSession
		}
		if err != nil {
			return nil, fmt.Errorf("httpsession: %w", err)
		}
		cur.session = s
	}
	return cur, nil
}
