package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// promtoolSkipEnv makes a missing promtool skip the rules' tests.
const promtoolSkipEnv = "SESSIONDB_SKIP_PROMTOOL"

// promtool returns the path of promtool, or fails the test with how to
// install it (skips with SESSIONDB_SKIP_PROMTOOL=1).
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	msg := "promtool is needed to check the alerting rules and is not installed.\n" +
		"Install it:  sudo apt-get install -y --no-install-recommends prometheus   (Debian; ./scripts/test.sh does it as root)\n" +
		"or set " + promtoolSkipEnv + "=1 to skip these tests."
	if os.Getenv(promtoolSkipEnv) == "1" {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}

// rulesFile is the Prometheus rules file, decoded.
type rulesFile struct {
	Groups []monitoringv1.RuleGroup `json:"groups"`
}

func loadRules(t *testing.T) rulesFile {
	t.Helper()
	b, err := os.ReadFile(repo("deploy", "monitoring", "sessiond-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf rulesFile
	if err := yaml.UnmarshalStrict(b, &rf); err != nil {
		t.Fatalf("sessiond-rules.yaml: %v", err)
	}
	return rf
}

// TestAlertingRules runs promtool check rules and promtool test rules, and
// checks that the unit tests make every alert fire at least once.
func TestAlertingRules(t *testing.T) {
	bin := promtool(t)
	dir := repo("deploy", "monitoring")
	for _, args := range [][]string{
		{"check", "rules", "sessiond-rules.yaml"},
		{"test", "rules", "sessiond-rules.test.yaml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "sessiond-rules.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &tests); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("alert %s: the unit tests make it fire: %v, stay quiet: %v; want both", r.Alert, fires[r.Alert], quiet[r.Alert])
			}
			for _, k := range []string{"summary", "runbook_url"} {
				if r.Annotations[k] == "" {
					t.Errorf("alert %s has no %s", r.Alert, k)
				}
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, s)
			}
		}
	}
	t.Logf("%d alerts, each unit-tested firing and quiet", n)
}

// TestRunbookLinks: every alert's runbook is a section of docs/operations.md.
func TestRunbookLinks(t *testing.T) {
	b, err := os.ReadFile(repo("docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ +(.+)$`).FindAllStringSubmatch(string(b), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	const prefix = "https://github.com/sessiondb/sessiondb/blob/main/docs/operations.md#"
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			u := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(u, prefix)
			if !ok || !anchors[anchor] {
				t.Errorf("alert %s: runbook %q is not a heading of docs/operations.md", r.Alert, u)
			}
		}
	}
}

// githubAnchor is the anchor GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// renderWithMonitoring builds k8s/ with the monitoring component, as a
// kustomization of an operator's would.
func renderWithMonitoring(t *testing.T) []any {
	t.Helper()
	k8s, err := filepath.Abs(repo("k8s"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, k8s) // kustomize takes no absolute roots
	if err != nil {
		t.Fatal(err)
	}
	kust := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - %s\ncomponents:\n  - %s\n",
		rel, filepath.Join(rel, "components", "monitoring"))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
		t.Fatal(err)
	}
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build with k8s/components/monitoring: %v", err)
	}
	var objs []any
	for _, r := range resMap.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, err := decodeMonitoring(y)
		if err != nil {
			t.Fatalf("rendered %s: %v", r.CurId(), err)
		}
		objs = append(objs, obj)
	}
	return objs
}

// decodeMonitoring decodes the Prometheus Operator's kinds strictly, with
// their Go types, and every other kind as decodeStrict does.
func decodeMonitoring(doc []byte) (any, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		return nil, err
	}
	var obj any
	switch tm.APIVersion + "/" + tm.Kind {
	case "monitoring.coreos.com/v1/ServiceMonitor":
		obj = &monitoringv1.ServiceMonitor{}
	case "monitoring.coreos.com/v1/PrometheusRule":
		obj = &monitoringv1.PrometheusRule{}
	default:
		return decodeStrict(doc)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	return obj, nil
}

func TestMonitoringComponent(t *testing.T) {
	objs := renderWithMonitoring(t)
	var (
		sms   []*monitoringv1.ServiceMonitor
		rules []*monitoringv1.PrometheusRule
		svc   *corev1.Service
		np    *networkingv1.NetworkPolicy
	)
	for _, o := range objs {
		switch v := o.(type) {
		case *monitoringv1.ServiceMonitor:
			sms = append(sms, v)
		case *monitoringv1.PrometheusRule:
			rules = append(rules, v)
		case *corev1.Service:
			if v.Name == "sessiond" {
				svc = v
			}
		case *networkingv1.NetworkPolicy:
			if v.Name == "sessiond-metrics-ingress" {
				np = v
			}
		}
		if m := o.(metav1.Object); m.GetNamespace() != namespace && m.GetNamespace() != "" {
			t.Errorf("%T %s in namespace %q", o, m.GetName(), m.GetNamespace())
		}
	}
	if len(sms) != 1 || len(rules) != 1 || svc == nil || np == nil {
		t.Fatalf("rendered %d ServiceMonitors, %d PrometheusRules, Service sessiond %v, NetworkPolicy %v; want one of each",
			len(sms), len(rules), svc != nil, np != nil)
	}
	if n := len(render(t).all); len(objs) != n+3 {
		t.Errorf("the component adds %d objects to k8s/'s %d, want 3", len(objs)-n, n)
	}

	// The ServiceMonitor finds the sessiond Service and its port.
	sm := sms[0]
	if !selects(t, &sm.Spec.Selector, svc.Labels) {
		t.Errorf("ServiceMonitor selector %v does not select the Service's labels %v", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{namespace}) {
		t.Errorf("ServiceMonitor namespaces %v", sm.Spec.NamespaceSelector.MatchNames)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
	}
	ep := sm.Spec.Endpoints[0]
	port := -1
	for _, p := range svc.Spec.Ports {
		if p.Name == ep.Port {
			port = int(p.Port)
		}
	}
	if port < 0 || ep.Path != "/metrics" {
		t.Errorf("ServiceMonitor scrapes port %q path %q; the Service has no such port, or the path is not /metrics", ep.Port, ep.Path)
	}

	// The NetworkPolicy opens that port to Prometheus.
	if !selects(t, &np.Spec.PodSelector, render(t).deployments["sessiond"].Spec.Template.Labels) ||
		len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].Ports) != 1 || np.Spec.Ingress[0].Ports[0].Port.IntValue() != port {
		t.Errorf("NetworkPolicy sessiond-metrics-ingress does not open port %d of the sessiond pods: %+v", port, np.Spec)
	}

	// The PrometheusRule holds the rules file's groups, exactly.
	want := loadRules(t)
	if !reflect.DeepEqual(rules[0].Spec.Groups, want.Groups) {
		got, _ := json.MarshalIndent(rules[0].Spec.Groups, "", " ")
		exp, _ := json.MarshalIndent(want.Groups, "", " ")
		t.Errorf("PrometheusRule groups differ from deploy/monitoring/sessiond-rules.yaml:\n%s\nwant\n%s", got, exp)
	}

	// The strict decoder refuses a misspelt field of these kinds.
	for _, bad := range []string{
		"apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec: {endpoint: []}\n",
		"apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: x}\nspec: {groups: [{name: g, rules: [{alert: A, expression: x}]}]}\n",
	} {
		if _, err := decodeMonitoring([]byte(bad)); err == nil {
			t.Errorf("decodeMonitoring accepted %q", bad)
		}
	}
}

// TestGrafanaDashboard: the dashboard is valid JSON of the shape Grafana
// imports, every panel has a query and a datasource, and ids and uid are
// unique.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile(repo("deploy", "monitoring", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard has no uid or title")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: grid position %+v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: want the ${datasource} variable and at least one query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" {
				t.Errorf("panel %q: a target without a query or refId", p.Title)
			}
		}
	}
	for _, want := range []string{"Requests per second", "latency", "Live sessions", "Redis memory", "5xx", "Cleanup", "cache hit rate"} {
		found := false
		for _, p := range d.Panels {
			found = found || strings.Contains(strings.ToLower(p.Title), strings.ToLower(want))
		}
		if !found {
			t.Errorf("no panel about %q", want)
		}
	}
}
