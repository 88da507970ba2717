package httpsession

import (
	"net/http"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
)

// setCookie sets the session cookie to s's token. Its Max-Age is the time
// from s's last activity to its absolute expiry, both read from the store's
// clock, so a skewed local clock does not shorten or stretch it. With an
// idle timeout the session may end sooner; the server enforces that.
func (m *Middleware) setCookie(w http.ResponseWriter, s *sessiondb.Session) {
	maxAge := int(s.ExpiresAt.Sub(s.LastSeenAt) / time.Second)
	if maxAge < 1 {
		maxAge = 1
	}
	c := m.cookie()
	c.Value = string(s.Token)
	c.MaxAge = maxAge
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
