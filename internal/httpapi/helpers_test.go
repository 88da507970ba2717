package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/metrics"
	"github.com/sessiondb/sessiondb/memstore"
)

// newTestServer returns a Server over a fresh memory store. keys may be nil.
func newTestServer(tb testing.TB, opt sessiondb.Options, keys *KeySet) *Server {
	tb.Helper()
	m, err := sessiondb.New(memstore.New(), opt)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Config{Manager: m, Keys: keys, Metrics: metrics.New("test"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// do serves one request in process and returns the recorded answer.
func do(tb testing.TB, h http.Handler, method, target string, body string, hdr ...string) *httptest.ResponseRecorder {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// errorBody is the API's error object.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// wantError checks that w is an error answer with the given status, code and
// field, in exactly the API's error shape.
func wantError(tb testing.TB, w *httptest.ResponseRecorder, status int, code, field string) errorBody {
	tb.Helper()
	var e errorBody
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		tb.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	if w.Code != status || e.Error.Code != code || e.Error.Field != field || e.Error.Message == "" {
		tb.Fatalf("got %d %s, want %d with code %q field %q", w.Code, w.Body.String(), status, code, field)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("Content-Type = %q, want application/json", ct)
	}
	return e
}

// createToken creates a session through the API and returns its token and id.
func createToken(tb testing.TB, h http.Handler, userID string) (token, id string) {
	tb.Helper()
	w := do(tb, h, "POST", "/v1/sessions", `{"user_id":`+string(mustJSON(tb, userID))+`}`)
	if w.Code != http.StatusCreated {
		tb.Fatalf("create: %d %s", w.Code, w.Body.String())
	}
	var s struct{ ID, Token string }
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		tb.Fatal(err)
	}
	return s.Token, s.ID
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
