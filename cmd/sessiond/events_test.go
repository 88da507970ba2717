package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// sseStream is an open GET /v1/events/stream, read as an EventSource would.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	sc     *bufio.Scanner
	cancel context.CancelFunc
	lastID string // the last id line seen
}

// openStream opens the event stream with key, and Last-Event-ID lastID
// unless it is "".
func openStream(t *testing.T, d *daemon, key, query, lastID string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", d.URL+"/v1/events/stream?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("stream: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	s := &sseStream{t: t, resp: resp, sc: bufio.NewScanner(resp.Body), cancel: cancel}
	t.Cleanup(s.close)
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event's data and id, skipping comments and id lines
// without data; err is io.EOF when the stream ends.
func (s *sseStream) next() (ev streamEvent, err error) {
	var data []string
	id := ""
	for s.sc.Scan() {
		line := s.sc.Text()
		if line == "" {
			if len(data) == 0 {
				continue
			}
			if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &ev); err != nil {
				return ev, err
			}
			if ev.ID != id {
				return ev, fmt.Errorf("SSE id %q, event id %q", id, ev.ID)
			}
			return ev, nil
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id, s.lastID = value, value
		case "data":
			data = append(data, value)
		}
	}
	if err := s.sc.Err(); err != nil {
		return ev, err
	}
	return ev, io.EOF
}

type streamEvent struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	SessionID string `json:"session_id"`
	UserID    string `json:"user_id"`
	Cause     string `json:"cause"`
	Actor     string `json:"actor"`
}

type eventPage struct {
	Events []streamEvent `json:"events"`
	Next   string        `json:"next"`
	More   bool          `json:"more"`
}

func randomKey(t *testing.T) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestEventsHTTP runs the event routes of a real sessiond, on the embedded
// store and on Redis: pages resumed from next, a stream cut and resumed
// with Last-Event-ID (nothing skipped, nothing repeated, the same order as
// the pages), actors from the keys' names, the reason of an ended token,
// the errors and roles, and a shutdown with streams open.
func TestEventsHTTP(t *testing.T) {
	web, ops, plain := randomKey(t), randomKey(t), randomKey(t)
	env := map[string]string{
		"SESSION_EVENTS":        "true",
		"MAX_SESSIONS_PER_USER": "2",
		"SESSIOND_API_KEYS":     "web:app:" + web + ",ops:admin:" + ops + ",app:" + plain,
	}
	stores(t, env, func(t *testing.T, env map[string]string) {
		d := startDaemon(t, env)
		d.Key = web

		// A stream from the start of the log, opened before any change.
		s1 := openStream(t, d, ops, "since=", "")

		type change struct{ typ, sid, actor, cause string }
		var want []change
		var tokens []string
		for i := range 6 {
			user := fmt.Sprintf("ev-%d", i%3)
			key, actor := web, "web"
			if i%2 == 1 {
				key, actor = plain, "app"
			}
			s := d.do("POST", "/v1/sessions", `{"user_id":"`+user+`"}`, "Authorization", "Bearer "+key).want(t, 201).session(t, true)
			want = append(want, change{"created", s.ID, actor, ""})
			tokens = append(tokens, s.Token)
		}
		// Each user holds two; a third for ev-0 evicts its oldest.
		s := d.create(t, "ev-0", "")
		want = append(want, change{"created", s.ID, "web", ""})
		oldest := d.do("POST", "/v1/sessions/validate", `{"token":"`+tokens[0]+`"}`)
		var notFound struct {
			Error struct{ Code, Reason string } `json:"error"`
		}
		json.Unmarshal(oldest.Body, &notFound)
		if oldest.Status != 404 || notFound.Error.Code != "not_found" || notFound.Error.Reason != "evicted" {
			t.Fatalf("validate of the evicted token: %d %s", oldest.Status, oldest.Body)
		}
		d.do("DELETE", "/v1/sessions/"+sessionIDOf(t, d, tokens[1]), "", "Authorization", "Bearer "+ops).want(t, 204)
		d.do("POST", "/v1/sessions/invalidate", `{"token":"`+tokens[2]+`"}`).want(t, 204)
		d.do("DELETE", "/v1/users/ev-1/sessions", "", "Authorization", "Bearer "+ops).want(t, 200)

		// Every event, page by page (limit 3), once they are final.
		var pages []streamEvent
		eventually(t, 20*time.Second, "the events are readable", func() bool {
			pages = nil
			next := ""
			for range 100 {
				a := d.do("GET", "/v1/events?limit=3&since="+url.QueryEscape(next), "", "Authorization", "Bearer "+ops).want(t, 200)
				var p eventPage
				if err := json.Unmarshal(a.Body, &p); err != nil {
					t.Fatal(err)
				}
				pages = append(pages, p.Events...)
				next = p.Next
				if !p.More {
					break
				}
			}
			return len(pages) >= 11
		})
		count := map[string]int{}
		actors := map[string]string{}
		for _, ev := range pages {
			count[ev.Type+"/"+ev.Cause]++
			actors[ev.Type+"/"+ev.SessionID] = ev.Actor
		}
		// 7 created, ev-0's oldest evicted, ev-1's first by id (admin),
		// ev-2's first by logout, then ev-1's other with revoke_all.
		if len(pages) != 11 || count["created/"] != 7 || count["evicted/"] != 1 || count["invalidated/admin"] != 1 ||
			count["invalidated/logout"] != 1 || count["invalidated/revoke_all"] != 1 {
			t.Fatalf("%d events, counts %v", len(pages), count)
		}
		for _, c := range want {
			if got := actors[c.typ+"/"+c.sid]; got != c.actor {
				t.Errorf("%s of %s by %q, want %q", c.typ, c.sid, got, c.actor)
			}
		}
		for _, ev := range pages {
			switch {
			case ev.Type == "invalidated" && ev.Cause == "admin", ev.Cause == "revoke_all":
				if ev.Actor != "ops" {
					t.Errorf("%+v: want actor ops", ev)
				}
			}
		}
		ids := func(evs []streamEvent) []string {
			var out []string
			for _, ev := range evs {
				out = append(out, ev.ID)
			}
			return out
		}

		// The stream: read half, cut it, change more, resume with the last id.
		var streamed []streamEvent
		for range len(pages) / 2 {
			ev, err := s1.next()
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			streamed = append(streamed, ev)
		}
		if !slices.Equal(ids(streamed), ids(pages[:len(streamed)])) {
			t.Fatalf("the stream's events differ from the pages':\n%v\n%v", ids(streamed), ids(pages))
		}
		resumeFrom := s1.lastID
		s1.close()
		late := d.create(t, "ev-late", "")
		s2 := openStream(t, d, ops, "since=", resumeFrom) // Last-Event-ID wins over since
		for len(streamed) < len(pages)+1 {
			ev, err := s2.next()
			if err != nil {
				t.Fatalf("resumed stream: %v", err)
			}
			streamed = append(streamed, ev)
		}
		all := append(slices.Clone(ids(pages)), streamed[len(streamed)-1].ID)
		if !slices.Equal(ids(streamed), all) || streamed[len(streamed)-1].SessionID != late.ID {
			t.Fatalf("cut and resumed stream:\n%v\nwant\n%v (then the creation of %s)", ids(streamed), ids(pages), late.ID)
		}

		// No event holds a token: none of the tokens made appears in the log.
		whole := string(d.do("GET", "/v1/events?limit=1000&since=", "", "Authorization", "Bearer "+ops).want(t, 200).Body)
		for _, tok := range append(tokens, s.Token, late.Token) {
			if strings.Contains(whole, tok) || strings.Contains(whole, tok[4:]) {
				t.Fatalf("the event log holds a token")
			}
		}

		// Errors and roles.
		d.Key = ops
		for q, field := range map[string]string{"since=x": "since", "type=login": "type", "limit=0": "limit", "limit=1001": "limit", "user_id=": "user_id"} {
			d.do("GET", "/v1/events?"+q, "").wantError(t, 400, "invalid_argument", field)
			d.do("GET", "/v1/events/stream?"+q, "").wantError(t, 400, "invalid_argument", field)
		}
		d.do("GET", "/v1/events/stream", "", "Last-Event-ID", "1-2-3").wantError(t, 400, "invalid_argument", "Last-Event-ID")
		for _, key := range []string{web, plain} {
			d.do("GET", "/v1/events", "", "Authorization", "Bearer "+key).wantError(t, 403, "permission_denied", "")
			d.do("GET", "/v1/events/stream", "", "Authorization", "Bearer "+key).wantError(t, 403, "permission_denied", "")
		}
		d.do("GET", "/v1/events/stream", "", "Authorization", "").wantError(t, 401, "unauthenticated", "")

		// The metrics count open streams.
		s3 := openStream(t, d, ops, "", "")
		eventually(t, 10*time.Second, "sessiond_event_streams is 2 (the cut stream gone)", func() bool {
			v, ok := metric(string(d.do("GET", "/metrics", "").Body), "sessiond_event_streams")
			return ok && v == 2
		})
		// Shutdown ends the open streams and does not wait for them.
		if err := d.Stop(); err != nil {
			t.Fatalf("run = %v with event streams open, want nil", err)
		}
		for _, s := range []*sseStream{s2, s3} {
			for {
				if _, err := s.next(); err != nil {
					if err != io.EOF {
						t.Fatalf("stream after shutdown: %v, want its end", err)
					}
					break
				}
			}
		}
	})
}

// sessionIDOf returns the id of a live token's session.
func sessionIDOf(t *testing.T, d *daemon, token string) string {
	t.Helper()
	return d.do("POST", "/v1/sessions/validate", `{"token":"`+token+`"}`).want(t, 200).session(t, false).ID
}
