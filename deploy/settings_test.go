package deploy

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/sessiondb/sessiondb/config"
)

// documentedDefaults reads the default of every setting from the README's
// configuration tables: variable -> default ("" when unset).
func documentedDefaults(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(repo("README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]string{}
	names := regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")
	for line := range strings.SplitSeq(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") || !strings.Contains(cells[1], "_") {
			continue
		}
		def := strings.Trim(strings.TrimSpace(cells[3]), "`")
		if def == "(unset)" {
			def = ""
		}
		for _, m := range names.FindAllStringSubmatch(cells[1], -1) {
			defaults[m[1]] = def
		}
	}
	if len(defaults) < 25 {
		t.Fatalf("found only %d settings in the README's tables", len(defaults))
	}
	return defaults
}

// override is a row of "Settings the deploy files choose" in
// docs/operations.md.
type override struct{ name, value, files string }

func deliberateOverrides(t *testing.T) []override {
	t.Helper()
	b, err := os.ReadFile(repo("docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### Settings the deploy files choose\n")
	if !ok {
		t.Fatal("docs/operations.md has no section Settings the deploy files choose")
	}
	section, _, _ = strings.Cut(section, "\n#")
	var out []override
	for line := range strings.SplitSeq(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		out = append(out, override{strings.Trim(strings.TrimSpace(cells[1]), "`"), strings.Trim(strings.TrimSpace(cells[2]), "`"), cells[3]})
	}
	if len(out) == 0 {
		t.Fatal("docs/operations.md lists no deliberate override")
	}
	return out
}

// TestDeploySettings: every setting the deploy files write (the sessiond
// ConfigMap, docker-compose.yml's sessiond environment and the fallbacks of
// its ${VAR:-x}, the Dockerfile's ENV, .env.example) is the documented
// default, or a deliberate override listed in docs/operations.md; and
// Compose runs the same with and without .env.
func TestDeploySettings(t *testing.T) {
	defaults := documentedDefaults(t)
	// The README's defaults are the library's.
	for _, s := range config.Settings {
		if def, ok := defaults[s.Env]; !ok || def != s.Default() {
			t.Errorf("README.md: %s defaults to %q, the config package to %q", s.Env, def, s.Default())
		}
	}
	overrides := deliberateOverrides(t)
	used := make([]bool, len(overrides))
	check := func(file, name, value string) {
		t.Helper()
		def, isSetting := defaults[name]
		if !isSetting || value == def {
			return
		}
		for i, o := range overrides {
			if o.name == name && o.value == value && strings.Contains(o.files, "`"+file+"`") {
				used[i] = true
				return
			}
		}
		t.Errorf("%s sets %s=%s, but the documented default is %q: use the default, or list it in docs/operations.md (Settings the deploy files choose) with the reason",
			file, name, value, def)
	}

	// Kubernetes.
	for k, v := range render(t).configMaps["sessiond-config"].Data {
		check("k8s/base/configmap.yaml", k, v)
	}

	// Compose, as written: a ${VAR:-x} counts as x, which must also be what
	// .env.example gives VAR.
	example, err := config.ReadDotEnv(repo(".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(repo("docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Environment map[string]string `json:"environment"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	env := compose.Services["sessiond"].Environment
	if len(env) == 0 {
		t.Fatal("docker-compose.yml: no sessiond environment")
	}
	fallback := regexp.MustCompile(`^\$\{([A-Z][A-Z0-9_]*):-([^}]*)\}$`)
	for k, v := range env {
		if m := fallback.FindStringSubmatch(v); m != nil {
			if m[1] != k {
				t.Errorf("docker-compose.yml: %s takes ${%s}", k, m[1])
			}
			v = m[2]
			if e, ok := example[k]; ok && e != "" && e != v {
				t.Errorf("docker-compose.yml gives %s the fallback %q but .env.example %q: Compose would run differently with and without .env", k, v, e)
			}
		}
		check("docker-compose.yml", k, v)
	}

	// The image.
	dockerfile, err := os.ReadFile(repo("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^ENV ([A-Z][A-Z0-9_]*)=(\S+)$`).FindAllStringSubmatch(string(dockerfile), -1) {
		check("Dockerfile", m[1], m[2])
	}

	// .env.example shows the defaults themselves.
	for k, v := range example {
		if v != "" {
			check(".env.example", k, v)
		}
	}

	for i, o := range overrides {
		if !used[i] {
			t.Errorf("docs/operations.md lists %s=%s in %s, which no deploy file sets", o.name, o.value, strings.TrimSpace(o.files))
		}
		if !slices.ContainsFunc(overrides[:i], func(p override) bool { return p.name == o.name && p.value == o.value }) {
			continue
		}
		t.Errorf("docs/operations.md lists %s=%s twice", o.name, o.value)
	}
}
