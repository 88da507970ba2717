package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
)

// statusCodes is the code each error status must carry.
var statusCodes = map[int]string{
	400: CodeInvalidArgument, 401: CodeUnauthenticated, 403: CodePermissionDenied,
	404: CodeNotFound, 405: CodeMethodNotAllowed, 409: CodeSessionLimit,
	413: CodeTooLarge, 415: CodeUnsupportedMediaType, 503: CodeUnavailable,
}

// checkAnswer checks the invariants every answer keeps, whatever the input:
// no 5xx, errors in the API's shape with the status's code, sessions with
// exactly their fields.
func checkAnswer(t *testing.T, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("%s: %d %s", what, w.Code, w.Body.String())
	}
	if w.Code == http.StatusNoContent {
		if w.Body.Len() != 0 {
			t.Fatalf("%s: 204 with a body", what)
		}
		return
	}
	if !json.Valid(w.Body.Bytes()) {
		t.Fatalf("%s: %d with invalid JSON %q", what, w.Code, w.Body.String())
	}
	if w.Code >= 400 {
		var e errorBody
		dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || e.Error.Code != statusCodes[w.Code] || e.Error.Message == "" {
			t.Fatalf("%s: %d %s: not the error shape for this status", what, w.Code, w.Body.String())
		}
		return
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &obj); err != nil {
		t.Fatalf("%s: %d %s: %v", what, w.Code, w.Body.String(), err)
	}
	if _, ok := obj["user_id"]; ok {
		checkSessionObject(t, what, obj)
	}
}

func checkSessionObject(t *testing.T, what string, obj map[string]json.RawMessage) {
	t.Helper()
	for _, f := range []string{"id", "user_id", "created_at", "expires_at", "last_seen_at", "metadata"} {
		if _, ok := obj[f]; !ok {
			t.Fatalf("%s: session without %s", what, f)
		}
	}
	for _, f := range []string{"created_at", "expires_at", "last_seen_at"} {
		var s string
		if err := json.Unmarshal(obj[f], &s); err != nil {
			t.Fatalf("%s: %s: %v", what, f, err)
		}
		if _, err := time.Parse(time.RFC3339, s); err != nil || !strings.HasSuffix(s, "Z") {
			t.Fatalf("%s: %s = %q, want RFC 3339 in UTC", what, f, s)
		}
	}
	var md map[string]string
	if err := json.Unmarshal(obj["metadata"], &md); err != nil || md == nil {
		t.Fatalf("%s: metadata %s is not an object of strings", what, obj["metadata"])
	}
}

// fuzzRoutes are the calls that read a JSON body.
var fuzzRoutes = []string{"/v1/sessions", "/v1/sessions/validate", "/v1/sessions/refresh", "/v1/sessions/rotate", "/v1/sessions/invalidate", "/v1/cleanup"}

// FuzzJSONBodies sends arbitrary bodies and content types to every call
// that reads a JSON body.
func FuzzJSONBodies(f *testing.F) {
	// Short lives and a periodic cleanup keep a long fuzzing run's memory
	// store small.
	s := newTestServer(f, sessiondb.Options{TTL: time.Second, MaxTTL: 5 * time.Second,
		MaxSessionsPerUser: 3, LimitPolicy: sessiondb.PolicyReject, MaxMetadataBytes: 256}, nil)
	var runs atomic.Int64
	tok, _ := createToken(f, s, "fuzz")
	const ct = "application/json"
	for i := range fuzzRoutes {
		r := uint8(i)
		for _, body := range []string{
			`{"token":"` + tok + `"}`,
			`{"token":"` + tok + `","ttl_seconds":5}`,
			`{"token":"sdb_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
			`{"token":""}`, `{"token":null}`, `{"token":1}`, `{}`, ``, `null`, `[]`,
			`{"user_id":"alice"}`,
			`{"user_id":"alice","ttl_seconds":2,"metadata":{"ip":"192.0.2.1"}}`,
			`{"user_id":"bob","ttl_seconds":0}`, `{"user_id":"bob","ttl_seconds":-1}`,
			`{"user_id":"bob","ttl_seconds":1.5}`, `{"user_id":"bob","ttl_seconds":"60"}`,
			`{"user_id":"bob","ttl_seconds":99999999999999999999}`,
			`{"user_id":"bob","metadata":{"a":1}}`, `{"user_id":"bob","metadata":[]}`,
			`{"user_id":"","metadata":{}}`, `{"user_id":"a\u0000b"}`, `{"user_id":"\ud800"}`,
			`{"user_id":"bob","extra":true}`, `{"user_id":"bob"}{}`, `{"user_id":"bob"`,
			`{"USER_ID":"bob"}`, `{"user_id":"bob","user_id":"eve"}`,
			strings.Repeat(`{"a":`, 100), "\xff\xfe{}",
		} {
			f.Add(r, ct, []byte(body))
		}
		f.Add(r, "text/plain", []byte(`{"user_id":"alice"}`))
		f.Add(r, "application/json; charset=latin1", []byte(`{"user_id":"alice"}`))
		f.Add(r, "", []byte(`{"user_id":"alice"}`))
	}
	f.Fuzz(func(t *testing.T, route uint8, contentType string, body []byte) {
		if runs.Add(1)%10000 == 0 {
			if _, err := s.m.Cleanup(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		target := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest("POST", target, bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		checkAnswer(t, "POST "+target, w)
		if w.Code == http.StatusCreated {
			var sess struct{ Token, ID string }
			if err := json.Unmarshal(w.Body.Bytes(), &sess); err != nil || !strings.HasPrefix(sess.Token, sessiondb.TokenPrefix) {
				t.Fatalf("POST %s: 201 %s without a token", target, w.Body.String())
			}
			if w.Header().Get("Location") != "/v1/sessions/"+sess.ID {
				t.Fatalf("POST %s: Location %q", target, w.Header().Get("Location"))
			}
		}
	})
}

// FuzzPathParams sends arbitrary session ids, user ids and except values
// in the paths and query of the calls that take them.
func FuzzPathParams(f *testing.F) {
	s := newTestServer(f, sessiondb.Options{}, nil)
	_, id := createToken(f, s, "alice")
	for _, seg := range []string{id, "alice", "", ".", "..", "a/b", "%", "%2F", "a b", "\x00", "\x7f", "日本", "\xff",
		strings.Repeat("u", 256), strings.Repeat("u", 257), "validate", "rotate", "sdb_x", "000AAAAAAAAAAAAAAAA"} {
		for op := range uint8(5) {
			f.Add(op, seg, id)
		}
	}
	f.Add(uint8(4), "alice", "bad")
	f.Add(uint8(4), "alice", "")
	f.Fuzz(func(t *testing.T, op uint8, seg, except string) {
		esc := url.PathEscape(seg)
		var method, target string
		switch op % 5 {
		case 0:
			method, target = "GET", "/v1/sessions/"+esc
		case 1:
			method, target = "DELETE", "/v1/sessions/"+esc
		case 2:
			method, target = "GET", "/v1/users/"+esc+"/sessions"
		case 3:
			method, target = "HEAD", "/v1/users/"+esc+"/sessions"
		default:
			method, target = "DELETE", "/v1/users/"+esc+"/sessions?except="+url.QueryEscape(except)
		}
		req, err := http.NewRequest(method, "http://sessiond"+target, nil)
		if err != nil {
			t.Skip() // not a request a client can send
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if method == "HEAD" {
			if w.Code >= 500 {
				t.Fatalf("%s %s: %d", method, target, w.Code)
			}
			return
		}
		checkAnswer(t, method+" "+target, w)
	})
}
