package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/memstore"
)

func recorder(t *testing.T) (*Tracing, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return New(tp), rec
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestStoreSpans(t *testing.T) {
	tr, rec := recorder(t)
	st := tr.Store(memstore.New())
	ctx := context.Background()
	now := time.Now()

	// Probes and scrapes outside a request: no span.
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stats(ctx, now); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("%d spans for a ping and a stats read outside a request", n)
	}
	// A background cleanup pass: a span of its own.
	if _, err := st.Cleanup(ctx, now); err != nil {
		t.Fatal(err)
	}
	// Inside a request: children, with the session id and the outcome.
	ctx, parent := tr.tracer.Start(ctx, "request")
	if _, err := st.Get(ctx, "nonexistent-id", now); err == nil {
		t.Fatal("Get of an unknown id succeeded")
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	parent.End()

	spans := rec.Ended()
	if len(spans) != 4 {
		t.Fatalf("%d spans, want cleanup, get, ping and the request", len(spans))
	}
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = s
	}
	if c := byName["store cleanup"]; c == nil || c.Parent().IsValid() {
		t.Error("the cleanup pass has no root span")
	}
	g := byName["store get"]
	if g == nil || g.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatal("no store get span under the request")
	}
	a := attrs(g)
	if a[AttrStoreOp].AsString() != "get" || a[AttrSessionID].AsString() != "nonexistent-id" || a[AttrOutcome].AsString() != "not_found" {
		t.Errorf("store get attributes %v", a)
	}
	if g.Status().Code == codes.Error {
		t.Error("a not-found outcome marked the span as an error")
	}
	if byName["store ping"] == nil {
		t.Error("a ping inside a request has no span")
	}
}

func TestStoreSpanFailure(t *testing.T) {
	tr, rec := recorder(t)
	st := tr.Store(memstore.New())
	st.Close()
	ctx, parent := tr.tracer.Start(context.Background(), "request")
	if _, err := st.ListUser(ctx, "secret-user", time.Now()); err == nil {
		t.Fatal("ListUser on a closed store succeeded")
	}
	parent.End()
	for _, s := range rec.Ended() {
		if s.Name() != "store list_user" {
			continue
		}
		if s.Status().Code != codes.Error {
			t.Errorf("a failed call's span has status %v", s.Status())
		}
		for _, kv := range s.Attributes() {
			if kv.Value.String() == "secret-user" {
				t.Errorf("the span holds the user id in %s", kv.Key)
			}
		}
		return
	}
	t.Error("no store list_user span")
}

func TestHandlerSpans(t *testing.T) {
	tr, rec := recorder(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	h := tr.Handler(mux)
	for _, p := range []string{"/v1/sessions/abc?token=sdb_secret", "/nowhere", "/healthz"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2 (no span for /healthz)", len(spans))
	}
	s := spans[0]
	a := attrs(s)
	if s.Name() != "GET /v1/sessions/{id}" || a[AttrRoute].AsString() != "/v1/sessions/{id}" || a[AttrStatus].AsInt64() != 503 || s.Status().Code != codes.Error {
		t.Errorf("span %s %v %v", s.Name(), a, s.Status())
	}
	for _, kv := range s.Attributes() {
		if v := kv.Value.String(); v == "abc" || len(v) > 4 && v[len(v)-4:] == "cret" {
			t.Errorf("the span holds the path or query: %s=%s", kv.Key, v)
		}
	}
	if spans[1].Name() != "GET unmatched" {
		t.Errorf("unknown route span %q, want GET unmatched", spans[1].Name())
	}
	var _ sessiondb.Store = tr.Store(memstore.New())
}
