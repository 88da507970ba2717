package webhooks

import (
	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/wire"
)

// EncodeEvent returns the event object of e (docs/events.md): id, type,
// time, session_id, new_session_id (rotated only), user_id, cause, actor,
// metadata (created, restored and updated only). It never holds a token: an
// Event has none.
func EncodeEvent(e *sessiondb.Event) []byte { return wire.AppendEvent(nil, e) }
