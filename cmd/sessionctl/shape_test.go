package main

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/internal/httpapi"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/internal/wire"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// TestOneSessionShape holds the session object together across the programs
// that show it, on one live session in one Redis: sessiond's JSON (GET
// /v1/sessions/{id} and the user's list), sessionctl show --json and list
// --json, and the Go client's session written back as the wire object are
// the same object, field by field. The session has an idle timeout shorter
// than its lifetime, so expires_at must be the effective end (the idle
// deadline), not the absolute expiry. The Python client's tests hold it to
// sessiond's JSON the same way (test_api.py, test_session_shape).
func TestOneSessionShape(t *testing.T) {
	srv := redistest.Start(t)
	env := redisEnv(srv)
	env["SESSION_IDLE_TIMEOUT_SECONDS"] = "600"
	m := manager(t, env)
	api, err := httpapi.New(httpapi.Config{Manager: m})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(api)
	t.Cleanup(ts.Close)
	client, err := sessiondclient.New(ts.URL, sessiondclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	ctx := context.Background()
	created, err := client.Create(ctx, "shape user", time.Hour, map[string]string{"ip": "192.0.2.1", "user_agent": "Mozilla/5.0 <x> & y"})
	if err != nil {
		t.Fatal(err)
	}

	object := func(what string, b []byte) map[string]any {
		t.Helper()
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s is not a JSON object: %v\n%s", what, err, b)
		}
		return v
	}
	get := func(path string) []byte {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %v\n%s", path, resp.Status, err, b)
		}
		return b
	}
	shapes := map[string]map[string]any{}
	shapes["sessiond GET /v1/sessions/{id}"] = object("sessiond's session", get("/v1/sessions/"+created.ID))
	type list struct{ Sessions []json.RawMessage }
	var apiList, ctlList list
	if err := json.Unmarshal(get("/v1/users/shape%20user/sessions"), &apiList); err != nil || len(apiList.Sessions) != 1 {
		t.Fatalf("sessiond's list: %v, %d sessions", err, len(apiList.Sessions))
	}
	shapes["sessiond GET /v1/users/{user_id}/sessions"] = object("sessiond's list", apiList.Sessions[0])
	shapes["sessionctl show --json"] = object("show --json", []byte(ctl(t, env, "show", "--json", created.ID).want(t, exitOK).stdout))
	ctl(t, env, "list", "--user", "shape user", "--json").want(t, exitOK).decode(t, &ctlList)
	if len(ctlList.Sessions) != 1 {
		t.Fatalf("list --json: %d sessions, want 1", len(ctlList.Sessions))
	}
	shapes["sessionctl list --json"] = object("list --json", ctlList.Sessions[0])
	got, err := client.Get(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(wire.FromSession(got, false))
	if err != nil {
		t.Fatal(err)
	}
	shapes["Go client Get"] = object("the Go client's session", b)

	want := shapes["sessiond GET /v1/sessions/{id}"]
	if keys := slices.Sorted(maps.Keys(want)); !slices.Equal(keys, slices.Sorted(slices.Values(wire.Fields))) {
		t.Fatalf("sessiond's session has the fields %v, want %v", keys, wire.Fields)
	}
	for name, v := range shapes {
		if !reflect.DeepEqual(v, want) {
			t.Errorf("%s = %v\nwant sessiond's %v", name, v, want)
		}
	}
	// expires_at is the idle deadline: last_seen_at + 10 minutes, well
	// before the hour's absolute expiry.
	seen, err1 := time.Parse(time.RFC3339, want["last_seen_at"].(string))
	ends, err2 := time.Parse(time.RFC3339, want["expires_at"].(string))
	if err1 != nil || err2 != nil || !ends.Equal(seen.Add(10*time.Minute)) {
		t.Errorf("expires_at %v, last_seen_at %v: want the idle deadline, 10 minutes after the last activity", want["expires_at"], want["last_seen_at"])
	}
}
