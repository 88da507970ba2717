package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiondb/sessiondb/internal/webhooks"
)

// Webhooks is the delivery's metrics (a webhooks.Observer), labelled by
// endpoint name: never a URL or a secret. Make it with
// Metrics.RegisterWebhooks.
type Webhooks struct {
	requests  *prometheus.CounterVec   // endpoint, result
	duration  *prometheus.HistogramVec // endpoint
	delivered *prometheus.CounterVec   // endpoint
	dead      *prometheus.CounterVec   // endpoint
	dropped   *prometheus.CounterVec   // endpoint

	mu       sync.Mutex
	position map[string]time.Time // endpoint -> where delivery is; zero: not held here
	held     map[string]bool
	now      func() time.Time
	lagDesc  *prometheus.Desc
	heldDesc *prometheus.Desc
}

var _ webhooks.Observer = (*Webhooks)(nil)

// RegisterWebhooks adds the webhook metrics of endpoints (their names), each
// series at zero from the start so that dashboards and alerts find it:
//
//	sessiond_webhook_requests_total{endpoint,result}  requests, by result: ok or why it failed
//	sessiond_webhook_request_duration_seconds{endpoint}
//	sessiond_webhook_delivered_total{endpoint}        events the endpoint took
//	sessiond_webhook_dead_letters_total{endpoint}     events that became dead letters
//	sessiond_webhook_dead_letters_dropped_total{endpoint}
//	sessiond_webhook_lag_seconds{endpoint}            age of the oldest event not yet delivered (this process's endpoints)
//	sessiond_webhook_lease{endpoint}                  1 when this process delivers to the endpoint
func (m *Metrics) RegisterWebhooks(endpoints []string) *Webhooks {
	w := &Webhooks{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "webhook_requests_total",
			Help: "Webhook requests sent by this process, by endpoint and result: ok (2xx) or why the attempt failed (redirect, gone, 4xx, 5xx, timeout, network).",
		}, []string{"endpoint", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "webhook_request_duration_seconds",
			Help:    "Time taken by a webhook request, answered or not, by endpoint.",
			Buckets: LatencyBuckets,
		}, []string{"endpoint"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "webhook_delivered_total",
			Help: "Events delivered by this process (the endpoint answered 2xx), by endpoint.",
		}, []string{"endpoint"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "webhook_dead_letters_total",
			Help: "Events that became dead letters in this process after SESSIOND_WEBHOOK_MAX_ATTEMPTS failed attempts, by endpoint (sessionctl webhooks dead lists them).",
		}, []string{"endpoint"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "webhook_dead_letters_dropped_total",
			Help: "Oldest dead letters dropped to keep an endpoint's at most 10000, by endpoint.",
		}, []string{"endpoint"}),
		position: map[string]time.Time{},
		held:     map[string]bool{},
		now:      time.Now,
		lagDesc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "webhook", "lag_seconds"),
			"Age of the event being delivered, or, caught up, of the delivery cursor, by endpoint; exported by the process that delivers to the endpoint (sessiond_webhook_lease 1).",
			[]string{"endpoint"}, nil),
		heldDesc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "webhook", "lease"),
			"1 when this process holds the endpoint's lease (delivers to it), 0 otherwise.",
			[]string{"endpoint"}, nil),
	}
	for _, ep := range endpoints {
		for _, r := range webhooks.Results {
			w.requests.WithLabelValues(ep, string(r))
		}
		w.delivered.WithLabelValues(ep)
		w.dead.WithLabelValues(ep)
		w.dropped.WithLabelValues(ep)
		w.held[ep] = false
	}
	m.Registry.MustRegister(w.requests, w.duration, w.delivered, w.dead, w.dropped, w)
	return w
}

// Attempt implements webhooks.Observer.
func (w *Webhooks) Attempt(ep string, result webhooks.Result, took time.Duration) {
	w.requests.WithLabelValues(ep, string(result)).Inc()
	w.duration.WithLabelValues(ep).Observe(took.Seconds())
}

// Delivered implements webhooks.Observer.
func (w *Webhooks) Delivered(ep string) { w.delivered.WithLabelValues(ep).Inc() }

// DeadLettered implements webhooks.Observer.
func (w *Webhooks) DeadLettered(ep string) { w.dead.WithLabelValues(ep).Inc() }

// Dropped implements webhooks.Observer.
func (w *Webhooks) Dropped(ep string, n int) { w.dropped.WithLabelValues(ep).Add(float64(n)) }

// Position implements webhooks.Observer.
func (w *Webhooks) Position(ep string, at time.Time) {
	w.mu.Lock()
	w.position[ep] = at
	w.mu.Unlock()
}

// Lease implements webhooks.Observer.
func (w *Webhooks) Lease(ep string, held bool) {
	w.mu.Lock()
	w.held[ep] = held
	w.mu.Unlock()
}

// Describe implements prometheus.Collector (the lag and the lease).
func (w *Webhooks) Describe(ch chan<- *prometheus.Desc) {
	ch <- w.lagDesc
	ch <- w.heldDesc
}

// Collect implements prometheus.Collector (the lag and the lease).
func (w *Webhooks) Collect(ch chan<- prometheus.Metric) {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for ep, held := range w.held {
		v := 0.0
		if held {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(w.heldDesc, prometheus.GaugeValue, v, ep)
		if at := w.position[ep]; held && !at.IsZero() {
			ch <- prometheus.MustNewConstMetric(w.lagDesc, prometheus.GaugeValue, max(now.Sub(at).Seconds(), 0), ep)
		}
	}
}
