package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/memstore"
)

// fakeStats counts its calls and returns what it is told to.
type fakeStats struct {
	mu    sync.Mutex
	calls int
	stats sessiondb.Stats
	err   error
}

func (f *fakeStats) Stats(ctx context.Context) (sessiondb.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.stats, f.err
}

func TestStatsCollectorCaches(t *testing.T) {
	m := New("test")
	src := &fakeStats{stats: sessiondb.Stats{Total: 7, Active: 5, Expired: 2, Users: 3, Created: 11, Invalidated: 4, Evicted: 1, MemoryUsed: 800, MemoryMax: 1000}}
	m.RegisterStats(src, time.Hour, time.Second)
	first := scrape(t, m)
	for _, want := range []string{
		"sessiond_store_stats_up 1", "sessiond_store_sessions_active 5", "sessiond_store_sessions_expired 2",
		"sessiond_store_users 3", "sessiond_store_sessions_created_total 11", "sessiond_store_sessions_invalidated_total 4",
		"sessiond_store_sessions_evicted_total 1", "sessiond_store_memory_used_bytes 800", "sessiond_store_memory_max_bytes 1000",
		"sessiond_store_stats_errors_total 0",
	} {
		if !strings.Contains(first, want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, first)
		}
	}
	for range 5 {
		scrape(t, m)
	}
	if src.calls != 1 {
		t.Errorf("6 scrapes within maxAge read the store %d times, want 1", src.calls)
	}
}

func TestStatsCollectorErrorsAndExpiry(t *testing.T) {
	m := New("test")
	src := &fakeStats{err: errors.New("store down")}
	c := m.registerStats(src, time.Minute, time.Second)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }

	body := scrape(t, m)
	if !strings.Contains(body, "sessiond_store_stats_up 0") || strings.Contains(body, "sessiond_store_sessions_active") {
		t.Errorf("a failed read should export stats_up 0 and no figures:\n%s", body)
	}
	if !strings.Contains(body, "sessiond_store_stats_errors_total 1") {
		t.Errorf("a failed read should be counted:\n%s", body)
	}
	src.mu.Lock()
	src.err, src.stats = nil, sessiondb.Stats{Active: 9}
	src.mu.Unlock()
	if scrape(t, m); src.calls != 1 {
		t.Fatalf("a scrape within maxAge read the store again (%d calls)", src.calls)
	}
	now = now.Add(time.Minute)
	body = scrape(t, m)
	if src.calls != 2 || !strings.Contains(body, "sessiond_store_sessions_active 9") || !strings.Contains(body, "sessiond_store_stats_up 1") {
		t.Errorf("after maxAge the store should be read again (%d calls):\n%s", src.calls, body)
	}
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			v := mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
			fmt.Fprintf(&b, "%s %g\n", mf.GetName(), v)
		}
	}
	return b.String()
}

func TestInstrumentStore(t *testing.T) {
	m := New("test")
	st := m.InstrumentStore(memstore.New())
	mgr, err := sessiondb.New(st, sessiondb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := mgr.Create(ctx, "u", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Validate(ctx, string(s.Token)); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Get(ctx, "000AAAAAAAAAAAAAAAA"); !errors.Is(err, sessiondb.ErrNotFound) {
		t.Fatalf("Get(unknown) = %v", err)
	}
	st.Close()
	if _, err := mgr.Get(ctx, s.ID); err == nil {
		t.Fatal("Get after Close succeeded")
	}
	if got := testutil.CollectAndCount(m.storeDuration); got != numOps {
		t.Errorf("store_call_duration_seconds has %d series, want one per op (%d)", got, numOps)
	}
	for _, tc := range []struct {
		op, reason string
		want       float64
	}{
		{"get", "closed", 1},      // the Get after Close
		{"get", "unavailable", 0}, // not found is an outcome, not an error
		{"insert", "unavailable", 0},
	} {
		if got := testutil.ToFloat64(m.storeErrors.WithLabelValues(tc.op, tc.reason)); got != tc.want {
			t.Errorf("store_call_errors_total{op=%q,reason=%q} = %g, want %g", tc.op, tc.reason, got, tc.want)
		}
	}
}

func TestErrorReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{sessiondb.ErrNotFound, ""},
		{fmt.Errorf("x: %w", sessiondb.ErrSessionLimit), ""},
		{sessiondb.ErrConflict, ""},
		{sessiondb.ErrExists, ""},
		{fmt.Errorf("x: %w", sessiondb.ErrStoreFull), "full"},
		{fmt.Errorf("x: %w", sessiondb.ErrUnavailable), "unavailable"},
		{fmt.Errorf("x: %w", sessiondb.ErrStoreAuth), "auth"},
		{sessiondb.ErrClosed, "closed"},
		{context.Canceled, "canceled"},
		{errors.New("boom"), "other"},
	} {
		if got := errorReason(tc.err); got != tc.want {
			t.Errorf("errorReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestRouteAndEvents(t *testing.T) {
	m := New("v1.2.3")
	r := m.Route("/v1/sessions", "POST")
	r.Observe(201, 3*time.Millisecond)
	r.Observe(201, time.Millisecond)
	r.Observe(999, time.Millisecond)
	m.SessionCreated()
	m.SessionValidated(true)
	m.SessionValidated(false)
	m.SessionValidated(false)
	m.SessionsInvalidated(3)
	m.SessionRefreshed()
	m.SessionRotated()
	m.CleanupDone(4, time.Millisecond, nil)
	m.CleanupDone(1, time.Millisecond, errors.New("partial"))
	for _, tc := range []struct {
		got, want float64
		name      string
	}{
		{testutil.ToFloat64(m.requests.WithLabelValues("/v1/sessions", "POST", "201")), 2, "requests 201"},
		{testutil.ToFloat64(m.requests.WithLabelValues("/v1/sessions", "POST", "999")), 1, "requests 999"},
		{testutil.ToFloat64(m.created), 1, "created"},
		{testutil.ToFloat64(m.validated.WithLabelValues("valid")), 1, "validated valid"},
		{testutil.ToFloat64(m.validated.WithLabelValues("invalid")), 2, "validated invalid"},
		{testutil.ToFloat64(m.invalidated), 3, "invalidated"},
		{testutil.ToFloat64(m.refreshed), 1, "refreshed"},
		{testutil.ToFloat64(m.rotated), 1, "rotated"},
		{testutil.ToFloat64(m.cleanupRuns.WithLabelValues("ok")), 1, "cleanup ok"},
		{testutil.ToFloat64(m.cleanupRuns.WithLabelValues("error")), 1, "cleanup error"},
		{testutil.ToFloat64(m.cleanupRemoved), 5, "cleanup removed"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %g, want %g", tc.name, tc.got, tc.want)
		}
	}
	// Two sets of metrics never share a series.
	if other := New("x"); testutil.ToFloat64(other.created) != 0 {
		t.Error("a fresh Metrics starts with counts of another")
	}
	if body := scrape(t, m); !strings.Contains(body, "sessiond_build_info 1\n") {
		t.Errorf("build_info missing:\n%s", body)
	}
}

type fakeCache struct{ hits, misses uint64 }

func (f fakeCache) CacheStats() (uint64, uint64) { return f.hits, f.misses }

func TestCacheCollector(t *testing.T) {
	m := New("test")
	m.RegisterCache(fakeCache{hits: 7, misses: 3})
	out := scrape(t, m)
	// scrape writes no labels: hits, then misses.
	if !strings.Contains(out, "sessiond_cache_reads_total 7\nsessiond_cache_reads_total 3\n") {
		t.Errorf("metrics lack the cache's 7 hits and 3 misses:\n%s", out)
	}
	none := New("test")
	none.RegisterCache(nil)
	if out := scrape(t, none); !strings.Contains(out, "sessiond_cache_reads_total 0\nsessiond_cache_reads_total 0\n") {
		t.Errorf("without a cache the series are missing:\n%s", out)
	}
}

func TestSnapshot(t *testing.T) {
	m := New("test")
	st := m.InstrumentStore(memstore.New())
	m.SessionCreated()
	m.SessionCreated()
	m.SessionValidated(true)
	m.SessionValidated(false)
	m.SessionValidated(false)
	m.SessionsInvalidated(4)
	m.CleanupDone(5, time.Millisecond, nil)
	m.CleanupDone(0, time.Millisecond, errors.New("boom"))
	st.done(opGet, time.Now(), sessiondb.ErrUnavailable)
	st.done(opInsert, time.Now(), sessiondb.ErrStoreFull)
	st.done(opInsert, time.Now(), sessiondb.ErrStoreFull)
	st.done(opGet, time.Now(), sessiondb.ErrNotFound)
	s := m.Snapshot()
	if s.Created != 2 || s.ValidationsValid != 1 || s.ValidationsInvalid != 2 || s.Invalidated != 4 ||
		s.CleanupRuns != 1 || s.CleanupErrors != 1 || s.CleanupRemoved != 5 || !s.LastCleanupErr || s.LastCleanup.IsZero() {
		t.Errorf("snapshot %+v", s)
	}
	if s.StoreErrors["unavailable"] != 1 || s.StoreErrors["full"] != 2 || len(s.StoreErrors) != 2 {
		t.Errorf("store errors %v, want unavailable 1, full 2", s.StoreErrors)
	}
}
