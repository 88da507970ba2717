package wire

import (
	"bytes"
	"encoding/json"

	"github.com/sessiondb/sessiondb"
)

// Event is the event object of docs/events.md, written once for every
// program that sends events: GET /v1/events and its stream, the body of a
// webhook, and sessionctl events --json. It never holds a token: an event
// has none.
//
//	id              the event's id, to resume after it
//	type            created, restored, rotated, refreshed, updated,
//	                invalidated, evicted or expired
//	time            when the change was made (RFC 3339, UTC, milliseconds)
//	session_id      the session's public id
//	new_session_id  the id after a rotation (rotated only)
//	user_id         the owner
//	cause           why an invalidation happened ("" for other types)
//	actor           the API key's name, or "library"
//	metadata        the session's pairs (created, restored, updated only)
type Event struct {
	ID           string              `json:"id"`
	Type         sessiondb.EventType `json:"type"`
	Time         Time                `json:"time"`
	SessionID    string              `json:"session_id"`
	NewSessionID string              `json:"new_session_id,omitempty"`
	UserID       string              `json:"user_id"`
	Cause        sessiondb.Cause     `json:"cause"`
	Actor        string              `json:"actor"`
	Metadata     *map[string]string  `json:"metadata,omitempty"`
}

// FromEvent returns the event object of e.
func FromEvent(e *sessiondb.Event) Event {
	o := Event{ID: e.ID, Type: e.Type, Time: Time{e.Time}, SessionID: e.SessionID,
		NewSessionID: e.NewSessionID, UserID: e.UserID, Cause: e.Cause, Actor: e.Actor}
	switch e.Type {
	case sessiondb.EventCreated, sessiondb.EventRestored, sessiondb.EventUpdated:
		md := e.Metadata
		if md == nil {
			md = map[string]string{}
		}
		o.Metadata = &md
	}
	return o
}

// AppendEvent appends the event object of e as JSON, without HTML escaping
// and with the metadata keys sorted, so that the same event is always the
// same bytes (a webhook retry sends what the first try sent).
func AppendEvent(b []byte, e *sessiondb.Event) []byte {
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(FromEvent(e)) // strings and a map of strings: cannot fail
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
