package main

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/internal/webhooks"
	"github.com/sessiondb/sessiondb/internal/webhooks/webhooktest"
	"github.com/sessiondb/sessiondb/webhook"
)

// webhookStatus runs sessionctl webhooks status --json for one endpoint.
func webhookStatus(t *testing.T, env map[string]string, ep string) endpointStatus {
	t.Helper()
	var out []endpointStatus
	ctl(t, env, "webhooks", "status", "--json", ep).want(t, exitOK).decode(t, &out)
	if len(out) != 1 {
		t.Fatalf("status of %s: %d entries", ep, len(out))
	}
	return out[0]
}

// waitStatus polls the endpoint's status until ok, for at most a minute.
func waitStatus(t *testing.T, env map[string]string, ep, what string, ok func(endpointStatus) bool) endpointStatus {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st := webhookStatus(t, env, ep)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute; status %+v", what, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWebhooksCommands drives a real delivery on a real Redis into dead
// letters, then lists them, retries one and then all with sessionctl, and
// checks the status it shows at each step.
func TestWebhooksCommands(t *testing.T) {
	srv := redistest.Start(t)
	env := redisEnv(srv)

	r := ctl(t, env, "webhooks", "status").want(t, exitOK)
	if !strings.Contains(r.stdout, "no webhook endpoints") {
		t.Errorf("status with no endpoint:\n%s", r)
	}
	if r := ctl(t, env, "webhooks", "dead", "audit"); r.code != exitNotFound || !strings.Contains(r.stderr, "no endpoint audit") {
		t.Errorf("dead of an unknown endpoint: want exit 4\n%s", r)
	}

	evEnv := maps.Clone(env)
	evEnv["SESSION_EVENTS"] = "true"
	m := manager(t, evEnv)
	rs := redisStore(m)
	recv := webhooktest.Start(t)
	var failing atomic.Bool
	failing.Store(true)
	recv.Decide(func(string, int) webhooktest.Answer {
		if failing.Load() {
			return webhooktest.Answer{Status: http.StatusInternalServerError}
		}
		return webhooktest.Answer{}
	})
	eps, err := webhooks.ParseEndpoints("audit "+recv.URL+" created "+recv.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	start := m.EventsNow()
	d, err := webhooks.New(m, webhooks.NewRedisState(rs.Client, rs.Prefix()), eps, webhooks.Options{
		MaxAttempts: 2, RetryDelay: time.Millisecond, RetryMax: 5 * time.Millisecond, Lease: 3 * time.Second,
		Poll: 20 * time.Millisecond, Start: start, Encode: webhooks.EncodeEvent,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(ctx) })
	stop := sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(stop)

	const n = 5
	for i := range n {
		s, err := m.Create(context.Background(), "alice", time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// Not a created event: the endpoint's filter skips it.
			if err := m.Invalidate(context.Background(), string(s.Token)); err != nil {
				t.Fatal(err)
			}
		}
	}
	st := waitStatus(t, env, "audit", "5 dead letters", func(s endpointStatus) bool { return s.Dead == n })
	var ids []string
	for e, err := range m.Events(context.Background(), start, sessiondb.EventFilter{Types: []sessiondb.EventType{sessiondb.EventCreated}}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	if len(ids) != n {
		t.Fatalf("%d created events in the log, want %d", len(ids), n)
	}
	if st.Holder != d.Owner() || st.LeaseSeconds <= 0 || st.Queued != 0 || st.Paused != "" || st.CursorTime == nil {
		t.Errorf("status: %+v", st)
	}

	r = ctl(t, env, "webhooks", "dead", "audit").want(t, exitOK)
	for _, id := range ids {
		if !strings.Contains(r.stdout, id) {
			t.Errorf("dead does not list %s:\n%s", id, r)
		}
	}
	if !strings.Contains(r.stdout, "HTTP 500") || !strings.Contains(r.stdout, "5 dead letter(s)") {
		t.Errorf("dead: no reason or count:\n%s", r)
	}
	var dead []webhooks.DeadLetter
	ctl(t, env, "webhooks", "dead", "--json", "audit").want(t, exitOK).decode(t, &dead)
	if len(dead) != n {
		t.Fatalf("dead --json: %d letters, want %d", len(dead), n)
	}
	for i, dl := range dead {
		var ev map[string]any
		if err := json.Unmarshal(dl.Event, &ev); err != nil || ev["id"] != dl.ID || ev["type"] != "created" || dl.ID != ids[i] {
			t.Errorf("dead letter %d: %+v (event %v, want id %s)", i, dl, ev, ids[i])
		}
		if dl.Attempts != 2 || dl.Endpoint != "audit" {
			t.Errorf("dead letter %d: %d attempts at %s, want 2 at audit", i, dl.Attempts, dl.Endpoint)
		}
	}
	if strings.Contains(r.stdout+r.stderr, recv.Secret) {
		t.Error("sessionctl shows the secret")
	}

	// The receiver recovers: one retried, then the rest.
	failing.Store(false)
	var q map[string][]string
	ctl(t, env, "webhooks", "retry", "--json", "audit", ids[0]).want(t, exitOK).decode(t, &q)
	if len(q["queued"]) != 1 || q["queued"][0] != ids[0] {
		t.Fatalf("retry one: queued %v", q)
	}
	recv.WaitTaken(t, ids[:1], time.Minute)
	waitStatus(t, env, "audit", "4 dead letters", func(s endpointStatus) bool { return s.Dead == n-1 && s.Queued == 0 })
	r = ctl(t, env, "webhooks", "retry", "audit", "--all").want(t, exitOK)
	if !strings.Contains(r.stdout, "queued 4 dead letter(s)") {
		t.Errorf("retry --all:\n%s", r)
	}
	recv.WaitTaken(t, ids, time.Minute)
	waitStatus(t, env, "audit", "no dead letter", func(s endpointStatus) bool { return s.Dead == 0 && s.Queued == 0 })
	ctl(t, env, "webhooks", "retry", "--json", "audit", ids[0]).want(t, exitOK).decode(t, &q)
	if len(q["queued"]) != 0 {
		t.Errorf("retry of a delivered event queued %v", q)
	}

	// Stopped, with an event after the cursor: the lag shows its age.
	stop()
	if _, err := m.Create(context.Background(), "bob", time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	st = waitStatus(t, env, "audit", "a lag", func(s endpointStatus) bool { return s.LagSeconds > 0 })
	if st.Holder != "" {
		t.Errorf("a stopped dispatcher still holds the lease: %+v", st)
	}
	r = ctl(t, env, "webhooks", "status").want(t, exitOK)
	for _, want := range []string{"audit\n", "cursor", "lag", "no sessiond delivers", "dead      0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r)
		}
	}
	if r := ctl(t, env, "webhooks", "resume", "audit").want(t, exitOK); !strings.Contains(r.stdout, "was not paused") {
		t.Errorf("resume:\n%s", r)
	}
}

func TestWebhooksUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"webhooks"}, "missing subcommand"},
		{[]string{"webhooks", "frob"}, `unknown subcommand "frob"`},
		{[]string{"webhooks", "dead"}, "missing ENDPOINT"},
		{[]string{"webhooks", "retry", "audit"}, "missing EVENT_ID (or --all)"},
		{[]string{"webhooks", "retry", "audit", "--all", "1-0-a-1"}, "one or the other"},
		{[]string{"webhooks", "retry", "audit", "not an id"}, "is not an event id"},
		{[]string{"webhooks", "resume"}, "missing ENDPOINT"},
		{[]string{"webhooks", "secret", "x"}, `unexpected argument "x"`},
	} {
		r := ctl(t, nil, c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.msg) || r.stdout != "" {
			t.Errorf("sessionctl %q: want exit 2 saying %q\n%s", c.args, c.msg, r)
		}
	}
	a := ctl(t, nil, "webhooks", "secret").want(t, exitOK)
	b := ctl(t, nil, "webhooks", "secret").want(t, exitOK)
	if _, err := webhook.CheckSecret(strings.TrimSpace(a.stdout)); err != nil || a.stdout == b.stdout {
		t.Errorf("secret: %q, %q: %v", a.stdout, b.stdout, err)
	}
	for _, sub := range webhookSubcommands {
		r := ctl(t, nil, "webhooks", sub.name, "--help").want(t, exitOK)
		if !strings.HasPrefix(r.stdout, "Usage: sessionctl webhooks "+sub.name) || !strings.Contains(r.stdout, "Examples:\n  sessionctl webhooks") {
			t.Errorf("webhooks %s --help:\n%s", sub.name, r)
		}
	}
}
