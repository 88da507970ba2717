package main

import (
	"bytes"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/internal/tracing"
)

// otlpReceiver is an OTLP/HTTP endpoint on loopback that keeps what it
// receives: the raw bodies and the decoded spans.
type otlpReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	spans  []*tracepb.Span
	res    []*commonpb.KeyValue
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	rcv := &otlpReceiver{}
	rcv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP receiver: %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			http.Error(w, "want POST /v1/traces, protobuf", http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("OTLP receiver: %v", err)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			t.Errorf("OTLP receiver: decoding the request: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		rcv.bodies = append(rcv.bodies, body)
		for _, rs := range req.ResourceSpans {
			rcv.res = rs.GetResource().GetAttributes()
			for _, ss := range rs.ScopeSpans {
				rcv.spans = append(rcv.spans, ss.Spans...)
			}
		}
		rcv.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(rcv.Close)
	return rcv
}

func attr(kvs []*commonpb.KeyValue, key string) (*commonpb.AnyValue, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

func attrString(kvs []*commonpb.KeyValue, key string) string {
	v, _ := attr(kvs, key)
	return v.GetStringValue()
}

// TestTracing runs sessiond with OTEL_EXPORTER_OTLP_ENDPOINT naming an
// in-process OTLP/HTTP receiver, makes calls with canary secrets, and reads
// the spans it exported: a server span per API call with route, method and
// status, a child span per store call with its operation and session id,
// the caller's trace continued from traceparent, no span for probes and
// scrapes, and none of the secrets anywhere in what was sent.
func TestTracing(t *testing.T) {
	const (
		redisPassword = "canary-redis-password-6a1f0c9e2b"
		appKey        = "canary-app-key-9d8e7f6a5b4c3d2e1f0a"
		wrongKey      = "canary-wrong-key-0f1e2d3c4b5a69788"
		user          = "canary-user-id-3e4f5a"
	)
	rcv := newOTLPReceiver(t)
	redis := redistest.Start(t, "--requirepass", redisPassword)
	d := startDaemon(t, map[string]string{
		"REDIS_URL":                   "redis://:" + redisPassword + "@" + redis.Addr(),
		"SESSIOND_API_KEYS":           "app:" + appKey,
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL,
	})
	d.Key = appKey

	s := d.create(t, user, `,"metadata":{"ip":"192.0.2.1"}`)
	d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).want(t, 200)
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`,
		"traceparent", "00-"+traceID+"-"+parentID+"-01").want(t, 200)
	d.do("POST", "/v1/sessions/refresh", `{"token":"`+s.Token+`"}`).want(t, 200)
	r := d.do("POST", "/v1/sessions/rotate", `{"token":"`+s.Token+`"}`).want(t, 200).session(t, true)
	d.do("GET", "/v1/sessions/"+r.ID, "").want(t, 200)
	d.do("GET", "/v1/users/"+user+"/sessions", "").want(t, 200)
	d.do("POST", "/v1/sessions/invalidate", `{"token":"`+r.Token+`"}`).want(t, 204)
	d.do("POST", "/v1/sessions/validate", `{"token":"`+r.Token+`"}`).want(t, 404)
	d.do("GET", "/v1/users/"+user+"/sessions", "", "Authorization", "Bearer "+wrongKey).want(t, 401)
	d.do("GET", "/healthz", "").want(t, 200)
	d.do("GET", "/readyz", "").want(t, 200)
	d.do("GET", "/metrics", "").want(t, 200)
	if err := d.Stop(); err != nil { // sends the spans left
		t.Fatal(err)
	}

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.spans) == 0 {
		t.Fatalf("the receiver got no span; sessiond's log:\n%s", d.Logs)
	}
	if got := attrString(rcv.res, "service.name"); got != "sessiond" {
		t.Errorf("service.name %q", got)
	}

	// Secrets: in no span, attribute or resource, byte for byte.
	for _, secret := range []string{s.Token, r.Token, appKey, wrongKey, redisPassword, user} {
		for _, b := range rcv.bodies {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("an OTLP request holds %q", secret)
			}
		}
	}

	server := map[string][]*tracepb.Span{}
	byID := map[string]*tracepb.Span{}
	for _, sp := range rcv.spans {
		byID[hex.EncodeToString(sp.SpanId)] = sp
		if sp.Kind == tracepb.Span_SPAN_KIND_SERVER {
			server[sp.Name] = append(server[sp.Name], sp)
		}
	}
	for name, status := range map[string]int64{
		"POST /v1/sessions":                201,
		"POST /v1/sessions/refresh":        200,
		"POST /v1/sessions/rotate":         200,
		"GET /v1/sessions/{id}":            200,
		"POST /v1/sessions/invalidate":     204,
		"GET /v1/users/{user_id}/sessions": 200,
		"POST /v1/sessions/validate":       200,
	} {
		spans := server[name]
		if len(spans) == 0 {
			t.Errorf("no server span %q; got %v", name, keys(server))
			continue
		}
		sp := spans[0]
		method, route, _ := strings.Cut(name, " ")
		if attrString(sp.Attributes, "http.route") != route || attrString(sp.Attributes, "http.request.method") != method {
			t.Errorf("span %s: attributes %v", name, sp.Attributes)
		}
		if v, _ := attr(sp.Attributes, "http.response.status_code"); v.GetIntValue() != status {
			t.Errorf("span %s: status %v, want %d", name, v, status)
		}
	}
	if n := len(server["POST /v1/sessions/validate"]); n != 3 {
		t.Errorf("%d validate spans, want 3", n)
	}
	statuses := map[int64]bool{}
	for _, sp := range server["GET /v1/users/{user_id}/sessions"] {
		v, _ := attr(sp.Attributes, "http.response.status_code")
		statuses[v.GetIntValue()] = true
	}
	if !statuses[401] {
		t.Error("no span of the refused call (401)")
	}
	for name := range server {
		for _, probe := range []string{"/healthz", "/readyz", "/metrics"} {
			if strings.HasSuffix(name, probe) {
				t.Errorf("probe or scrape traced: %s", name)
			}
		}
	}

	// The call with a traceparent continues the caller's trace.
	continued := false
	for _, sp := range server["POST /v1/sessions/validate"] {
		if hex.EncodeToString(sp.TraceId) == traceID {
			continued = true
			if hex.EncodeToString(sp.ParentSpanId) != parentID {
				t.Errorf("continued span's parent %x, want %s", sp.ParentSpanId, parentID)
			}
		}
	}
	if !continued {
		t.Error("no span continues the traceparent's trace")
	}

	// Store calls are children of the request's span, with their operation
	// and, on calls about one session, its id.
	ops := map[string]int{}
	for _, sp := range rcv.spans {
		op := attrString(sp.Attributes, string(tracing.AttrStoreOp))
		if op == "" {
			continue
		}
		ops[op]++
		parent := byID[hex.EncodeToString(sp.ParentSpanId)]
		if op != "cleanup" && (parent == nil || parent.Kind != tracepb.Span_SPAN_KIND_SERVER || !bytes.Equal(parent.TraceId, sp.TraceId)) {
			t.Errorf("store span %s has no server span as parent", sp.Name)
		}
		if sp.Name != "store "+op {
			t.Errorf("store span named %q for op %s", sp.Name, op)
		}
		if op == "get" && parent != nil && parent.Name == "GET /v1/sessions/{id}" && attrString(sp.Attributes, string(tracing.AttrSessionID)) != r.ID {
			t.Errorf("store get of GET /v1/sessions/{id}: session id %q, want %s", attrString(sp.Attributes, string(tracing.AttrSessionID)), r.ID)
		}
		if op == "get" && parent != nil && attrString(parent.Attributes, "http.route") == "/v1/sessions/validate" {
			if v, _ := attr(parent.Attributes, "http.response.status_code"); v.GetIntValue() == 404 && attrString(sp.Attributes, string(tracing.AttrOutcome)) != "not_found" {
				t.Errorf("store get of a revoked token: outcome %q, want not_found", attrString(sp.Attributes, string(tracing.AttrOutcome)))
			}
		}
	}
	for _, op := range []string{"insert", "get", "replace", "list_user"} {
		if ops[op] == 0 {
			t.Errorf("no store span of %s; got %v", op, ops)
		}
	}
	if ops["ping"] != 0 {
		t.Errorf("%d ping spans: probes must not be traced", ops["ping"])
	}
	t.Logf("%d spans: server %v, store %v", len(rcv.spans), len(server), ops)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestTracingEndpoint(t *testing.T) {
	for _, c := range []struct {
		env     map[string]string
		want    string
		wantErr string
	}{
		{nil, "", ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "http://127.0.0.1:4318/v1/traces", ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example:4318/"}, "https://otel.example:4318/v1/traces", ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:2/x"}, "http://b:2/x", ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1", "OTEL_SDK_DISABLED": "true"}, "", ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4318"}, "", "OTEL_EXPORTER_OTLP_ENDPOINT: want an http:// or https:// URL"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://user:secret@a:1"}, "", "without credentials"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "", `OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported`},
	} {
		got, err := tracing.Endpoint(func(k string) string { return c.env[k] })
		if got != c.want || (err == nil) != (c.wantErr == "") || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("Endpoint(%v) = %q, %v; want %q, error %q", c.env, got, err, c.want, c.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error quotes the password: %v", err)
		}
	}
	// A bad variable stops sessiond at start-up, naming it.
	err := run(t.Context(), nil, func(k string) string {
		return map[string]string{"SESSIOND_ADDR": "127.0.0.1:0", "OTEL_EXPORTER_OTLP_ENDPOINT": "not a url"}[k]
	}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_ENDPOINT") {
		t.Errorf("run with a bad endpoint: %v", err)
	}
}
