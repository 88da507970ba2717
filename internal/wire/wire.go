// Package wire defines the session object of sessiond's API once, for every
// program that writes or reads it: sessiond (internal/httpapi), sessionctl's
// list and show --json, and the Go client (sessiondclient). The Python
// client (clients/python/sessiondb) parses the same object; the golden file
// testdata/session.json holds the Go and the Python side to it.
//
// A session means the same, field by field, wherever it appears:
//
//	id            the public id (never the token)
//	user_id       the owner
//	created_at    creation time
//	expires_at    when the session really ends: the earlier of its absolute
//	              expiry and last_seen_at plus the idle timeout
//	last_seen_at  last validation, refresh or rotation
//	metadata      the caller's string pairs ({} when none)
//	token         the secret, only in the answers of create and rotate
//
// Times are RFC 3339 in UTC with milliseconds. sessionctl's backup files
// are not this object: they hold the stored record (internal/backup).
package wire

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/sessiondb/sessiondb"
)

// Fields are the names of the session object's fields, in the order they are
// written, without token.
var Fields = []string{"id", "user_id", "created_at", "expires_at", "last_seen_at", "metadata"}

// Session is the session object of the API.
type Session struct {
	ID         string   `json:"id"`
	UserID     string   `json:"user_id"`
	CreatedAt  Time     `json:"created_at"`
	ExpiresAt  Time     `json:"expires_at"` // the effective end
	LastSeenAt Time     `json:"last_seen_at"`
	Metadata   Metadata `json:"metadata"`
	Token      string   `json:"token,omitempty"` // create and rotate only
}

// FromSession returns the wire form of s: expires_at is s's effective
// expiry, and the token is there only with withToken.
func FromSession(s *sessiondb.Session, withToken bool) Session {
	w := Session{
		ID:         s.ID,
		UserID:     s.UserID,
		CreatedAt:  Time{s.CreatedAt},
		ExpiresAt:  Time{s.EffectiveExpiry()},
		LastSeenAt: Time{s.LastSeenAt},
		Metadata:   s.Metadata,
	}
	if withToken {
		w.Token = string(s.Token)
	}
	return w
}

// Session returns the library's form of a session read from the wire.
// ExpiresAt is the effective end that sessiond reported; TTL and
// IdleTimeout are not on the wire and stay zero, so that EffectiveExpiry
// returns ExpiresAt. Metadata is nil when empty, as the library keeps it.
func (w *Session) Session() *sessiondb.Session {
	s := &sessiondb.Session{
		Record: sessiondb.Record{
			ID:         w.ID,
			UserID:     w.UserID,
			CreatedAt:  w.CreatedAt.UTC(),
			ExpiresAt:  w.ExpiresAt.UTC(),
			LastSeenAt: w.LastSeenAt.UTC(),
			Metadata:   map[string]string(w.Metadata),
		},
		Token: sessiondb.Token(w.Token),
	}
	if len(s.Metadata) == 0 {
		s.Metadata = nil
	}
	return s
}

// Metadata is a session's metadata on the wire: an object of string values,
// {} when there is none.
type Metadata map[string]string

// MarshalJSON implements json.Marshaler: a nil Metadata is {}. It leaves
// HTML escaping to the caller's encoder, as encoding/json does for a plain
// map.
func (m Metadata) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("{}"), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]string(m)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// SessionList is the answer of GET /v1/users/{user_id}/sessions and the
// output of sessionctl list --json: live sessions, newest first.
type SessionList struct {
	Sessions []Session `json:"sessions"`
}

// TimeLayout is how the API writes times: RFC 3339 in UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Time is a time on the wire. It is written in TimeLayout (in UTC, cut to
// the millisecond) and read from any RFC 3339 time.
type Time struct{ time.Time }

// AppendJSON appends t as a JSON string in TimeLayout.
func (t Time) AppendJSON(b []byte) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeLayout)
	return append(b, '"')
}

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) { return t.AppendJSON(nil), nil }
