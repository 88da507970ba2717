package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/internal/redistest"
)

// syncBuffer is a log sink the test reads while run writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemon is a sessiond started by run() on a free loopback port.
type daemon struct {
	t      *testing.T
	URL    string
	Addr   string
	Logs   *syncBuffer
	Key    string // sent as the bearer key unless a request says otherwise
	client *http.Client
	cancel context.CancelFunc
	done   chan error

	stopOnce sync.Once
	stopErr  error
}

// startDaemon runs sessiond with env (over test defaults: 127.0.0.1:0, JSON
// logs at debug level) and args, waits until it listens, and stops it when
// the test ends, failing the test if run does not return nil then.
func startDaemon(t *testing.T, env map[string]string, args ...string) *daemon {
	t.Helper()
	d := startDaemonErr(t, env, args...)
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("run returned %v at shutdown, want nil", err)
		}
	})
	return d
}

// startDaemonErr is startDaemon without the check of run's result.
func startDaemonErr(t *testing.T, env map[string]string, args ...string) *daemon {
	t.Helper()
	all := map[string]string{
		"SESSIOND_ADDR":       "127.0.0.1:0",
		"SESSIOND_LOG_FORMAT": "json",
		"SESSIOND_LOG_LEVEL":  "debug",
	}
	maps.Copy(all, env)
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{t: t, Logs: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { d.done <- run(ctx, args, func(k string) string { return all[k] }, io.Discard, d.Logs) }()
	t.Cleanup(func() { d.Stop() })

	deadline := time.Now().Add(20 * time.Second)
	for d.URL == "" {
		select {
		case err := <-d.done:
			t.Fatalf("run returned before listening: %v\n%s", err, d.Logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessiond did not start listening:\n%s", d.Logs)
		}
		d.Addr, d.URL = listeningAddr(t, d.Logs.String())
		time.Sleep(5 * time.Millisecond)
	}
	d.client = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // tests' self-signed certificates
		},
	}
	t.Cleanup(d.client.CloseIdleConnections)
	return d
}

// Stop cancels run's context and returns its result.
func (d *daemon) Stop() error {
	d.stopOnce.Do(func() {
		d.cancel()
		select {
		case d.stopErr = <-d.done:
		case <-time.After(60 * time.Second):
			d.t.Errorf("run did not return within 60s of its context's end")
		}
	})
	return d.stopErr
}

// listeningAddr finds the address and URL in the "listening" log line, in
// the JSON or the text format.
func listeningAddr(t *testing.T, logs string) (addr, url string) {
	t.Helper()
	if strings.HasPrefix(logs, "{") {
		for _, line := range logLines(t, logs) {
			if line["msg"] == "listening" {
				addr, _ = line["addr"].(string)
				url, _ = line["url"].(string)
			}
		}
		return addr, url
	}
	for line := range strings.SplitSeq(logs, "\n") {
		if !strings.Contains(line, " msg=listening ") {
			continue
		}
		for field := range strings.FieldsSeq(line) {
			if v, ok := strings.CutPrefix(field, "addr="); ok {
				addr = v
			}
			if v, ok := strings.CutPrefix(field, "url="); ok {
				url = v
			}
		}
	}
	return addr, url
}

// logLines parses JSON log output, one object a line.
func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// answer is an HTTP answer, read whole.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request; body is sent as application/json unless a
// Content-Type header is given. hdr is name, value pairs; an empty value
// removes the header (e.g. "Authorization", "").
func (d *daemon) do(method, path, body string, hdr ...string) answer {
	d.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, d.URL+path, r)
	if err != nil {
		d.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if d.Key != "" {
		req.Header.Set("Authorization", "Bearer "+d.Key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := d.client.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// want fails the test unless the answer has the given status.
func (a answer) want(t *testing.T, status int) answer {
	t.Helper()
	if a.Status != status {
		t.Fatalf("got %d %s, want %d", a.Status, a.Body, status)
	}
	return a
}

// wantError checks an error answer: status, code, field, and exactly the
// error shape {"error": {"code", "message"[, "field"]}}.
func (a answer) wantError(t *testing.T, status int, code, field string) {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(a.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("got %d %q: not the error shape: %v", a.Status, a.Body, err)
	}
	if a.Status != status || e.Error.Code != code || e.Error.Field != field || e.Error.Message == "" {
		t.Fatalf("got %d %s, want %d code %q field %q", a.Status, a.Body, status, code, field)
	}
	if ct := a.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	switch status {
	case 401:
		if !strings.HasPrefix(a.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("401 without a Bearer challenge: %q", a.Header.Get("WWW-Authenticate"))
		}
	case 405:
		if a.Header.Get("Allow") == "" {
			t.Fatal("405 without Allow")
		}
	case 503:
		n, err := strconv.Atoi(a.Header.Get("Retry-After"))
		if retry := code == "unavailable"; retry != (err == nil && n >= 1) {
			t.Fatalf("503 %s with Retry-After %q", code, a.Header.Get("Retry-After"))
		}
	}
}

// object decodes the answer as a JSON object.
func (a answer) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.Body, &m); err != nil {
		t.Fatalf("answer %q: %v", a.Body, err)
	}
	return m
}

// session is the API's session object, with the token of create and rotate.
type session struct {
	ID         string            `json:"id"`
	UserID     string            `json:"user_id"`
	CreatedAt  time.Time         `json:"created_at"`
	ExpiresAt  time.Time         `json:"expires_at"`
	LastSeenAt time.Time         `json:"last_seen_at"`
	Metadata   map[string]string `json:"metadata"`
	Token      string            `json:"token"`
}

var sessionFields = []string{"id", "user_id", "created_at", "expires_at", "last_seen_at", "metadata"}

// session checks that the answer is exactly a session object (with a token
// when withToken) and decodes it.
func (a answer) session(t *testing.T, withToken bool) session {
	t.Helper()
	raw := a.object(t)
	want := sessionFields
	if withToken {
		want = append(want[:len(want):len(want)], "token")
	}
	if len(raw) != len(want) {
		t.Fatalf("session %s: want exactly the fields %v", a.Body, want)
	}
	for _, f := range want {
		if _, ok := raw[f]; !ok {
			t.Fatalf("session %s: no %s", a.Body, f)
		}
	}
	for _, f := range []string{"created_at", "expires_at", "last_seen_at"} {
		s, _ := raw[f].(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil || !strings.HasSuffix(s, "Z") {
			t.Fatalf("session %s: %s is not RFC 3339 in UTC", a.Body, f)
		}
	}
	if _, ok := raw["metadata"].(map[string]any); !ok {
		t.Fatalf("session %s: metadata is not an object", a.Body)
	}
	var s session
	if err := json.Unmarshal(a.Body, &s); err != nil {
		t.Fatal(err)
	}
	if withToken && !strings.HasPrefix(s.Token, "sdb_") {
		t.Fatalf("session %s: no token", a.Body)
	}
	return s
}

// create makes a session through the API.
func (d *daemon) create(t *testing.T, userID string, extra string) session {
	t.Helper()
	body := `{"user_id":` + jsonString(userID) + extra + `}`
	a := d.do("POST", "/v1/sessions", body).want(t, 201)
	s := a.session(t, true)
	if loc := a.Header.Get("Location"); loc != "/v1/sessions/"+s.ID {
		t.Fatalf("Location %q, want /v1/sessions/%s", loc, s.ID)
	}
	return s
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// stores runs f against the embedded store and against a fresh
// redis-server, with env added to both.
func stores(t *testing.T, env map[string]string, f func(t *testing.T, env map[string]string)) {
	t.Run("memory", func(t *testing.T) {
		f(t, maps.Clone(env))
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		e := maps.Clone(env)
		if e == nil {
			e = map[string]string{}
		}
		e["REDIS_URL"] = srv.URL()
		f(t, e)
	})
}

// metric returns the value of one series of a Prometheus text exposition,
// e.g. `sessiond_sessions_created_total` or `x{a="b"}`, and whether it is there.
func metric(exposition, series string) (float64, bool) {
	for line := range strings.SplitSeq(exposition, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// eventually polls cond every 20ms for up to limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
