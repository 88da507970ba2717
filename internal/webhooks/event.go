package webhooks

import (
	"bytes"
	"encoding/json"

	"github.com/sessiondb/sessiondb"
)

// eventJSON is the event object of docs/events.md, the body of a webhook:
// the one JSON shape of an event, as GET /v1/events answers it.
type eventJSON struct {
	ID           string              `json:"id"`
	Type         sessiondb.EventType `json:"type"`
	Time         string              `json:"time"`
	SessionID    string              `json:"session_id"`
	NewSessionID string              `json:"new_session_id,omitempty"`
	UserID       string              `json:"user_id"`
	Cause        sessiondb.Cause     `json:"cause"`
	Actor        string              `json:"actor"`
	// Metadata is there for created, restored and updated only (an
	// object, maybe empty).
	Metadata *map[string]string `json:"metadata,omitempty"`
}

// timeLayout is RFC 3339 in UTC with milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// EncodeEvent returns the event object of e (docs/events.md): id, type,
// time, session_id, new_session_id (rotated only), user_id, cause, actor,
// metadata (created, restored and updated only). It never holds a token: an
// Event has none.
func EncodeEvent(e *sessiondb.Event) []byte {
	o := eventJSON{ID: e.ID, Type: e.Type, Time: e.Time.UTC().Format(timeLayout), SessionID: e.SessionID,
		NewSessionID: e.NewSessionID, UserID: e.UserID, Cause: e.Cause, Actor: e.Actor}
	switch e.Type {
	case sessiondb.EventCreated, sessiondb.EventRestored, sessiondb.EventUpdated:
		md := e.Metadata
		if md == nil {
			md = map[string]string{}
		}
		o.Metadata = &md
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(o) // strings and a map of strings: cannot fail
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
