package httpapi

import (
	"encoding/json"
	"maps"
	"net/http"
	"testing"

	"github.com/sessiondb/sessiondb"
)

// A field given twice takes its last value, metadata included: encoding/json
// alone would merge the two objects.
func TestFieldGivenTwiceTakesTheLast(t *testing.T) {
	s := newTestServer(t, sessiondb.Options{}, nil)
	w := do(t, s, "POST", "/v1/sessions", `{"user_id":"a","metadata":{"x":"1","y":"1"},"user_id":"b","metadata":{"y":"2"}}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body.String())
	}
	var raw struct {
		ID, Token string
		UserID    string `json:"user_id"`
		Metadata  map[string]string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.UserID != "b" || !maps.Equal(raw.Metadata, map[string]string{"y": "2"}) {
		t.Fatalf("create answered user %q, metadata %v; want b and the last metadata {y:2}", raw.UserID, raw.Metadata)
	}
	for _, tc := range []struct{ method, target, body string }{
		{"PATCH", "/v1/sessions/" + raw.ID, `{"metadata":{"a":"1"},"metadata":{"b":"2"}}`},
		{"POST", "/v1/sessions/metadata", `{"token":"` + raw.Token + `","metadata":{"a":"1"},"metadata":{"b":"2"},"token":"` + raw.Token + `"}`},
	} {
		w := do(t, s, tc.method, tc.target, tc.body)
		var got struct{ Metadata map[string]string }
		if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != http.StatusOK || err != nil {
			t.Fatalf("%s %s: %d %s", tc.method, tc.target, w.Code, w.Body.String())
		}
		if want := map[string]string{"y": "2", "b": "2"}; !maps.Equal(got.Metadata, want) {
			t.Fatalf("%s %s %s: metadata %v, want %v", tc.method, tc.target, tc.body, got.Metadata, want)
		}
	}
	// A field given twice is still checked: the last value must be valid.
	w = do(t, s, "POST", "/v1/sessions", `{"user_id":"a","ttl_seconds":60,"ttl_seconds":-1}`)
	wantError(t, w, http.StatusBadRequest, CodeInvalidArgument, "ttl_seconds")
}
