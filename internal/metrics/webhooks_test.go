package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sessiondb/sessiondb/internal/webhooks"
)

func TestWebhookMetrics(t *testing.T) {
	m := New("test")
	w := m.RegisterWebhooks([]string{"audit"})
	now := time.Unix(1000, 0)
	w.now = func() time.Time { return now }

	out := scrape(t, m)
	for _, name := range []string{"sessiond_webhook_requests_total 0", "sessiond_webhook_delivered_total 0",
		"sessiond_webhook_dead_letters_total 0", "sessiond_webhook_lease 0"} {
		if !strings.Contains(out, name+"\n") {
			t.Errorf("before any delivery, no %q in\n%s", name, out)
		}
	}
	if strings.Contains(out, "sessiond_webhook_lag_seconds") {
		t.Error("lag exported by a process that does not hold the lease")
	}

	w.Lease("audit", true)
	w.Position("audit", now.Add(-3*time.Second))
	w.Attempt("audit", webhooks.Result5xx, time.Millisecond)
	w.Attempt("audit", webhooks.ResultOK, time.Millisecond)
	w.Delivered("audit")
	w.DeadLettered("audit")
	w.Dropped("audit", 2)
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`sessiond_webhook_requests_total{endpoint="audit",result="5xx"}`, 1},
		{`sessiond_webhook_requests_total{endpoint="audit",result="ok"}`, 1},
		{`sessiond_webhook_delivered_total{endpoint="audit"}`, 1},
		{`sessiond_webhook_dead_letters_total{endpoint="audit"}`, 1},
		{`sessiond_webhook_dead_letters_dropped_total{endpoint="audit"}`, 2},
		{`sessiond_webhook_lag_seconds{endpoint="audit"}`, 3},
		{`sessiond_webhook_lease{endpoint="audit"}`, 1},
	} {
		name, _, _ := strings.Cut(c.series, "{")
		got, err := testutil.GatherAndCount(m.Registry, name)
		if err != nil || got == 0 {
			t.Fatalf("%s: %d series, %v", name, got, err)
		}
		if v := seriesValue(t, m, c.series); v != c.want {
			t.Errorf("%s = %g, want %g", c.series, v, c.want)
		}
	}
}

// seriesValue reads one series, given as name{label="value",...}, from m.
func seriesValue(t *testing.T, m *Metrics, series string) float64 {
	t.Helper()
	name, rest, _ := strings.Cut(series, "{")
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if strings.Join(labels, ",")+"}" == rest {
				return mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}
