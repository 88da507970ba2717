package statuswriter

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWriter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handle  func(w http.ResponseWriter)
		started bool
		status  int
	}{
		{"nothing written", func(http.ResponseWriter) {}, false, http.StatusOK},
		{"body only", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, true, http.StatusOK},
		{"header", func(w http.ResponseWriter) { w.WriteHeader(http.StatusTeapot) }, true, http.StatusTeapot},
		{"first header wins", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusNotFound)
			w.WriteHeader(http.StatusInternalServerError)
		}, true, http.StatusNotFound},
		{"body then header", func(w http.ResponseWriter) {
			_, _ = w.Write([]byte("x"))
			w.WriteHeader(http.StatusBadRequest)
		}, true, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := &Writer{ResponseWriter: rec}
			tc.handle(w)
			if w.Started() != tc.started || w.Status() != tc.status {
				t.Errorf("Started %v, Status %d; want %v, %d", w.Started(), w.Status(), tc.started, tc.status)
			}
			if tc.started && rec.Code != tc.status {
				t.Errorf("the wrapped writer got %d, want %d", rec.Code, tc.status)
			}
		})
	}
}

func TestUnwrap(t *testing.T) {
	rec := httptest.NewRecorder()
	w := &Writer{ResponseWriter: rec}
	if err := http.NewResponseController(w).Flush(); err != nil {
		t.Fatalf("Flush through Unwrap: %v", err)
	}
	if !rec.Flushed {
		t.Error("the wrapped writer was not flushed")
	}
}
