package sessiondclient_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/memstore"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// hangUp closes the connection of a request without answering.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// TestRetry: calls that are safe to repeat are tried again after a 503
// (waiting at least its Retry-After) or a lost connection; Create and Rotate
// never are.
func TestRetry(t *testing.T) {
	d := sessiondtest.Start(t, nil)
	ctx := context.Background()
	var faults atomic.Int64 // faults left to inject
	var hang atomic.Bool    // hang up instead of answering 503
	p := newProxy(t, d.URL, func(w http.ResponseWriter, r *http.Request, n int) bool {
		if faults.Add(-1) < 0 {
			return false
		}
		if hang.Load() {
			hangUp(w)
		} else {
			answer(w, http.StatusServiceUnavailable, "unavailable", "the session store is unavailable; retry later", "1")
		}
		return true
	})
	c := mustNew(t, p.URL, sessiondclient.Options{})
	s, err := c.Create(ctx, "u", 0, nil)
	if err != nil {
		t.Fatal(err)
	}

	// A 503 with Retry-After: 1, then success.
	faults.Store(1)
	start := time.Now()
	before := p.count("/v1/sessions/validate")
	if _, err := c.Validate(ctx, string(s.Token)); err != nil {
		t.Fatalf("Validate after one 503: %v", err)
	}
	if n := p.count("/v1/sessions/validate") - before; n != 2 {
		t.Errorf("Validate after one 503 made %d requests, want 2", n)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("the retry came after %v, before the Retry-After of 1s", waited)
	}

	// A lost connection, then success; for every call that may repeat.
	hang.Store(true)
	for name, call := range map[string]func() error{
		"Validate":       func() error { _, err := c.Validate(ctx, string(s.Token)); return err },
		"Get":            func() error { _, err := c.Get(ctx, s.ID); return err },
		"Refresh":        func() error { _, err := c.Refresh(ctx, string(s.Token), 0); return err },
		"UserSessions":   func() error { _, err := c.UserSessions(ctx, "u"); return err },
		"InvalidateUser": func() error { _, err := c.InvalidateUser(ctx, "nobody", ""); return err },
		"Stats":          func() error { _, err := c.Stats(ctx); return err },
		"Cleanup":        func() error { _, err := c.Cleanup(ctx); return err },
		"Ping":           func() error { return c.Ping(ctx) },
	} {
		faults.Store(1)
		before := len(p.requests())
		if err := call(); err != nil {
			t.Errorf("%s after a lost connection: %v", name, err)
		}
		if n := len(p.requests()) - before; n != 2 {
			t.Errorf("%s after a lost connection made %d requests, want 2", name, n)
		}
	}

	// Create and Rotate are tried once, whatever the failure.
	for _, h := range []bool{false, true} {
		hang.Store(h)
		faults.Store(1)
		before := p.count("/v1/sessions")
		_, err := c.Create(ctx, "u", 0, nil)
		if !errors.Is(err, sessiondb.ErrUnavailable) {
			t.Errorf("Create after a fault (hang up %v) = %v, want ErrUnavailable", h, err)
		}
		if n := p.count("/v1/sessions") - before; n != 1 {
			t.Errorf("Create (hang up %v) made %d requests, want 1: a create is never retried", h, n)
		}
		faults.Store(1)
		before = p.count("/v1/sessions/rotate")
		_, err = c.Rotate(ctx, string(s.Token))
		if !errors.Is(err, sessiondb.ErrUnavailable) {
			t.Errorf("Rotate after a fault (hang up %v) = %v, want ErrUnavailable", h, err)
		}
		if n := p.count("/v1/sessions/rotate") - before; n != 1 {
			t.Errorf("Rotate (hang up %v) made %d requests, want 1", h, n)
		}
		var e *sessiondclient.Error
		if !h && (!errors.As(err, &e) || e.RetryAfter != time.Second || e.Status != 503) {
			t.Errorf("Rotate after a 503 = %#v, want an *Error with status 503 and RetryAfter 1s", err)
		}
	}
	faults.Store(0)
	if _, err := c.Validate(ctx, string(s.Token)); err != nil {
		t.Errorf("the token stopped working: %v", err)
	}
}

// TestRetriesBounded: Retries caps the attempts; negative means one.
func TestRetriesBounded(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		answer(w, http.StatusServiceUnavailable, "unavailable", "the session store is unavailable; retry later", "")
	}))
	t.Cleanup(srv.Close)
	tok := wellFormedToken(t)
	for retries, want := range map[int]int64{0: 1 + sessiondclient.DefaultRetries, -1: 1, 3: 4} {
		c := mustNew(t, srv.URL, sessiondclient.Options{Retries: retries})
		requests.Store(0)
		_, err := c.Validate(context.Background(), tok)
		if !errors.Is(err, sessiondb.ErrUnavailable) {
			t.Errorf("Retries %d: Validate = %v, want ErrUnavailable", retries, err)
		}
		if got := requests.Load(); got != want {
			t.Errorf("Retries %d: %d requests, want %d", retries, got, want)
		}
	}
}

// wellFormedToken returns a token of the right form, made by the library.
func wellFormedToken(t *testing.T) string {
	t.Helper()
	m, err := sessiondb.New(memstore.New(), sessiondb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Create(context.Background(), "u", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(s.Token)
}

// TestErrorAnswers maps every kind of answer, sessiond's and others', to the
// error a caller matches, and says which are retried.
func TestErrorAnswers(t *testing.T) {
	type reply struct {
		status      int
		contentType string
		body        string
		retryAfter  string
	}
	var current atomic.Pointer[reply]
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		rp := current.Load()
		if rp.retryAfter != "" {
			w.Header().Set("Retry-After", rp.retryAfter)
		}
		w.Header().Set("Content-Type", rp.contentType)
		w.WriteHeader(rp.status)
		io.WriteString(w, rp.body)
	}))
	t.Cleanup(srv.Close)
	c := mustNew(t, srv.URL, sessiondclient.Options{Retries: 1})
	tok := wellFormedToken(t)
	apiErr := func(code, message, field string) string {
		b := `{"error":{"code":"` + code + `","message":"` + message + `"`
		if field != "" {
			b += `,"field":"` + field + `"`
		}
		return b + `}}`
	}
	const jsonCT = "application/json"
	for _, tc := range []struct {
		name     string
		reply    reply
		is       error  // the error it must match, or nil for none
		field    string // the InvalidArgumentError's field, when is is ErrInvalidArgument
		requests int64
		text     string // a part of the message
	}{
		{"session not found", reply{404, jsonCT, apiErr("not_found", "session not found", ""), ""}, sessiondb.ErrNotFound, "", 1, "session not found (404 not_found)"},
		{"no such route", reply{404, jsonCT, apiErr("not_found", "no such route; GET /openapi.json describes the API", ""), ""}, nil, "", 1, "base URL"},
		{"method not allowed", reply{405, jsonCT, apiErr("method_not_allowed", "method not allowed; allowed: GET", ""), ""}, nil, "", 1, "base URL"},
		{"invalid argument", reply{400, jsonCT, apiErr("invalid_argument", "invalid metadata: larger than 4096 bytes serialized", "metadata"), ""}, sessiondb.ErrInvalidArgument, "metadata", 1, "invalid metadata: larger than 4096"},
		{"invalid body", reply{400, jsonCT, apiErr("invalid_argument", "malformed JSON at byte 3", ""), ""}, sessiondb.ErrInvalidArgument, "", 1, "malformed JSON"},
		{"too large", reply{413, jsonCT, apiErr("too_large", "the request body is larger than 16384 bytes", ""), ""}, sessiondb.ErrInvalidArgument, "", 1, "16384"},
		{"media type", reply{415, jsonCT, apiErr("unsupported_media_type", "the request body must be application/json", ""), ""}, sessiondb.ErrInvalidArgument, "", 1, "application/json"},
		{"session limit", reply{409, jsonCT, apiErr("session_limit", "the user already holds the maximum number of sessions", ""), ""}, sessiondb.ErrSessionLimit, "", 1, "maximum number"},
		{"unavailable", reply{503, jsonCT, apiErr("unavailable", "the session store is unavailable; retry later", ""), "0"}, sessiondb.ErrUnavailable, "", 2, "retry later"},
		{"internal", reply{500, jsonCT, apiErr("internal", "internal error", ""), ""}, nil, "", 1, "internal error (500 internal)"},
		{"unknown code, 503", reply{503, jsonCT, apiErr("newer_code", "Redis refused the password: check REDIS_PASSWORD", ""), "1"}, sessiondb.ErrUnavailable, "", 1, "check REDIS_PASSWORD (503 newer_code)"},
		{"store misconfigured", reply{500, jsonCT, apiErr("store_misconfigured", "Redis refused the password", ""), ""}, sessiondb.ErrStoreAuth, "", 1, "store_misconfigured"},
		{"unknown code, 500", reply{500, jsonCT, apiErr("newer_code", "something new", ""), ""}, nil, "", 1, "newer_code"},
		{"unknown code, 400", reply{400, jsonCT, apiErr("bad_thing", "bad thing", "user_id"), ""}, sessiondb.ErrInvalidArgument, "user_id", 1, "bad thing"},
		{"unknown code, 401", reply{401, jsonCT, apiErr("key_expired", "the key has expired", ""), ""}, sessiondclient.ErrUnauthorized, "", 1, "key has expired"},
		{"unknown code, 409", reply{409, jsonCT, apiErr("conflict", "something else", ""), ""}, nil, "", 1, "something else"},
		{"proxy 502 page", reply{502, "text/html", "<html>Bad Gateway</html>", ""}, sessiondb.ErrUnavailable, "", 2, "bad gateway (502)"},
		{"proxy 429", reply{429, "text/plain", "slow down", "Wed, 21 Oct 2015 07:28:00 GMT"}, sessiondb.ErrUnavailable, "", 2, "too many requests"},
		{"proxy 403", reply{403, "text/html", "<html>denied</html>", ""}, sessiondclient.ErrForbidden, "", 1, "forbidden"},
		{"plain HTTP to HTTPS", reply{400, "text/plain", "Client sent an HTTP request to an HTTPS server.", ""}, nil, "", 1, "right scheme"},
		{"not JSON at all", reply{200, "text/html", "<html>hello</html>", ""}, nil, "", 1, "malformed answer"},
	} {
		current.Store(&tc.reply)
		requests.Store(0)
		_, err := c.Validate(context.Background(), tok)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, s := range []error{sessiondb.ErrNotFound, sessiondb.ErrInvalidArgument, sessiondb.ErrSessionLimit,
			sessiondb.ErrUnavailable, sessiondclient.ErrUnauthorized, sessiondclient.ErrForbidden} {
			if got, want := errors.Is(err, s), s == tc.is; got != want {
				t.Errorf("%s: errors.Is(%v, %v) = %v, want %v", tc.name, err, s, got, want)
			}
		}
		if tc.is == sessiondb.ErrInvalidArgument {
			var inv *sessiondb.InvalidArgumentError
			if !errors.As(err, &inv) || inv.Field != tc.field {
				t.Errorf("%s: %v, want an *InvalidArgumentError for field %q", tc.name, err, tc.field)
			}
		}
		if got := requests.Load(); got != tc.requests {
			t.Errorf("%s: %d requests, want %d", tc.name, got, tc.requests)
		}
		if !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %q does not say %q", tc.name, err, tc.text)
		}
		noSecret(t, tc.name, err, tok)
	}
}

// TestRedisOutage: with a real sessiond whose Redis stops, calls fail with
// ErrUnavailable and the Retry-After sessiond sends; a call that may repeat
// succeeds once Redis is back, within its retries.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	d := sessiondtest.Start(t, map[string]string{"REDIS_URL": srv.URL(), "REDIS_TIMEOUT_MS": "500"})
	ctx := context.Background()
	once := mustNew(t, d.URL, sessiondclient.Options{Retries: -1})
	if err := once.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	srv.Stop()
	for name, call := range map[string]func() error{
		"Ping":   func() error { return once.Ping(ctx) },
		"Create": func() error { _, err := once.Create(ctx, "u", 0, nil); return err },
		"Stats":  func() error { _, err := once.Stats(ctx); return err },
	} {
		err := call()
		var e *sessiondclient.Error
		if !errors.Is(err, sessiondb.ErrUnavailable) || !errors.As(err, &e) || e.RetryAfter != time.Second {
			t.Errorf("%s with Redis down = %v, want ErrUnavailable with RetryAfter 1s", name, err)
		}
	}

	patient := mustNew(t, d.URL, sessiondclient.Options{Retries: 30, Timeout: time.Minute})
	failedProbes := strings.Count(d.Log(), "status=503")
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		time.Sleep(300 * time.Millisecond)
		srv.Restart()
	}()
	err := patient.Ping(ctx)
	<-restarted
	if err != nil {
		t.Fatalf("Ping across the outage: %v", err)
	}
	if strings.Count(d.Log(), "status=503") == failedProbes {
		t.Errorf("Ping never met the outage: the test did not exercise a retry")
	}
	if _, err := patient.Create(ctx, "u", 0, nil); err != nil {
		t.Errorf("Create after the outage: %v", err)
	}
}
