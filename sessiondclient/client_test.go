package sessiondclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

func TestNewRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		url  string
		opt  sessiondclient.Options
		want string
	}{
		{"127.0.0.1:8080", sessiondclient.Options{}, "http://host:port"},
		{"ftp://127.0.0.1", sessiondclient.Options{}, "http://host:port"},
		{"http://", sessiondclient.Options{}, "no host"},
		{"http://user:secret@127.0.0.1:8080", sessiondclient.Options{}, "credentials"},
		{"http://127.0.0.1:8080?x=1", sessiondclient.Options{}, "query"},
		{"http://127.0.0.1:8080/#f", sessiondclient.Options{}, "fragment"},
		{"http://[::1", sessiondclient.Options{}, "http://host:port"},
		{"http://127.0.0.1:8080", sessiondclient.Options{APIKey: "two words"}, "APIKey"},
		{"https://127.0.0.1:8080", sessiondclient.Options{CAFile: dir + "/missing.pem"}, "CAFile"},
		{"https://127.0.0.1:8080", sessiondclient.Options{CAFile: writeFile(t, dir, "empty.pem", "not pem")}, "no PEM certificate"},
		{"https://127.0.0.1:8080", sessiondclient.Options{HTTPClient: http.DefaultClient, CAFile: "ca.pem"}, "HTTPClient"},
	} {
		_, err := sessiondclient.New(c.url, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%q, %v) = %v, want an error saying %q", c.url, c.opt, err, c.want)
		}
		noSecret(t, "New", err, "secret", "two words")
	}
	// The zero Options are valid.
	if _, err := sessiondclient.New("http://127.0.0.1:8080/", sessiondclient.Options{}); err != nil {
		t.Errorf("New with zero Options: %v", err)
	}
}

func TestPrintingHidesTheAPIKey(t *testing.T) {
	const key = "app-canary-key-3f9c"
	opt := sessiondclient.Options{APIKey: key, Timeout: time.Second}
	c := mustNew(t, "http://127.0.0.1:1", opt)
	for what, v := range map[string]any{"Options": opt, "*Options": &opt, "Client": c} {
		if s := sprintAll(v); strings.Contains(s, key) || !strings.Contains(s, "[redacted]") {
			t.Errorf("printing %s = %s, want the key redacted", what, s)
		}
	}
}

// TestRequests checks what goes over the wire: tokens only in JSON bodies,
// never in URLs; the API key and User-Agent headers; user ids escaped into
// one path segment; metadata updates sent as the difference.
func TestRequests(t *testing.T) {
	d := sessiondtest.StartWithKeys(t, nil)
	p := newProxy(t, d.URL, nil)
	c := mustNew(t, p.URL, sessiondclient.Options{APIKey: d.AdminKey, UserAgent: "login-service/1.0"})
	ctx := context.Background()

	s, err := c.Create(ctx, "team/alice", time.Hour, map[string]string{"keep": "1", "change": "a", "drop": "x"})
	if err != nil {
		t.Fatal(err)
	}
	tok := string(s.Token)
	if _, err := c.Validate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateMetadata(ctx, tok, func(md map[string]string) error {
		md["change"] = "b"
		md["add"] = "c"
		delete(md, "drop")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateMetadataByID(ctx, s.ID, func(md map[string]string) error { md["by_id"] = "1"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(ctx, tok, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UserSessions(ctx, "team/alice"); err != nil {
		t.Fatal(err)
	}
	r, err := c.Rotate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.InvalidateUser(ctx, "team/alice", r.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Invalidate(ctx, string(r.Token)); err != nil {
		t.Fatal(err)
	}

	var patches []map[string]any
	for _, req := range p.requests() {
		line := req.Method + " " + req.RawPath + "?" + req.RawQuery
		for _, secret := range []string{tok, string(r.Token), d.AdminKey} {
			if strings.Contains(line, secret) {
				t.Errorf("a secret travelled in the URL: %s", line)
			}
		}
		if got := req.Header.Get("Authorization"); got != "Bearer "+d.AdminKey {
			t.Errorf("%s: Authorization = %q, want the API key", line, got)
		}
		if got := req.Header.Get("User-Agent"); got != "login-service/1.0" {
			t.Errorf("%s: User-Agent = %q", line, got)
		}
		if req.Body != "" && req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: Content-Type = %q", line, req.Header.Get("Content-Type"))
		}
		if strings.HasPrefix(req.Path, "/v1/users/") && req.RawPath != "/v1/users/team%2Falice/sessions" {
			t.Errorf("user path = %s, want the user id escaped into one segment", req.RawPath)
		}
		if req.Path == "/v1/sessions/metadata" || req.Method == http.MethodPatch {
			var body struct {
				Metadata map[string]any `json:"metadata"`
			}
			if err := json.Unmarshal([]byte(req.Body), &body); err != nil {
				t.Fatalf("metadata update body: %v", err)
			}
			patches = append(patches, body.Metadata)
		}
	}
	want := []map[string]any{{"change": "b", "add": "c", "drop": nil}, {"by_id": "1"}}
	if len(patches) != 2 || !jsonEqual(patches[0], want[0]) || !jsonEqual(patches[1], want[1]) {
		t.Errorf("metadata patches sent = %v, want only the differences %v", patches, want)
	}
	if n := len(p.requests()); n != 11 { // UpdateMetadata and UpdateMetadataByID read first
		t.Errorf("%d requests, want 11: one per call and a read before each metadata update", n)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestPathPrefix: a sessiond served under a path prefix by a proxy.
func TestPathPrefix(t *testing.T) {
	d := sessiondtest.Start(t, nil)
	target, err := url.Parse(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sessiond/", http.StripPrefix("/sessiond", httputil.NewSingleHostReverseProxy(target)))
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)

	c := mustNew(t, front.URL+"/sessiond/", sessiondclient.Options{})
	ctx := context.Background()
	s, err := c.Create(ctx, "u", 0, nil)
	if err != nil {
		t.Fatalf("Create through a path prefix: %v", err)
	}
	if _, err := c.Validate(ctx, string(s.Token)); err != nil {
		t.Errorf("Validate through a path prefix: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping through a path prefix: %v", err)
	}
}

// TestWrongBaseURL: a base URL that does not lead to sessiond's API must not
// pass for "session not found".
func TestWrongBaseURL(t *testing.T) {
	d := sessiondtest.Start(t, nil)
	good := mustNew(t, d.URL, sessiondclient.Options{})
	s, err := good.Create(context.Background(), "u", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(other.Close)
	for _, base := range []string{d.URL + "/api", other.URL} {
		c := mustNew(t, base, sessiondclient.Options{Retries: -1})
		_, err := c.Validate(context.Background(), string(s.Token))
		if err == nil || errors.Is(err, sessiondb.ErrNotFound) || !strings.Contains(err.Error(), "base URL") {
			t.Errorf("Validate via %s = %v, want an error about the base URL, not ErrNotFound", base, err)
		}
	}
}

// TestTTLWholeSeconds: the API takes whole seconds; a TTL that is not one is
// rounded up, never down to 0 (the default).
func TestTTLWholeSeconds(t *testing.T) {
	d := sessiondtest.Start(t, nil)
	c := mustNew(t, d.URL, sessiondclient.Options{})
	for ttl, want := range map[time.Duration]time.Duration{
		1500 * time.Millisecond: 2 * time.Second,
		time.Nanosecond:         time.Second,
		90 * time.Minute:        90 * time.Minute,
	} {
		s, err := c.Create(context.Background(), "u", ttl, nil)
		if err != nil {
			t.Fatalf("Create(ttl %v): %v", ttl, err)
		}
		if got := s.ExpiresAt.Sub(s.CreatedAt); got != want {
			t.Errorf("Create(ttl %v) lasts %v, want %v", ttl, got, want)
		}
	}
}

// TestWireShape: the session fields come from the API's session object; TTL
// and IdleTimeout, which are not on the wire, stay zero.
func TestWireShape(t *testing.T) {
	d := sessiondtest.Start(t, map[string]string{"SESSION_IDLE_TIMEOUT_SECONDS": "600"})
	c := mustNew(t, d.URL, sessiondclient.Options{})
	s, err := c.Create(context.Background(), "u", time.Hour, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	if s.TTL != 0 || s.IdleTimeout != 0 {
		t.Errorf("TTL, IdleTimeout = %v, %v; want zero: they are not on the wire", s.TTL, s.IdleTimeout)
	}
	if want := s.LastSeenAt.Add(10 * time.Minute); !s.ExpiresAt.Equal(want) || !s.EffectiveExpiry().Equal(want) {
		t.Errorf("ExpiresAt = %v, EffectiveExpiry = %v; want the effective end %v", s.ExpiresAt, s.EffectiveExpiry(), want)
	}
	for _, tm := range []time.Time{s.CreatedAt, s.ExpiresAt, s.LastSeenAt} {
		if tm.Location() != time.UTC || tm.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("time %v: want UTC at millisecond precision", tm)
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := dir + "/" + name
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
