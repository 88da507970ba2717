package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/metrics"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/internal/webhooks"
	"github.com/sessiondb/sessiondb/internal/webhooks/webhooktest"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// The webhook tests run real sessiond processes on one real Redis, POSTing
// to a real receiver on loopback. They count deliveries, never time them.

// webhookEnv is sessiond's environment for delivering every event to r:
// quick retries and a short lease, so the tests wait little.
func webhookEnv(redisURL string, r *webhooktest.Receiver) map[string]string {
	return map[string]string{
		"REDIS_URL":                          redisURL,
		"SESSION_EVENTS":                     "true",
		"MAX_SESSIONS_PER_USER":              "3",
		"SESSIOND_WEBHOOKS":                  "audit " + r.URL + " * " + r.Secret,
		"SESSIOND_WEBHOOK_RETRY_MS":          "1",
		"SESSIOND_WEBHOOK_RETRY_MAX_SECONDS": "1",
		"SESSIOND_WEBHOOK_MAX_ATTEMPTS":      "200",
		"SESSIOND_WEBHOOK_LEASE_SECONDS":     "2",
		"SESSIOND_WEBHOOK_TIMEOUT_SECONDS":   "60",
	}
}

// independentCheck verifies a request by the specification, written out
// here with crypto/hmac rather than package webhook: HMAC-SHA256 keyed with
// the base64 after whsec_, over "id.timestamp.body", base64, as one of the
// space-separated "v1,<sig>" of webhook-signature.
func independentCheck(secret string) func(http.Header, []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	return func(h http.Header, body []byte) error {
		if err != nil {
			return err
		}
		id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
		if _, err := strconv.ParseInt(ts, 10, 64); err != nil || id == "" {
			return errors.New("independent check: no id or timestamp")
		}
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		for _, sig := range strings.Fields(h.Get("webhook-signature")) {
			if sig == want {
				return nil
			}
		}
		return errors.New("independent check: no matching signature")
	}
}

// sessionLoad makes n sessions through the sessionds at urls in turn,
// spread over 17 users past their limit of 3 (evictions), logging out
// every third, rotating some others and revoking a user's sessions now and
// then.
func sessionLoad(t *testing.T, urls []string, n int) {
	t.Helper()
	ctx := context.Background()
	clients := make([]*sessiondclient.Client, len(urls))
	for i, u := range urls {
		c, err := sessiondclient.New(u, sessiondclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	for i := range n {
		c := clients[i%len(clients)]
		user := fmt.Sprintf("user-%d", i%17)
		s, err := c.Create(ctx, user, time.Hour, map[string]string{"n": strconv.Itoa(i)})
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		switch {
		case i%3 == 0:
			if err := c.Invalidate(ctx, string(s.Token)); err != nil {
				t.Fatalf("logout %d: %v", i, err)
			}
		case i%5 == 1:
			if _, err := c.Rotate(ctx, string(s.Token)); err != nil {
				t.Fatalf("rotate %d: %v", i, err)
			}
		case i%29 == 0:
			if _, err := c.InvalidateUser(ctx, user, ""); err != nil {
				t.Fatalf("revoke %s: %v", user, err)
			}
		}
	}
}

// loggedEvents returns the ids of the events of loggedLog.
func loggedEvents(t *testing.T, redisURL string) []string {
	t.Helper()
	var ids []string
	for _, e := range loggedLog(t, redisURL) {
		ids = append(ids, e.ID)
	}
	return ids
}

// loggedLog returns every event in the log, oldest first, up to the
// present: it reads until the log's cursor has passed the time it was
// called (events become readable once final, about a second after the
// change; redisstore.Options.EventSettle).
func loggedLog(t *testing.T, redisURL string) []sessiondb.Event {
	t.Helper()
	cfg := config.Default()
	cfg.RedisURL, cfg.Events = redisURL, true
	m, err := cfg.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Store().Close()
	until := time.Now()
	deadline := until.Add(time.Minute)
	var evs []sessiondb.Event
	cursor := ""
	for {
		page, err := m.ReadEvents(context.Background(), cursor, sessiondb.EventFilter{}, sessiondb.MaxEventPageLimit)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, page.Events...)
		cursor = page.Next
		if page.More {
			continue
		}
		c, err := sessiondb.ParseEventCursor(cursor)
		if err != nil {
			t.Fatal(err)
		}
		if c.Millis > until.UnixMilli() {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the event log's cursor %s did not pass %s within a minute", cursor, until.UTC().Format(time.RFC3339Nano))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deliveryState is the delivery state in Redis, as sessionctl reads it.
func deliveryState(t *testing.T, redisURL string) *webhooks.RedisState {
	t.Helper()
	cfg := config.Default()
	cfg.RedisURL = redisURL
	st, err := cfg.OpenStore()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rc := st.(redisClient)
	return webhooks.NewRedisState(rc.Client, rc.Prefix())
}

// noSecret fails the test if text shows the secret, or its key alone.
func noSecret(t *testing.T, what, text, secret string) {
	t.Helper()
	if strings.Contains(text, secret) || strings.Contains(text, strings.TrimPrefix(secret, "whsec_")) {
		t.Errorf("%s shows the webhook secret", what)
	}
}

// metricValue returns the value of one series of sessiond's /metrics.
func metricValue(t *testing.T, d *sessiondtest.Daemon, series string) float64 {
	t.Helper()
	resp, err := http.Get(d.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in /metrics", series)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestWebhooksKill9 kills sessiond with SIGKILL while a webhook request is
// under way, to a receiver that fails half of its requests (an error status
// or a cut connection), then starts it again: every event of the log is
// delivered at least once, none is skipped, and no event became a dead
// letter.
func TestWebhooksKill9(t *testing.T) {
	redis := redistest.Start(t)
	recv := webhooktest.Start(t)
	recv.Check(independentCheck(recv.Secret))
	const before, after = 150, 60
	const stickAt = 40 // distinct events taken before one request hangs

	var (
		phase1   atomic.Bool
		stuck    = make(chan struct{})
		once     sync.Once
		answered = map[string]bool{} // ids answered 2xx; Decide runs under the receiver's lock
		failed   atomic.Int64
	)
	phase1.Store(true)
	recv.Decide(func(id string, n int) webhooktest.Answer {
		if phase1.Load() && len(answered) >= stickAt && !answered[id] {
			once.Do(func() { close(stuck) })
			return webhooktest.Answer{Hang: 5 * time.Minute} // until the connection drops
		}
		switch rand.IntN(4) {
		case 0:
			failed.Add(1)
			return webhooktest.Answer{Status: http.StatusServiceUnavailable}
		case 1:
			failed.Add(1)
			return webhooktest.Answer{Cut: true}
		}
		answered[id] = true
		return webhooktest.Answer{}
	})

	env := webhookEnv(redis.URL(), recv)
	d := sessiondtest.Start(t, env)
	sessionLoad(t, []string{d.URL}, before)
	select {
	case <-stuck:
	case <-time.After(2 * time.Minute):
		t.Fatalf("delivery never reached event %d; taken %d, refused %v", stickAt, len(recv.Taken()), recv.Refused())
	}
	takenAtKill := len(recv.Taken())
	logAtKill := len(loggedEvents(t, redis.URL()))
	noSecret(t, "sessiond's log", d.Log(), recv.Secret)
	d.Kill()
	phase1.Store(false)
	if takenAtKill >= logAtKill {
		t.Fatalf("killed after every event was delivered (%d of %d): the kill tests nothing", takenAtKill, logAtKill)
	}

	d2 := sessiondtest.Start(t, env)
	sessionLoad(t, []string{d2.URL}, after)
	ids := loggedEvents(t, redis.URL())
	recv.WaitTaken(t, ids, 2*time.Minute)
	t.Logf("%d events; %d taken when sessiond was killed during a request; %d failed answers; %d requests in all",
		len(ids), takenAtKill, failed.Load(), recv.Requests())
	if len(ids) < before+after {
		t.Errorf("only %d events in the log for %d sessions made", len(ids), before+after)
	}
	if failed.Load() == 0 {
		t.Error("the receiver never failed: half of its answers should")
	}
	if bad := recv.Refused(); len(bad) > 0 {
		t.Errorf("the receiver refused %d requests: %v", len(bad), bad[:min(len(bad), 3)])
	}
	st, err := deliveryState(t, redis.URL()).Status(context.Background(), "audit", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Dead != 0 {
		t.Errorf("%d dead letters, want none", st.Dead)
	}
	noSecret(t, "sessiond's log", d2.Log(), recv.Secret)
}

// TestWebhooksTwoReplicas runs two sessionds on one Redis with the same
// endpoint, and makes sessions through both: one of them delivers, each
// event exactly once; stopped, it hands over to the other, which goes on
// where it stopped, still once per event.
func TestWebhooksTwoReplicas(t *testing.T) {
	redis := redistest.Start(t)
	recv := webhooktest.Start(t)
	recv.Check(independentCheck(recv.Secret))
	env := webhookEnv(redis.URL(), recv)
	a := sessiondtest.Start(t, env)
	b := sessiondtest.Start(t, env)

	sessionLoad(t, []string{a.URL, b.URL}, 120)
	ids := loggedEvents(t, redis.URL())
	recv.WaitTaken(t, ids, 2*time.Minute)

	holder, other := a, b
	if metricValue(t, b, `sessiond_webhook_lease{endpoint="audit"}`) == 1 {
		holder, other = b, a
	}
	if metricValue(t, holder, `sessiond_webhook_lease{endpoint="audit"}`) != 1 ||
		metricValue(t, other, `sessiond_webhook_lease{endpoint="audit"}`) != 0 {
		t.Fatal("want exactly one replica holding the endpoint's lease")
	}
	delivered := metricValue(t, holder, `sessiond_webhook_delivered_total{endpoint="audit"}`) +
		metricValue(t, other, `sessiond_webhook_delivered_total{endpoint="audit"}`)
	if int(delivered) != len(ids) {
		t.Errorf("sessiond_webhook_delivered_total: %g over both replicas, want %d", delivered, len(ids))
	}

	// A graceful stop gives the lease up: the other replica goes on.
	holder.Stop()
	sessionLoad(t, []string{other.URL}, 60)
	ids = loggedEvents(t, redis.URL())
	recv.WaitTaken(t, ids, 2*time.Minute)

	taken := recv.Taken()
	twice := 0
	for _, id := range ids {
		if taken[id] != 1 {
			twice++
		}
	}
	if twice > 0 || len(taken) != len(ids) {
		t.Errorf("%d of %d events taken other than once; %d ids taken in all", twice, len(ids), len(taken))
	}
	if bad := recv.Refused(); len(bad) > 0 {
		t.Errorf("the receiver refused %d requests: %v", len(bad), bad[:min(len(bad), 3)])
	}
	for _, d := range []*sessiondtest.Daemon{a, b} {
		noSecret(t, "sessiond's log", d.Log(), recv.Secret)
	}
	resp, err := http.Get(other.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	noSecret(t, "/metrics", string(body), recv.Secret)
	if strings.Contains(string(body), recv.URL) {
		t.Error("/metrics shows the endpoint's URL")
	}
}

// TestWebhooksCluster runs sessiond on a three-primary Redis Cluster (as
// the k8s overlay cluster does) with one endpoint, under a mix of creates,
// evictions, rotations, logouts and revocations by users whose buckets are
// on every primary. Every event of the log is delivered exactly once, in
// the log's order (so in each user's), signed, with the body the log
// holds; the endpoint's state, all of it under its hash tag, shows it
// caught up with no dead letters. (A key outside the hash tag makes the
// cluster client panic, or a script fail: either stops delivery.)
func TestWebhooksCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	cl := redistest.StartCluster(t, 3)
	recv := webhooktest.Start(t)
	recv.Check(independentCheck(recv.Secret))
	d := sessiondtest.Start(t, webhookEnv(cl.URL(), recv))
	sessionLoad(t, []string{d.URL}, 150)
	log := loggedLog(t, cl.URL())
	ids := make([]string, len(log))
	for i, e := range log {
		ids[i] = e.ID
	}
	recv.WaitTaken(t, ids, time.Minute)

	// The load reached every primary, with every kind of change.
	primaryOf := map[string]string{} // user -> the primary of its bucket
	types := map[sessiondb.EventType]int{}
	perUser := map[string][]string{} // user -> its event ids, in the log's order
	for _, e := range log {
		if primaryOf[e.UserID] == "" {
			primaryOf[e.UserID] = cl.NodeOf(t, "{"+sessiondb.UserShard(e.UserID).Tag()+"}").Addr()
		}
		types[e.Type]++
		perUser[e.UserID] = append(perUser[e.UserID], e.ID)
	}
	if n := len(slices.Compact(slices.Sorted(maps.Values(primaryOf)))); n != 3 {
		t.Errorf("the users' buckets are on %d primaries, want all 3", n)
	}
	for _, typ := range []sessiondb.EventType{sessiondb.EventCreated, sessiondb.EventRotated, sessiondb.EventInvalidated, sessiondb.EventEvicted} {
		if types[typ] == 0 {
			t.Errorf("no %s event in the log: the load misses a kind of change (%v)", typ, types)
		}
	}

	// Exactly once, as the log holds it, in its order.
	taken := recv.Taken()
	for _, e := range log {
		if taken[e.ID] != 1 {
			t.Errorf("event %s (%s of %s) taken %d times, want once", e.ID, e.Type, e.UserID, taken[e.ID])
		} else if got, want := recv.Body(e.ID), webhooks.EncodeEvent(&e); !bytes.Equal(got, want) {
			t.Errorf("event %s delivered as %s, the log holds %s", e.ID, got, want)
		}
	}
	if len(taken) != len(ids) {
		t.Errorf("%d distinct events taken, the log holds %d", len(taken), len(ids))
	}
	order := recv.Order()
	pos := make(map[string]int, len(order))
	for i, id := range order {
		pos[id] = i
	}
	for user, uids := range perUser {
		if !slices.IsSortedFunc(uids, func(a, b string) int { return pos[a] - pos[b] }) {
			t.Errorf("user %s: events delivered out of the log's order", user)
		}
	}
	if !slices.Equal(order, ids) {
		t.Errorf("delivered in another order than the log's (%d and %d events)", len(order), len(ids))
	}
	if bad := recv.Refused(); len(bad) > 0 {
		t.Errorf("the receiver refused %d requests: %v", len(bad), bad[:min(len(bad), 3)])
	}
	if got := metricValue(t, d, `sessiond_webhook_delivered_total{endpoint="audit"}`); int(got) != len(ids) {
		t.Errorf("sessiond_webhook_delivered_total %g, want %d", got, len(ids))
	}

	// sessionctl webhooks status's view: caught up, nothing dead or queued.
	state := deliveryState(t, cl.URL())
	last, err := sessiondb.ParseEventCursor(ids[len(ids)-1])
	if err != nil {
		t.Fatal(err)
	}
	var st webhooks.Status
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, err = state.Status(context.Background(), "audit", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if c, err := sessiondb.ParseEventCursor(st.Cursor); err == nil && c.Compare(last) >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the endpoint's cursor %q did not reach the last event %s: %+v", st.Cursor, last, st)
		}
	}
	if st.Dead != 0 || st.Queued != 0 || st.Paused != "" || st.Holder == "" {
		t.Errorf("status %+v: want a holder, no dead letters, none queued, not paused", st)
	}
	if eps, err := state.Endpoints(context.Background()); err != nil || !slices.Equal(eps, []string{"audit"}) {
		t.Errorf("registered endpoints %v, %v; want [audit]", eps, err)
	}
	prefix, keys := webhookKeys(t, cl.URL())
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix+"{wh.audit}") && k != prefix+"{wh}n" {
			t.Errorf("webhook key %q is outside the endpoint's hash tag {wh.audit}", k)
		}
	}
	if !slices.Contains(keys, prefix+"{wh.audit}c") {
		t.Errorf("no cursor key %s{wh.audit}c among the webhook keys %v", prefix, keys)
	}
	noSecret(t, "sessiond's log", d.Log(), recv.Secret)
	t.Logf("%d events (%v) by %d users over 3 primaries, %d requests", len(ids), types, len(perUser), recv.Requests())
}

// webhookKeys returns the store's key prefix and the keys of the webhook
// state (those with a hash tag starting {wh) on every node of the Redis at
// redisURL.
func webhookKeys(t *testing.T, redisURL string) (prefix string, keys []string) {
	t.Helper()
	cfg := config.Default()
	cfg.RedisURL = redisURL
	st, err := cfg.OpenStore()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rc := st.(redisClient)
	c, err := rc.Client()
	if err != nil {
		t.Fatal(err)
	}
	for addr, n := range c.Nodes() {
		ks, err := n.Do(context.Background(), n.B().Keys().Pattern("*{wh*").Build()).AsStrSlice()
		if err != nil {
			t.Fatalf("KEYS on %s: %v", addr, err)
		}
		keys = append(keys, ks...)
	}
	return rc.Prefix(), keys
}

// TestWebhookSettings: a bad endpoint or a missing event log stops sessiond
// at start-up with an error that says what to fix and never shows a
// secret; -h names every webhook setting.
func TestWebhookSettings(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SESSIOND_WEBHOOKS": "audit http://127.0.0.1:9/h * " + secret}, "set SESSION_EVENTS=true"},
		{map[string]string{"SESSION_EVENTS": "true", "SESSIOND_WEBHOOKS": "audit ftp://127.0.0.1/h * " + secret}, "SESSIOND_WEBHOOKS: endpoint 1 (audit): url: want an http:// or https:// URL"},
		{map[string]string{"SESSION_EVENTS": "true", "SESSIOND_WEBHOOKS": "audit http://127.0.0.1:9/h * " + secret[:20]}, "invalid secret"},
		{map[string]string{"SESSION_EVENTS": "true", "SESSIOND_WEBHOOKS": "ok http://127.0.0.1:9/h * " + secret + ";audit http://127.0.0.1:9/h sometimes " + secret}, "SESSIOND_WEBHOOKS: endpoint 2 (audit): types: want * or"},
		{map[string]string{"SESSION_EVENTS": "true", "SESSIOND_WEBHOOKS": "audit http://127.0.0.1:9/h " + secret}, "want 4 fields"},
		{map[string]string{"SESSION_EVENTS": "true", "SESSIOND_WEBHOOKS": "a http://x/ * " + secret + ";a http://y/ * " + secret}, `"a" is given twice`},
		{map[string]string{"SESSION_EVENTS": "true", "SESSIOND_WEBHOOK_MAX_ATTEMPTS": "0"}, "SESSIOND_WEBHOOK_MAX_ATTEMPTS"},
	} {
		_, err := runCLI(t, c.env, "-version")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.env, err, c.want)
			continue
		}
		noSecret(t, "the error "+err.Error(), err.Error(), secret)
	}
	out, err := runCLI(t, nil, "-h")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range webhookSettings {
		if !strings.Contains(out, s.Env) || s.Flag != "" && !strings.Contains(out, "-"+s.Flag) {
			t.Errorf("-h does not mention %s", s.Env)
		}
	}
	if strings.Contains(out, "-webhooks ") {
		t.Error("SESSIOND_WEBHOOKS (it holds secrets) has a flag")
	}
}

// TestWebhookDocs: docs/webhooks.md names every webhook setting with its
// flag and default, and every webhook metric.
func TestWebhookDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/webhooks.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, s := range webhookSettings {
		def := s.Default()
		if def == "" {
			def = "(unset)"
		}
		row := "| `" + s.Env + "` | "
		if s.Flag != "" {
			row += "`-" + s.Flag + "` | "
		} else {
			row += "(env only) | "
		}
		if def != "(unset)" {
			def = "`" + def + "`"
		}
		if !strings.Contains(doc, row+def+" |") {
			t.Errorf("docs/webhooks.md has no row %s%s", row, def)
		}
	}
	m := metrics.New("test")
	w := m.RegisterWebhooks([]string{"audit"})
	w.Lease("audit", true)
	w.Position("audit", time.Now())
	w.Attempt("audit", webhooks.ResultOK, time.Millisecond)
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if name := mf.GetName(); strings.HasPrefix(name, "sessiond_webhook_") {
			n++
			if !strings.Contains(doc, "`"+name+"`") {
				t.Errorf("docs/webhooks.md does not document the metric %s", name)
			}
		}
	}
	if n < 7 {
		t.Errorf("only %d webhook metrics gathered", n)
	}
}
