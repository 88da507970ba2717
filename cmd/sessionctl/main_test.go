package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
)

// result is what one sessionctl run did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// ctl runs sessionctl in-process with env as its whole environment.
func ctl(t testing.TB, env map[string]string, args ...string) result {
	t.Helper()
	return ctlIn(t, env, "", args...)
}

// ctlIn is ctl with standard input.
func ctlIn(t testing.TB, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errw bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errw)
	return result{code, out.String(), errw.String()}
}

// want checks the exit code.
func (r result) want(t testing.TB, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\n%s", r.code, code, r)
	}
	return r
}

// decode parses stdout as JSON into v.
func (r result) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r)
	}
}

// slow is REDIS_TIMEOUT_MS for tests: the machine running them may be
// loaded far beyond what the default 2s per call allows for.
const slow = "30000"

// redisEnv is the environment of a sessionctl that uses srv.
func redisEnv(srv *redistest.Server) map[string]string {
	return map[string]string{"REDIS_URL": srv.URL(), "REDIS_TIMEOUT_MS": slow}
}

// manager opens the store that env configures, as sessiond would.
func manager(t testing.TB, env map[string]string) *sessiondb.Manager {
	t.Helper()
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	m, err := cfg.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Store().Close() })
	return m
}

func create(t testing.TB, m *sessiondb.Manager, user string, ttl time.Duration, md map[string]string) *sessiondb.Session {
	t.Helper()
	s, err := m.Create(context.Background(), user, ttl, md)
	if err != nil {
		t.Fatalf("Create(%q): %v", user, err)
	}
	return s
}

// genRecord makes a valid record for user without a token (as a restore
// would see it), live for ttl from now.
func genRecord(user string, i int, ttl time.Duration) *sessiondb.Record {
	var raw [12]byte
	rand.Read(raw[:])
	now := time.Now().UTC().Truncate(time.Millisecond)
	r := &sessiondb.Record{
		ID:     sessiondb.UserShard(user).Tag() + base64.RawURLEncoding.EncodeToString(raw[:]),
		UserID: user, CreatedAt: now.Add(-time.Duration(i%600) * time.Second), LastSeenAt: now.Add(-time.Duration(i%60) * time.Second),
		TTL: ttl,
	}
	r.ExpiresAt = now.Add(ttl)
	switch i % 4 {
	case 0:
		r.Metadata = map[string]string{"ip": fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0"}
	case 1:
		r.Metadata = map[string]string{"device": "phone ☎", "note": fmt.Sprintf("line\nbreak \"%d\"", i)}
		r.IdleTimeout = 2 * ttl
	case 2:
		r.IdleTimeout = ttl + time.Duration(i)*time.Millisecond
	}
	return r
}

// fill adds n generated records over users "<prefix><k>" to the store
// with parallel Restore calls and returns them by id.
func fill(t testing.TB, st sessiondb.Store, prefix string, n, users int, ttl time.Duration) map[string]*sessiondb.Record {
	t.Helper()
	recs := make([]*sessiondb.Record, n)
	for i := range recs {
		recs[i] = genRecord(fmt.Sprintf("%s%d", prefix, i%users), i, ttl)
	}
	restoreAll(t, st, recs)
	out := make(map[string]*sessiondb.Record, n)
	for _, r := range recs {
		out[r.ID] = r
	}
	return out
}

func restoreAll(t testing.TB, st sessiondb.Store, recs []*sessiondb.Record) {
	t.Helper()
	const workers = 32
	ch := make(chan *sessiondb.Record)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range workers {
		wg.Go(func() {
			for r := range ch {
				ok, err := st.Restore(context.Background(), r, time.Now())
				if err == nil && !ok {
					err = fmt.Errorf("record %s not restored", r.ID)
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		})
	}
	for _, r := range recs {
		ch <- r
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

// walk returns every live record of a store by id.
func walk(t testing.TB, st sessiondb.Store) map[string]*sessiondb.Record {
	t.Helper()
	out := make(map[string]*sessiondb.Record)
	err := st.Walk(context.Background(), time.Now(), func(r *sessiondb.Record) error {
		if _, dup := out[r.ID]; dup {
			return fmt.Errorf("walk saw %s twice", r.ID)
		}
		out[r.ID] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameRecords fails unless got and want hold equal records.
func sameRecords(t testing.TB, got, want map[string]*sessiondb.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d records, want %d", len(got), len(want))
	}
	bad := 0
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			t.Errorf("record %s missing", id)
		case !g.Equal(w):
			t.Errorf("record %s = %+v, want %+v", id, g, w)
		default:
			continue
		}
		if bad++; bad > 5 {
			t.Fatal("too many differences")
		}
	}
}

// consistent runs redisstore's consistency check on the store under m.
func consistent(t testing.TB, m *sessiondb.Manager) {
	t.Helper()
	rs, ok := m.Store().(*redisstore.Store)
	if !ok {
		t.Fatalf("store is %T, not a Redis store", m.Store())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := rs.CheckConsistency(ctx, time.Now()); err != nil {
		t.Fatalf("CheckConsistency: %v", err)
	}
}

func stats(t testing.TB, m *sessiondb.Manager) sessiondb.Stats {
	t.Helper()
	st, err := m.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// dbsize returns the number of keys on srv.
func dbsize(t testing.TB, srv *redistest.Server) string {
	t.Helper()
	n, err := srv.Do("DBSIZE")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }
