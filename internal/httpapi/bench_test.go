package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiondb/sessiondb"
)

// BenchmarkValidate measures the HTTP layer's cost of a validate call on the
// memory store: routing, decoding, the Manager call, encoding, metrics and
// the (disabled) log line. BenchmarkValidateStdJSON is the same with
// encoding/json in place of the hand-written token scanner and encoder.
func BenchmarkValidate(b *testing.B)        { benchValidate(b, false) }
func BenchmarkValidateStdJSON(b *testing.B) { benchValidate(b, true) }

func benchValidate(b *testing.B, stdJSON bool) {
	s := newTestServer(b, sessiondb.Options{}, nil)
	tok, _ := createToken(b, s, "bench")
	s.stdJSON = stdJSON
	body := `{"token":"` + tok + `"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/sessions/validate", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("validate: %d %s", w.Code, w.Body.String())
		}
	}
}

// BenchmarkValidateManager is the Manager's own share of BenchmarkValidate.
func BenchmarkValidateManager(b *testing.B) {
	s := newTestServer(b, sessiondb.Options{}, nil)
	tok, _ := createToken(b, s, "bench")
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.m.Validate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestOverhead is the cost of building the test request and
// recorder alone, to subtract from BenchmarkValidate.
func BenchmarkRequestOverhead(b *testing.B) {
	body := `{"token":"sdb_x"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/sessions/validate", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		_ = httptest.NewRecorder()
	}
}
