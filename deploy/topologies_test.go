package deploy

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/redistest"
)

// The topologies: the standalone base and the two overlays.
var topologies = []struct{ name, dir string }{
	{"standalone", "k8s"},
	{"sentinel", "k8s/overlays/sentinel"},
	{"cluster", "k8s/overlays/cluster"},
}

var (
	topoMu       sync.Mutex
	topoRendered = map[string]*objects{}
)

// renderTopology renders k8s/ or one of its overlays (once per test binary).
func renderTopology(t testing.TB, dir string) *objects {
	t.Helper()
	topoMu.Lock()
	defer topoMu.Unlock()
	if o := topoRendered[dir]; o != nil {
		return o
	}
	o, err := renderDir(repo(strings.Split(dir, "/")...))
	if err != nil {
		t.Fatal(err)
	}
	topoRendered[dir] = o
	return o
}

// The development passwords of deploy/redis/users-ha.acl (public, like
// devPasswords).
var haDevPasswords = map[string]string{
	"replica":      "replica-dev-password",
	"sentinel":     "sentinel-dev-password",
	"clusteradmin": "clusteradmin-dev-password",
}

// TestTopologiesRender renders every topology with kustomize, decodes every
// object strictly and runs the Pod Security evaluator (restricted, latest)
// over every pod template, the sentinels and the cluster Job included.
func TestTopologiesRender(t *testing.T) {
	eval, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	restricted := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, top := range topologies {
		o := renderTopology(t, top.dir)
		violations := 0
		ws := o.workloads()
		for _, w := range ws {
			res := psapolicy.AggregateCheckResults(eval.EvaluatePod(restricted, &w.template.ObjectMeta, &w.template.Spec))
			if !res.Allowed {
				violations += len(res.ForbiddenReasons)
				t.Errorf("%s: %s %s violates PSS restricted: %s", top.name, w.kind, w.name, res.ForbiddenDetail())
			}
		}
		for _, obj := range o.all {
			m := obj.(metav1.Object)
			if _, isNS := obj.(*corev1.Namespace); !isNS && m.GetNamespace() != namespace {
				t.Errorf("%s: %T %s is in namespace %q", top.name, obj, m.GetName(), m.GetNamespace())
			}
			if m.GetLabels()["app.kubernetes.io/part-of"] != "sessiondb" {
				t.Errorf("%s: %T %s lacks the label app.kubernetes.io/part-of=sessiondb", top.name, obj, m.GetName())
			}
		}
		if ns := o.namespaces[namespace]; ns == nil || ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
			t.Errorf("%s: the namespace does not enforce the restricted profile", top.name)
		}
		t.Logf("%s: %d objects decoded strictly, %d workloads, %d PSS restricted violations", top.name, len(o.all), len(ws), violations)
	}
	// The overlays' directories hold nothing that their kustomization
	// leaves out.
	for _, top := range topologies[1:] {
		b, err := os.ReadFile(repo(top.dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		files, err := os.ReadDir(repo(top.dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if f.Name() != "kustomization.yaml" && !regexp.MustCompile(`(?m)^\s+- (path: )?`+regexp.QuoteMeta(f.Name())+`$`).Match(b) {
				t.Errorf("%s/%s is not used by its kustomization.yaml", top.dir, f.Name())
			}
		}
	}
}

var digestRef = regexp.MustCompile(`^[a-z0-9./:_-]+@sha256:[0-9a-f]{64}$`)

// TestTopologiesHardening holds the production settings of every pod of
// every topology.
func TestTopologiesHardening(t *testing.T) {
	// The files that define containers say why they set no CPU limit.
	for _, f := range []string{"k8s/base/redis-statefulset.yaml", "k8s/base/sessiond-deployment.yaml",
		"k8s/overlays/sentinel/sentinel.yaml", "k8s/overlays/cluster/job.yaml"} {
		b, err := os.ReadFile(repo(f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "No CPU limit") {
			t.Errorf("%s does not say why its containers have no CPU limit", f)
		}
	}
	for _, top := range topologies {
		o := renderTopology(t, top.dir)
		for _, w := range o.workloads() {
			where := top.name + ": " + w.kind + " " + w.name
			spec := &w.template.Spec
			if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken ||
				spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
				t.Errorf("%s: automountServiceAccountToken and enableServiceLinks must be false", where)
			}
			psc := spec.SecurityContext
			for _, c := range spec.Containers {
				sc := c.SecurityContext
				if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
					t.Errorf("%s/%s: readOnlyRootFilesystem is not true", where, c.Name)
				}
				req, lim := c.Resources.Requests, c.Resources.Limits
				es, esl := req[corev1.ResourceEphemeralStorage], lim[corev1.ResourceEphemeralStorage]
				if es.IsZero() || esl.IsZero() || es.Cmp(esl) > 0 {
					t.Errorf("%s/%s: want an ephemeral-storage request and a limit above it, have %v / %v", where, c.Name, req, lim)
				}
				if _, ok := lim[corev1.ResourceCPU]; ok {
					t.Errorf("%s/%s: a CPU limit; the manifests leave CPU unlimited on purpose (throttling stalls Redis)", where, c.Name)
				}
				if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
					t.Errorf("%s/%s: want cpu and memory requests and a memory limit", where, c.Name)
				}
				if !digestRef.MatchString(c.Image) || c.ImagePullPolicy != corev1.PullIfNotPresent {
					t.Errorf("%s/%s: image %q, pull policy %q; want an image pinned by digest (@sha256:) pulled IfNotPresent", where, c.Name, c.Image, c.ImagePullPolicy)
				}
				if strings.HasPrefix(c.Image, "redis:") {
					// Redis, the sentinels and the Job: a high UID/GID of
					// their own, not the image's redis user (999).
					if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser < 10000 || psc.RunAsGroup == nil || *psc.RunAsGroup < 10000 {
						t.Errorf("%s: want runAsUser and runAsGroup of 10000 or more", where)
					}
				}
			}
			if w.kind == "StatefulSet" {
				if psc == nil || psc.FSGroup == nil || psc.RunAsGroup == nil || *psc.FSGroup != *psc.RunAsGroup {
					t.Errorf("%s: want fsGroup equal to runAsGroup, so its volumes are writable", where)
				}
				if pdb := pdbFor(t, o, w); pdb == nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
					t.Errorf("%s: want a PodDisruptionBudget with maxUnavailable 1", where)
				}
			}
		}
		// sessiond spreads over nodes and zones.
		d := o.deployments["sessiond"]
		keys := map[string]bool{}
		for _, c := range d.Spec.Template.Spec.TopologySpreadConstraints {
			if selects(t, c.LabelSelector, d.Spec.Template.Labels) {
				keys[c.TopologyKey] = true
			}
		}
		if !keys["kubernetes.io/hostname"] || !keys["topology.kubernetes.io/zone"] {
			t.Errorf("%s: sessiond spreads over %v, want nodes and zones", top.name, keys)
		}
		if pdbFor(t, o, workload{kind: "Deployment", name: "sessiond", template: &d.Spec.Template}) == nil {
			t.Errorf("%s: sessiond has no PodDisruptionBudget", top.name)
		}
	}
	// The Redis pods and the sentinels keep to one pod per node.
	sen := renderTopology(t, "k8s/overlays/sentinel")
	for _, name := range []string{"redis", "sentinel"} {
		st := sen.statefulSets[name]
		if st == nil {
			t.Fatalf("sentinel: no StatefulSet %s", name)
		}
		if !antiAffine(t, st.Spec.Template, true) {
			t.Errorf("sentinel: %s pods may share a node (want required pod anti-affinity on kubernetes.io/hostname)", name)
		}
	}
	if !antiAffine(t, renderTopology(t, "k8s/overlays/cluster").statefulSets["redis"].Spec.Template, false) {
		t.Error("cluster: redis pods are not spread over nodes")
	}
}

func pdbFor(t testing.TB, o *objects, w workload) *policyv1.PodDisruptionBudget {
	t.Helper()
	for _, p := range o.pdbs {
		if selects(t, p.Spec.Selector, w.template.Labels) {
			return p
		}
	}
	return nil
}

// antiAffine reports whether pods of the template repel each other on
// kubernetes.io/hostname (required, or also preferred when !required).
func antiAffine(t testing.TB, tmpl corev1.PodTemplateSpec, required bool) bool {
	t.Helper()
	a := tmpl.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return false
	}
	terms := a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	if !required {
		for _, p := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, p.PodAffinityTerm)
		}
	}
	for _, term := range terms {
		if term.TopologyKey == "kubernetes.io/hostname" && selects(t, term.LabelSelector, tmpl.Labels) {
			return true
		}
	}
	return false
}

// edge is one allowed connection: from pods, to pods, on a port.
type edge struct {
	from, to string
	port     int32
}

// TestTopologiesNetworkPolicies computes, for each topology, every
// connection the NetworkPolicies allow (ingress and egress separately) and
// compares them with the list the topology needs: the sentinel (26379) and
// cluster bus (16379) ports, and nothing else.
func TestTopologiesNetworkPolicies(t *testing.T) {
	base := []edge{{"sessiond", "redis", 6379}}
	ums := []edge{{"user-manager-service", "sessiond", 8080}, {"user-manager-service (labelled namespaces)", "sessiond", 8080}}
	dns := func(names ...string) []edge {
		var out []edge
		for _, n := range names {
			out = append(out, edge{n, "kube-dns", 53})
		}
		return out
	}
	want := map[string]struct{ ingress, egress []edge }{
		"standalone": {append(slices.Clone(ums), base...), append(slices.Clone(base), dns("sessiond")...)},
		"sentinel": {
			ingress: append(slices.Clone(ums), base[0],
				edge{"redis", "redis", 6379}, edge{"sentinel", "redis", 6379},
				edge{"sessiond", "sentinel", 26379}, edge{"sentinel", "sentinel", 26379}, edge{"redis", "sentinel", 26379}),
			egress: append([]edge{base[0], {"sessiond", "sentinel", 26379},
				{"redis", "redis", 6379}, {"redis", "sentinel", 26379},
				{"sentinel", "redis", 6379}, {"sentinel", "sentinel", 26379}}, dns("sessiond", "redis", "sentinel")...),
		},
		"cluster": {
			ingress: append(slices.Clone(ums), base[0],
				edge{"redis", "redis", 6379}, edge{"redis", "redis", 16379}, edge{"redis-cluster-create", "redis", 6379}),
			egress: append([]edge{base[0], {"redis", "redis", 6379}, {"redis", "redis", 16379},
				{"redis-cluster-create", "redis", 6379}}, dns("sessiond", "redis", "redis-cluster-create")...),
		},
	}
	for _, top := range topologies {
		o := renderTopology(t, top.dir)
		pods := map[string]map[string]string{} // app name -> pod labels
		ports := map[string][]int32{}
		for _, w := range o.workloads() {
			name := w.template.Labels["app.kubernetes.io/name"]
			pods[name] = w.template.Labels
			for _, c := range w.template.Spec.Containers {
				for _, p := range c.Ports {
					ports[name] = append(ports[name], p.ContainerPort)
				}
			}
		}
		peer := func(p networkingv1.NetworkPolicyPeer) string {
			if p.IPBlock != nil || p.PodSelector == nil {
				t.Errorf("%s: NetworkPolicy peer %+v is not a pod selector", top.name, p)
				return "?"
			}
			if p.PodSelector.MatchLabels["k8s-app"] == "kube-dns" {
				return "kube-dns"
			}
			name := p.PodSelector.MatchLabels["app.kubernetes.io/name"]
			if name == "user-manager-service" {
				if p.NamespaceSelector != nil {
					return name + " (labelled namespaces)"
				}
				return name
			}
			if pods[name] == nil || !selects(t, p.PodSelector, pods[name]) {
				t.Errorf("%s: NetworkPolicy peer %v selects no pods of this topology", top.name, p.PodSelector)
			}
			return name
		}
		var ingress, egress []edge
		for _, np := range o.netpols {
			for name, labels := range pods {
				if !selects(t, &np.Spec.PodSelector, labels) {
					continue
				}
				for _, r := range np.Spec.Ingress {
					for _, f := range r.From {
						for _, p := range r.Ports {
							ingress = append(ingress, edge{peer(f), name, p.Port.IntVal})
							if !slices.Contains(ports[name], p.Port.IntVal) {
								t.Errorf("%s: NetworkPolicy %s opens port %d, which %s does not listen on", top.name, np.Name, p.Port.IntVal, name)
							}
						}
					}
				}
				for _, r := range np.Spec.Egress {
					for _, to := range r.To {
						for _, p := range r.Ports {
							e := edge{name, peer(to), p.Port.IntVal}
							if e.to != "kube-dns" && !slices.Contains(ports[e.to], e.port) {
								t.Errorf("%s: NetworkPolicy %s lets %s reach port %d of %s, which does not listen on it", top.name, np.Name, name, e.port, e.to)
							}
							egress = append(egress, e)
						}
					}
				}
			}
		}
		dd := o.netpols["default-deny-all"]
		if dd == nil || len(dd.Spec.PodSelector.MatchLabels) != 0 || len(dd.Spec.PolicyTypes) != 2 {
			t.Errorf("%s: no default-deny-all NetworkPolicy", top.name)
		}
		if got, w := edgeSet(ingress), edgeSet(want[top.name].ingress); !mapsEqual(got, w) {
			t.Errorf("%s: ingress allowed %v, want %v", top.name, keys(got), keys(w))
		}
		if got, w := edgeSet(egress), edgeSet(want[top.name].egress); !mapsEqual(got, w) {
			t.Errorf("%s: egress allowed %v, want %v", top.name, keys(got), keys(w))
		}
		t.Logf("%s: %d ingress and %d egress paths, as listed", top.name, len(edgeSet(ingress)), len(edgeSet(egress)))
	}
}

func edgeSet(es []edge) map[string]bool {
	m := map[string]bool{}
	for _, e := range es {
		m[fmt.Sprintf("%s->%s:%d", e.from, e.to, e.port)] = true
	}
	return m
}

// TestTopologiesWiring: sessiond's configuration, the Services, the
// scripts and the Secret keys of each overlay agree.
func TestTopologiesWiring(t *testing.T) {
	ops, err := os.ReadFile(repo("docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, top := range topologies[1:] {
		o := renderTopology(t, top.dir)
		ws := o.workloads()
		// Every Service selects the pods of exactly one workload.
		for _, s := range o.services {
			n := 0
			for _, w := range ws {
				if selects(t, &metav1.LabelSelector{MatchLabels: s.Spec.Selector}, w.template.Labels) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s: Service %s selects %d workloads", top.name, s.Name, n)
			}
		}
		for _, w := range ws {
			for _, v := range w.template.Spec.Volumes {
				var items []corev1.KeyToPath
				var cm, secret string
				switch {
				case v.ConfigMap != nil:
					cm, items = v.ConfigMap.Name, v.ConfigMap.Items
				case v.Secret != nil:
					secret, items = v.Secret.SecretName, v.Secret.Items
				}
				for _, it := range items {
					if cm != "" {
						if m := o.configMaps[cm]; m == nil || m.Data[it.Key] == "" {
							t.Errorf("%s: %s mounts %s of ConfigMap %s, which does not hold it", top.name, w.name, it.Key, cm)
						}
					}
					if secret != "" && !strings.Contains(string(ops), it.Key+"=") {
						t.Errorf("%s: %s mounts key %s of Secret %s, which docs/operations.md does not create", top.name, w.name, it.Key, secret)
					}
				}
				if v.Projected != nil {
					for _, src := range v.Projected.Sources {
						if src.Secret != nil {
							for _, it := range src.Secret.Items {
								if !strings.Contains(string(ops), it.Key+"=") {
									t.Errorf("%s: %s mounts key %s of Secret %s, which docs/operations.md does not create", top.name, w.name, it.Key, src.Secret.Name)
								}
							}
						}
					}
				}
			}
		}
		cm := o.configMaps["sessiond-config"]
		cfg, err := config.FromEnv(func(k string) string {
			if k == "REDIS_PASSWORD_FILE" {
				return "" // a file of the pod
			}
			return cm.Data[k]
		})
		if err != nil {
			t.Fatalf("%s: sessiond-config: %v", top.name, err)
		}
		st := o.statefulSets["redis"]
		switch top.name {
		case "sentinel":
			svc := o.services[cfg.RedisHost]
			if cfg.RedisSentinelMaster != "sessiondb" || svc == nil || strconv.Itoa(int(svc.Spec.Ports[0].Port)) != cm.Data["REDIS_PORT"] ||
				!selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, o.statefulSets["sentinel"].Spec.Template.Labels) {
				t.Errorf("sentinel: sessiond asks %s:%s for master set %q; want the sentinel Service and the set sessiondb", cfg.RedisHost, cm.Data["REDIS_PORT"], cfg.RedisSentinelMaster)
			}
			script, err := os.ReadFile(repo(top.dir, "sentinel.sh"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(script), "sentinel monitor "+cfg.RedisSentinelMaster+" ") {
				t.Errorf("sentinel.sh does not monitor the master set %s", cfg.RedisSentinelMaster)
			}
			if *st.Spec.Replicas != 3 || *o.statefulSets["sentinel"].Spec.Replicas != 3 {
				t.Error("sentinel: want three Redis pods and three sentinels")
			}
		case "cluster":
			opt, err := cfg.ClientOption()
			if err != nil {
				t.Fatal(err)
			}
			if *st.Spec.Replicas != 6 || len(opt.InitAddress) < 3 || cfg.RedisHost != "" {
				t.Errorf("cluster: %d Redis pods, seed nodes %v, REDIS_HOST %q", *st.Spec.Replicas, opt.InitAddress, cfg.RedisHost)
			}
			for _, a := range opt.InitAddress {
				var i int
				if _, err := fmt.Sscanf(a, "redis-%d."+st.Spec.ServiceName+":6379", &i); err != nil || i >= int(*st.Spec.Replicas) {
					t.Errorf("cluster: seed node %s is not a pod of the redis StatefulSet", a)
				}
			}
			if o.jobs["redis-cluster-create"] == nil {
				t.Error("cluster: no redis-cluster-create Job")
			}
		}
		if s := o.services[st.Spec.ServiceName]; s == nil || s.Spec.ClusterIP != corev1.ClusterIPNone || !s.Spec.PublishNotReadyAddresses {
			t.Errorf("%s: %s must be headless and publish pods before they are ready", top.name, st.Spec.ServiceName)
		}
	}
}

// haServer starts redis-server from deploy/redis/redis.conf with the ACL
// file of the replicated topologies (development passwords), as the
// overlays' start scripts do.
func haServer(t *testing.T, extra ...string) *confServer {
	t.Helper()
	dir := t.TempDir()
	acl := filepath.Join(dir, "users-ha.acl")
	var b []byte
	for _, f := range []string{"users.acl", "users-ha.acl"} {
		part, err := os.ReadFile(repo("deploy", "redis", f))
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, part...)
	}
	if err := os.WriteFile(acl, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return startConfIn(t, dir, acl, append([]string{"--masteruser", "replica", "--masterauth", haDevPasswords["replica"],
		"--appendonly", "no", "--repl-diskless-sync-delay", "0"}, extra...)...)
}

func probeScript(t *testing.T, c *corev1.Container, port int, dir string) *exec.Cmd {
	t.Helper()
	pw := filepath.Join(dir, "probe-password")
	if err := os.WriteFile(pw, []byte(devPasswords["probe"]), 0o600); err != nil {
		t.Fatal(err)
	}
	script := c.ReadinessProbe.Exec.Command[2]
	script = strings.ReplaceAll(script, "-p 6379", "-p "+strconv.Itoa(port))
	script = strings.ReplaceAll(script, "/usr/local/etc/redis/probe-password", pw)
	return exec.Command("sh", "-c", script)
}

// TestReplicaReadiness runs the overlays' readiness command against a real
// primary and replica: a replica is ready only once its link to the
// primary is up; replication runs as the replica ACL user.
func TestReplicaReadiness(t *testing.T) {
	redistest.Binary(t, "redis-cli")
	primary := haServer(t)
	replica := haServer(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.port))
	for _, top := range topologies[1:] {
		c := &renderTopology(t, top.dir).statefulSets["redis"].Spec.Template.Spec.Containers[0]
		if err := probeScript(t, c, primary.port, t.TempDir()).Run(); err != nil {
			t.Errorf("%s: readiness of the primary: %v", top.name, err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for probeScript(t, c, replica.port, t.TempDir()).Run() != nil {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the replica never became ready: %s", top.name, infoField(t, replica.client(t, "operator", devPasswords["operator"]), "replication", "master_link_status"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	primary.kill()
	c := &renderTopology(t, "k8s/overlays/sentinel").statefulSets["redis"].Spec.Template.Spec.Containers[0]
	deadline := time.Now().Add(20 * time.Second)
	for probeScript(t, c, replica.port, t.TempDir()).Run() == nil {
		if time.Now().After(deadline) {
			t.Fatal("a replica whose primary is gone stays ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if log := aclLog(t, replica.client(t, "operator", devPasswords["operator"])); len(log) != 0 {
		t.Errorf("ACL LOG of the replica: %v", log)
	}
}

// TestClusterCreateScript runs k8s/overlays/cluster/cluster-create.sh, the
// bootstrap Job's script, against six Redis Cluster nodes started with the
// shipped redis.conf and ACL file: it creates the cluster as the
// clusteradmin user, and a second run changes nothing.
func TestClusterCreateScript(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster bootstrap skipped in -short mode")
	}
	cliBin := redistest.Binary(t, "redis-cli")
	var nodes []*confServer
	var addrs []string
	for range 6 {
		n := haServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
		nodes = append(nodes, n)
		addrs = append(addrs, n.addr())
	}
	pw := filepath.Join(t.TempDir(), "clusteradmin-password")
	if err := os.WriteFile(pw, []byte(haDevPasswords["clusteradmin"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() string {
		t.Helper()
		cmd := exec.Command("sh", repo("k8s", "overlays", "cluster", "cluster-create.sh"))
		cmd.Env = append(os.Environ(), "CLUSTER_NODES="+strings.Join(addrs, " "), "CLUSTERADMIN_PASSWORD_FILE="+pw,
			"PATH="+filepath.Dir(cliBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cluster-create.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	run()
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		op := n.client(t, "operator", devPasswords["operator"])
		for {
			role := infoField(t, op, "replication", "role")
			ok := role == "master" || infoField(t, op, "replication", "master_link_status") == "up"
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s: role %s, never in sync", n.addr(), role)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if out := run(); !strings.Contains(out, "nothing to do") {
		t.Errorf("second run did not recognise the cluster:\n%s", out)
	}
	primaries := 0
	for _, n := range nodes {
		op := n.client(t, "operator", devPasswords["operator"])
		if r := infoField(t, op, "replication", "role"); r == "master" {
			primaries++
		}
		if log := aclLog(t, op); len(log) != 0 {
			t.Errorf("ACL LOG of %s: %v", n.addr(), log)
		}
	}
	if primaries != 3 {
		t.Errorf("%d primaries, want 3 with a replica each", primaries)
	}
	// The library runs on it as the sessiond user.
	url := "redis://" + addrs[0] + "?addr=" + addrs[1]
	cfg, err := config.FromEnv(func(k string) string {
		return map[string]string{"REDIS_URL": url, "REDIS_USERNAME": "sessiond", "REDIS_PASSWORD": devPasswords["sessiond"],
			"SESSION_EVENTS": "true"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cfg.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Store().Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 30 {
		s, err := m.Create(ctx, fmt.Sprintf("user-%d", i), time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Validate(ctx, string(s.Token)); err != nil {
			t.Fatal(err)
		}
	}
	// With the event log on, as the shipped configuration has it: every
	// create is an event, read back from all primaries.
	waitEventCount(ctx, t, m, 30)
	for _, n := range nodes {
		if log := aclLog(t, n.client(t, "operator", devPasswords["operator"])); len(log) != 0 {
			t.Errorf("ACL LOG of %s after the library ran as sessiond: %v", n.addr(), log)
		}
	}
}

// waitEventCount reads the event log until it holds want created events
// (a change is read once it is final, about a second later).
func waitEventCount(ctx context.Context, t *testing.T, m *sessiondb.Manager, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := 0
		for _, err := range m.Events(ctx, "", sessiondb.EventFilter{Types: []sessiondb.EventType{sessiondb.EventCreated}}) {
			if err != nil {
				t.Fatalf("reading the event log as sessiond: %v", err)
			}
			n++
		}
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d created events after 30s, want %d", n, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSentinelACL runs the Sentinel topology with the shipped ACL files: the
// data nodes with users-ha.acl (replication as the replica user, Sentinel
// as the sentinel user), three sentinels with sentinel-users.acl, and
// sessiond's configuration as the sessiond user, through a failover. Redis
// and the sentinels refuse nothing (ACL LOG empty).
func TestSentinelACL(t *testing.T) {
	if testing.Short() {
		t.Skip("failover test skipped in -short mode")
	}
	// Two replicas, as in the overlay: with REDIS_WAIT_REPLICAS=1 the
	// promoted one still has a replica to confirm writes.
	primary := haServer(t)
	var deadline time.Time
	var replicas []*confServer
	for range 2 {
		replica := haServer(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.port))
		replicas = append(replicas, replica)
		op := replica.client(t, "operator", devPasswords["operator"])
		deadline = time.Now().Add(20 * time.Second)
		for infoField(t, op, "replication", "master_link_status") != "up" {
			if time.Now().After(deadline) {
				t.Fatal("replica never synced as the replica user")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	users, err := os.ReadFile(repo("deploy", "redis", "sentinel-users.acl"))
	if err != nil {
		t.Fatal(err)
	}
	var sentinels []*redistest.Server
	for range 3 {
		dir := t.TempDir()
		conf := fmt.Sprintf("sentinel monitor sessiondb 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds sessiondb 1000\nsentinel failover-timeout sessiondb 3000\n"+
			"sentinel auth-user sessiondb sentinel\nsentinel auth-pass sessiondb %s\n"+
			"sentinel sentinel-user sentinel\nsentinel sentinel-pass %s\n%s",
			primary.port, haDevPasswords["sentinel"], haDevPasswords["sentinel"], users)
		if err := os.WriteFile(filepath.Join(dir, "sentinel.conf"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		sentinels = append(sentinels, redistest.StartFromConf(t, filepath.Join(dir, "sentinel.conf"), dir, "--sentinel"))
	}
	senClient := func(s *redistest.Server) *confServer { return &confServer{Server: s, port: s.Port} }
	for _, s := range sentinels {
		sc := senClient(s).client(t, "sentinel", haDevPasswords["sentinel"])
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(infoField(t, sc, "sentinel", "master0"), "slaves=2,sentinels=3") {
			if time.Now().After(deadline) {
				t.Fatalf("sentinel %s: %s", s.Addr(), infoField(t, sc, "sentinel", "master0"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(devPasswords["sessiond"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.FromEnv(func(k string) string {
		return map[string]string{"REDIS_HOST": "127.0.0.1", "REDIS_PORT": strconv.Itoa(sentinels[0].Port),
			"REDIS_SENTINEL_MASTER": "sessiondb", "REDIS_USERNAME": "sessiond", "REDIS_PASSWORD_FILE": pwFile,
			"REDIS_TIMEOUT_MS": "500", "REDIS_WAIT_REPLICAS": "1", "SESSION_EVENTS": "true"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cfg.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Store().Close()
	ctx := context.Background()
	var tokens []string
	for i := range 20 {
		s, err := m.Create(ctx, fmt.Sprintf("u%d", i), time.Hour, nil)
		if err != nil {
			t.Fatalf("create through the sentinels as sessiond: %v", err)
		}
		tokens = append(tokens, string(s.Token))
	}
	primary.kill()
	deadline = time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := m.Create(cctx, "after", time.Hour, nil)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failover: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tok := range tokens {
		if _, err := m.Validate(ctx, tok); err != nil {
			t.Fatalf("a session acknowledged with REDIS_WAIT_REPLICAS=1 was lost in the failover: %v", err)
		}
	}
	// The events of those creates were in the same scripts: the promoted
	// replica has them, and the sessiond user reads them.
	waitEventCount(ctx, t, m, len(tokens)+1)
	// New connections: the sentinels kill the clients of the instances they
	// reconfigure.
	for _, r := range replicas {
		if log := aclLog(t, r.client(t, "operator", devPasswords["operator"])); len(log) != 0 {
			t.Errorf("ACL LOG of replica %d: %v", r.port, log)
		}
	}
	for _, s := range sentinels {
		if log := aclLog(t, senClient(s).client(t, "sentinel", haDevPasswords["sentinel"])); len(log) != 0 {
			t.Errorf("ACL LOG of sentinel %s: %v", s.Addr(), log)
		}
	}
}

// loadComposeProfiles loads docker-compose.yml with the given profiles.
func loadComposeProfiles(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{repo("docker-compose.yml")},
		cli.WithWorkingDirectory(repo()), cli.WithEnvFiles(repo(".env.example")), cli.WithDotEnv,
		cli.WithName("sessiondb"), cli.WithResolvedPaths(true), cli.WithConsistency(true), cli.WithProfiles(profiles))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml with profiles %v: %v", profiles, err)
	}
	return p
}

// TestComposeProfiles loads the profiles sentinel and cluster: their
// services run the overlays' scripts under the overlays' host names, on
// their own network, with the files deploy/make-secrets.sh writes, and
// their sessiond is configured for the topology.
func TestComposeProfiles(t *testing.T) {
	if p := loadCompose(t); len(p.Services) != 2 {
		t.Errorf("without a profile compose starts %v, want redis and sessiond", slices.Sorted(maps.Keys(p.Services)))
	}
	made := map[string]bool{}
	mk, err := os.ReadFile(repo("deploy", "make-secrets.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^#   (\S+)`).FindAllSubmatch(mk, -1) {
		made[string(m[1])] = true
	}
	for _, profile := range []string{"sentinel", "cluster"} {
		p := loadComposeProfiles(t, profile)
		sd, err := p.GetService("sessiond-" + profile)
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for k, v := range sd.Environment {
			if v != nil {
				env[k] = *v
			}
		}
		cfg, err := config.FromEnv(func(k string) string { return env[k] })
		if err != nil {
			t.Fatalf("sessiond-%s: %v", profile, err)
		}
		nRedis := 0
		for name, s := range p.Services {
			if !slices.Contains(s.Profiles, profile) {
				continue
			}
			if _, ok := s.Networks[profile]; !ok || len(s.Networks) != 1 {
				t.Errorf("%s: networks %v, want only %s", name, slices.Sorted(maps.Keys(s.Networks)), profile)
			}
			if s.User == "" || strings.HasPrefix(s.User, "0") || !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) {
				t.Errorf("%s: user %q, read_only %v, cap_drop %v", name, s.User, s.ReadOnly, s.CapDrop)
			}
			for _, v := range s.Volumes {
				if v.Type == types.VolumeTypeBind {
					if _, err := os.Stat(v.Source); err != nil {
						t.Errorf("%s mounts %s: %v", name, v.Source, err)
					}
				}
			}
			for _, sec := range s.Secrets {
				if f := filepath.Base(p.Secrets[sec.Source].File); !made[f] {
					t.Errorf("%s: secret %s comes from %s, which make-secrets.sh does not write", name, sec.Source, f)
				}
			}
			if strings.HasPrefix(name, profile+"-redis-") {
				nRedis++
				alias := s.Hostname + ".redis-headless"
				if s.Networks[profile] == nil || !slices.Contains(s.Networks[profile].Aliases, alias) || s.HealthCheck == nil {
					t.Errorf("%s: hostname %q, want the alias %s and a health check", name, s.Hostname, alias)
				}
				if cmd := strings.Join(s.Command, " "); cmd != "sh /usr/local/etc/redis-ha/redis.sh" {
					t.Errorf("%s: command %q", name, cmd)
				}
				for _, v := range s.Volumes {
					if v.Target == "/usr/local/etc/redis-ha/redis.sh" && v.Source != mustAbs(t, repo("k8s", "overlays", profile, "redis.sh")) {
						t.Errorf("%s runs %s, not the overlay's script", name, v.Source)
					}
				}
			}
		}
		switch profile {
		case "sentinel":
			if nRedis != 3 || cfg.RedisSentinelMaster != "sessiondb" || cfg.RedisPort != 26379 || !strings.HasSuffix(cfg.RedisHost, ".sentinel-headless") {
				t.Errorf("sentinel: %d Redis services; sessiond asks %s:%d for %q", nRedis, cfg.RedisHost, cfg.RedisPort, cfg.RedisSentinelMaster)
			}
			for i := range 3 {
				s, err := p.GetService(fmt.Sprintf("sentinel-%d", i))
				if err != nil || !slices.Contains(s.Networks["sentinel"].Aliases, s.Hostname+".sentinel-headless") {
					t.Errorf("sentinel-%d: %v", i, err)
				}
			}
		case "cluster":
			job, err := p.GetService("cluster-create")
			if err != nil {
				t.Fatal(err)
			}
			if nRedis != 6 || cfg.RedisURL == "" || sd.DependsOn["cluster-create"].Condition != types.ServiceConditionCompletedSuccessfully {
				t.Errorf("cluster: %d Redis services, REDIS_URL %q, sessiond depends on %+v", nRedis, cfg.RedisURL, sd.DependsOn)
			}
			if cmd := strings.Join(job.Command, " "); cmd != "sh /usr/local/etc/redis-ha/cluster-create.sh" {
				t.Errorf("cluster-create: command %q", cmd)
			}
		}
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
