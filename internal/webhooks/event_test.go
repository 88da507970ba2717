package webhooks_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/webhooks"
)

// TestEncodeEvent holds the body of a webhook to the event object of
// docs/events.md, field by field.
func TestEncodeEvent(t *testing.T) {
	at := time.Date(2025, 11, 29, 9, 57, 18, 604_000_000, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		ev   sessiondb.Event
		want string
	}{
		{sessiondb.Event{ID: "1-0-a-1", Type: sessiondb.EventEvicted, Time: at, SessionID: "s1", UserID: "alice", Actor: "frontend"},
			`{"id":"1-0-a-1","type":"evicted","time":"2025-11-29T08:57:18.604Z","session_id":"s1","user_id":"alice","cause":"","actor":"frontend"}`},
		{sessiondb.Event{ID: "2", Type: sessiondb.EventRotated, Time: at, SessionID: "s1", NewSessionID: "s2", UserID: "bob", Actor: "library"},
			`{"id":"2","type":"rotated","time":"2025-11-29T08:57:18.604Z","session_id":"s1","new_session_id":"s2","user_id":"bob","cause":"","actor":"library"}`},
		{sessiondb.Event{ID: "3", Type: sessiondb.EventCreated, Time: at, SessionID: "s3", UserID: "c<&>", Actor: "app"},
			`{"id":"3","type":"created","time":"2025-11-29T08:57:18.604Z","session_id":"s3","user_id":"c<&>","cause":"","actor":"app","metadata":{}}`},
		{sessiondb.Event{ID: "4", Type: sessiondb.EventInvalidated, Time: at, SessionID: "s3", UserID: "c", Cause: sessiondb.CauseLogout, Actor: "app",
			Metadata: map[string]string{"ignored": "for invalidated"}},
			`{"id":"4","type":"invalidated","time":"2025-11-29T08:57:18.604Z","session_id":"s3","user_id":"c","cause":"logout","actor":"app"}`},
	} {
		if got := string(webhooks.EncodeEvent(&tc.ev)); got != tc.want {
			t.Errorf("EncodeEvent(%s):\n got %s\nwant %s", tc.ev.Type, got, tc.want)
		}
	}
	// Metadata keys come sorted, so a retry sends the same bytes.
	ev := sessiondb.Event{ID: "5", Type: sessiondb.EventUpdated, Time: at, Metadata: map[string]string{"b": "2", "a": "1", "c": "3"}}
	b := webhooks.EncodeEvent(&ev)
	if !strings.Contains(string(b), `"metadata":{"a":"1","b":"2","c":"3"}`) {
		t.Errorf("metadata not in key order: %s", b)
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"actor", "cause", "id", "metadata", "session_id", "time", "type", "user_id"}; !slices.Equal(keys, want) {
		t.Errorf("fields %v, want %v", keys, want)
	}
}
