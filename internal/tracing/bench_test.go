package tracing

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/httpapi"
	"github.com/sessiondb/sessiondb/internal/metrics"
	"github.com/sessiondb/sessiondb/memstore"
)

// newServer builds sessiond's handler over a memory store as cmd/sessiond
// does: with tr nil, exactly the handler and store without tracing (what
// runs when no OTLP endpoint is set); otherwise wrapped by tr.
func newServer(tb testing.TB, tr *Tracing) (http.Handler, string) {
	tb.Helper()
	met := metrics.New("bench")
	var st sessiondb.Store = met.InstrumentStore(memstore.New())
	if tr != nil {
		st = tr.Store(st)
	}
	m, err := sessiondb.New(st, sessiondb.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{Manager: m, Metrics: met, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := m.Create(context.Background(), "bench", 0, nil)
	if err != nil {
		tb.Fatal(err)
	}
	var h http.Handler = api
	if tr != nil {
		h = tr.Handler(api)
	}
	return h, string(s.Token)
}

func benchValidate(b *testing.B, tr *Tracing) {
	h, tok := newServer(b, tr)
	body := `{"token":"` + tok + `"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/sessions/validate", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("validate: %d %s", w.Code, w.Body.String())
		}
	}
}

// BenchmarkValidateUntraced is a validate call through sessiond's handler
// without an OTLP endpoint: no tracing code runs at all.
func BenchmarkValidateUntraced(b *testing.B) { benchValidate(b, nil) }

// BenchmarkValidateTraced is the same call with tracing on: a server span
// and a store span, recorded and handed to a batch processor whose exporter
// drops them (the cost of sending is on the batch goroutine, off the
// request path).
func BenchmarkValidateTraced(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { tp.Shutdown(context.Background()) })
	benchValidate(b, New(tp))
}

// BenchmarkValidateTracedNotSampled is tracing on with a sampler that keeps
// nothing (OTEL_TRACES_SAMPLER=always_off): the instrumentation's own cost.
func BenchmarkValidateTracedNotSampled(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	b.Cleanup(func() { tp.Shutdown(context.Background()) })
	benchValidate(b, New(tp))
}

// TestUntracedIsTheBareHandler: without tracing, newServer returns the API
// handler itself, so the untraced benchmark measures the path sessiond runs
// when OTEL_EXPORTER_OTLP_ENDPOINT is unset.
func TestUntracedIsTheBareHandler(t *testing.T) {
	h, _ := newServer(t, nil)
	if _, ok := h.(*httpapi.Server); !ok {
		t.Errorf("untraced handler is %T, want *httpapi.Server", h)
	}
}
