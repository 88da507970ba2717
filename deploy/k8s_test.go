package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/kustomize/api/krusty"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/sessiondb/sessiondb/config"
)

var update = flag.Bool("update", false, "rewrite the redis.conf in k8s/base/configmap.yaml from deploy/redis/redis.conf")

const namespace = "session-database"

// newObject returns an empty object of every type the manifests may hold.
var newObject = map[string]func() any{
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                    func() any { return &appsv1.StatefulSet{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"batch/v1/Job":                           func() any { return &batchv1.Job{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
}

// decodeStrict decodes one YAML document into its Kubernetes type, refusing
// duplicate keys, unknown fields and unknown kinds. It returns nil for an
// empty document.
func decodeStrict(doc []byte) (any, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	if string(j) == "null" {
		return nil, nil
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		return nil, err
	}
	mk := newObject[tm.APIVersion+"/"+tm.Kind]
	if mk == nil {
		return nil, fmt.Errorf("unexpected kind %s %s", tm.APIVersion, tm.Kind)
	}
	obj := mk()
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

// splitDocs splits a multi-document YAML file.
func splitDocs(b []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
}

// manifestFiles lists the YAML files of k8s/base/ but the kustomization.
func manifestFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(repo("k8s", "base", "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && base != "kustomization.yml" {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatal("no manifests in k8s/base/")
	}
	return out
}

// objects is the rendered manifests, by type and name.
type objects struct {
	all          []any
	namespaces   map[string]*corev1.Namespace
	secrets      map[string]*corev1.Secret
	configMaps   map[string]*corev1.ConfigMap
	services     map[string]*corev1.Service
	deployments  map[string]*appsv1.Deployment
	statefulSets map[string]*appsv1.StatefulSet
	pdbs         map[string]*policyv1.PodDisruptionBudget
	hpas         map[string]*autoscalingv2.HorizontalPodAutoscaler
	netpols      map[string]*networkingv1.NetworkPolicy
	jobs         map[string]*batchv1.Job
}

// workload is a Deployment or a StatefulSet.
type workload struct {
	kind, name string
	selector   *metav1.LabelSelector
	template   *corev1.PodTemplateSpec
}

func (o *objects) workloads() []workload {
	var ws []workload
	for _, d := range o.deployments {
		ws = append(ws, workload{"Deployment", d.Name, d.Spec.Selector, &d.Spec.Template})
	}
	for _, s := range o.statefulSets {
		ws = append(ws, workload{"StatefulSet", s.Name, s.Spec.Selector, &s.Spec.Template})
	}
	for _, j := range o.jobs {
		ws = append(ws, workload{"Job", j.Name, j.Spec.Selector, &j.Spec.Template})
	}
	slices.SortFunc(ws, func(a, b workload) int { return strings.Compare(a.kind+a.name, b.kind+b.name) })
	return ws
}

func (o *objects) add(obj any) error {
	m, ok := obj.(metav1.Object)
	if !ok || m.GetName() == "" {
		return fmt.Errorf("%T without a name", obj)
	}
	o.all = append(o.all, obj)
	name := m.GetName()
	switch v := obj.(type) {
	case *corev1.Namespace:
		o.namespaces[name] = v
	case *corev1.Secret:
		o.secrets[name] = v
	case *corev1.ConfigMap:
		o.configMaps[name] = v
	case *corev1.Service:
		o.services[name] = v
	case *appsv1.Deployment:
		o.deployments[name] = v
	case *appsv1.StatefulSet:
		o.statefulSets[name] = v
	case *policyv1.PodDisruptionBudget:
		o.pdbs[name] = v
	case *autoscalingv2.HorizontalPodAutoscaler:
		o.hpas[name] = v
	case *networkingv1.NetworkPolicy:
		o.netpols[name] = v
	case *batchv1.Job:
		o.jobs[name] = v
	}
	return nil
}

var (
	renderOnce sync.Once
	rendered   *objects
	renderErr  error
)

// render builds k8s/ (the standalone topology) with kustomize, as kubectl
// apply -k does, and decodes every resulting object strictly.
func render(t testing.TB) *objects {
	t.Helper()
	renderOnce.Do(func() { rendered, renderErr = renderDir(repo("k8s")) })
	if renderErr != nil {
		t.Fatal(renderErr)
	}
	return rendered
}

// renderDir builds one kustomization directory and decodes every object
// strictly.
func renderDir(dir string) (*objects, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	o := &objects{
		namespaces: map[string]*corev1.Namespace{}, secrets: map[string]*corev1.Secret{},
		configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{},
		deployments: map[string]*appsv1.Deployment{}, statefulSets: map[string]*appsv1.StatefulSet{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		netpols: map[string]*networkingv1.NetworkPolicy{}, jobs: map[string]*batchv1.Job{},
	}
	for _, r := range resMap.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		obj, err := decodeStrict(y)
		if err != nil {
			return nil, fmt.Errorf("%s: rendered %s: %w", dir, r.CurId(), err)
		}
		if err := o.add(obj); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func TestManifestsDecodeStrictly(t *testing.T) {
	n := 0
	for _, f := range manifestFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := splitDocs(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, doc := range docs {
			obj, err := decodeStrict(doc)
			if err != nil {
				t.Errorf("%s, document %d: %v", f, i+1, err)
				continue
			}
			if obj != nil {
				n++
			}
		}
	}
	if o := render(t); len(o.all) != n {
		t.Errorf("kustomize renders %d objects, the files hold %d", len(o.all), n)
	}
	t.Logf("%d objects decoded strictly", n)

	// The decoder does refuse what it should.
	for _, bad := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicaz: 2}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 1}]}\nspec: {}\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: eighty}]}\n",
	} {
		if _, err := decodeStrict([]byte(bad)); err == nil {
			t.Errorf("decodeStrict accepted %q", bad)
		}
	}
}

func TestKustomizationListsEveryFile(t *testing.T) {
	b, err := os.ReadFile(repo("k8s", "base", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		t.Fatal(err)
	}
	var k kustypes.Kustomization
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	listed := map[string]bool{}
	for _, r := range k.Resources {
		listed[r] = true
		if _, err := os.Stat(repo("k8s", "base", r)); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}
	for _, f := range manifestFiles(t) {
		if !listed[filepath.Base(f)] {
			t.Errorf("k8s/base/%s is not in kustomization.yaml's resources", filepath.Base(f))
		}
	}
	if k.Namespace != namespace {
		t.Errorf("kustomization namespace = %q, want %q", k.Namespace, namespace)
	}
}

func TestNamespaces(t *testing.T) {
	o := render(t)
	ns := o.namespaces[namespace]
	if ns == nil {
		t.Fatalf("no Namespace %s", namespace)
	}
	for _, mode := range []string{"enforce", "audit", "warn"} {
		if got := ns.Labels["pod-security.kubernetes.io/"+mode]; got != "restricted" {
			t.Errorf("namespace label pod-security.kubernetes.io/%s = %q, want restricted", mode, got)
		}
		if got := ns.Labels["pod-security.kubernetes.io/"+mode+"-version"]; got != "latest" {
			t.Errorf("namespace label pod-security.kubernetes.io/%s-version = %q, want latest", mode, got)
		}
	}
	for _, obj := range o.all {
		m := obj.(metav1.Object)
		if _, isNS := obj.(*corev1.Namespace); !isNS && m.GetNamespace() != namespace {
			t.Errorf("%T %s is in namespace %q, want %q", obj, m.GetName(), m.GetNamespace(), namespace)
		}
		if m.GetLabels()["app.kubernetes.io/part-of"] != "sessiondb" {
			t.Errorf("%T %s lacks the label app.kubernetes.io/part-of=sessiondb", obj, m.GetName())
		}
	}
}

// TestPodSecurityRestricted runs the Pod Security Admission evaluator, level
// restricted, version latest, over every pod template.
func TestPodSecurityRestricted(t *testing.T) {
	eval, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	restricted := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	ws := render(t).workloads()
	if len(ws) < 2 {
		t.Fatalf("%d workloads, want sessiond and redis", len(ws))
	}
	violations := 0
	for _, w := range ws {
		res := psapolicy.AggregateCheckResults(eval.EvaluatePod(restricted, &w.template.ObjectMeta, &w.template.Spec))
		if !res.Allowed {
			violations += len(res.ForbiddenReasons)
			t.Errorf("%s %s violates PSS restricted: %s", w.kind, w.name, res.ForbiddenDetail())
		}
	}
	t.Logf("Pod Security Standards restricted (latest): %d workloads, %d violations", len(ws), violations)

	// The evaluator does catch a violation.
	bad := ws[0].template.DeepCopy()
	bad.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
	bad.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
	if res := psapolicy.AggregateCheckResults(eval.EvaluatePod(restricted, &bad.ObjectMeta, &bad.Spec)); res.Allowed {
		t.Error("the evaluator allowed a pod with NET_ADMIN and no allowPrivilegeEscalation=false")
	}
}

// TestHardening checks what the application security checklist adds to PSS.
func TestHardening(t *testing.T) {
	for _, w := range render(t).workloads() {
		spec := &w.template.Spec
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken is not false", w.name)
		}
		if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
			t.Errorf("%s: enableServiceLinks is not false (a Service named redis would set REDIS_PORT=tcp://...)", w.name)
		}
		if sc := spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser == 0 || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("%s: pod securityContext must set runAsNonRoot and a non-zero runAsUser", w.name)
		}
		if len(spec.InitContainers) != 0 {
			t.Errorf("%s: unexpected init containers", w.name)
		}
		for _, c := range spec.Containers {
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s/%s: readOnlyRootFilesystem is not true", w.name, c.Name)
			}
			if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
				t.Errorf("%s/%s: capabilities must drop ALL and add none", w.name, c.Name)
			}
			if tag := c.Image[strings.LastIndex(c.Image, ":")+1:]; !strings.Contains(c.Image, ":") || tag == "latest" || strings.Contains(tag, "/") {
				t.Errorf("%s/%s: image %q has no fixed tag", w.name, c.Name, c.Image)
			}
			req, lim := c.Resources.Requests, c.Resources.Limits
			if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
				t.Errorf("%s/%s: want cpu and memory requests and a memory limit, have %v / %v", w.name, c.Name, req, lim)
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					t.Errorf("%s/%s: secret %s in an environment variable; mount it as a file", w.name, c.Name, e.ValueFrom.SecretKeyRef.Name)
				}
			}
			for _, e := range c.EnvFrom {
				if e.SecretRef != nil {
					t.Errorf("%s/%s: secret %s as environment variables; mount it as a file", w.name, c.Name, e.SecretRef.Name)
				}
			}
		}
	}
	redis := redisContainer(t, render(t))
	if req, lim := redis.Resources.Requests.Memory(), redis.Resources.Limits.Memory(); !req.Equal(*lim) {
		t.Errorf("redis memory request %v != limit %v", req, lim)
	} else if maxmem := int64(256 << 20); lim.Value() < 2*maxmem {
		t.Errorf("redis memory limit %v leaves no room above maxmemory 256mb for a fork", lim)
	}
}

func redisContainer(t testing.TB, o *objects) *corev1.Container {
	t.Helper()
	st := o.statefulSets["redis"]
	if st == nil {
		t.Fatal("no StatefulSet redis")
	}
	return &st.Spec.Template.Spec.Containers[0]
}

func sessiondContainer(t testing.TB, o *objects) *corev1.Container {
	t.Helper()
	d := o.deployments["sessiond"]
	if d == nil {
		t.Fatal("no Deployment sessiond")
	}
	return &d.Spec.Template.Spec.Containers[0]
}

// TestRedisStatefulSet checks the persistence and the original's probe
// intervals (liveness every 30 s, readiness every 5 s).
func TestRedisStatefulSet(t *testing.T) {
	o := render(t)
	st := o.statefulSets["redis"]
	c := redisContainer(t, o)
	if st.Spec.Replicas == nil || *st.Spec.Replicas != 1 {
		t.Errorf("redis replicas = %v, want 1 (one primary; see docs for Sentinel)", st.Spec.Replicas)
	}
	if lp := c.LivenessProbe; lp == nil || lp.PeriodSeconds != 30 || lp.Exec == nil {
		t.Errorf("redis liveness probe: want an exec probe every 30 s (the original's interval), have %s", describeProbe(lp))
	}
	if rp := c.ReadinessProbe; rp == nil || rp.PeriodSeconds != 5 || rp.Exec == nil {
		t.Errorf("redis readiness probe: want an exec probe every 5 s (the original's interval), have %s", describeProbe(rp))
	}
	if rp := c.ReadinessProbe; rp != nil && rp.Exec != nil {
		cmd := strings.Join(rp.Exec.Command, " ")
		for _, want := range []string{"--user probe", "ping", "PONG", "/usr/local/etc/redis/probe-password"} {
			if !strings.Contains(cmd, want) {
				t.Errorf("redis readiness command %q lacks %q", cmd, want)
			}
		}
	}
	var data *corev1.PersistentVolumeClaim
	for i := range st.Spec.VolumeClaimTemplates {
		if st.Spec.VolumeClaimTemplates[i].Name == "data" {
			data = &st.Spec.VolumeClaimTemplates[i]
		}
	}
	if data == nil {
		t.Fatal("redis has no volumeClaimTemplate data")
	}
	if mountPath(c, "data") != "/data" || c.WorkingDir != "/data" {
		t.Errorf("redis data volume at %q, working dir %q; redis.conf's dir ./ needs both at /data", mountPath(c, "data"), c.WorkingDir)
	}
	if st.Spec.PersistentVolumeClaimRetentionPolicy == nil ||
		st.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Error("redis PVCs must be retained when the StatefulSet is deleted")
	}

	// The command, the ConfigMap and the Secret agree on where files are.
	conf := redisConf(t, o.configMaps["redis-config"].Data["redis.conf"])
	if got := strings.Join(c.Command, " "); got != "redis-server /usr/local/etc/redis/redis.conf" {
		t.Errorf("redis command = %q", got)
	}
	files := projectedFiles(t, &st.Spec.Template.Spec, c)
	for _, p := range []string{"/usr/local/etc/redis/redis.conf", conf["aclfile"], "/usr/local/etc/redis/probe-password"} {
		if _, ok := files[p]; !ok {
			t.Errorf("redis container has no file %s (mounted: %v)", p, keys(files))
		}
	}
	if files["/usr/local/etc/redis/redis.conf"] != "configMap redis-config" || files[conf["aclfile"]] != "secret redis-auth" {
		t.Errorf("redis.conf and users.acl come from %q and %q", files["/usr/local/etc/redis/redis.conf"], files[conf["aclfile"]])
	}
	if conf["appendonly"] != "yes" || conf["maxmemory-policy"] != "noeviction" || conf["dir"] != "./" {
		t.Errorf("redis.conf: appendonly %q, maxmemory-policy %q, dir %q", conf["appendonly"], conf["maxmemory-policy"], conf["dir"])
	}
}

// redisConf returns the last value of each directive of a redis.conf.
func redisConf(t testing.TB, text string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		m[strings.ToLower(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return m
}

func mountPath(c *corev1.Container, volume string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m.MountPath
		}
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// projectedFiles maps each file path a container sees through configMap,
// secret and projected volumes (with items) to its source.
func projectedFiles(t testing.TB, spec *corev1.PodSpec, c *corev1.Container) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, v := range spec.Volumes {
		dir := mountPath(c, v.Name)
		if dir == "" {
			continue
		}
		addItems := func(src string, items []corev1.KeyToPath) {
			if len(items) == 0 {
				t.Errorf("volume %s (%s) lists no items: name the files it must hold", v.Name, src)
			}
			for _, it := range items {
				files[path.Join(dir, it.Path)] = src
			}
		}
		switch {
		case v.Secret != nil:
			addItems("secret "+v.Secret.SecretName, v.Secret.Items)
		case v.ConfigMap != nil:
			addItems("configMap "+v.ConfigMap.Name, v.ConfigMap.Items)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				switch {
				case s.Secret != nil:
					addItems("secret "+s.Secret.Name, s.Secret.Items)
				case s.ConfigMap != nil:
					addItems("configMap "+s.ConfigMap.Name, s.ConfigMap.Items)
				}
			}
		}
	}
	return files
}

// TestSessiondDeployment checks probes, replicas and graceful termination.
func TestSessiondDeployment(t *testing.T) {
	o := render(t)
	d := o.deployments["sessiond"]
	c := sessiondContainer(t, o)
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path {
			t.Errorf("sessiond %s probe: want GET %s, have %s", p.name, p.path, describeProbe(p.probe))
			continue
		}
		if port := containerPort(c, p.probe.HTTPGet.Port); port != 8080 {
			t.Errorf("sessiond %s probe port %v is not the container port 8080", p.name, p.probe.HTTPGet.Port)
		}
	}
	// Replicas: 2 or more, from the autoscaler.
	hpa := o.hpas["sessiond"]
	if hpa == nil || hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != d.Name {
		t.Fatal("no HorizontalPodAutoscaler targets the sessiond Deployment")
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Errorf("sessiond autoscaler replicas %v..%d, want from 2 up", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if d.Spec.Replicas != nil && *d.Spec.Replicas < 2 {
		t.Errorf("sessiond replicas = %d, want 2 or more", *d.Spec.Replicas)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Error("sessiond rolling update must keep every replica until its replacement is ready (maxUnavailable 0)")
	}

	// Graceful termination: the pod's grace period covers the preStop pause
	// and sessiond's own shutdown grace.
	cm := o.configMaps["sessiond-config"]
	grace, err := strconv.Atoi(cm.Data["SESSIOND_SHUTDOWN_GRACE_SECONDS"])
	if err != nil {
		t.Fatalf("SESSIOND_SHUTDOWN_GRACE_SECONDS: %v", err)
	}
	pause := 0
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		pause = int(c.Lifecycle.PreStop.Sleep.Seconds)
	}
	if pause == 0 {
		t.Error("sessiond has no preStop pause: requests keep arriving after SIGTERM until endpoints update")
	}
	tgp := d.Spec.Template.Spec.TerminationGracePeriodSeconds
	if tgp == nil || int(*tgp) <= pause+grace {
		t.Errorf("terminationGracePeriodSeconds must exceed preStop %d s + shutdown grace %d s, have %s", pause, grace, describeInt(tgp))
	}

	// The secrets sessiond reads are files of its secret volume.
	files := projectedFiles(t, &d.Spec.Template.Spec, c)
	for _, env := range []string{"REDIS_PASSWORD_FILE", "SESSIOND_API_KEYS_FILE"} {
		p := cm.Data[env]
		if files[p] != "secret sessiond-auth" {
			t.Errorf("%s = %q is not a file of the sessiond-auth Secret (mounted: %v)", env, p, keys(files))
		}
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != cm.Name {
		t.Errorf("sessiond takes its environment from %+v, want ConfigMap %s", c.EnvFrom, cm.Name)
	}
}

func describeProbe(p *corev1.Probe) string {
	switch {
	case p == nil:
		return "none"
	case p.Exec != nil:
		return fmt.Sprintf("exec %q every %d s", p.Exec.Command, p.PeriodSeconds)
	case p.HTTPGet != nil:
		return fmt.Sprintf("GET %s on port %s every %d s", p.HTTPGet.Path, p.HTTPGet.Port.String(), p.PeriodSeconds)
	}
	return fmt.Sprintf("another kind of probe every %d s", p.PeriodSeconds)
}

func describeInt(p *int64) string {
	if p == nil {
		return "none"
	}
	return strconv.FormatInt(*p, 10)
}

func containerPort(c *corev1.Container, p intstr.IntOrString) int32 {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	return 0
}

// secretish matches names of settings that hold secrets.
var secretish = regexp.MustCompile(`(?i)pass(word|wd)?|secret|token|api_?keys?|credential|private|\bauth\b`)

// TestNoSecretInConfigMaps: a ConfigMap may name a secret file, never hold a
// secret; the Secret template holds no data.
func TestNoSecretInConfigMaps(t *testing.T) {
	o := render(t)
	for _, cm := range o.configMaps {
		for k, v := range cm.Data {
			if k == "redis.conf" {
				conf := redisConf(t, v)
				for _, d := range []string{"requirepass", "masterauth", "masteruser"} {
					if _, ok := conf[d]; ok {
						t.Errorf("ConfigMap %s: redis.conf sets %s; use the ACL file in the Secret", cm.Name, d)
					}
				}
				if regexp.MustCompile(`(?m)^\s*user\s.*\s>`).MatchString(v) {
					t.Errorf("ConfigMap %s: redis.conf defines a user with a clear-text password", cm.Name)
				}
				continue
			}
			if secretish.MatchString(k) && (!strings.HasSuffix(k, "_FILE") || !strings.HasPrefix(v, "/")) {
				t.Errorf("ConfigMap %s: %s looks like a secret; put it in a Secret and set %s_FILE", cm.Name, k, k)
			}
			for _, pw := range devPasswords {
				if strings.Contains(v, pw) {
					t.Errorf("ConfigMap %s: %s holds a password", cm.Name, k)
				}
			}
		}
		if len(cm.BinaryData) != 0 {
			t.Errorf("ConfigMap %s has binaryData", cm.Name)
		}
	}
	if len(o.secrets) == 0 {
		t.Fatal("no Secret template")
	}
	for _, s := range o.secrets {
		if len(s.Data) != 0 || len(s.StringData) != 0 {
			t.Errorf("Secret %s in k8s/ holds data: the template must hold none", s.Name)
		}
	}
}

// TestSessiondConfigMapIsValid reads the sessiond ConfigMap with the
// configuration loader of the binaries.
func TestSessiondConfigMapIsValid(t *testing.T) {
	o := render(t)
	cm := o.configMaps["sessiond-config"]
	if cm == nil {
		t.Fatal("no ConfigMap sessiond-config")
	}
	known := map[string]bool{}
	for _, s := range config.Settings {
		known[s.Env] = true
	}
	for _, k := range []string{"SESSIOND_ADDR", "SESSIOND_API_KEYS_FILE", "SESSIOND_TLS_CERT_FILE", "SESSIOND_TLS_KEY_FILE",
		"SESSIOND_LOG_FORMAT", "SESSIOND_LOG_LEVEL", "SESSIOND_SHUTDOWN_GRACE_SECONDS", "SESSIOND_MAX_BODY_BYTES"} {
		known[k] = true
	}
	for k := range cm.Data {
		if !known[k] {
			t.Errorf("sessiond-config sets %s, which neither sessiond nor the library reads", k)
		}
	}
	cfg, err := config.FromEnv(func(k string) string { return cm.Data[k] })
	if err != nil {
		t.Fatalf("sessiond-config: %v", err)
	}
	if !cfg.UsesRedis() || cfg.RedisUsername != "sessiond" || cfg.KeyPrefix != "sdb:" {
		t.Errorf("sessiond-config: redis %v, user %q, prefix %q; want Redis as the sessiond ACL user on sdb:", cfg.UsesRedis(), cfg.RedisUsername, cfg.KeyPrefix)
	}
	// The key prefix is the one the ACL grants.
	acl, err := os.ReadFile(repo("deploy", "redis", "users.acl"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^user sessiond .*~` + regexp.QuoteMeta(cfg.KeyPrefix) + `\*`).Match(acl) {
		t.Errorf("users.acl does not grant the sessiond user the keys %s*", cfg.KeyPrefix)
	}
}

// TestRedisConfigMapMatchesFile keeps k8s/base/configmap.yaml's redis.conf equal
// to deploy/redis/redis.conf. go test ./deploy -run ConfigMapMatches -update
// copies the file over.
func TestRedisConfigMapMatchesFile(t *testing.T) {
	want, err := os.ReadFile(repo("deploy", "redis", "redis.conf"))
	if err != nil {
		t.Fatal(err)
	}
	cmPath := repo("k8s", "base", "configmap.yaml")
	if *update {
		b, err := os.ReadFile(cmPath)
		if err != nil {
			t.Fatal(err)
		}
		const marker = "\n  redis.conf: |\n"
		i := bytes.Index(b, []byte(marker))
		if i < 0 {
			t.Fatalf("%s has no %q", cmPath, marker)
		}
		var out bytes.Buffer
		out.Write(b[:i+len(marker)])
		for line := range strings.SplitSeq(strings.TrimRight(string(want), "\n"), "\n") {
			if line != "" {
				out.WriteString("    " + line)
			}
			out.WriteByte('\n')
		}
		if err := os.WriteFile(cmPath, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(cmPath)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := splitDocs(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs {
		obj, err := decodeStrict(doc)
		if err != nil {
			t.Fatal(err)
		}
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name == "redis-config" {
			if cm.Data["redis.conf"] != string(want) {
				t.Fatal("k8s/base/configmap.yaml's redis.conf differs from deploy/redis/redis.conf; " +
					"run go test ./deploy -run TestRedisConfigMapMatchesFile -update")
			}
			return
		}
	}
	t.Fatal("k8s/base/configmap.yaml has no ConfigMap redis-config")
}

func selects(t testing.TB, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return !s.Empty() && s.Matches(labels.Set(l))
}

// TestSelectorsMatch: every selector finds the pods it is meant for, and
// only those.
func TestSelectorsMatch(t *testing.T) {
	o := render(t)
	ws := o.workloads()
	matching := func(sel *metav1.LabelSelector) []string {
		var names []string
		for _, w := range ws {
			if selects(t, sel, w.template.Labels) {
				names = append(names, w.name)
			}
		}
		return names
	}
	for _, w := range ws {
		if !selects(t, w.selector, w.template.Labels) {
			t.Errorf("%s %s: selector %v does not match its pod labels %v", w.kind, w.name, w.selector, w.template.Labels)
		}
		if got := matching(w.selector); len(got) != 1 {
			t.Errorf("%s %s: selector matches the pods of %v", w.kind, w.name, got)
		}
	}
	for _, s := range o.services {
		got := matching(&metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		if len(got) != 1 || got[0] != strings.TrimSuffix(s.Name, "-headless") {
			t.Errorf("Service %s selects the pods of %v", s.Name, got)
		}
	}
	for _, p := range o.pdbs {
		if got := matching(p.Spec.Selector); len(got) != 1 || got[0] != p.Name {
			t.Errorf("PodDisruptionBudget %s selects the pods of %v", p.Name, got)
		}
	}
	st := o.statefulSets["redis"]
	if hs := o.services[st.Spec.ServiceName]; hs == nil || hs.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("StatefulSet redis: serviceName %q is not a headless Service", st.Spec.ServiceName)
	}
	// Every ConfigMap and Secret a pod uses exists, with the keys it reads.
	for _, w := range ws {
		spec := &w.template.Spec
		for _, c := range spec.Containers {
			for _, e := range c.EnvFrom {
				if e.ConfigMapRef != nil && o.configMaps[e.ConfigMapRef.Name] == nil {
					t.Errorf("%s: envFrom ConfigMap %s does not exist", w.name, e.ConfigMapRef.Name)
				}
			}
		}
		for _, v := range spec.Volumes {
			var cms []*corev1.ConfigMapProjection
			var secrets []string
			switch {
			case v.ConfigMap != nil:
				cms = append(cms, &corev1.ConfigMapProjection{LocalObjectReference: v.ConfigMap.LocalObjectReference, Items: v.ConfigMap.Items})
			case v.Secret != nil:
				secrets = append(secrets, v.Secret.SecretName)
			case v.Projected != nil:
				for _, s := range v.Projected.Sources {
					if s.ConfigMap != nil {
						cms = append(cms, s.ConfigMap)
					}
					if s.Secret != nil {
						secrets = append(secrets, s.Secret.Name)
					}
				}
			}
			for _, cm := range cms {
				m := o.configMaps[cm.Name]
				if m == nil {
					t.Errorf("%s: volume %s uses ConfigMap %s, which does not exist", w.name, v.Name, cm.Name)
					continue
				}
				for _, it := range cm.Items {
					if _, ok := m.Data[it.Key]; !ok {
						t.Errorf("%s: ConfigMap %s has no key %s", w.name, cm.Name, it.Key)
					}
				}
			}
			for _, s := range secrets {
				if o.secrets[s] == nil {
					t.Errorf("%s: volume %s uses Secret %s, which secret-template.yaml does not declare", w.name, v.Name, s)
				}
			}
		}
	}
}

// TestPortsAgree: Services, containers, probes, network policies and the
// configuration name the same ports.
func TestPortsAgree(t *testing.T) {
	o := render(t)
	rc, sc := redisContainer(t, o), sessiondContainer(t, o)
	podPort := map[string]*corev1.Container{"redis": rc, "sessiond": sc}
	want := map[string]int32{"redis": 6379, "sessiond": 8080}
	for name, c := range podPort {
		if len(c.Ports) != 1 || c.Ports[0].ContainerPort != want[name] {
			t.Errorf("%s container ports = %+v, want only %d", name, c.Ports, want[name])
		}
	}
	for _, s := range o.services {
		c := podPort[strings.TrimSuffix(s.Name, "-headless")]
		for _, p := range s.Spec.Ports {
			if got := containerPort(c, p.TargetPort); got == 0 || p.Port != got {
				t.Errorf("Service %s port %d -> %v: container port %d", s.Name, p.Port, p.TargetPort.String(), got)
			}
		}
	}
	conf := redisConf(t, o.configMaps["redis-config"].Data["redis.conf"])
	if conf["port"] != "6379" || conf["port"] != strconv.Itoa(int(rc.Ports[0].ContainerPort)) {
		t.Errorf("redis.conf port %s, container port %d", conf["port"], rc.Ports[0].ContainerPort)
	}
	for _, probe := range []*corev1.Probe{rc.LivenessProbe, rc.ReadinessProbe} {
		if probe != nil && probe.Exec != nil && !strings.Contains(strings.Join(probe.Exec.Command, " "), "-p 6379") {
			t.Errorf("redis probe %q does not ask port 6379", probe.Exec.Command)
		}
	}
	env := o.configMaps["sessiond-config"].Data
	if svc := o.services[env["REDIS_HOST"]]; svc == nil || svc.Spec.ClusterIP == corev1.ClusterIPNone ||
		strconv.Itoa(int(svc.Spec.Ports[0].Port)) != env["REDIS_PORT"] {
		t.Errorf("REDIS_HOST=%s REDIS_PORT=%s is not the redis Service", env["REDIS_HOST"], env["REDIS_PORT"])
	}
	if !strings.HasSuffix(env["SESSIOND_ADDR"], ":8080") || strings.HasPrefix(env["SESSIOND_ADDR"], "127.") {
		t.Errorf("SESSIOND_ADDR = %q, want all interfaces on the container port 8080", env["SESSIOND_ADDR"])
	}
	if ann := o.deployments["sessiond"].Spec.Template.Annotations["prometheus.io/port"]; ann != "8080" {
		t.Errorf("prometheus.io/port = %q, want 8080", ann)
	}

	// Network policies: default deny, DNS, and exactly the two paths.
	dd := o.netpols["default-deny-all"]
	if dd == nil || len(dd.Spec.PodSelector.MatchLabels)+len(dd.Spec.PodSelector.MatchExpressions) != 0 ||
		!slices.Contains(dd.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(dd.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) ||
		len(dd.Spec.Ingress)+len(dd.Spec.Egress) != 0 {
		t.Error("no default-deny-all NetworkPolicy denying ingress and egress to every pod")
	}
	podLabels := func(name string) map[string]string {
		if name == "redis" {
			return o.statefulSets["redis"].Spec.Template.Labels
		}
		return o.deployments["sessiond"].Spec.Template.Labels
	}
	type path struct{ from, to string }
	ingress := map[path]int32{}
	egress := map[path]int32{}
	dns := false
	for _, np := range o.netpols {
		for _, target := range []string{"redis", "sessiond"} {
			if !selects(t, &np.Spec.PodSelector, podLabels(target)) {
				continue
			}
			for _, r := range np.Spec.Ingress {
				for _, peer := range r.From {
					from := peerName(t, peer, podLabels)
					for _, p := range r.Ports {
						ingress[path{from, target}] = p.Port.IntVal
						if p.Port.Type != intstr.Int {
							t.Errorf("NetworkPolicy %s: use the port number", np.Name)
						}
					}
				}
			}
			for _, r := range np.Spec.Egress {
				for _, peer := range r.To {
					to := peerName(t, peer, podLabels)
					for _, p := range r.Ports {
						if to == "kube-dns" && p.Port.IntVal == 53 {
							dns = true
							continue
						}
						egress[path{target, to}] = p.Port.IntVal
					}
				}
			}
		}
	}
	wantIngress := map[path]int32{
		{"sessiond", "redis"}:                                      rc.Ports[0].ContainerPort,
		{"user-manager-service", "sessiond"}:                       sc.Ports[0].ContainerPort,
		{"user-manager-service (labelled namespaces)", "sessiond"}: sc.Ports[0].ContainerPort,
	}
	if !mapsEqual(ingress, wantIngress) {
		t.Errorf("NetworkPolicy ingress paths = %v, want %v", ingress, wantIngress)
	}
	if wantEgress := map[path]int32{{"sessiond", "redis"}: rc.Ports[0].ContainerPort}; !mapsEqual(egress, wantEgress) {
		t.Errorf("NetworkPolicy egress paths = %v, want %v", egress, wantEgress)
	}
	if !dns {
		t.Error("sessiond may not reach DNS")
	}
}

// peerName names a NetworkPolicy peer: one of our workloads, the
// user-manager-service, or kube-dns.
func peerName(t testing.TB, peer networkingv1.NetworkPolicyPeer, podLabels func(string) map[string]string) string {
	t.Helper()
	if peer.IPBlock != nil {
		t.Errorf("NetworkPolicy peer with an ipBlock %v", peer.IPBlock)
		return "ipBlock"
	}
	if peer.PodSelector == nil {
		t.Errorf("NetworkPolicy peer without a podSelector admits whole namespaces: %+v", peer)
		return "namespace"
	}
	name := peer.PodSelector.MatchLabels["app.kubernetes.io/name"]
	if peer.PodSelector.MatchLabels["k8s-app"] == "kube-dns" {
		name = "kube-dns"
	}
	switch name {
	case "redis", "sessiond":
		if !selects(t, peer.PodSelector, podLabels(name)) {
			t.Errorf("NetworkPolicy peer %v does not select the %s pods", peer.PodSelector, name)
		}
	case "user-manager-service", "kube-dns":
	default:
		t.Errorf("unexpected NetworkPolicy peer %+v", peer)
	}
	if peer.NamespaceSelector != nil && name == "user-manager-service" {
		if len(peer.NamespaceSelector.MatchLabels)+len(peer.NamespaceSelector.MatchExpressions) == 0 {
			t.Error("the user-manager-service may come from any namespace: give the namespaceSelector a label")
		}
		name += " (labelled namespaces)"
	}
	return name
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
