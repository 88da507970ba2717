package httpapi

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiondb/sessiondb"
)

// FuzzMetadataBodies sends arbitrary bodies and content types to the two
// calls that change metadata, POST /v1/sessions/metadata and PATCH
// /v1/sessions/{id}, on one live session ("$TOKEN" in a body stands for its
// token). Besides the invariants of every answer, it checks what the change
// did: a 200 answer holds the previous metadata with the body's merge patch
// applied (the last of a field given twice wins), and any other answer
// changed nothing.
func FuzzMetadataBodies(f *testing.F) {
	s := newTestServer(f, sessiondb.Options{MaxMetadataBytes: 256}, nil)
	for _, ct := range []string{"application/json", "application/merge-patch+json"} {
		for route := range uint8(2) {
			for _, body := range []string{
				`{"token":"$TOKEN","metadata":{"ip":"192.0.2.1"}}`,
				`{"metadata":{"ip":"192.0.2.1","device":"phone"}}`,
				`{"token":"$TOKEN","metadata":{"ip":null}}`, `{"metadata":{"ip":null,"x":""}}`,
				`{"token":"$TOKEN","metadata":{}}`, `{"metadata":{}}`, `{"metadata":null}`, `{}`, ``,
				`{"token":"$TOKEN"}`, `{"token":"$TOKEN","metadata":[]}`, `{"metadata":{"a":1}}`,
				`{"metadata":{"a":{"b":"c"}}}`, `{"metadata":"a"}`, `{"Metadata":{"a":"b"}}`,
				`{"metadata":{"a":"1"},"metadata":{"b":"2"}}`, `{"metadata":{"a":"1","a":null}}`,
				`{"token":"$TOKEN","metadata":{"a":"1"},"token":"sdb_x"}`,
				`{"metadata":{"` + strings.Repeat("k", 300) + `":"v"}}`,
				`{"metadata":{"a":"` + strings.Repeat("v", 240) + `"}}`,
				`{"metadata":{"\u0000":"\ud800","日本":"\xff"}}`, `{"metadata":{"a":"b"}} x`,
				`{"token":"$TOKEN","metadata":{"a":"b"},"user_id":"u"}`, `[{"metadata":{}}]`,
			} {
				f.Add(route, ct, []byte(body))
			}
		}
	}
	f.Add(uint8(0), "text/plain", []byte(`{"token":"$TOKEN","metadata":{"a":"b"}}`))
	f.Add(uint8(1), "", []byte(`{"metadata":{"a":"b"}}`))
	f.Add(uint8(0), "application/merge-patch+json", []byte(`{"token":"$TOKEN","metadata":{"a":"b"}}`))

	var (
		tok, id string
		cur     map[string]string // the session's metadata, as the last answer gave it
		runs    int
	)
	f.Fuzz(func(t *testing.T, route uint8, contentType string, body []byte) {
		defer func() {
			if t.Failed() {
				runs = 0 // start the next run on a fresh session
			}
		}()
		if runs++; runs%10000 == 1 {
			// A fresh session now and then, so that a run of patches that
			// filled the metadata up to its limit does not last.
			if id != "" {
				do(t, s, "DELETE", "/v1/sessions/"+id, "")
			}
			tok, id = createToken(t, s, "fuzz")
			cur = map[string]string{}
		}
		method, target := "POST", "/v1/sessions/metadata"
		if route%2 == 1 {
			method, target = "PATCH", "/v1/sessions/"+id
		}
		body = bytes.ReplaceAll(body, []byte("$TOKEN"), []byte(tok))
		req := httptest.NewRequest(method, target, bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		checkAnswer(t, method+" "+target, w)

		want := cur
		if w.Code == http.StatusOK {
			patch, ok := lastMetadata(body)
			if !ok {
				t.Fatalf("%s %s %q: 200 for a body without a metadata object", method, target, body)
			}
			want = maps.Clone(cur)
			for k, v := range patch {
				if v == nil {
					delete(want, k)
				} else {
					want[k] = *v
				}
			}
			var sess struct{ Metadata map[string]string }
			if err := json.Unmarshal(w.Body.Bytes(), &sess); err != nil || !maps.Equal(sess.Metadata, want) {
				t.Fatalf("%s %s %q with metadata %q: answer %s, want metadata %q", method, target, body, cur, w.Body.String(), want)
			}
		}
		g := do(t, s, "GET", "/v1/sessions/"+id, "")
		var stored struct{ Metadata map[string]string }
		if err := json.Unmarshal(g.Body.Bytes(), &stored); g.Code != http.StatusOK || err != nil || !maps.Equal(stored.Metadata, want) {
			t.Fatalf("%s %s %q answered %d; the session then reads %d %s, want metadata %q", method, target, body, w.Code, g.Code, g.Body.String(), want)
		}
		cur = want
	})
}

// lastMetadata returns the merge patch of a request body, read without
// encoding/json's struct decoding: the value of its last top-level
// "metadata" field, as an object of strings and nulls.
func lastMetadata(body []byte) (map[string]*string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var last json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		if tok == "metadata" {
			last = v
		}
	}
	var patch map[string]*string
	if last == nil || json.Unmarshal(last, &patch) != nil || patch == nil {
		return nil, false
	}
	return patch, true
}
