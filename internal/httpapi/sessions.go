package httpapi

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/wire"
)

// createRequest is the body of POST /v1/sessions. Pointers tell an absent
// field from a zero one.
type createRequest struct {
	UserID     *string            `json:"user_id"`
	TTLSeconds *int64             `json:"ttl_seconds"`
	Metadata   map[string]*string `json:"metadata"` // pointers to tell null from ""
}

func (createRequest) jsonFields() []string { return []string{"user_id", "ttl_seconds", "metadata"} }
func (tokenRequest) jsonFields() []string  { return []string{"token"} }
func (refreshRequest) jsonFields() []string {
	return []string{"token", "ttl_seconds"}
}
func (metadataRequest) jsonFields() []string { return []string{"token", "metadata"} }
func (patchRequest) jsonFields() []string    { return []string{"metadata"} }

// metadataRequest is the body of POST /v1/sessions/metadata: a token and a
// JSON merge patch of the session's metadata.
type metadataRequest struct {
	Token    *string            `json:"token"`
	Metadata map[string]*string `json:"metadata"` // a null value deletes the key
}

// patchRequest is the body of PATCH /v1/sessions/{id}.
type patchRequest struct {
	Metadata map[string]*string `json:"metadata"` // a null value deletes the key
}

// mergeMetadata returns the change that applies a JSON merge patch (RFC 7396)
// of string values to a session's metadata: a string sets the key, null
// deletes it, and keys not named stay as they are.
func mergeMetadata(patch map[string]*string) (func(map[string]string) error, error) {
	if patch == nil {
		return nil, missing("metadata")
	}
	return func(md map[string]string) error {
		for k, v := range patch {
			if v == nil {
				delete(md, k)
			} else {
				md[k] = *v
			}
		}
		return nil
	}, nil
}

// metadata converts the metadata of a request: every value must be a string.
func metadata(md map[string]*string) (map[string]string, error) {
	if len(md) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		if v == nil {
			return nil, invalidArgument("metadata", "metadata: want an object of string values, got a JSON null")
		}
		out[k] = *v
	}
	return out, nil
}

// tokenRequest is the body of validate, rotate and invalidate.
type tokenRequest struct {
	Token *string `json:"token"`
}

// refreshRequest is the body of POST /v1/sessions/refresh.
type refreshRequest struct {
	Token      *string `json:"token"`
	TTLSeconds *int64  `json:"ttl_seconds"`
}

func missing(field string) *apiError {
	return invalidArgument(field, field+" is required")
}

// parseTTL converts an optional ttl_seconds. Absent means the default, which is
// 0 for the Manager; so a ttl_seconds of 0, like a negative one, is refused
// here. The Manager checks the maximum; seconds too many for a Duration are
// passed on as the longest one, which it refuses as above the maximum.
func parseTTL(secs *int64) (time.Duration, error) {
	switch {
	case secs == nil:
		return 0, nil
	case *secs <= 0:
		return 0, invalidArgument("ttl_seconds", "invalid ttl_seconds: must be a positive whole number of seconds")
	case *secs > math.MaxInt64/int64(time.Second):
		return math.MaxInt64, nil
	}
	return time.Duration(*secs) * time.Second, nil
}

// token returns the token of a request body, which must be there; any string
// is accepted, and a malformed one then names no session (404).
// readToken decodes a {token} body and returns the token.
func (s *Server) readToken(r *http.Request) (string, error) {
	var req tokenRequest
	if err := s.decode(r, &req, false); err != nil {
		return "", err
	}
	return token(req.Token)
}

func token(t *string) (string, error) {
	if t == nil {
		return "", missing("token")
	}
	return *t, nil
}

// writeSession answers with one session object.
func (s *Server) writeSession(w http.ResponseWriter, status int, sess *sessiondb.Session, withToken bool) error {
	bp := s.getBuf()
	ws := wire.FromSession(sess, withToken)
	var b []byte
	if s.stdJSON {
		b, _ = json.Marshal(ws) // cannot fail: strings, times and a map of strings
	} else {
		b = appendSession(*bp, &ws)
	}
	b = append(b, '\n')
	writeJSON(w, status, b)
	s.putBuf(bp, b)
	return nil
}

// POST /v1/sessions {user_id, ttl_seconds?, metadata?} -> 201 session + token.
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if req.UserID == nil {
		return missing("user_id")
	}
	ttl, err := parseTTL(req.TTLSeconds)
	if err != nil {
		return err
	}
	md, err := metadata(req.Metadata)
	if err != nil {
		return err
	}
	sess, err := s.m.Create(r.Context(), *req.UserID, ttl, md)
	if err != nil {
		return err
	}
	s.metrics.SessionCreated()
	w.Header().Set("Location", "/v1/sessions/"+sess.ID)
	return s.writeSession(w, http.StatusCreated, sess, true)
}

// POST /v1/sessions/validate {token} -> 200 session.
func (s *Server) validateSession(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.readToken(r)
	if err != nil {
		return err
	}
	sess, err := s.m.Validate(r.Context(), tok)
	if err != nil {
		if errors.Is(err, sessiondb.ErrNotFound) {
			s.metrics.SessionValidated(false)
		}
		return err
	}
	s.metrics.SessionValidated(true)
	return s.writeSession(w, http.StatusOK, sess, false)
}

// POST /v1/sessions/refresh {token, ttl_seconds?} -> 200 session.
func (s *Server) refreshSession(w http.ResponseWriter, r *http.Request) error {
	var req refreshRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	tok, err := token(req.Token)
	if err != nil {
		return err
	}
	ttl, err := parseTTL(req.TTLSeconds)
	if err != nil {
		return err
	}
	sess, err := s.m.Refresh(r.Context(), tok, ttl)
	if err != nil {
		return err
	}
	s.metrics.SessionRefreshed()
	return s.writeSession(w, http.StatusOK, sess, false)
}

// POST /v1/sessions/rotate {token} -> 200 session + new token.
func (s *Server) rotateSession(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.readToken(r)
	if err != nil {
		return err
	}
	sess, err := s.m.Rotate(r.Context(), tok)
	if err != nil {
		return err
	}
	s.metrics.SessionRotated()
	return s.writeSession(w, http.StatusOK, sess, true)
}

// POST /v1/sessions/invalidate {token} -> 204.
func (s *Server) invalidateSession(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.readToken(r)
	if err != nil {
		return err
	}
	if err := s.m.Invalidate(r.Context(), tok); err != nil {
		return err
	}
	s.metrics.SessionsInvalidated(1)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// sessionID returns the {id} of the path. The action names under
// /v1/sessions/ are never ids: GET or DELETE on them is a wrong method.
func sessionID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if isAction(id) {
		return "", methodNotAllowed(http.MethodPost)
	}
	return id, nil
}

// isAction reports whether a name under /v1/sessions/ is one of the POST
// actions.
func isAction(name string) bool {
	switch name {
	case "validate", "refresh", "rotate", "invalidate", "metadata":
		return true
	}
	return false
}

// actionMethod answers 405 for a request that a route with an {id} matched
// although its {id} is an action name (GET /v1/sessions/validate).
func actionMethod(r *http.Request) error {
	_, err := sessionID(r)
	return err
}

// GET /v1/sessions/{id} -> 200 session.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	id, err := sessionID(r)
	if err != nil {
		return err
	}
	sess, err := s.m.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return s.writeSession(w, http.StatusOK, sess, false)
}

// DELETE /v1/sessions/{id} -> 204.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	id, err := sessionID(r)
	if err != nil {
		return err
	}
	if err := s.m.InvalidateByID(r.Context(), id); err != nil {
		return err
	}
	s.metrics.SessionsInvalidated(1)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST /v1/sessions/metadata {token, metadata} -> 200 session.
func (s *Server) updateSessionMetadata(w http.ResponseWriter, r *http.Request) error {
	var req metadataRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	tok, err := token(req.Token)
	if err != nil {
		return err
	}
	change, err := mergeMetadata(req.Metadata)
	if err != nil {
		return err
	}
	sess, err := s.m.UpdateMetadata(r.Context(), tok, change)
	if err != nil {
		return err
	}
	s.metrics.SessionUpdated()
	return s.writeSession(w, http.StatusOK, sess, false)
}

// PATCH /v1/sessions/{id} {metadata} -> 200 session.
func (s *Server) patchSession(w http.ResponseWriter, r *http.Request) error {
	id, err := sessionID(r)
	if err != nil {
		return err
	}
	var req patchRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	change, err := mergeMetadata(req.Metadata)
	if err != nil {
		return err
	}
	sess, err := s.m.UpdateMetadataByID(r.Context(), id, change)
	if err != nil {
		return err
	}
	s.metrics.SessionUpdated()
	return s.writeSession(w, http.StatusOK, sess, false)
}
