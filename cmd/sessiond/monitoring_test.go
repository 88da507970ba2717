package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sessiondb/sessiondb/internal/redistest"
)

// TestMonitoringNamesExportedMetrics scrapes a real sessiond (on Redis,
// with the client-side cache, after a call of every kind) and checks that
// every metric named by a query of the Grafana dashboard or an expression
// of the alerting rules in deploy/monitoring is one sessiond exports.
func TestMonitoringNamesExportedMetrics(t *testing.T) {
	redis := redistest.Start(t, "--maxmemory", "64mb")
	d := startDaemon(t, map[string]string{"REDIS_URL": redis.URL(), "REDIS_CLIENT_CACHE_SECONDS": "60"})
	s := d.create(t, "u", "")
	d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).want(t, 200)
	d.do("POST", "/v1/sessions/validate", `{"token":"sdb_nonsense"}`).want(t, 404)
	d.do("POST", "/v1/sessions/refresh", `{"token":"`+s.Token+`"}`).want(t, 200)
	d.do("POST", "/v1/sessions/metadata", `{"token":"`+s.Token+`","metadata":{"k":"v"}}`).want(t, 200)
	r := d.do("POST", "/v1/sessions/rotate", `{"token":"`+s.Token+`"}`).want(t, 200).session(t, true)
	d.do("POST", "/v1/sessions/invalidate", `{"token":"`+r.Token+`"}`).want(t, 204)
	d.do("POST", "/v1/cleanup", "").want(t, 200)
	d.do("GET", "/nowhere", "").want(t, 404)

	exported := scrapeFamilies(t, d)
	var names []string
	for _, e := range monitoringExprs(t) {
		for _, n := range promqlMetricNames(e) {
			names = append(names, n)
			if !isExported(exported, n) {
				t.Errorf("%s names %s, which sessiond does not export", e, n)
			}
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) < 20 {
		t.Errorf("only %d metric names in the dashboard and rules: %v", len(names), names)
	}
	t.Logf("%d metric names, all exported: %v", len(names), names)
}

// scrapeFamilies reads sessiond's /metrics: family name -> type.
func scrapeFamilies(t *testing.T, d *daemon) map[string]dto.MetricType {
	t.Helper()
	a := d.do("GET", "/metrics", "").want(t, 200)
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(a.Body)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dto.MetricType{}
	for name, mf := range mfs {
		out[name] = mf.GetType()
	}
	return out
}

// isExported reports whether a name in a query is a series of the scrape:
// a family, or the _bucket, _sum or _count series of a histogram or summary.
func isExported(families map[string]dto.MetricType, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			typ, ok := families[base]
			if ok && (typ == dto.MetricType_HISTOGRAM || typ == dto.MetricType_SUMMARY && suffix != "_bucket") {
				return true
			}
		}
	}
	return false
}

// monitoringExprs returns every PromQL expression of deploy/monitoring: the
// rules' expr lines and the dashboard's queries.
func monitoringExprs(t *testing.T) []string {
	t.Helper()
	var exprs []string
	rules, err := os.ReadFile("../../deploy/monitoring/sessiond-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for line := range strings.SplitSeq(string(rules), "\n") {
		line = strings.TrimSpace(line)
		if e, ok := strings.CutPrefix(line, "expr: "); ok {
			exprs = append(exprs, e)
		}
		if strings.HasPrefix(line, "- alert: ") || strings.HasPrefix(line, "- record: ") {
			alerts++
		}
	}
	if alerts == 0 || len(exprs) != alerts {
		t.Fatalf("sessiond-rules.yaml: %d rules, %d one-line exprs: keep each expr on one line", alerts, len(exprs))
	}

	b, err := os.ReadFile("../../deploy/monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("dashboard panel %q has a target without a query", p.Title)
			}
			exprs = append(exprs, tg.Expr)
			queries++
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			if m := regexp.MustCompile(`label_values\((\w+)`).FindStringSubmatch(q["query"].(string)); m != nil {
				exprs = append(exprs, m[1])
			}
		}
	}
	if queries < 20 {
		t.Errorf("the dashboard has %d queries", queries)
	}
	return exprs
}

var (
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promqlKeywords = map[string]bool{
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true,
	}
)

// promqlMetricNames returns the metric names a PromQL expression selects:
// the identifiers left once strings, label matchers, ranges and grouping
// labels are removed, that are neither functions nor keywords.
func promqlMetricNames(expr string) []string {
	e := promqlStrings.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlRanges.ReplaceAllString(e, " ")
	e = promqlGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range promqlIdent.FindAllStringIndex(e, -1) {
		id := e[loc[0]:loc[1]]
		rest := strings.TrimLeft(e[loc[1]:], " ")
		if strings.HasPrefix(rest, "(") || promqlKeywords[strings.ToLower(id)] {
			continue
		}
		if loc[0] > 0 && (e[loc[0]-1] >= '0' && e[loc[0]-1] <= '9' || e[loc[0]-1] == '.' || e[loc[0]-1] == '$') {
			continue // a number's exponent or a Grafana variable
		}
		out = append(out, id)
	}
	return out
}

func TestPromQLMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`max(sessiond_store_memory_used_bytes) / max(sessiond_store_memory_max_bytes > 0) > 0.8`,
			[]string{"sessiond_store_memory_used_bytes", "sessiond_store_memory_max_bytes"}},
		{`histogram_quantile(0.99, sum by (le, route) (rate(http_x_bucket{route=~"/v1/.*",instance=~"$instance"}[$__rate_interval])))`,
			[]string{"http_x_bucket"}},
		{`sum(increase(a_total{result="error"}[30m])) > 0 and on (instance) b unless ignoring(x) c offset 5m`,
			[]string{"a_total", "b", "c"}},
		{`absent(up)`, []string{"up"}},
		{`1e3 * rate(x[1m])`, []string{"x"}},
	} {
		if got := promqlMetricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("promqlMetricNames(%q) = %v, want %v", c.expr, got, c.want)
		}
	}
	if isExported(map[string]dto.MetricType{"h": dto.MetricType_HISTOGRAM, "c": dto.MetricType_COUNTER}, "c_bucket") {
		t.Error("a counter's _bucket counted as exported")
	}
}
