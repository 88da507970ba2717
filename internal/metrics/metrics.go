// Package metrics holds sessiond's Prometheus metrics: HTTP requests, session
// events, cleanup passes, store calls and the store's own statistics. Every
// metric lives in the Registry of one Metrics value; nothing is global, so
// several servers in one process (tests) never share counters.
package metrics

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric name.
const Namespace = "sessiond"

// LatencyBuckets are the histogram buckets, in seconds, of request and store
// call latencies: from half a millisecond (a validate on a warm connection)
// to the ten-second request bound.
var LatencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Metrics is one set of sessiond metrics and the registry that exports them.
// It is safe for concurrent use.
type Metrics struct {
	// Registry holds every metric below, plus the Go runtime and process
	// collectors. Serve it with promhttp.HandlerFor.
	Registry *prometheus.Registry

	requests *prometheus.CounterVec   // route, method, code
	duration *prometheus.HistogramVec // route, method
	inFlight prometheus.Gauge
	streams  prometheus.Gauge // open event streams

	created     prometheus.Counter
	validated   *prometheus.CounterVec // result
	refreshed   prometheus.Counter
	rotated     prometheus.Counter
	updated     prometheus.Counter
	invalidated prometheus.Counter

	cleanupRuns     *prometheus.CounterVec // result
	cleanupRemoved  prometheus.Counter
	cleanupDuration prometheus.Histogram

	storeDuration *prometheus.HistogramVec // op
	storeErrors   *prometheus.CounterVec   // op, reason

	lastCleanup    atomic.Int64 // unix nanoseconds of the end of the last pass
	lastCleanupErr atomic.Bool
}

// New returns a fresh set of metrics in a registry of its own. version is
// exported as the version label of sessiond_build_info.
func New(version string) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern and method.",
			Buckets: LatencyBuckets,
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "http_requests_in_flight",
			Help: "HTTP requests being served now, event streams left out (sessiond_event_streams).",
		}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "event_streams",
			Help: "Event streams (GET /v1/events/stream, Server-Sent Events) open now.",
		}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sessions_created_total",
			Help: "Sessions created by this process.",
		}),
		validated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sessions_validated_total",
			Help: "Token validations by this process, by result: valid, or invalid (unknown, expired, revoked or malformed token).",
		}, []string{"result"}),
		refreshed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sessions_refreshed_total",
			Help: "Sessions refreshed by this process.",
		}),
		rotated: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sessions_rotated_total",
			Help: "Session tokens rotated by this process.",
		}),
		updated: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sessions_updated_total",
			Help: "Session metadata updates by this process.",
		}),
		invalidated: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sessions_invalidated_total",
			Help: "Sessions ended by this process: by token, by id, or with all of a user's sessions.",
		}),
		cleanupRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "cleanup_runs_total",
			Help: "Cleanup passes run by this process (background and POST /v1/cleanup), by result: ok or error.",
		}, []string{"result"}),
		cleanupRemoved: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "cleanup_removed_total",
			Help: "Expired index entries removed by this process's cleanup passes.",
		}),
		cleanupDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "cleanup_duration_seconds",
			Help:    "Time taken by a cleanup pass.",
			Buckets: LatencyBuckets,
		}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "store_call_duration_seconds",
			Help:    "Time taken by a call to the session store, by operation.",
			Buckets: LatencyBuckets,
		}, []string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "store_call_errors_total",
			Help: "Store calls that failed, by operation and reason: unavailable, full (out of memory), closed, canceled or other. Not-found and limit outcomes are not errors.",
		}, []string{"op", "reason"}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help:        "Always 1; the labels tell the version and the Go version.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	for _, r := range []string{"valid", "invalid"} {
		m.validated.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.cleanupRuns.WithLabelValues(r)
	}
	m.Registry.MustRegister(
		m.requests, m.duration, m.inFlight, m.streams,
		m.created, m.validated, m.refreshed, m.rotated, m.updated, m.invalidated,
		m.cleanupRuns, m.cleanupRemoved, m.cleanupDuration,
		m.storeDuration, m.storeErrors, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Route holds the request metrics of one route, with its labels resolved
// once, so that observing a request costs no label lookup but the code's.
type Route struct {
	requests *prometheus.CounterVec // curried: code
	duration prometheus.Observer
}

// Route returns the metrics of a route pattern (e.g. "/v1/sessions/{id}")
// served with method.
func (m *Metrics) Route(pattern, method string) *Route {
	labels := prometheus.Labels{"route": pattern, "method": method}
	return &Route{
		requests: m.requests.MustCurryWith(labels),
		duration: m.duration.With(labels),
	}
}

// Observe records one request that ended with code after d.
func (r *Route) Observe(code int, d time.Duration) {
	r.requests.WithLabelValues(codeString(code)).Inc()
	r.duration.Observe(d.Seconds())
}

// codes holds the decimal form of the status codes, so that labelling a
// request does not format a number.
var codes = func() (c [600]string) {
	for i := 100; i < len(c); i++ {
		c[i] = strconv.Itoa(i)
	}
	return c
}()

func codeString(code int) string {
	if code >= 100 && code < len(codes) {
		return codes[code]
	}
	return strconv.Itoa(code)
}

// InFlight returns the gauge of requests being served.
func (m *Metrics) InFlight() prometheus.Gauge { return m.inFlight }

// EventStreams returns the gauge of open event streams. An event stream
// moves itself from InFlight to this gauge once it has started.
func (m *Metrics) EventStreams() prometheus.Gauge { return m.streams }

// SessionCreated counts a created session.
func (m *Metrics) SessionCreated() { m.created.Inc() }

// SessionValidated counts a validation and whether the token was valid.
func (m *Metrics) SessionValidated(valid bool) {
	if valid {
		m.validated.WithLabelValues("valid").Inc()
	} else {
		m.validated.WithLabelValues("invalid").Inc()
	}
}

// SessionRefreshed counts a refresh.
func (m *Metrics) SessionRefreshed() { m.refreshed.Inc() }

// SessionRotated counts a rotation.
func (m *Metrics) SessionRotated() { m.rotated.Inc() }

// SessionUpdated counts a metadata update.
func (m *Metrics) SessionUpdated() { m.updated.Inc() }

// SessionsInvalidated counts n ended sessions.
func (m *Metrics) SessionsInvalidated(n int) { m.invalidated.Add(float64(n)) }

// CleanupDone records a cleanup pass: how many entries it removed, how long
// it took and whether it failed. A failed pass may have removed some.
func (m *Metrics) CleanupDone(removed int, took time.Duration, err error) {
	m.lastCleanupErr.Store(err != nil)
	m.lastCleanup.Store(time.Now().UnixNano())
	if err != nil {
		m.cleanupRuns.WithLabelValues("error").Inc()
	} else {
		m.cleanupRuns.WithLabelValues("ok").Inc()
	}
	m.cleanupRemoved.Add(float64(removed))
	m.cleanupDuration.Observe(took.Seconds())
}
