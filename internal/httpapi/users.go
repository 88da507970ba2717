package httpapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/sessiondb/sessiondb/internal/wire"
)

// GET /v1/users/{user_id}/sessions -> 200 {"sessions": [...]}, live sessions
// only, newest first; an unknown user has none.
func (s *Server) listUserSessions(w http.ResponseWriter, r *http.Request) error {
	list, err := s.m.UserSessions(r.Context(), r.PathValue("user_id"))
	if err != nil {
		return err
	}
	bp := s.getBuf()
	b := append(*bp, `{"sessions":[`...)
	for i, sess := range list {
		if i > 0 {
			b = append(b, ',')
		}
		ws := wire.FromSession(sess, false)
		b = appendSession(b, &ws)
	}
	b = append(b, "]}\n"...)
	writeJSON(w, http.StatusOK, b)
	s.putBuf(bp, b)
	return nil
}

// DELETE /v1/users/{user_id}/sessions?except={id} -> 200 {"invalidated": n}.
func (s *Server) deleteUserSessions(w http.ResponseWriter, r *http.Request) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return invalidArgument("", "malformed query string")
	}
	var except string
	switch vs := q["except"]; len(vs) {
	case 0:
	case 1:
		except = vs[0]
	default:
		return invalidArgument("except", "invalid except: given more than once")
	}
	n, err := s.m.InvalidateUser(r.Context(), r.PathValue("user_id"), except)
	if err != nil {
		return err
	}
	s.metrics.SessionsInvalidated(n)
	b := append([]byte(`{"invalidated":`), strconv.Itoa(n)...)
	writeJSON(w, http.StatusOK, append(b, "}\n"...))
	return nil
}
