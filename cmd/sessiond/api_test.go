package main

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAPI walks every row of the API table over real HTTP, against the
// embedded store and against Redis.
func TestAPI(t *testing.T) {
	stores(t, map[string]string{"SESSION_TTL_SECONDS": "600", "SESSION_MAX_TTL_SECONDS": "7200"}, func(t *testing.T, env map[string]string) {
		d := startDaemon(t, env)

		t.Run("create", func(t *testing.T) {
			s := d.create(t, "alice", `,"ttl_seconds":120,"metadata":{"ip":"192.0.2.1","user_agent":"curl/8"}`)
			if s.UserID != "alice" || s.Metadata["ip"] != "192.0.2.1" || s.Metadata["user_agent"] != "curl/8" || len(s.Metadata) != 2 {
				t.Errorf("create = %+v", s)
			}
			if got := s.ExpiresAt.Sub(s.CreatedAt); got != 120*time.Second {
				t.Errorf("expires_at - created_at = %v, want the ttl_seconds 120s", got)
			}
			if !s.LastSeenAt.Equal(s.CreatedAt) {
				t.Errorf("last_seen_at %v != created_at %v", s.LastSeenAt, s.CreatedAt)
			}
			if age := time.Since(s.CreatedAt); age < -time.Minute || age > time.Minute {
				t.Errorf("created_at %v is not now", s.CreatedAt)
			}
			// No ttl_seconds: SESSION_TTL_SECONDS; no metadata: {}.
			s = d.create(t, "alice", "")
			if got := s.ExpiresAt.Sub(s.CreatedAt); got != 600*time.Second {
				t.Errorf("default ttl = %v, want 600s", got)
			}
			if s.Metadata == nil || len(s.Metadata) != 0 {
				t.Errorf("metadata = %v, want {}", s.Metadata)
			}
			// A charset parameter is fine.
			d.do("POST", "/v1/sessions", `{"user_id":"alice"}`, "Content-Type", "application/json; charset=utf-8").want(t, 201)
			// The longest ttl is accepted.
			s = d.create(t, "alice", `,"ttl_seconds":7200`)
			if got := s.ExpiresAt.Sub(s.CreatedAt); got != 7200*time.Second {
				t.Errorf("ttl 7200 gave %v", got)
			}
		})

		t.Run("validate", func(t *testing.T) {
			s := d.create(t, "bob", `,"metadata":{"k":"v"}`)
			got := d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).want(t, 200).session(t, false)
			if got.ID != s.ID || got.UserID != "bob" || got.Metadata["k"] != "v" || !got.CreatedAt.Equal(s.CreatedAt) || !got.ExpiresAt.Equal(s.ExpiresAt) {
				t.Errorf("validate = %+v, want %+v", got, s)
			}
			for _, tok := range []string{
				"sdb_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // well-formed, bad checksum
				"sdb_" + strings.Repeat("x", 51), "abc", "", s.Token + "x", s.Token[:len(s.Token)-1], s.ID,
			} {
				d.do("POST", "/v1/sessions/validate", `{"token":`+jsonString(tok)+`}`).wantError(t, 404, "not_found", "")
			}
			d.do("POST", "/v1/sessions/validate", `{}`).wantError(t, 400, "invalid_argument", "token")
			d.do("POST", "/v1/sessions/validate", `{"token":null}`).wantError(t, 400, "invalid_argument", "token")
			d.do("POST", "/v1/sessions/validate", `{"token":42}`).wantError(t, 400, "invalid_argument", "token")
		})

		t.Run("refresh", func(t *testing.T) {
			s := d.create(t, "carol", `,"ttl_seconds":60`)
			got := d.do("POST", "/v1/sessions/refresh", `{"token":"`+s.Token+`","ttl_seconds":3000}`).want(t, 200).session(t, false)
			if got.ID != s.ID || got.ExpiresAt.Sub(got.LastSeenAt) != 3000*time.Second || !got.ExpiresAt.After(s.ExpiresAt) {
				t.Errorf("refresh to 3000s = %+v (was %+v)", got, s)
			}
			// Without ttl_seconds: the session's own TTL again.
			got = d.do("POST", "/v1/sessions/refresh", `{"token":"`+s.Token+`"}`).want(t, 200).session(t, false)
			if got.ExpiresAt.Sub(got.LastSeenAt) != 60*time.Second {
				t.Errorf("refresh without ttl = %+v, want its 60s TTL", got)
			}
			d.do("POST", "/v1/sessions/refresh", `{"token":"`+s.Token+`","ttl_seconds":0}`).wantError(t, 400, "invalid_argument", "ttl_seconds")
			d.do("POST", "/v1/sessions/refresh", `{"token":"`+s.Token+`","ttl_seconds":7201}`).wantError(t, 400, "invalid_argument", "ttl_seconds")
			d.do("POST", "/v1/sessions/refresh", `{"token":"sdb_nope"}`).wantError(t, 404, "not_found", "")
			d.do("POST", "/v1/sessions/refresh", `{"ttl_seconds":10}`).wantError(t, 400, "invalid_argument", "token")
		})

		t.Run("rotate", func(t *testing.T) {
			s := d.create(t, "dave", `,"metadata":{"device":"phone"}`)
			r := d.do("POST", "/v1/sessions/rotate", `{"token":"`+s.Token+`"}`).want(t, 200).session(t, true)
			if r.Token == s.Token || r.ID == s.ID || r.UserID != "dave" || !r.CreatedAt.Equal(s.CreatedAt) || !r.ExpiresAt.Equal(s.ExpiresAt) || r.Metadata["device"] != "phone" {
				t.Errorf("rotate = %+v, from %+v", r, s)
			}
			d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).wantError(t, 404, "not_found", "")
			d.do("POST", "/v1/sessions/rotate", `{"token":"`+s.Token+`"}`).wantError(t, 404, "not_found", "")
			d.do("GET", "/v1/sessions/"+s.ID, "").wantError(t, 404, "not_found", "")
			d.do("POST", "/v1/sessions/validate", `{"token":"`+r.Token+`"}`).want(t, 200)
		})

		t.Run("invalidate", func(t *testing.T) {
			s := d.create(t, "erin", "")
			a := d.do("POST", "/v1/sessions/invalidate", `{"token":"`+s.Token+`"}`).want(t, 204)
			if len(a.Body) != 0 {
				t.Errorf("204 with body %q", a.Body)
			}
			d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).wantError(t, 404, "not_found", "")
			d.do("POST", "/v1/sessions/invalidate", `{"token":"`+s.Token+`"}`).wantError(t, 404, "not_found", "")
			d.do("POST", "/v1/sessions/invalidate", `{"token":"garbage"}`).wantError(t, 404, "not_found", "")
		})

		t.Run("update metadata", func(t *testing.T) {
			s := d.create(t, "mona", `,"metadata":{"ip":"192.0.2.9","theme":"dark"}`)
			// By token: merge, null deletes, other keys stay; no token in the answer.
			got := d.do("POST", "/v1/sessions/metadata", `{"token":"`+s.Token+`","metadata":{"cart":"2","theme":null}}`).want(t, 200).session(t, false)
			if got.ID != s.ID || len(got.Metadata) != 2 || got.Metadata["ip"] != "192.0.2.9" || got.Metadata["cart"] != "2" {
				t.Errorf("metadata by token = %+v", got)
			}
			// By id, also as application/merge-patch+json.
			got = d.do("PATCH", "/v1/sessions/"+s.ID, `{"metadata":{"cart":"3"}}`).want(t, 200).session(t, false)
			if got.Metadata["cart"] != "3" || got.Metadata["ip"] != "192.0.2.9" {
				t.Errorf("PATCH = %+v", got)
			}
			got = d.do("PATCH", "/v1/sessions/"+s.ID, `{"metadata":{"ip":null}}`, "Content-Type", "application/merge-patch+json").want(t, 200).session(t, false)
			if len(got.Metadata) != 1 || got.Metadata["cart"] != "3" {
				t.Errorf("merge-patch+json PATCH = %+v", got)
			}
			if v := d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).want(t, 200).session(t, false); len(v.Metadata) != 1 || v.Metadata["cart"] != "3" {
				t.Errorf("validate after updates = %+v", v)
			}
			// Bad input: named, and nothing changes.
			for _, tc := range []struct{ method, path, body, field string }{
				{"PATCH", "/v1/sessions/" + s.ID, `{}`, "metadata"},
				{"PATCH", "/v1/sessions/" + s.ID, `{"metadata":null}`, "metadata"},
				{"PATCH", "/v1/sessions/" + s.ID, `{"metadata":{"a":1}}`, "metadata"},
				{"PATCH", "/v1/sessions/" + s.ID, `{"metadata":{"":"x"}}`, "metadata"},
				{"PATCH", "/v1/sessions/" + s.ID, `{"metadata":{"big":"` + strings.Repeat("x", 5000) + `"}}`, "metadata"},
				{"PATCH", "/v1/sessions/" + s.ID, `{"metadata":{},"token":"x"}`, ""},
				{"POST", "/v1/sessions/metadata", `{"metadata":{"a":"b"}}`, "token"},
				{"POST", "/v1/sessions/metadata", `{"token":"` + s.Token + `"}`, "metadata"},
				{"POST", "/v1/sessions/metadata", `{"token":"` + s.Token + `","metadata":["a"]}`, "metadata"},
			} {
				d.do(tc.method, tc.path, tc.body).wantError(t, 400, "invalid_argument", tc.field)
			}
			d.do("PATCH", "/v1/sessions/"+s.ID, `{"metadata":{"a":"b"}}`, "Content-Type", "text/plain").wantError(t, 415, "unsupported_media_type", "")
			d.do("POST", "/v1/sessions/metadata", `{"token":"x","metadata":{"a":"b"}}`, "Content-Type", "application/merge-patch+json").wantError(t, 415, "unsupported_media_type", "")
			if v := d.do("GET", "/v1/sessions/"+s.ID, "").want(t, 200).session(t, false); len(v.Metadata) != 1 || v.Metadata["cart"] != "3" {
				t.Errorf("bad updates changed the session: %+v", v)
			}
			// Unknown sessions are 404.
			d.do("POST", "/v1/sessions/metadata", `{"token":"sdb_nope","metadata":{"a":"b"}}`).wantError(t, 404, "not_found", "")
			d.do("PATCH", "/v1/sessions/000AAAAAAAAAAAAAAAA", `{"metadata":{"a":"b"}}`).wantError(t, 404, "not_found", "")
			d.do("GET", "/v1/sessions/metadata", "").wantError(t, 405, "method_not_allowed", "")
		})

		t.Run("get by id", func(t *testing.T) {
			s := d.create(t, "frank", `,"metadata":{"a":"b"}`)
			got := d.do("GET", "/v1/sessions/"+s.ID, "").want(t, 200).session(t, false)
			if got.ID != s.ID || got.UserID != "frank" || got.Metadata["a"] != "b" {
				t.Errorf("get = %+v", got)
			}
			for _, id := range []string{"000AAAAAAAAAAAAAAAA", "nope", "zzzAAAAAAAAAAAAAAAA", s.ID + "A", url.PathEscape(s.Token), "%00", "..."} {
				d.do("GET", "/v1/sessions/"+id, "").wantError(t, 404, "not_found", "")
			}
		})

		t.Run("delete by id", func(t *testing.T) {
			s := d.create(t, "grace", "")
			d.do("DELETE", "/v1/sessions/"+s.ID, "").want(t, 204)
			d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).wantError(t, 404, "not_found", "")
			d.do("DELETE", "/v1/sessions/"+s.ID, "").wantError(t, 404, "not_found", "")
			d.do("DELETE", "/v1/sessions/bad-id", "").wantError(t, 404, "not_found", "")
		})

		t.Run("list user sessions", func(t *testing.T) {
			var ids []string
			for range 3 {
				ids = append(ids, d.create(t, "heidi", "").ID)
				time.Sleep(2 * time.Millisecond) // distinct creation times
			}
			gone := d.create(t, "heidi", "")
			d.do("DELETE", "/v1/sessions/"+gone.ID, "").want(t, 204)
			list := listSessions(t, d, "heidi")
			slices.Reverse(ids) // newest first
			if got := sessionIDs(list); !slices.Equal(got, ids) {
				t.Errorf("list = %v, want %v (live only, newest first)", got, ids)
			}
			if got := listSessions(t, d, "nobody"); len(got) != 0 {
				t.Errorf("unknown user: %v, want []", got)
			}
			if a := d.do("GET", "/v1/users/nobody/sessions", ""); string(a.Body) != "{\"sessions\":[]}\n" {
				t.Errorf("unknown user: %s, want {\"sessions\":[]}", a.Body)
			}
			// Path user ids are URL-decoded and follow the body's rules.
			for _, user := range []string{"team/ivan", "a b", "ü日本", "x?y#z", "%41", ".", "..", strings.Repeat("u", 256)} {
				s := d.create(t, user, "")
				list := listSessions(t, d, user)
				if len(list) != 1 || list[0].ID != s.ID || list[0].UserID != user {
					t.Errorf("user %q: list = %+v", user, list)
				}
			}
			// Dot segments must be percent-encoded, as RFC 3986 clients
			// remove them: unencoded, they name no route.
			d.do("GET", "/v1/users/./sessions", "").wantError(t, 404, "not_found", "")
			for _, bad := range []string{url.PathEscape(strings.Repeat("u", 257)), "a%00b", "%0A", "%1F", "%7F", "%FF", ""} {
				d.do("GET", "/v1/users/"+bad+"/sessions", "").wantError(t, 400, "invalid_argument", "user_id")
				d.do("DELETE", "/v1/users/"+bad+"/sessions", "").wantError(t, 400, "invalid_argument", "user_id")
			}
		})

		t.Run("revoke user sessions", func(t *testing.T) {
			keep := d.create(t, "judy", "")
			others := []session{d.create(t, "judy", ""), d.create(t, "judy", "")}
			bystander := d.create(t, "mallory", "")
			a := d.do("DELETE", "/v1/users/judy/sessions?except="+keep.ID, "").want(t, 200)
			if string(a.Body) != "{\"invalidated\":2}\n" {
				t.Errorf("revoke with except = %s, want {\"invalidated\":2}", a.Body)
			}
			for _, s := range others {
				d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).wantError(t, 404, "not_found", "")
			}
			d.do("POST", "/v1/sessions/validate", `{"token":"`+keep.Token+`"}`).want(t, 200)
			d.do("POST", "/v1/sessions/validate", `{"token":"`+bystander.Token+`"}`).want(t, 200)
			if got := d.do("DELETE", "/v1/users/judy/sessions", "").want(t, 200).object(t)["invalidated"]; got != 1.0 {
				t.Errorf("revoke all = %v, want 1", got)
			}
			if got := d.do("DELETE", "/v1/users/judy/sessions", "").want(t, 200).object(t)["invalidated"]; got != 0.0 {
				t.Errorf("revoke again = %v, want 0", got)
			}
			if got := d.do("DELETE", "/v1/users/nobody/sessions?except=", "").want(t, 200).object(t)["invalidated"]; got != 0.0 {
				t.Errorf("revoke unknown user = %v, want 0", got)
			}
			for _, except := range []string{"bad", keep.Token, "000AAAAAAAAAAAAAAA"} {
				d.do("DELETE", "/v1/users/mallory/sessions?except="+url.QueryEscape(except), "").wantError(t, 400, "invalid_argument", "except")
			}
			d.do("DELETE", "/v1/users/mallory/sessions?except="+keep.ID+"&except="+keep.ID, "").wantError(t, 400, "invalid_argument", "except")
			d.do("POST", "/v1/sessions/validate", `{"token":"`+bystander.Token+`"}`).want(t, 200)
		})

		t.Run("stats", func(t *testing.T) {
			before := d.do("GET", "/v1/stats", "").want(t, 200).object(t)
			want := []string{"total_sessions", "active_sessions", "expired_sessions", "users", "created", "invalidated", "evicted",
				"memory_used_bytes", "memory_max_bytes", "event_entries", "event_memory_bytes", "revocations", "revocation_memory_bytes"}
			if len(before) != len(want) {
				t.Fatalf("stats = %v, want exactly %v", before, want)
			}
			for _, f := range want {
				if v, ok := before[f].(float64); !ok || v < 0 || v != float64(int64(v)) {
					t.Fatalf("stats %s = %v, want a count", f, before[f])
				}
			}
			s := d.create(t, "stats-user", "")
			d.do("POST", "/v1/sessions/invalidate", `{"token":"`+s.Token+`"}`).want(t, 204)
			d.create(t, "stats-user", "")
			after := d.do("GET", "/v1/stats", "").want(t, 200).object(t)
			for f, delta := range map[string]float64{"created": 2, "invalidated": 1, "active_sessions": 1, "total_sessions": 1, "users": 1} {
				if got := after[f].(float64) - before[f].(float64); got != delta {
					t.Errorf("stats %s moved by %v, want %v", f, got, delta)
				}
			}
			if after["total_sessions"] != after["active_sessions"].(float64)+after["expired_sessions"].(float64) {
				t.Errorf("total != active + expired: %v", after)
			}
			// Redis's memory figures; the embedded store has none.
			if used := after["memory_used_bytes"].(float64); (used > 0) != (env["REDIS_URL"] != "") {
				t.Errorf("memory_used_bytes = %v with REDIS_URL %q", used, env["REDIS_URL"])
			}
		})

		t.Run("expiry and cleanup", func(t *testing.T) {
			s := d.create(t, "kim", `,"ttl_seconds":1`)
			time.Sleep(1100 * time.Millisecond)
			d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).wantError(t, 404, "not_found", "")
			d.do("GET", "/v1/sessions/"+s.ID, "").wantError(t, 404, "not_found", "")
			if list := listSessions(t, d, "kim"); len(list) != 0 {
				t.Errorf("expired session listed: %+v", list)
			}
			a := d.do("POST", "/v1/cleanup", "").want(t, 200).object(t)
			if n, ok := a["cleaned"].(float64); !ok || n < 1 || len(a) != 1 {
				t.Errorf("cleanup = %v, want {\"cleaned\": n>=1}", a)
			}
			a = d.do("POST", "/v1/cleanup", "{}").want(t, 200).object(t)
			if a["cleaned"] != 0.0 {
				t.Errorf("second cleanup = %v, want 0", a)
			}
			d.do("POST", "/v1/cleanup", `{"force":true}`).wantError(t, 400, "invalid_argument", "")
			d.do("POST", "/v1/cleanup", "x", "Content-Type", "text/plain").wantError(t, 415, "unsupported_media_type", "")
		})

		t.Run("probes and documents", func(t *testing.T) {
			if a := d.do("GET", "/healthz", "").want(t, 200); string(a.Body) != "{\"status\":\"ok\"}\n" {
				t.Errorf("healthz = %s", a.Body)
			}
			d.do("GET", "/readyz", "").want(t, 200)
			m := d.do("GET", "/metrics", "").want(t, 200)
			if !strings.HasPrefix(m.Header.Get("Content-Type"), "text/plain") || !strings.Contains(string(m.Body), "sessiond_http_requests_total") {
				t.Errorf("metrics: %s\n%.300s", m.Header.Get("Content-Type"), m.Body)
			}
			var doc map[string]any
			if err := json.Unmarshal(d.do("GET", "/openapi.json", "").want(t, 200).Body, &doc); err != nil || !strings.HasPrefix(doc["openapi"].(string), "3.") {
				t.Errorf("openapi.json: %v", err)
			}
		})

		t.Run("unknown routes and methods", func(t *testing.T) {
			d.do("GET", "/v2/sessions", "").wantError(t, 404, "not_found", "")
			d.do("GET", "/v1/sessions/", "").wantError(t, 404, "not_found", "")
			d.do("GET", "/v1/sessions", "").wantError(t, 405, "method_not_allowed", "")
			if a := d.do("PUT", "/v1/sessions/x", `{}`); a.Header.Get("Allow") != "GET, HEAD, PATCH, DELETE" {
				a.wantError(t, 405, "method_not_allowed", "")
				t.Errorf("Allow = %q", a.Header.Get("Allow"))
			}
			d.do("DELETE", "/v1/stats", "").wantError(t, 405, "method_not_allowed", "")
			d.do("GET", "/v1/cleanup", "").wantError(t, 405, "method_not_allowed", "")
			d.do("GET", "/v1/sessions/validate", "").wantError(t, 405, "method_not_allowed", "")
		})
	})
}

func listSessions(t *testing.T, d *daemon, user string) []session {
	t.Helper()
	a := d.do("GET", "/v1/users/"+pathEscape(user)+"/sessions", "").want(t, 200)
	var raw struct {
		Sessions []json.RawMessage `json:"sessions"`
	}
	if err := json.Unmarshal(a.Body, &raw); err != nil || raw.Sessions == nil {
		t.Fatalf("list %s: %v", a.Body, err)
	}
	out := make([]session, len(raw.Sessions))
	for i, r := range raw.Sessions {
		out[i] = answer{Status: 200, Body: r}.session(t, false)
	}
	return out
}

func sessionIDs(list []session) []string {
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.ID
	}
	return ids
}

// TestBadInputs sends each class of bad input and checks its 4xx, and that
// nothing was created.
func TestBadInputs(t *testing.T) {
	stores(t, map[string]string{"SESSION_MAX_TTL_SECONDS": "86400"}, func(t *testing.T, env map[string]string) {
		d := startDaemon(t, env)
		big := `{"user_id":"u","metadata":{"k":"` + strings.Repeat("v", 17000) + `"}}`
		for _, tc := range []struct {
			name, body, contentType string
			status                  int
			code, field             string
		}{
			{"empty body", "", "application/json", 400, "invalid_argument", ""},
			{"not JSON", "user_id=u", "application/json", 400, "invalid_argument", ""},
			{"truncated", `{"user_id":"u"`, "application/json", 400, "invalid_argument", ""},
			{"array", `["u"]`, "application/json", 400, "invalid_argument", ""},
			{"null", `null`, "application/json", 400, "invalid_argument", ""},
			{"trailing data", `{"user_id":"u"} {"user_id":"v"}`, "application/json", 400, "invalid_argument", ""},
			{"unknown field", `{"user_id":"u","role":"admin"}`, "application/json", 400, "invalid_argument", ""},
			{"field in other case", `{"User_ID":"u"}`, "application/json", 400, "invalid_argument", ""},
			{"missing user_id", `{"ttl_seconds":60}`, "application/json", 400, "invalid_argument", "user_id"},
			{"user_id number", `{"user_id":42}`, "application/json", 400, "invalid_argument", "user_id"},
			{"user_id null", `{"user_id":null}`, "application/json", 400, "invalid_argument", "user_id"},
			{"user_id empty", `{"user_id":""}`, "application/json", 400, "invalid_argument", "user_id"},
			{"user_id too long", `{"user_id":"` + strings.Repeat("u", 257) + `"}`, "application/json", 400, "invalid_argument", "user_id"},
			{"user_id NUL", `{"user_id":"a\u0000b"}`, "application/json", 400, "invalid_argument", "user_id"},
			{"user_id newline", `{"user_id":"a\nb"}`, "application/json", 400, "invalid_argument", "user_id"},
			{"user_id RESP injection", `{"user_id":"u\r\n*1\r\n$8\r\nFLUSHALL\r\n"}`, "application/json", 400, "invalid_argument", "user_id"},
			{"ttl zero", `{"user_id":"u","ttl_seconds":0}`, "application/json", 400, "invalid_argument", "ttl_seconds"},
			{"ttl negative", `{"user_id":"u","ttl_seconds":-5}`, "application/json", 400, "invalid_argument", "ttl_seconds"},
			{"ttl fraction", `{"user_id":"u","ttl_seconds":1.5}`, "application/json", 400, "invalid_argument", "ttl_seconds"},
			{"ttl string", `{"user_id":"u","ttl_seconds":"60"}`, "application/json", 400, "invalid_argument", "ttl_seconds"},
			{"ttl above max", `{"user_id":"u","ttl_seconds":86401}`, "application/json", 400, "invalid_argument", "ttl_seconds"},
			{"ttl huge", `{"user_id":"u","ttl_seconds":1e30}`, "application/json", 400, "invalid_argument", "ttl_seconds"},
			{"ttl overflow", `{"user_id":"u","ttl_seconds":9223372036854775807}`, "application/json", 400, "invalid_argument", "ttl_seconds"},
			{"metadata number", `{"user_id":"u","metadata":{"k":1}}`, "application/json", 400, "invalid_argument", "metadata"},
			{"metadata nested", `{"user_id":"u","metadata":{"k":{"a":"b"}}}`, "application/json", 400, "invalid_argument", "metadata"},
			{"metadata array", `{"user_id":"u","metadata":["k"]}`, "application/json", 400, "invalid_argument", "metadata"},
			{"metadata null value", `{"user_id":"u","metadata":{"k":null}}`, "application/json", 400, "invalid_argument", "metadata"},
			{"metadata bool value", `{"user_id":"u","metadata":{"k":true}}`, "application/json", 400, "invalid_argument", "metadata"},
			{"metadata string", `{"user_id":"u","metadata":"k=v"}`, "application/json", 400, "invalid_argument", "metadata"},
			{"metadata empty key", `{"user_id":"u","metadata":{"":"v"}}`, "application/json", 400, "invalid_argument", "metadata"},
			{"metadata too big", `{"user_id":"u","metadata":{"k":"` + strings.Repeat("v", 5000) + `"}}`, "application/json", 400, "invalid_argument", "metadata"},
			{"deep JSON", strings.Repeat(`{"a":`, 2500) + "1" + strings.Repeat("}", 2500), "application/json", 400, "invalid_argument", ""},
			{"body over 16 KiB", big, "application/json", 413, "too_large", ""},
			{"text/plain", `{"user_id":"u"}`, "text/plain", 415, "unsupported_media_type", ""},
			{"form", `user_id=u`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
			{"no content type", `{"user_id":"u"}`, "", 415, "unsupported_media_type", ""},
			{"latin1 charset", `{"user_id":"u"}`, "application/json; charset=iso-8859-1", 415, "unsupported_media_type", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				hdr := []string{"Content-Type", tc.contentType}
				d.do("POST", "/v1/sessions", tc.body, hdr...).wantError(t, tc.status, tc.code, tc.field)
			})
		}
		// The token calls refuse the same classes.
		for _, p := range []string{"validate", "refresh", "rotate", "invalidate"} {
			d.do("POST", "/v1/sessions/"+p, `{"token":"x","extra":1}`).wantError(t, 400, "invalid_argument", "")
			d.do("POST", "/v1/sessions/"+p, `{"token":["x"]}`).wantError(t, 400, "invalid_argument", "token")
			d.do("POST", "/v1/sessions/"+p, `{"Token":"x"}`).wantError(t, 400, "invalid_argument", "")
			d.do("POST", "/v1/sessions/"+p, `{"token":"x"}`, "Content-Type", "text/plain").wantError(t, 415, "unsupported_media_type", "")
			d.do("POST", "/v1/sessions/"+p, `{"token":"`+strings.Repeat("x", 20000)+`"}`).wantError(t, 413, "too_large", "")
		}
		// The token never travels in a URL: a token in the query is ignored.
		s := d.create(t, "q", "")
		d.do("POST", "/v1/sessions/validate?token="+s.Token, "").wantError(t, 400, "invalid_argument", "")
		// None of the refused creations made a session.
		st := d.do("GET", "/v1/stats", "").want(t, 200).object(t)
		if st["created"] != 1.0 || st["total_sessions"] != 1.0 {
			t.Errorf("after the bad inputs: stats %v, want only the one good session", st)
		}
	})
}

// TestSessionLimit checks 409 session_limit under the reject policy and the
// eviction of the oldest session under evict-oldest.
func TestSessionLimit(t *testing.T) {
	stores(t, map[string]string{"MAX_SESSIONS_PER_USER": "2"}, func(t *testing.T, env map[string]string) {
		t.Run("reject", func(t *testing.T) {
			e := map[string]string{"SESSION_LIMIT_POLICY": "reject", "SESSION_KEY_PREFIX": "reject:"}
			for k, v := range env {
				e[k] = v
			}
			d := startDaemon(t, e)
			a, b := d.create(t, "u", ""), d.create(t, "u", "")
			d.do("POST", "/v1/sessions", `{"user_id":"u"}`).wantError(t, 409, "session_limit", "")
			d.do("POST", "/v1/sessions/validate", `{"token":"`+a.Token+`"}`).want(t, 200)
			d.do("POST", "/v1/sessions/invalidate", `{"token":"`+b.Token+`"}`).want(t, 204)
			d.create(t, "u", "") // room again
			d.create(t, "other", "")
		})
		t.Run("evict-oldest", func(t *testing.T) {
			env["SESSION_KEY_PREFIX"] = "evict:"
			d := startDaemon(t, env)
			first := d.create(t, "u", "")
			time.Sleep(2 * time.Millisecond)
			second := d.create(t, "u", "")
			time.Sleep(2 * time.Millisecond)
			third := d.create(t, "u", "")
			d.do("POST", "/v1/sessions/validate", `{"token":"`+first.Token+`"}`).wantError(t, 404, "not_found", "")
			if got := sessionIDs(listSessions(t, d, "u")); !slices.Equal(got, []string{third.ID, second.ID}) {
				t.Errorf("after eviction: %v, want [%s %s]", got, third.ID, second.ID)
			}
			if st := d.do("GET", "/v1/stats", "").want(t, 200).object(t); st["evicted"] != 1.0 {
				t.Errorf("stats evicted = %v, want 1", st["evicted"])
			}
		})
	})
}

// pathEscape escapes a path segment, dot segments included.
func pathEscape(s string) string {
	switch s {
	case ".", "..":
		return strings.Repeat("%2E", len(s))
	}
	return url.PathEscape(s)
}
