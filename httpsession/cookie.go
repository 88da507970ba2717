package httpsession

import (
	"net/http"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
)

// setCookie sets the session cookie to s's token. Its Max-Age is the
// session's remaining lifetime: Options.TTL when set (Login asked for exactly
// that), and otherwise the time from s's last activity to its expiry, both
// read from the store's clock, so that a skewed local clock neither shortens
// nor stretches it.
func (m *Middleware) setCookie(w http.ResponseWriter, s *sessiondb.Session, ttl time.Duration) {
	if ttl <= 0 {
		ttl = s.ExpiresAt.Sub(s.LastSeenAt)
	}
	c := m.cookie()
	c.Value = string(s.Token)
	c.MaxAge = max(int(ttl/time.Second), 1)
	m.writeCookie(w, c)
}

// clearCookie tells the browser to drop the session cookie, with the same
// attributes it was set with (a cookie is only replaced by one with the same
// name, path and domain).
func (m *Middleware) clearCookie(w http.ResponseWriter) {
	c := m.cookie()
	c.MaxAge = -1               // Max-Age=0
	c.Expires = time.Unix(0, 0) // for clients that read only Expires
	m.writeCookie(w, c)
}

func (m *Middleware) cookie() *http.Cookie {
	return &http.Cookie{
		Name:     m.c.CookieName,
		Path:     "/",
		Secure:   !m.c.InsecureLoopbackHTTP,
		HttpOnly: true,
		SameSite: m.c.SameSite,
	}
}

func (m *Middleware) writeCookie(w http.ResponseWriter, c *http.Cookie) {
	h := w.Header()
	// Replace a cookie of the same name set earlier in this response (an
	// expired one cleared by Optional before Login sets a new one).
	prefix := c.Name + "="
	kept := h.Values("Set-Cookie")[:0:0]
	for _, v := range h.Values("Set-Cookie") {
		if !strings.HasPrefix(v, prefix) {
			kept = append(kept, v)
		}
	}
	h["Set-Cookie"] = append(kept, c.String())
	// A response that sets a session cookie must never come out of a
	// shared cache for someone else.
	h.Set("Cache-Control", "no-store")
}
