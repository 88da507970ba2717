package metrics

import "github.com/prometheus/client_golang/prometheus"

// CacheSource counts the session reads served through a client-side cache;
// *redisstore.Store is one.
type CacheSource interface {
	CacheStats() (hits, misses uint64)
}

// cacheCollector exports a CacheSource as sessiond_cache_reads_total.
type cacheCollector struct {
	src  CacheSource // nil: no cache, zeros
	desc *prometheus.Desc
}

// RegisterCache exports src's counts as sessiond_cache_reads_total{result}
// (hit or miss). With a nil src, or a store without the cache, the counts
// stay 0, so that dashboards find the series either way.
func (m *Metrics) RegisterCache(src CacheSource) {
	m.Registry.MustRegister(&cacheCollector{src: src, desc: prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "cache", "reads_total"),
		"Session reads (validations, lookups by id) through the client-side cache of REDIS_CLIENT_CACHE_SECONDS, by result: hit (answered from this process's memory) or miss (sent to Redis). 0 without the cache.",
		[]string{"result"}, nil)})
}

// Describe implements prometheus.Collector.
func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	var hits, misses uint64
	if c.src != nil {
		hits, misses = c.src.CacheStats()
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(hits), "hit")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(misses), "miss")
}
