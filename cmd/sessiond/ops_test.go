package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/internal/redistest"
)

// startSlowRequest opens a connection and sends a create request whose body
// stops halfway, then waits until sessiond is serving it. It returns the
// connection and the rest of the body.
func startSlowRequest(t *testing.T, d *daemon) (net.Conn, string) {
	t.Helper()
	conn, err := net.Dial("tcp", d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := `{"user_id":"in-flight"}`
	if _, err := fmt.Fprintf(conn, "POST /v1/sessions HTTP/1.1\r\nHost: sessiond\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:8]); err != nil {
		t.Fatal(err)
	}
	// The scrape counts itself: 2 means the slow request is in a handler.
	eventually(t, 10*time.Second, "the slow request reaches its handler", func() bool {
		v, _ := metric(string(d.do("GET", "/metrics", "").Body), "sessiond_http_requests_in_flight")
		return v == 2
	})
	d.client.CloseIdleConnections()
	return conn, body[8:]
}

// TestGracefulShutdown cancels run's context (what SIGTERM does) while a
// request is in flight: the listener closes, the request completes, and run
// returns nil.
func TestGracefulShutdown(t *testing.T) {
	stores(t, nil, func(t *testing.T, env map[string]string) {
		d := startDaemonErr(t, env)
		conn, rest := startSlowRequest(t, d)

		d.cancel()
		eventually(t, 10*time.Second, "the listener closes", func() bool {
			c, err := net.DialTimeout("tcp", d.Addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err != nil
		})
		select {
		case err := <-d.done:
			t.Fatalf("run returned (%v) with a request in flight", err)
		case <-time.After(100 * time.Millisecond):
		}

		if _, err := io.WriteString(conn, rest); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("the in-flight request got no answer: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a := answer{Status: resp.StatusCode, Header: resp.Header, Body: b}
		if s := a.want(t, 201).session(t, true); s.UserID != "in-flight" {
			t.Errorf("in-flight create = %+v", s)
		}
		if err := d.Stop(); err != nil {
			t.Fatalf("run = %v after a graceful shutdown, want nil", err)
		}
		logs := d.Logs.String()
		for _, msg := range []string{`"msg":"shutting down"`, `"msg":"stopped"`} {
			if !strings.Contains(logs, msg) {
				t.Errorf("logs lack %s", msg)
			}
		}
	})
}

// TestShutdownGraceExpires checks that a request that outlives the grace
// period is cut and run reports it.
func TestShutdownGraceExpires(t *testing.T) {
	d := startDaemonErr(t, map[string]string{"SESSIOND_SHUTDOWN_GRACE_SECONDS": "1"})
	startSlowRequest(t, d)
	start := time.Now()
	err := d.Stop()
	if err == nil || !strings.Contains(err.Error(), "grace period") {
		t.Fatalf("run = %v, want an error about the grace period", err)
	}
	t.Logf("run returned %v after the end of its context", time.Since(start).Round(time.Millisecond))
}

// TestReadinessFollowsRedis stops redis-server: /readyz and the API answer
// 503 while /healthz stays 200; once redis-server is back on the same port
// everything answers again.
func TestReadinessFollowsRedis(t *testing.T) {
	srv := redistest.Start(t)
	d := startDaemon(t, map[string]string{"REDIS_URL": srv.URL(), "REDIS_TIMEOUT_MS": "500"})
	d.do("GET", "/readyz", "").want(t, 200)
	s := d.create(t, "u", "")

	srv.Stop()
	start := time.Now()
	eventually(t, 15*time.Second, "/readyz goes 503", func() bool { return d.do("GET", "/readyz", "").Status == 503 })
	t.Logf("readiness went 503 %v after redis-server was killed", time.Since(start).Round(time.Millisecond))
	d.do("GET", "/readyz", "").wantError(t, 503, "unavailable", "")
	d.do("GET", "/healthz", "").want(t, 200)
	d.do("POST", "/v1/sessions", `{"user_id":"u"}`).wantError(t, 503, "unavailable", "")
	d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).wantError(t, 503, "unavailable", "")
	d.do("GET", "/v1/users/u/sessions", "").wantError(t, 503, "unavailable", "")
	d.do("GET", "/v1/stats", "").wantError(t, 503, "unavailable", "")
	// A malformed token needs no store: still 404.
	d.do("POST", "/v1/sessions/validate", `{"token":"nope"}`).wantError(t, 404, "not_found", "")

	srv.Restart()
	start = time.Now()
	eventually(t, 20*time.Second, "/readyz goes 200 again", func() bool { return d.do("GET", "/readyz", "").Status == 200 })
	t.Logf("readiness came back %v after redis-server restarted", time.Since(start).Round(time.Millisecond))
	s = d.create(t, "u", "")
	d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).want(t, 200)
	logs := d.Logs.String()
	for _, msg := range []string{"not ready: the session store does not answer", "ready: the session store answers again"} {
		if !strings.Contains(logs, msg) {
			t.Errorf("logs lack %q", msg)
		}
	}
}

// TestSlowRedis pauses redis-server (SIGSTOP, like a hung server): calls
// fail with 503 within the Redis timeout instead of hanging.
func TestSlowRedis(t *testing.T) {
	srv := redistest.Start(t)
	d := startDaemon(t, map[string]string{"REDIS_URL": srv.URL(), "REDIS_TIMEOUT_MS": "300"})
	s := d.create(t, "u", "")
	srv.Pause()
	defer srv.Resume()
	start := time.Now()
	d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).wantError(t, 503, "unavailable", "")
	t.Logf("validate against a paused redis-server answered 503 after %v", time.Since(start).Round(time.Millisecond))
	d.do("GET", "/readyz", "").wantError(t, 503, "unavailable", "")
	srv.Resume()
	eventually(t, 20*time.Second, "validate works again", func() bool {
		return d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).Status == 200
	})
}

// TestStoreFull sets Redis's maxmemory below its use: creating a session is
// 503 (the store is full), while validating and revoking still work.
func TestStoreFull(t *testing.T) {
	srv := redistest.Start(t)
	d := startDaemon(t, map[string]string{"REDIS_URL": srv.URL()})
	a, b := d.create(t, "u", ""), d.create(t, "u", "")
	if _, err := srv.Do("CONFIG", "SET", "maxmemory", "1"); err != nil {
		t.Fatal(err)
	}
	d.do("POST", "/v1/sessions", `{"user_id":"u"}`).wantError(t, 503, "unavailable", "")
	d.do("POST", "/v1/sessions/rotate", `{"token":"`+a.Token+`"}`).wantError(t, 503, "unavailable", "")
	d.do("POST", "/v1/sessions/validate", `{"token":"`+a.Token+`"}`).want(t, 200)
	d.do("POST", "/v1/sessions/invalidate", `{"token":"`+b.Token+`"}`).want(t, 204)
	d.do("GET", "/v1/users/u/sessions", "").want(t, 200)
	m := string(d.do("GET", "/metrics", "").Body)
	if v, _ := metric(m, `sessiond_store_call_errors_total{op="insert",reason="full"}`); v < 1 {
		t.Errorf("store_call_errors_total{op=insert,reason=full} = %v, want >= 1", v)
	}
	if _, err := srv.Do("CONFIG", "SET", "maxmemory", "0"); err != nil {
		t.Fatal(err)
	}
	d.create(t, "u", "")
}

// TestCleaner checks that the background cleaner runs every
// CLEANUP_INTERVAL_SECONDS and removes expired sessions.
func TestCleaner(t *testing.T) {
	stores(t, map[string]string{"CLEANUP_INTERVAL_SECONDS": "1"}, func(t *testing.T, env map[string]string) {
		d := startDaemon(t, env)
		d.create(t, "u", `,"ttl_seconds":1`)
		var m string
		eventually(t, 20*time.Second, "a cleanup pass removes the expired session", func() bool {
			m = string(d.do("GET", "/metrics", "").Body)
			removed, _ := metric(m, "sessiond_cleanup_removed_total")
			return removed >= 1
		})
		if runs, _ := metric(m, `sessiond_cleanup_runs_total{result="ok"}`); runs < 1 {
			t.Errorf("cleanup_runs_total{result=ok} = %v", runs)
		}
		if st := d.do("GET", "/v1/stats", "").want(t, 200).object(t); st["total_sessions"] != 0.0 {
			t.Errorf("after cleanup: %v, want no session left", st)
		}
	})
}

// TestMetricsEndpoint checks the exported series after some traffic.
func TestMetricsEndpoint(t *testing.T) {
	stores(t, nil, func(t *testing.T, env map[string]string) {
		d := startDaemon(t, env)
		s := d.create(t, "u", "")
		d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).want(t, 200)
		d.do("POST", "/v1/sessions/validate", `{"token":"sdb_bad"}`).want(t, 404)
		d.do("POST", "/v1/sessions/refresh", `{"token":"`+s.Token+`"}`).want(t, 200)
		r := d.do("POST", "/v1/sessions/rotate", `{"token":"`+s.Token+`"}`).want(t, 200).session(t, true)
		d.do("POST", "/v1/sessions/invalidate", `{"token":"`+r.Token+`"}`).want(t, 204)
		d.create(t, "u", "")
		d.do("POST", "/v1/cleanup", "").want(t, 200)
		m := string(d.do("GET", "/metrics", "").want(t, 200).Body)
		for series, want := range map[string]float64{
			`sessiond_http_requests_total{code="201",method="POST",route="/v1/sessions"}`:          2,
			`sessiond_http_requests_total{code="404",method="POST",route="/v1/sessions/validate"}`: 1,
			`sessiond_http_request_duration_seconds_count{method="POST",route="/v1/sessions"}`:     2,
			`sessiond_sessions_created_total`:                                                      2,
			`sessiond_sessions_validated_total{result="valid"}`:                                    1,
			`sessiond_sessions_validated_total{result="invalid"}`:                                  1,
			`sessiond_sessions_refreshed_total`:                                                    1,
			`sessiond_sessions_rotated_total`:                                                      1,
			`sessiond_sessions_invalidated_total`:                                                  1,
			`sessiond_cleanup_runs_total{result="ok"}`:                                             1,
			`sessiond_store_sessions_active`:                                                       1,
			`sessiond_store_sessions_created_total`:                                                2,
			`sessiond_store_sessions_invalidated_total`:                                            1,
			`sessiond_store_sessions_evicted_total`:                                                0,
			`sessiond_store_stats_up`:                                                              1,
		} {
			if got, ok := metric(m, series); !ok || got != want {
				t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
			}
		}
		for _, series := range []string{
			`sessiond_store_call_duration_seconds_count{op="insert"}`,
			`sessiond_store_call_duration_seconds_count{op="get"}`,
			`sessiond_store_memory_used_bytes`, `sessiond_store_memory_max_bytes`,
			`sessiond_http_requests_in_flight`, `sessiond_build_info{goversion="`,
		} {
			if !strings.Contains(m, series) {
				t.Errorf("metrics lack %s", series)
			}
		}
		if _, redis := env["REDIS_URL"]; redis {
			if used, _ := metric(m, "sessiond_store_memory_used_bytes"); used <= 0 {
				t.Errorf("memory_used_bytes = %v on Redis, want > 0", used)
			}
		}
	})
}

// startShippedRedis runs redis-server from deploy/redis/redis.conf with the
// shipped ACL (development passwords: sessiond-dev-password and so on).
func startShippedRedis(t *testing.T) *redistest.Server {
	t.Helper()
	conf, err := filepath.Abs(filepath.Join("..", "..", "deploy", "redis", "redis.conf"))
	if err != nil {
		t.Fatal(err)
	}
	acl := filepath.Join(filepath.Dir(conf), "users.acl")
	return redistest.StartFromConf(t, conf, t.TempDir(), "--aclfile", acl)
}

// TestRedisRefusesAccess: a wrong password, or no login where the shipped ACL
// wants one, is reported at start-up in one line naming the Redis user and
// the setting to check; /readyz answers 503 with the cause; calls answer 500
// store_misconfigured without Retry-After, so that clients do not retry a
// configuration error.
func TestRedisRefusesAccess(t *testing.T) {
	srv := startShippedRedis(t)
	wrong := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(wrong, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		user string
		want []string // in the start-up error line
	}{
		{"wrong password", map[string]string{"REDIS_USERNAME": "sessiond", "REDIS_PASSWORD_FILE": wrong},
			"sessiond", []string{`user "sessiond"`, "WRONGPASS", "REDIS_USERNAME", "REDIS_PASSWORD_FILE (" + wrong + ")"}},
		{"no user", map[string]string{}, "default", []string{`user "default"`, "NOAUTH", "REDIS_USERNAME=sessiond"}},
		{"a user without the rights", map[string]string{"REDIS_USERNAME": "probe", "REDIS_PASSWORD": "probe-dev-password"},
			"probe", []string{`user "probe"`, "NOPERM", "REDIS_USERNAME=sessiond"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["REDIS_HOST"], tc.env["REDIS_PORT"] = "127.0.0.1", strconv.Itoa(srv.Port)
			d := startDaemon(t, tc.env)
			var startErr map[string]any
			eventually(t, 10*time.Second, "the start-up error line", func() bool {
				for _, l := range logLines(t, d.Logs.String()) {
					if l["level"] == "ERROR" && strings.HasPrefix(l["msg"].(string), "the session store refuses access") {
						startErr = l
						return true
					}
				}
				return false
			})
			for _, w := range tc.want {
				if !strings.Contains(startErr["msg"].(string), w) {
					t.Errorf("start-up line %q does not say %q", startErr["msg"], w)
				}
			}
			for _, l := range logLines(t, d.Logs.String()) {
				if l["msg"] == "listening" && l["redis_user"] != tc.user {
					t.Errorf("listening line names redis_user %v, want %q", l["redis_user"], tc.user)
				}
			}

			ready := d.do("GET", "/readyz", "")
			ready.wantError(t, 503, "store_misconfigured", "")
			if !strings.Contains(string(ready.Body), `redis user \"`+tc.user+`\"`) {
				t.Errorf("/readyz %s does not name the cause", ready.Body)
			}
			d.do("GET", "/healthz", "").want(t, 200)
			for _, a := range []answer{
				ready,
				d.do("POST", "/v1/sessions", `{"user_id":"u"}`),
				d.do("GET", "/v1/sessions/0a3Xq1d9vVb2mWw7tHk", ""),
				d.do("GET", "/v1/users/u/sessions", ""),
			} {
				if a.Status != 503 {
					a.wantError(t, 500, "store_misconfigured", "")
				}
				if ra := a.Header.Get("Retry-After"); ra != "" {
					t.Errorf("%d %s with Retry-After %q: a configuration error is not worth retrying", a.Status, a.Body, ra)
				}
			}
			m := string(d.do("GET", "/metrics", "").Body)
			if v, _ := metric(m, `sessiond_store_call_errors_total{op="insert",reason="auth"}`); v != 1 {
				t.Errorf(`store_call_errors_total{op="insert",reason="auth"} = %v, want 1`, v)
			}
		})
	}
}
