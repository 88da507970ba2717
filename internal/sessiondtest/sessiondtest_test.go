package sessiondtest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/internal/sessiondtest"
)

// get does one GET with an optional API key and returns the status and body.
func get(t *testing.T, url, key string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestStartEmbedded(t *testing.T) {
	d := sessiondtest.Start(t, nil)
	if !strings.HasPrefix(d.URL, "http://127.0.0.1:") || strings.HasSuffix(d.URL, ":0") {
		t.Fatalf("URL = %q, want http://127.0.0.1:<port>", d.URL)
	}
	if d.AppKey != "" || d.AdminKey != "" {
		t.Errorf("keys = %q, %q after Start, want none", d.AppKey, d.AdminKey)
	}
	if code, body := get(t, d.URL+"/v1/stats", ""); code != http.StatusOK {
		t.Errorf("GET /v1/stats without keys configured = %d %s, want 200", code, body)
	}
	if !strings.Contains(d.Log(), "store=memory") && !strings.Contains(d.Log(), "memory") {
		t.Errorf("log does not name the embedded store:\n%s", d.Log())
	}
	d.Stop()
	d.Stop() // twice is fine
	if _, err := http.Get(d.URL + "/healthz"); err == nil {
		t.Errorf("GET /healthz after Stop worked, want a connection error")
	}
	if !strings.Contains(d.Log(), "stopped") {
		t.Errorf("log has no graceful stop:\n%s", d.Log())
	}
}

func TestStartWithKeysJSONLog(t *testing.T) {
	d := sessiondtest.StartWithKeys(t, map[string]string{"SESSIOND_LOG_FORMAT": "json"})
	if d.AppKey == "" || d.AdminKey == "" || d.AppKey == d.AdminKey {
		t.Fatalf("keys = %q, %q, want two different keys", d.AppKey, d.AdminKey)
	}
	for _, c := range []struct {
		key  string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"wrong", http.StatusUnauthorized},
		{d.AppKey, http.StatusForbidden},
		{d.AdminKey, http.StatusOK},
	} {
		if code, body := get(t, d.URL+"/v1/stats", c.key); code != c.want {
			t.Errorf("GET /v1/stats with key %.5q... = %d %s, want %d", c.key, code, body, c.want)
		}
	}
	if strings.Contains(d.Log(), d.AppKey) || strings.Contains(d.Log(), d.AdminKey) {
		t.Errorf("sessiond's log holds an API key")
	}
}

func TestStartRedis(t *testing.T) {
	srv := redistest.Start(t)
	d := sessiondtest.Start(t, map[string]string{"REDIS_URL": srv.URL(), "SESSION_KEY_PREFIX": "dt:"})
	if !strings.Contains(d.Log(), srv.Addr()) {
		t.Errorf("log does not name Redis at %s:\n%s", srv.Addr(), d.Log())
	}
	if code, body := get(t, d.URL+"/readyz", ""); code != http.StatusOK {
		t.Fatalf("GET /readyz = %d %s", code, body)
	}
	srv.Stop()
	if code, _ := get(t, d.URL+"/readyz", ""); code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with Redis stopped = %d, want 503", code)
	}
}
