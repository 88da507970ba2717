package sessiondclient

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/wire"
)

// The methods check their arguments as the Manager does before any request
// (a malformed token or id names no session; a bad user id or TTL is an
// *sessiondb.InvalidArgumentError), so that the answers and errors are the
// same, and nothing that cannot be valid travels.

// Create starts a session for userID that lasts ttl (0 means sessiond's
// default TTL) and carries metadata, and returns it with its token, which is
// shown only here. sessiond takes whole seconds: a ttl that is not one is
// rounded up. At the per-user limit sessiond ends the user's oldest sessions,
// or, under its reject policy, Create returns an error matching
// sessiondb.ErrSessionLimit. Create is never retried: an answer lost on its
// way back would otherwise leave a session the caller never learns of.
func (c *Client) Create(ctx context.Context, userID string, ttl time.Duration, metadata map[string]string) (*sessiondb.Session, error) {
	if err := sessiondb.CheckUserID(userID); err != nil {
		return nil, err
	}
	secs, err := ttlSeconds(ttl)
	if err != nil {
		return nil, err
	}
	if err := checkMetadata(metadata); err != nil {
		return nil, err
	}
	var out wire.Session
	err = c.do(ctx, call{op: "create", method: http.MethodPost, path: "/v1/sessions",
		body: createRequest{UserID: userID, TTLSeconds: secs, Metadata: metadata}, out: &out,
		largeField: "metadata"})
	if err != nil {
		return nil, err
	}
	if out.Token == "" {
		return nil, fmt.Errorf("sessiondclient: create: sessiond's answer has no token")
	}
	return out.Session(), nil
}

// Validate returns the live session a token names, or an error matching
// sessiondb.ErrNotFound for unknown, expired, revoked and malformed tokens
// (a malformed one without a request). The session has no Token. When
// sessiond records events (SESSION_EVENTS=true) and the token's session
// ended lately, the error is also a *sessiondb.EndedError (errors.As)
// whose Reason says why: evicted, revoked, rotated or expired.
func (c *Client) Validate(ctx context.Context, token string) (*sessiondb.Session, error) {
	if _, err := sessiondb.IDFromToken(token); err != nil {
		return nil, err
	}
	return c.validate(ctx, "validate", token)
}

func (c *Client) validate(ctx context.Context, op, token string) (*sessiondb.Session, error) {
	var out wire.Session
	err := c.do(ctx, call{op: op, method: http.MethodPost, path: "/v1/sessions/validate",
		body: tokenRequest{Token: token}, out: &out, retry: true})
	if err != nil {
		return nil, err
	}
	return out.Session(), nil
}

// Get returns the live session with the given id, without its token, or an
// error matching sessiondb.ErrNotFound. It does not count as activity.
func (c *Client) Get(ctx context.Context, id string) (*sessiondb.Session, error) {
	if _, err := sessiondb.ParseID(id); err != nil {
		return nil, err
	}
	return c.get(ctx, "get", id)
}

func (c *Client) get(ctx context.Context, op, id string) (*sessiondb.Session, error) {
	var out wire.Session
	err := c.do(ctx, call{op: op, method: http.MethodGet, path: "/v1/sessions/" + url.PathEscape(id),
		out: &out, retry: true})
	if err != nil {
		return nil, err
	}
	return out.Session(), nil
}

// Refresh extends a session: it then expires ttl from now (0 means the TTL it
// was created with; whole seconds, rounded up), never past its maximum
// lifetime. It counts as activity.
func (c *Client) Refresh(ctx context.Context, token string, ttl time.Duration) (*sessiondb.Session, error) {
	secs, err := ttlSeconds(ttl)
	if err != nil {
		return nil, err
	}
	if _, err := sessiondb.IDFromToken(token); err != nil {
		return nil, err
	}
	var out wire.Session
	err = c.do(ctx, call{op: "refresh", method: http.MethodPost, path: "/v1/sessions/refresh",
		body: refreshRequest{Token: token, TTLSeconds: secs}, out: &out, retry: true})
	if err != nil {
		return nil, err
	}
	return out.Session(), nil
}

// Rotate replaces a session's token: the returned session has a new token
// and id and the same user, metadata, creation time and expiry; the old
// token stops working at once. Rotate is never retried: a retry after a lost
// answer would find the old token gone and the new one lost.
func (c *Client) Rotate(ctx context.Context, token string) (*sessiondb.Session, error) {
	if _, err := sessiondb.IDFromToken(token); err != nil {
		return nil, err
	}
	var out wire.Session
	err := c.do(ctx, call{op: "rotate", method: http.MethodPost, path: "/v1/sessions/rotate",
		body: tokenRequest{Token: token}, out: &out})
	if err != nil {
		return nil, err
	}
	if out.Token == "" {
		return nil, fmt.Errorf("sessiondclient: rotate: sessiond's answer has no token")
	}
	return out.Session(), nil
}

// UpdateMetadata changes the metadata of the session a token names. It
// validates the token (which counts as activity), calls change with a copy of
// the session's metadata (never nil), which change edits in place, and sends
// what change did as a JSON merge patch (POST /v1/sessions/metadata): the
// keys it set or changed, and a null for each key it deleted. It returns the
// session as sessiond stored it.
//
// sessiond applies the patch to the session as it is then, with a
// compare-and-swap: concurrent updates of different keys, from any number of
// clients, all survive. Unlike the Manager, which calls change again when a
// concurrent update wins, the client sends the difference it computed once,
// so for the same key the last write wins. An error from change is returned
// as it is, with nothing written. Metadata over sessiond's limits is an
// *sessiondb.InvalidArgumentError, with nothing written.
func (c *Client) UpdateMetadata(ctx context.Context, token string, change func(map[string]string) error) (*sessiondb.Session, error) {
	if _, err := sessiondb.IDFromToken(token); err != nil {
		return nil, err
	}
	if change == nil {
		return nil, invalid("metadata", "no change function")
	}
	cur, err := c.validate(ctx, "update metadata (read)", token)
	if err != nil {
		return nil, err
	}
	patch, err := metadataPatch(cur.Metadata, change)
	if err != nil {
		return nil, err
	}
	var out wire.Session
	err = c.do(ctx, call{op: "update metadata", method: http.MethodPost, path: "/v1/sessions/metadata",
		body: metadataRequest{Token: token, Metadata: patch}, out: &out, retry: true, largeField: "metadata"})
	if err != nil {
		return nil, err
	}
	return out.Session(), nil
}

// UpdateMetadataByID is UpdateMetadata for the session with the given id, for
// administrative use: it reads the session with Get and sends the patch with
// PATCH /v1/sessions/{id}.
func (c *Client) UpdateMetadataByID(ctx context.Context, id string, change func(map[string]string) error) (*sessiondb.Session, error) {
	if _, err := sessiondb.ParseID(id); err != nil {
		return nil, err
	}
	if change == nil {
		return nil, invalid("metadata", "no change function")
	}
	cur, err := c.get(ctx, "update metadata (read)", id)
	if err != nil {
		return nil, err
	}
	patch, err := metadataPatch(cur.Metadata, change)
	if err != nil {
		return nil, err
	}
	var out wire.Session
	err = c.do(ctx, call{op: "update metadata", method: http.MethodPatch, path: "/v1/sessions/" + url.PathEscape(id),
		body: patchRequest{Metadata: patch}, out: &out, retry: true, largeField: "metadata"})
	if err != nil {
		return nil, err
	}
	return out.Session(), nil
}

// metadataPatch calls change on a copy of cur and returns the merge patch
// from cur to the result.
func metadataPatch(cur map[string]string, change func(map[string]string) error) (map[string]*string, error) {
	next := maps.Clone(cur)
	if next == nil {
		next = make(map[string]string)
	}
	if err := change(next); err != nil {
		return nil, err
	}
	if err := checkMetadata(next); err != nil {
		return nil, err
	}
	patch := make(map[string]*string)
	for k, v := range next {
		if old, ok := cur[k]; !ok || old != v {
			patch[k] = &v
		}
	}
	for k := range cur {
		if _, ok := next[k]; !ok {
			patch[k] = nil
		}
	}
	return patch, nil
}

// Invalidate ends the session a token names. It returns an error matching
// sessiondb.ErrNotFound if there was no live session to end. When an answer
// is lost and the call is retried, the retry may find the session already
// ended by the first try and report ErrNotFound: the session is gone either
// way.
func (c *Client) Invalidate(ctx context.Context, token string) error {
	if _, err := sessiondb.IDFromToken(token); err != nil {
		return err
	}
	return c.do(ctx, call{op: "invalidate", method: http.MethodPost, path: "/v1/sessions/invalidate",
		body: tokenRequest{Token: token}, retry: true})
}

// InvalidateByID ends the session with the given id, for administrative use.
// It returns an error matching sessiondb.ErrNotFound if there was no live
// session (see Invalidate about retries).
func (c *Client) InvalidateByID(ctx context.Context, id string) error {
	if _, err := sessiondb.ParseID(id); err != nil {
		return err
	}
	return c.do(ctx, call{op: "invalidate by id", method: http.MethodDelete, path: "/v1/sessions/" + url.PathEscape(id),
		retry: true})
}

// InvalidateUser ends every session of a user but the one with id except, if
// except is not empty (the "log out other devices" button), and returns how
// many live sessions it ended. An unknown user has none: the result is 0.
func (c *Client) InvalidateUser(ctx context.Context, userID, except string) (int, error) {
	if err := sessiondb.CheckUserID(userID); err != nil {
		return 0, err
	}
	path := userPath(userID)
	if except != "" {
		if _, err := sessiondb.ParseID(except); err != nil {
			return 0, invalid("except", "not a session id")
		}
		path += "?except=" + url.QueryEscape(except)
	}
	var out invalidatedCount
	err := c.do(ctx, call{op: "invalidate user", method: http.MethodDelete, path: path, out: &out, retry: true})
	if err != nil {
		return 0, err
	}
	return out.Invalidated, nil
}

// UserSessions returns a user's live sessions, newest first, without tokens.
// An unknown user has none.
func (c *Client) UserSessions(ctx context.Context, userID string) ([]*sessiondb.Session, error) {
	if err := sessiondb.CheckUserID(userID); err != nil {
		return nil, err
	}
	var out wire.SessionList
	err := c.do(ctx, call{op: "user sessions", method: http.MethodGet, path: userPath(userID), out: &out, retry: true})
	if err != nil {
		return nil, err
	}
	list := make([]*sessiondb.Session, 0, len(out.Sessions))
	for _, w := range out.Sessions {
		list = append(list, w.Session())
	}
	return list, nil
}

// Cleanup makes sessiond remove expired sessions from its indexes and returns
// how many it removed. It needs an admin API key.
func (c *Client) Cleanup(ctx context.Context) (int, error) {
	var out cleanedCount
	err := c.do(ctx, call{op: "cleanup", method: http.MethodPost, path: "/v1/cleanup", out: &out, retry: true})
	if err != nil {
		return 0, err
	}
	return out.Cleaned, nil
}

// Stats returns session statistics, store memory included. It needs an admin
// API key.
func (c *Client) Stats(ctx context.Context) (sessiondb.Stats, error) {
	var out wireStats
	err := c.do(ctx, call{op: "stats", method: http.MethodGet, path: "/v1/stats", out: &out, retry: true})
	if err != nil {
		return sessiondb.Stats{}, err
	}
	return sessiondb.Stats{
		Total: out.Total, Active: out.Active, Expired: out.Expired, Users: out.Users,
		Created: out.Created, Invalidated: out.Invalidated, Evicted: out.Evicted,
		MemoryUsed: out.MemoryUsed, MemoryMax: out.MemoryMax,
		EventEntries: out.EventEntries, EventBytes: out.EventBytes,
		Revocations: out.Revocations, RevocationBytes: out.RevocationBytes,
	}, nil
}

// Ping checks that sessiond answers and that its store does, with sessiond's
// readiness probe (GET /readyz). The probe needs no API key, so Ping does not
// check the key: with a wrong one, Ping works and the other calls fail with
// ErrUnauthorized.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, call{op: "ping", method: http.MethodGet, path: "/readyz", retry: true})
}

// ttlSeconds converts a TTL to the API's whole seconds, rounding up; 0 stays
// 0 (the default).
func ttlSeconds(ttl time.Duration) (int64, error) {
	if ttl < 0 {
		return 0, invalid("ttl_seconds", "must be positive")
	}
	secs := int64(ttl / time.Second)
	if ttl%time.Second != 0 {
		secs++
	}
	return secs, nil
}

// checkMetadata refuses metadata that JSON cannot carry as it is: encoding
// would replace invalid UTF-8, where the Manager refuses it.
func checkMetadata(md map[string]string) error {
	for k, v := range md {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return invalid("metadata", "not valid UTF-8")
		}
	}
	return nil
}

// userPath is the path of a user's sessions. Every byte a path segment cannot
// hold as it is gets escaped, and so do the dot segments "." and "..", which
// clients and servers would otherwise resolve.
func userPath(userID string) string {
	seg := url.PathEscape(userID)
	if seg == "." || seg == ".." {
		seg = strings.ReplaceAll(seg, ".", "%2E")
	}
	return "/v1/users/" + seg + "/sessions"
}
