package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/metrics"
	"github.com/sessiondb/sessiondb/memstore"
)

func TestNoRoute(t *testing.T) {
	s := newTestServer(t, sessiondb.Options{}, nil)
	for _, tc := range []struct {
		method, target string
		status         int
		allow          string
	}{
		{"GET", "/", 404, ""},
		{"GET", "/nope", 404, ""},
		{"GET", "/v1", 404, ""},
		{"GET", "/v1/sessions/", 404, ""},
		{"POST", "/v1/sessions/", 404, ""},
		{"GET", "/v1/users/u/sessions/", 404, ""},
		{"GET", "/v1//sessions", 404, ""},
		{"POST", "/v1/./sessions", 404, ""},
		{"GET", "/v1/users/u/../u/sessions", 404, ""},
		{"GET", "/v1/sessions", 405, "POST"},
		{"PUT", "/v1/sessions", 405, "POST"},
		{"DELETE", "/v1/sessions/validate", 405, "POST"},
		{"GET", "/v1/sessions/validate", 405, "POST"},
		{"GET", "/v1/sessions/refresh", 405, "POST"},
		{"DELETE", "/v1/sessions/rotate", 405, "POST"},
		{"GET", "/v1/sessions/invalidate", 405, "POST"},
		{"PUT", "/v1/sessions/abc", 405, "GET, HEAD, PATCH, DELETE"},
		{"POST", "/v1/sessions/abc", 405, "GET, HEAD, PATCH, DELETE"},
		{"GET", "/v1/sessions/metadata", 405, "POST"},
		{"PATCH", "/v1/sessions/metadata", 405, "POST"},
		{"PUT", "/v1/sessions/validate", 405, "POST"},
		{"PATCH", "/v1/sessions/invalidate", 405, "POST"},
		{"PATCH", "/v1/users/u/sessions", 405, "GET, HEAD, DELETE"},
		{"POST", "/v1/stats", 405, "GET, HEAD"},
		{"GET", "/v1/cleanup", 405, "POST"},
		{"DELETE", "/healthz", 405, "GET, HEAD"},
		{"POST", "/readyz", 405, "GET, HEAD"},
		{"POST", "/metrics", 405, "GET, HEAD"},
		{"OPTIONS", "/openapi.json", 405, "GET, HEAD"},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			w := do(t, s, tc.method, tc.target, "")
			code := CodeNotFound
			if tc.status == 405 {
				code = CodeMethodNotAllowed
			}
			wantError(t, w, tc.status, code, "")
			if got := w.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
	// An empty user id in the path is a bad user id, as in a body.
	for _, m := range []string{"GET", "DELETE"} {
		wantError(t, do(t, s, m, "/v1/users//sessions", ""), 400, CodeInvalidArgument, "user_id")
	}
}

func TestAuthorization(t *testing.T) {
	keys, err := LoadKeys("app:the-app-key-0123456789,admin:the-admin-key-0123456789", "")
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, sessiondb.Options{}, keys)
	const (
		app   = "Bearer the-app-key-0123456789"
		admin = "Bearer the-admin-key-0123456789"
	)
	body := `{"user_id":"u"}`
	for _, tc := range []struct {
		method, target, body, auth string
		status                     int
		code, challenge            string
	}{
		{"POST", "/v1/sessions", body, "", 401, CodeUnauthenticated, `Bearer realm="sessiond"`},
		{"POST", "/v1/sessions", body, "Bearer wrong", 401, CodeUnauthenticated, `Bearer realm="sessiond", error="invalid_token"`},
		{"POST", "/v1/sessions", body, "Bearer ", 401, CodeUnauthenticated, `Bearer realm="sessiond"`},
		{"POST", "/v1/sessions", body, "Basic dGhlLWFwcC1rZXk=", 401, CodeUnauthenticated, `Bearer realm="sessiond"`},
		{"POST", "/v1/sessions", body, "the-app-key-0123456789", 401, CodeUnauthenticated, `Bearer realm="sessiond"`},
		{"POST", "/v1/sessions", body, "Bearer the-app-key-01234567890", 401, CodeUnauthenticated, `Bearer realm="sessiond", error="invalid_token"`},
		{"GET", "/v1/stats", "", "", 401, CodeUnauthenticated, `Bearer realm="sessiond"`},
		{"POST", "/v1/sessions", body, app, 201, "", ""},
		{"POST", "/v1/sessions", body, "bearer the-app-key-0123456789", 201, "", ""},
		{"POST", "/v1/sessions", body, admin, 201, "", ""},
		{"GET", "/v1/users/u/sessions", "", app, 200, "", ""},
		{"DELETE", "/v1/users/u/sessions", "", app, 200, "", ""},
		{"GET", "/v1/stats", "", app, 403, CodePermissionDenied, ""},
		{"POST", "/v1/cleanup", "", app, 403, CodePermissionDenied, ""},
		{"GET", "/v1/stats", "", admin, 200, "", ""},
		{"POST", "/v1/cleanup", "", admin, 200, "", ""},
		// Probes, metrics and the API document need no key.
		{"GET", "/healthz", "", "", 200, "", ""},
		{"GET", "/readyz", "", "", 200, "", ""},
		{"GET", "/metrics", "", "", 200, "", ""},
		{"GET", "/openapi.json", "", "", 200, "", ""},
		// Routing comes first: unknown routes are 404 with or without a key,
		// a wrong method on an action path 405.
		{"GET", "/v2/sessions", "", "", 404, CodeNotFound, ""},
		{"GET", "/v1/sessions/validate", "", "", 405, CodeMethodNotAllowed, ""},
		{"DELETE", "/v1/sessions/rotate", "", "", 405, CodeMethodNotAllowed, ""},
		{"PUT", "/v1/sessions/refresh", "", "", 405, CodeMethodNotAllowed, ""},
	} {
		t.Run(fmt.Sprintf("%s %s %q", tc.method, tc.target, tc.auth), func(t *testing.T) {
			w := do(t, s, tc.method, tc.target, tc.body, "Authorization", tc.auth)
			if tc.code != "" {
				wantError(t, w, tc.status, tc.code, "")
			} else if w.Code != tc.status {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body.String(), tc.status)
			}
			if tc.status == 405 && w.Header().Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", w.Header().Get("Allow"))
			}
			// A scheme other than Bearer is told to use Bearer.
			if scheme, _, _ := strings.Cut(tc.auth, " "); tc.status == 401 && scheme == "Basic" &&
				!strings.Contains(w.Body.String(), "must use Bearer") {
				t.Errorf("Basic credentials: %s, want a message saying to use Bearer", w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
		})
	}
}

func TestReadyzShutdown(t *testing.T) {
	s := newTestServer(t, sessiondb.Options{}, nil)
	if w := do(t, s, "GET", "/readyz", ""); w.Code != 200 || w.Body.String() != "{\"status\":\"ok\"}\n" {
		t.Fatalf("readyz = %d %s, want 200", w.Code, w.Body.String())
	}
	s.Shutdown()
	w := wantError(t, do(t, s, "GET", "/readyz", ""), 503, CodeUnavailable, "")
	_ = w
	if w := do(t, s, "GET", "/healthz", ""); w.Code != 200 {
		t.Fatalf("healthz during shutdown = %d, want 200", w.Code)
	}
}

func TestReadyzStoreClosed(t *testing.T) {
	s := newTestServer(t, sessiondb.Options{}, nil)
	if err := s.m.Store().Close(); err != nil {
		t.Fatal(err)
	}
	w := do(t, s, "GET", "/readyz", "")
	wantError(t, w, 503, CodeUnavailable, "")
	if w.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	// Calls fail the same way, never with a 500.
	wantError(t, do(t, s, "POST", "/v1/sessions", `{"user_id":"u"}`), 503, CodeUnavailable, "")
}

func TestToAPIError(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
		field  string
	}{
		{sessiondb.ErrNotFound, 404, CodeNotFound, ""},
		{fmt.Errorf("validate session: %w", sessiondb.ErrNotFound), 404, CodeNotFound, ""},
		{sessiondb.ErrSessionLimit, 409, CodeSessionLimit, ""},
		{&sessiondb.InvalidArgumentError{Field: "metadata", Reason: "too big"}, 400, CodeInvalidArgument, "metadata"},
		{fmt.Errorf("x: %w", sessiondb.ErrInvalidArgument), 400, CodeInvalidArgument, ""},
		{fmt.Errorf("create: %w", sessiondb.ErrStoreFull), 503, CodeUnavailable, ""},
		{fmt.Errorf("create: %w", sessiondb.ErrUnavailable), 503, CodeUnavailable, ""},
		{sessiondb.ErrClosed, 503, CodeUnavailable, ""},
		{context.DeadlineExceeded, 503, CodeUnavailable, ""},
		{fmt.Errorf("create: %w: WRONGPASS", sessiondb.ErrStoreAuth), 500, CodeStoreMisconfigured, ""},
		{errors.New("something unexpected"), 500, CodeInternal, ""},
	} {
		e := toAPIError(tc.err)
		if e.status != tc.status || e.code != tc.code || e.field != tc.field || e.message == "" {
			t.Errorf("toAPIError(%v) = %d %s %q, want %d %s %q", tc.err, e.status, e.code, e.field, tc.status, tc.code, tc.field)
		}
		if e.status >= 500 && e.cause == nil {
			t.Errorf("toAPIError(%v) keeps no cause for the log", tc.err)
		}
	}
}

// TestRetryAfter: only transient failures invite a retry. A store that
// refuses sessiond's credentials answers 500 store_misconfigured without
// Retry-After, so clients do not retry all together.
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		err   error
		retry bool
	}{
		{fmt.Errorf("x: %w", sessiondb.ErrUnavailable), true},
		{fmt.Errorf("x: %w", sessiondb.ErrStoreFull), true},
		{fmt.Errorf("x: %w: NOPERM", sessiondb.ErrStoreAuth), false},
		{errors.New("a bug"), false},
	} {
		w := httptest.NewRecorder()
		e := writeError(w, tc.err)
		if got := w.Header().Get("Retry-After") != ""; got != tc.retry {
			t.Errorf("%v: %d with Retry-After %q, want a Retry-After: %v", tc.err, e.status, w.Header().Get("Retry-After"), tc.retry)
		}
		if strings.Contains(w.Body.String(), "NOPERM") {
			t.Errorf("%v: the answer %s carries the store's message", tc.err, w.Body)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	m, err := sessiondb.New(memstore.New(), sessiondb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Manager: m, MaxBodyBytes: 300})
	if err != nil {
		t.Fatal(err)
	}
	pad := func(n int) string { // a valid body of exactly n bytes
		b := `{"user_id":"u"}`
		return b[:len(b)-1] + strings.Repeat(" ", n-len(b)) + "}"
	}
	if w := do(t, s, "POST", "/v1/sessions", pad(300)); w.Code != 201 {
		t.Fatalf("a body of exactly the limit: %d %s", w.Code, w.Body.String())
	}
	wantError(t, do(t, s, "POST", "/v1/sessions", pad(301)), 413, CodeTooLarge, "")
	// Without a Content-Length (chunked), the limit holds all the same.
	req := strings.NewReader(pad(5000))
	r, _ := http.NewRequest("POST", "/v1/sessions", struct{ *strings.Reader }{req})
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	wantError(t, w, 413, CodeTooLarge, "")
}

func TestMetricsExposed(t *testing.T) {
	met := metrics.New("test")
	m, err := sessiondb.New(met.InstrumentStore(memstore.New()), sessiondb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	met.RegisterStats(m, 0, 0)
	s, err := New(Config{Manager: m, Metrics: met})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := createToken(t, s, "u")
	do(t, s, "POST", "/v1/sessions/validate", `{"token":"`+tok+`"}`)
	do(t, s, "POST", "/v1/sessions/validate", `{"token":"sdb_nope"}`)
	do(t, s, "GET", "/nope", "")
	body := do(t, s, "GET", "/metrics", "").Body.String()
	for _, want := range []string{
		`sessiond_http_requests_total{code="201",method="POST",route="/v1/sessions"} 1`,
		`sessiond_http_requests_total{code="404",method="POST",route="/v1/sessions/validate"} 1`,
		`sessiond_http_requests_total{code="404",method="other",route="unmatched"} 1`,
		`sessiond_http_request_duration_seconds_count{method="POST",route="/v1/sessions/validate"} 2`,
		`sessiond_http_requests_in_flight 1`, // the scrape itself
		`sessiond_sessions_created_total 1`,
		`sessiond_sessions_validated_total{result="valid"} 1`,
		`sessiond_sessions_validated_total{result="invalid"} 1`,
		`sessiond_store_call_duration_seconds_count{op="insert"} 1`,
		`sessiond_store_call_errors_total{op="get",reason="unavailable"} 0`,
		`sessiond_store_sessions_active 1`,
		`sessiond_store_stats_up 1`,
		`sessiond_store_memory_max_bytes 0`,
		`sessiond_cleanup_runs_total{result="ok"} 0`,
		`sessiond_build_info{goversion="`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestUnmatchedLabels: requests that match no route, whatever their path
// and method, add no series: they are counted under route="unmatched",
// method="other".
func TestUnmatchedLabels(t *testing.T) {
	s := newTestServer(t, sessiondb.Options{}, nil)
	for i := range 50 {
		do(t, s, fmt.Sprintf("M%d", i), fmt.Sprintf("/no/such/path/%d", i), "")
		do(t, s, "GET", fmt.Sprintf("/v1/sessions/%d/x", i), "")
		do(t, s, "PUT", "/v1/sessions", "")
	}
	var series []string
	for line := range strings.SplitSeq(do(t, s, "GET", "/metrics", "").Body.String(), "\n") {
		if strings.HasPrefix(line, "sessiond_http_requests_total{") && strings.Contains(line, `route="unmatched"`) {
			series = append(series, line)
		}
	}
	want := []string{
		`sessiond_http_requests_total{code="404",method="other",route="unmatched"} 100`,
		`sessiond_http_requests_total{code="405",method="other",route="unmatched"} 50`,
	}
	if strings.Join(series, "\n") != strings.Join(want, "\n") {
		t.Errorf("unmatched series:\n%s\nwant:\n%s", strings.Join(series, "\n"), strings.Join(want, "\n"))
	}
}

func TestHandlerPanic(t *testing.T) {
	s := newTestServer(t, sessiondb.Options{}, nil)
	rt := Route{Method: "GET", Path: "/panic", handle: func(*Server, http.ResponseWriter, *http.Request) error {
		panic("a bug")
	}}
	s.mux.Handle("GET /panic", s.wrap(rt))
	wantError(t, do(t, s, "GET", "/panic", ""), 500, CodeInternal, "")
}
