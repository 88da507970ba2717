package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/internal/redistest"
)

// TestAuthKeys runs the access rules over HTTP with keys from the
// environment and from a file.
func TestAuthKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("# keys of the staging services\napp:file-app-key-0001-0123456789\n\nadmin:file-admin-key-0001-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string]map[string]string{
		"env":  {"SESSIOND_API_KEYS": "app:env-app-key-0001-0123456789,admin:env-admin-key-0001-0123456789"},
		"file": {"SESSIOND_API_KEYS_FILE": file},
	} {
		t.Run(name, func(t *testing.T) {
			d := startDaemon(t, env)
			app, admin := name+"-app-key-0001-0123456789", name+"-admin-key-0001-0123456789"
			auth := func(key string) []string { return []string{"Authorization", "Bearer " + key} }
			body := `{"user_id":"u"}`

			d.do("POST", "/v1/sessions", body).wantError(t, 401, "unauthenticated", "")
			d.do("POST", "/v1/sessions", body, auth("wrong")...).wantError(t, 401, "unauthenticated", "")
			d.do("POST", "/v1/sessions", body, auth(app+"x")...).wantError(t, 401, "unauthenticated", "")
			d.do("POST", "/v1/sessions", body, "Authorization", "Basic "+app).wantError(t, 401, "unauthenticated", "")
			d.do("GET", "/v1/stats", "").wantError(t, 401, "unauthenticated", "")

			s := d.do("POST", "/v1/sessions", body, auth(app)...).want(t, 201).session(t, true)
			for _, c := range []struct{ method, path, body string }{
				{"POST", "/v1/sessions/validate", `{"token":"` + s.Token + `"}`},
				{"POST", "/v1/sessions/refresh", `{"token":"` + s.Token + `"}`},
				{"GET", "/v1/sessions/" + s.ID, ""},
				{"GET", "/v1/users/u/sessions", ""},
			} {
				d.do(c.method, c.path, c.body).wantError(t, 401, "unauthenticated", "")
				d.do(c.method, c.path, c.body, auth(app)...).want(t, 200)
				d.do(c.method, c.path, c.body, auth(admin)...).want(t, 200)
			}
			d.do("GET", "/v1/stats", "", auth(app)...).wantError(t, 403, "permission_denied", "")
			d.do("POST", "/v1/cleanup", "", auth(app)...).wantError(t, 403, "permission_denied", "")
			d.do("GET", "/v1/stats", "", auth(admin)...).want(t, 200)
			d.do("POST", "/v1/cleanup", "", auth(admin)...).want(t, 200)
			d.do("DELETE", "/v1/users/u/sessions", "", auth(app)...).want(t, 200)
			for _, p := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
				d.do("GET", p, "").want(t, 200)
			}
			logs := d.Logs.String()
			if !strings.Contains(logs, `"msg":"API keys loaded","app":1,"admin":1`) {
				t.Errorf("no startup line about the keys:\n%s", logs)
			}
			if strings.Contains(logs, "no API keys configured") {
				t.Error("warned about missing keys with keys configured")
			}
		})
	}
}

// TestNoKeysLoopbackOnly: without keys, sessiond serves on loopback and says
// so; on any other address it refuses to start.
func TestNoKeysLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "127.0.0.2:0"} {
		t.Run(addr, func(t *testing.T) {
			d := startDaemon(t, map[string]string{"SESSIOND_ADDR": addr})
			if !strings.Contains(d.Logs.String(), "no API keys configured") {
				t.Errorf("no warning about running without keys:\n%s", d.Logs)
			}
			d.do("GET", "/v1/stats", "").want(t, 200) // no key: full access
		})
	}
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0"} {
		t.Run(addr, func(t *testing.T) {
			err := runBriefly(t, map[string]string{"SESSIOND_ADDR": addr})
			if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
				t.Fatalf("run on %s without keys = %v, want a refusal", addr, err)
			}
		})
	}
}

// runBriefly runs sessiond with env and returns its error; it fails the
// test if sessiond starts serving instead.
func runBriefly(t *testing.T, env map[string]string, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	logs := &syncBuffer{}
	err := run(ctx, args, func(k string) string { return env[k] }, io.Discard, logs)
	if strings.Contains(logs.String(), "listening") {
		t.Fatalf("sessiond started serving:\n%s", logs)
	}
	return err
}

// TestStartupRefusals checks that bad settings stop sessiond at startup with
// a clear message that quotes no secret.
func TestStartupRefusals(t *testing.T) {
	const secret = "Sup3r-S3cret-Key"
	dir := t.TempDir()
	badFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(badFile, []byte("app:ok-key-0123456789-abcdef\nsuperuser:"+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
		args []string
	}{
		{"short key", map[string]string{"SESSIOND_API_KEYS": "app:" + secret}, "SESSIOND_API_KEYS: entry 1: the key is too short: it must hold at least 128 random bits", nil},
		{"short key in the file", map[string]string{"SESSIOND_API_KEYS_FILE": writeFile(t, "app:"+secret+"\n")}, "line 1: the key is too short", nil},
		{"unknown role", map[string]string{"SESSIOND_API_KEYS": "app:k1-0123456789-abcdefgh,root:" + secret}, "SESSIOND_API_KEYS: entry 2: unknown role", nil},
		{"swapped pair", map[string]string{"SESSIOND_API_KEYS": secret + ":admin"}, "entry 1: unknown role", nil},
		{"no role", map[string]string{"SESSIOND_API_KEYS": secret}, "entry 1: want role:key", nil},
		{"file", map[string]string{"SESSIOND_API_KEYS_FILE": badFile}, "line 2: unknown role", nil},
		{"missing file", map[string]string{"SESSIOND_API_KEYS_FILE": filepath.Join(dir, "none")}, "SESSIOND_API_KEYS_FILE", nil},
		{"cert without key", map[string]string{"SESSIOND_TLS_CERT_FILE": "c.pem"}, "set both or neither", nil},
		{"unreadable cert", map[string]string{"SESSIOND_TLS_CERT_FILE": filepath.Join(dir, "c"), "SESSIOND_TLS_KEY_FILE": filepath.Join(dir, "k")}, "SESSIOND_TLS_CERT_FILE", nil},
		{"bad log format", map[string]string{"SESSIOND_LOG_FORMAT": "xml"}, "SESSIOND_LOG_FORMAT: want text or json", nil},
		{"bad log level", map[string]string{"SESSIOND_LOG_LEVEL": "loud"}, "SESSIOND_LOG_LEVEL", nil},
		{"bad grace", map[string]string{"SESSIOND_SHUTDOWN_GRACE_SECONDS": "-1"}, "SESSIOND_SHUTDOWN_GRACE_SECONDS", nil},
		{"bad body limit", map[string]string{"SESSIOND_MAX_BODY_BYTES": "12"}, "SESSIOND_MAX_BODY_BYTES", nil},
		{"bad addr", map[string]string{"SESSIOND_ADDR": "8080"}, "SESSIOND_ADDR: want host:port", nil},
		{"bad shared setting", map[string]string{"SESSION_TTL_SECONDS": "0"}, "SESSION_TTL_SECONDS", nil},
		// Errors about the listen address name where it came from.
		{"address in use", map[string]string{"SESSIOND_ADDR": busy.Addr().String()}, "SESSIOND_ADDR " + busy.Addr().String() + ": listen tcp", nil},
		{"address in use, by flag", map[string]string{"SESSIOND_ADDR": "127.0.0.1:0"}, "-addr " + busy.Addr().String() + ": listen tcp", []string{"-addr", busy.Addr().String()}},
		{"no keys on a public address, by flag", nil, "no API keys configured and -addr 0.0.0.0:0 is not a loopback address", []string{"-addr", "0.0.0.0:0"}},
		{"no keys on a public address", map[string]string{"SESSIOND_ADDR": "0.0.0.0:0"}, "no API keys configured and SESSIOND_ADDR 0.0.0.0:0 is not", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runBriefly(t, tc.env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run = %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the error quotes the key: %v", err)
			}
		})
	}
}

// TestLogsCarryNoSecrets runs every call, failures included, with canary
// keys and tokens, at debug level in both log formats, and greps the logs
// for them: they must never appear.
func TestLogsCarryNoSecrets(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) { testLogsCarryNoSecrets(t, format) })
	}
}

func testLogsCarryNoSecrets(t *testing.T, format string) {
	const (
		appKey   = "canary-app-key-7f3a9c0d1e2f"
		adminKey = "canary-admin-key-51d0e2a3b4"
		wrongKey = "canary-wrong-key-c4b8aa"
	)
	stores(t, map[string]string{
		"SESSIOND_API_KEYS":   "app:" + appKey + ",admin:" + adminKey,
		"SESSIOND_LOG_FORMAT": format,
	}, func(t *testing.T, env map[string]string) {
		dd := startDaemon(t, env)
		dd.Key = appKey
		var secrets []string
		s := dd.create(t, "canary-user", `,"metadata":{"note":"canary-metadata"}`)
		secrets = append(secrets, s.Token)
		dd.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).want(t, 200)
		dd.do("POST", "/v1/sessions/refresh", `{"token":"`+s.Token+`","ttl_seconds":60}`).want(t, 200)
		r := dd.do("POST", "/v1/sessions/rotate", `{"token":"`+s.Token+`"}`).want(t, 200).session(t, true)
		secrets = append(secrets, r.Token)
		dd.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).want(t, 404)
		dd.do("POST", "/v1/sessions/validate", `{"token":"sdb_canaryMalformedToken"}`).want(t, 404)
		dd.do("POST", "/v1/sessions/validate", `{"token":"`+r.Token+`","canary":1}`).want(t, 400)
		dd.do("POST", "/v1/sessions/validate", `{"token":"`+r.Token+`"`).want(t, 400)
		dd.do("POST", "/v1/sessions/validate", `{"token":"`+r.Token+`"}`, "Content-Type", "text/plain").want(t, 415)
		dd.do("POST", "/v1/sessions/validate", `{"token":"`+r.Token+`"}`, "Authorization", "Bearer "+wrongKey).want(t, 401)
		dd.do("POST", "/v1/sessions/validate", `{"token":"`+r.Token+`"}`, "Authorization", "Basic "+wrongKey).want(t, 401)
		dd.do("GET", "/v1/stats", "", "Authorization", "Bearer "+appKey).want(t, 403)
		dd.do("GET", "/v1/stats", "", "Authorization", "Bearer "+adminKey).want(t, 200)
		dd.do("POST", "/v1/sessions/invalidate", `{"token":"`+r.Token+`"}`).want(t, 204)
		dd.do("POST", "/v1/sessions/invalidate", `{"token":"`+r.Token+`"}`).want(t, 404)
		dd.do("GET", "/v1/sessions/validate?token="+r.Token, "").want(t, 405)
		dd.do("GET", "/nope?token="+r.Token, "").want(t, 404)
		if err := dd.Stop(); err != nil {
			t.Fatal(err)
		}
		all := dd.Logs.String()
		if !strings.Contains(all, "/v1/sessions/validate") || !strings.Contains(all, "401") {
			t.Fatalf("the request lines are missing:\n%s", all)
		}
		hits := 0
		for _, canary := range append(secrets, appKey, adminKey, wrongKey, "canaryMalformedToken", "sdb_") {
			if n := strings.Count(all, canary); n > 0 {
				t.Errorf("the logs hold %q %d times", canary, n)
				hits += n
			}
		}
		for _, s := range secrets { // a token's random part alone
			if strings.Contains(all, s[10:40]) {
				t.Errorf("the logs hold part of a token")
			}
		}
		t.Logf("%s logs: %d lines, %d canary hits", format, strings.Count(all, "\n"), hits)
	})
}

// TestRedisPasswordNotLogged runs against a redis-server with a password,
// given in the URL and as REDIS_PASSWORD, through an outage, and greps the
// logs for the password.
func TestRedisPasswordNotLogged(t *testing.T) {
	const password = "canary-redis-password-93be"
	srv := redistest.Start(t)
	if _, err := srv.Do("CONFIG", "SET", "requirepass", password); err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string]map[string]string{
		"url":  {"REDIS_URL": "redis://:" + password + "@" + srv.Addr()},
		"host": {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": strconv.Itoa(srv.Port), "REDIS_PASSWORD": password},
	} {
		t.Run(name, func(t *testing.T) {
			env["REDIS_TIMEOUT_MS"] = "300"
			d := startDaemon(t, env)
			s := d.create(t, "u", "")
			d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).want(t, 200)
			srv.Pause()
			d.do("GET", "/readyz", "").want(t, 503)
			d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).want(t, 503)
			srv.Resume()
			eventually(t, 20*time.Second, "ready again", func() bool { return d.do("GET", "/readyz", "").Status == 200 })
			if err := d.Stop(); err != nil {
				t.Fatal(err)
			}
			logs := d.Logs.String()
			if !strings.Contains(logs, "not ready") || !strings.Contains(logs, `"code":"unavailable"`) {
				t.Fatalf("the outage is not in the logs:\n%s", logs)
			}
			if strings.Contains(logs, password) {
				t.Fatalf("the logs hold the Redis password:\n%s", logs)
			}
		})
	}
}

// writeFile writes content to a new file and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
