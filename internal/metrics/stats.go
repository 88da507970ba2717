package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiondb/sessiondb"
)

// StatsSource gives the store-wide statistics; *sessiondb.Manager is one.
type StatsSource interface {
	Stats(ctx context.Context) (sessiondb.Stats, error)
}

// Default bounds of a statistics read made for a scrape.
const (
	DefaultStatsMaxAge  = 10 * time.Second
	DefaultStatsTimeout = 2 * time.Second
)

// statsCollector exports a StatsSource at scrape time. A read is reused for
// maxAge and bounded by timeout, and one read at a time is made, so that
// scrapes, however many, cannot load the store.
type statsCollector struct {
	src     StatsSource
	maxAge  time.Duration
	timeout time.Duration
	now     func() time.Time

	mu      sync.Mutex
	fetched time.Time
	stats   sessiondb.Stats
	err     error

	up, active, expired, users, created, invalidated, evicted, memUsed, memMax *prometheus.Desc
	events, eventBytes, revocations, revocationBytes                           *prometheus.Desc
	errors                                                                     prometheus.Counter
}

// RegisterStats exports src's statistics as sessiond_store_* metrics, read at
// most once per maxAge (DefaultStatsMaxAge when 0) with a bound of timeout
// (DefaultStatsTimeout when 0). Every replica of sessiond exports the same
// store-wide figures: aggregate them with max, not sum.
func (m *Metrics) RegisterStats(src StatsSource, maxAge, timeout time.Duration) {
	m.registerStats(src, maxAge, timeout)
}

func (m *Metrics) registerStats(src StatsSource, maxAge, timeout time.Duration) *statsCollector {
	if maxAge <= 0 {
		maxAge = DefaultStatsMaxAge
	}
	if timeout <= 0 {
		timeout = DefaultStatsTimeout
	}
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "store", name), help, nil, nil)
	}
	c := &statsCollector{
		src: src, maxAge: maxAge, timeout: timeout, now: time.Now,
		up:              d("stats_up", "1 if the last read of the store's statistics succeeded, else 0 (and the other sessiond_store_* figures are left out)."),
		active:          d("sessions_active", "Live sessions in the store."),
		expired:         d("sessions_expired", "Expired sessions still indexed, waiting for cleanup."),
		users:           d("users", "Users with at least one session in the index."),
		created:         d("sessions_created_total", "Sessions created in the store, by every client of the store."),
		invalidated:     d("sessions_invalidated_total", "Sessions ended by invalidation, by every client of the store."),
		evicted:         d("sessions_evicted_total", "Sessions ended by the per-user session limit (evict-oldest policy)."),
		memUsed:         d("memory_used_bytes", "Memory the store uses, in bytes (Redis used_memory summed over primaries; 0 when unknown)."),
		memMax:          d("memory_max_bytes", "The store's memory limit, in bytes (Redis maxmemory; 0 means none). Alert when used/max exceeds 0.8."),
		events:          d("event_entries", "Entries of the event log (SESSION_EVENTS; an entry is a change: one event or several); 0 with events off."),
		eventBytes:      d("event_memory_bytes", "Memory of the event log, in bytes (an estimate: Redis MEMORY USAGE); 0 with events off."),
		revocations:     d("revocations", "Ended sessions whose reason is remembered (SESSION_REVOCATION_MEMORY_SECONDS); 0 with events off."),
		revocationBytes: d("revocation_memory_bytes", "Memory of the remembered reasons, in bytes (an estimate); 0 with events off."),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "store", Name: "stats_errors_total",
			Help: "Failed reads of the store's statistics for a scrape.",
		}),
	}
	m.Registry.MustRegister(c)
	return c
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.active, c.expired, c.users, c.created, c.invalidated, c.evicted, c.memUsed, c.memMax,
		c.events, c.eventBytes, c.revocations, c.revocationBytes} {
		ch <- d
	}
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.read()
	defer c.errors.Collect(ch)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(c.active, st.Active)
	gauge(c.expired, st.Expired)
	gauge(c.users, st.Users)
	counter(c.created, st.Created)
	counter(c.invalidated, st.Invalidated)
	counter(c.evicted, st.Evicted)
	gauge(c.memUsed, st.MemoryUsed)
	gauge(c.memMax, st.MemoryMax)
	gauge(c.events, st.EventEntries)
	gauge(c.eventBytes, st.EventBytes)
	gauge(c.revocations, st.Revocations)
	gauge(c.revocationBytes, st.RevocationBytes)
}

// read returns the cached statistics, reading them again when they are older
// than maxAge. Concurrent scrapes wait for one read.
func (c *statsCollector) read() (sessiondb.Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fetched.IsZero() && c.now().Sub(c.fetched) < c.maxAge {
		return c.stats, c.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	c.stats, c.err = c.src.Stats(ctx)
	c.fetched = c.now()
	if c.err != nil {
		c.errors.Inc()
	}
	return c.stats, c.err
}
