// Package tracing is sessiond's OpenTelemetry tracing: a server span for
// every API call and a child span for every store call it makes, exported
// over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set.
//
// Without an endpoint sessiond installs no wrapper at all: the request path
// is exactly the one without tracing.
//
// Spans carry the route pattern (/v1/sessions/{id}, never the path, which
// holds user ids), the method, the status code, the store operation and, on
// calls about one session, its id, which is not a secret. They never carry a
// token, an API key, a user id, a header, a query or a body.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/statuswriter"
)

// The attributes of sessiond's spans.
const (
	AttrMethod    = attribute.Key("http.request.method")
	AttrRoute     = attribute.Key("http.route")
	AttrStatus    = attribute.Key("http.response.status_code")
	AttrStoreOp   = attribute.Key("sessiondb.store.operation")
	AttrSessionID = attribute.Key("sessiondb.session.id")
	AttrOutcome   = attribute.Key("sessiondb.outcome")
)

// Tracing holds the tracer and the exporter behind it. It is safe for
// concurrent use.
type Tracing struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// Endpoint returns the OTLP/HTTP URL that traces go to, from the standard
// variables: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, or
// OTEL_EXPORTER_OTLP_ENDPOINT with /v1/traces added; "" when neither is
// set or OTEL_SDK_DISABLED=true.
func Endpoint(getenv func(string) string) (string, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return "", nil
	}
	name, u := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if u == "" {
		name = "OTEL_EXPORTER_OTLP_ENDPOINT"
		if base := getenv(name); base != "" {
			u = strings.TrimRight(base, "/") + "/v1/traces"
		}
	}
	if u == "" {
		return "", nil
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.User != nil {
		// Not %w: the parser's error would quote the URL.
		return "", fmt.Errorf("%s: want an http:// or https:// URL without credentials (credentials go in OTEL_EXPORTER_OTLP_HEADERS)", name)
	}
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := getenv(v); p != "" && p != "http/protobuf" {
			return "", fmt.Errorf("%s: %q is not supported: sessiond exports OTLP over HTTP with protobuf (http/protobuf)", v, p)
		}
	}
	return u, nil
}

// Describe shows an endpoint in logs: its scheme, host and path, never a
// query that could hold a secret.
func Describe(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "(unreadable)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// Start starts tracing to the OTLP/HTTP endpoint (from Endpoint). The SDK
// reads its other variables from the process environment:
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TIMEOUT,
// OTEL_EXPORTER_OTLP_CERTIFICATE, OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and OTEL_BSP_*. Spans go out
// in batches; Shutdown sends what is left.
func Start(ctx context.Context, endpoint, version string) (*Tracing, error) {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "sessiond"), attribute.String("service.version", version)),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	return New(sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))), nil
}

// New returns tracing over a tracer provider of the caller's (tests, the
// benchmark).
func New(tp *sdktrace.TracerProvider) *Tracing {
	return &Tracing{
		tp:     tp,
		tracer: tp.Tracer("github.com/sessiondb/sessiondb/cmd/sessiond"),
		prop:   propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
}

// Shutdown sends the spans not yet sent, within ctx, and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.tp.Shutdown(ctx) }

// untraced are the paths of probes and scrapes, which get no span: a
// kubelet and a Prometheus would fill the traces with them.
var untraced = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// Handler traces every request that next serves, but probes and scrapes: a
// server span named after the method and the route pattern, a child of the
// caller's span when the request carries a W3C traceparent header.
func (t *Tracing) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if untraced[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(AttrMethod.String(r.Method)))
		defer span.End()
		r = r.WithContext(ctx)
		sw := &statuswriter.Writer{ResponseWriter: w}
		next.ServeHTTP(sw, r)

		// ServeMux has set the pattern it matched on r.
		route := "unmatched"
		if _, p, ok := strings.Cut(r.Pattern, " "); ok && p != "/" {
			route = p
		} else if r.Pattern != "" && !strings.Contains(r.Pattern, " ") && r.Pattern != "/" {
			route = r.Pattern
		}
		status := sw.Status()
		span.SetName(r.Method + " " + route)
		span.SetAttributes(AttrRoute.String(route), AttrStatus.Int(status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	})
}

// outcome names the store results that are answers, not failures.
func outcome(err error) (string, bool) {
	switch {
	case err == nil:
		return "ok", true
	case errors.Is(err, sessiondb.ErrNotFound):
		return "not_found", true
	case errors.Is(err, sessiondb.ErrSessionLimit):
		return "session_limit", true
	case errors.Is(err, sessiondb.ErrConflict):
		return "conflict", true
	case errors.Is(err, sessiondb.ErrExists):
		return "exists", true
	case errors.Is(err, sessiondb.ErrInvalidArgument):
		return "invalid_argument", true
	case errors.Is(err, sessiondb.ErrStoreFull):
		return "full", false
	case errors.Is(err, sessiondb.ErrUnavailable):
		return "unavailable", false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled", false
	}
	return "error", false
}

// Store wraps st so that each of its calls is a span: a child of the
// request's span. Pings and statistics reads outside a traced request
// (probes, scrapes) get none; a background cleanup pass gets a span of its
// own.
func (t *Tracing) Store(st sessiondb.Store) sessiondb.Store {
	return &store{next: st, tracer: t.tracer}
}

type store struct {
	next   sessiondb.Store
	tracer trace.Tracer
}

var _ sessiondb.Store = (*store)(nil)

// Unwrap returns the wrapped store.
func (s *store) Unwrap() sessiondb.Store { return s.next }

// CacheStats passes on the wrapped store's client-side cache counts.
func (s *store) CacheStats() (hits, misses uint64) {
	if c, ok := s.next.(interface{ CacheStats() (uint64, uint64) }); ok {
		return c.CacheStats()
	}
	return 0, 0
}

func (s *store) start(ctx context.Context, op, id string) (context.Context, trace.Span) {
	if (op == "ping" || op == "stats") && !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{AttrStoreOp.String(op)}
	if id != "" {
		attrs = append(attrs, AttrSessionID.String(id))
	}
	return s.tracer.Start(ctx, "store "+op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

func end(span trace.Span, err error) {
	if span == nil {
		return
	}
	o, ok := outcome(err)
	span.SetAttributes(AttrOutcome.String(o))
	if !ok {
		span.SetStatus(codes.Error, o)
		span.RecordError(err)
	}
	span.End()
}

func (s *store) Insert(ctx context.Context, rec *sessiondb.Record, lim sessiondb.Limit, now time.Time) (int, error) {
	ctx, span := s.start(ctx, "insert", rec.ID)
	n, err := s.next.Insert(ctx, rec, lim, now)
	end(span, err)
	return n, err
}

func (s *store) Get(ctx context.Context, id string, now time.Time) (*sessiondb.Record, error) {
	ctx, span := s.start(ctx, "get", id)
	rec, err := s.next.Get(ctx, id, now)
	end(span, err)
	return rec, err
}

func (s *store) Replace(ctx context.Context, old, rec *sessiondb.Record, now time.Time) error {
	ctx, span := s.start(ctx, "replace", rec.ID)
	err := s.next.Replace(ctx, old, rec, now)
	end(span, err)
	return err
}

func (s *store) Delete(ctx context.Context, id string, now time.Time) (*sessiondb.Record, error) {
	ctx, span := s.start(ctx, "delete", id)
	rec, err := s.next.Delete(ctx, id, now)
	end(span, err)
	return rec, err
}

func (s *store) ListUser(ctx context.Context, userID string, now time.Time) ([]*sessiondb.Record, error) {
	ctx, span := s.start(ctx, "list_user", "")
	recs, err := s.next.ListUser(ctx, userID, now)
	end(span, err)
	return recs, err
}

func (s *store) DeleteUser(ctx context.Context, userID, except string, now time.Time) (int, error) {
	ctx, span := s.start(ctx, "delete_user", "")
	n, err := s.next.DeleteUser(ctx, userID, except, now)
	end(span, err)
	return n, err
}

func (s *store) Cleanup(ctx context.Context, now time.Time) (int, error) {
	ctx, span := s.start(ctx, "cleanup", "")
	n, err := s.next.Cleanup(ctx, now)
	end(span, err)
	return n, err
}

func (s *store) Stats(ctx context.Context, now time.Time) (sessiondb.StoreStats, error) {
	ctx, span := s.start(ctx, "stats", "")
	st, err := s.next.Stats(ctx, now)
	end(span, err)
	return st, err
}

func (s *store) Walk(ctx context.Context, now time.Time, fn func(*sessiondb.Record) error) error {
	ctx, span := s.start(ctx, "walk", "")
	err := s.next.Walk(ctx, now, fn)
	end(span, err)
	return err
}

func (s *store) Restore(ctx context.Context, rec *sessiondb.Record, now time.Time) (bool, error) {
	ctx, span := s.start(ctx, "restore", rec.ID)
	ok, err := s.next.Restore(ctx, rec, now)
	end(span, err)
	return ok, err
}

func (s *store) Ping(ctx context.Context) error {
	ctx, span := s.start(ctx, "ping", "")
	err := s.next.Ping(ctx)
	end(span, err)
	return err
}

func (s *store) Close() error { return s.next.Close() }
