package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/redistest"
)

// parseDockerfile parses the Dockerfile as BuildKit does, with its linter
// on; lint warnings are returned as strings.
func parseDockerfile(t *testing.T) ([]instructions.Stage, []instructions.ArgCommand, []string) {
	t.Helper()
	f, err := os.Open(repo("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	var warnings []string
	for _, w := range res.Warnings {
		warnings = append(warnings, w.Short)
	}
	lint := linter.New(&linter.Config{ExperimentalAll: true, Warn: func(rule, desc, url, msg string, loc []parser.Range) {
		warnings = append(warnings, rule+": "+msg)
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return stages, metaArgs, warnings
}

func TestDockerfile(t *testing.T) {
	stages, metaArgs, warnings := parseDockerfile(t)
	if len(warnings) != 0 {
		t.Errorf("Dockerfile lint warnings:\n%s", strings.Join(warnings, "\n"))
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a final one", len(stages))
	}
	// The Go version of the build stage is the one go.mod asks for.
	gomod, err := os.ReadFile(repo("go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Key == "GO_VERSION" && (kv.Value == nil || goVersion == nil || *kv.Value != string(goVersion[1])) {
				t.Errorf("ARG GO_VERSION=%v, go.mod says go %s", kv.Value, goVersion[1])
			}
		}
	}

	build := stages[0]
	var buildRun string
	for _, cmd := range build.Commands {
		if r, ok := cmd.(*instructions.RunCommand); ok {
			buildRun += strings.Join(r.CmdLine, " ") + "\n"
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", "./cmd/sessiond", "./cmd/sessionctl"} {
		if !strings.Contains(buildRun, want) {
			t.Errorf("build stage RUN lacks %q:\n%s", want, buildRun)
		}
	}

	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.BaseName, "gcr.io/distroless/static") || !strings.HasSuffix(final.BaseName, ":nonroot") {
		t.Errorf("final base image %q, want gcr.io/distroless/static-*:nonroot", final.BaseName)
	}
	var user string
	var healthcheck, entrypoint []string
	copiedFromBuild := false
	for _, cmd := range final.Commands {
		switch c := cmd.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.HealthCheckCommand:
			healthcheck = c.Health.Test
		case *instructions.EntrypointCommand:
			if !c.PrependShell {
				entrypoint = c.CmdLine
			}
		case *instructions.CopyCommand:
			copiedFromBuild = copiedFromBuild || c.From == build.Name
		case *instructions.RunCommand:
			t.Errorf("RUN in the final stage (%q): the distroless base has no shell", c.CmdLine)
		}
	}
	// The last USER of the final stage is not root.
	name, _, _ := strings.Cut(user, ":")
	if user == "" || name == "root" || name == "0" {
		t.Errorf("final stage runs as %q, want a non-root USER", user)
	}
	if !copiedFromBuild {
		t.Error("final stage copies nothing from the build stage")
	}
	if len(healthcheck) < 2 || healthcheck[0] != "CMD" || !slices.Contains(healthcheck, "-healthcheck") {
		t.Errorf("HEALTHCHECK = %q, want an exec-form CMD running sessiond -healthcheck", healthcheck)
	}
	if len(entrypoint) != 1 || filepath.Base(entrypoint[0]) != "sessiond" || len(healthcheck) > 1 && healthcheck[1] != entrypoint[0] {
		t.Errorf("ENTRYPOINT = %q, want the exec form of the sessiond binary the health check runs", entrypoint)
	}
	// docs/sessiond.md shows the Dockerfile's HEALTHCHECK as it is.
	dockerfile, err := os.ReadFile(repo("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(repo("docs", "sessiond.md"))
	if err != nil {
		t.Fatal(err)
	}
	instruction := regexp.MustCompile(`(?m)^HEALTHCHECK .*\\\n(?:  .*\n)*|^HEALTHCHECK .*\n`)
	inImage, inDoc := instruction.Find(dockerfile), instruction.Find(doc)
	if inImage == nil || string(inImage) != string(inDoc) {
		t.Errorf("docs/sessiond.md shows the health check\n%s\nbut the Dockerfile has\n%s", inDoc, inImage)
	}
}

// TestDockerignore: the build context holds every file go build needs, and
// no secret.
func TestDockerignore(t *testing.T) {
	f, err := os.Open(repo(".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	excluded := func(p string) bool {
		ok, err := pm.MatchesOrParentMatches(p)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, p := range []string{".env", "secrets/users.acl", "secrets/redis-sessiond-password", ".git/config", ".env.local"} {
		if !excluded(p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}
	// Every file of every non-test package of the module, embedded files
	// included, goes in.
	golist := exec.Command("go", "list", "-json=Dir,GoFiles,EmbedFiles", "./...")
	golist.Dir = ".."
	out, err := golist.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	need := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var pkg struct {
			Dir                 string
			GoFiles, EmbedFiles []string
		}
		if err := dec.Decode(&pkg); err != nil {
			t.Fatal(err)
		}
		rel, err := filepath.Rel(root, pkg.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if rel == "deploy" {
			continue // tests only
		}
		for _, f := range append(pkg.GoFiles, pkg.EmbedFiles...) {
			need = append(need, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	for _, p := range []string{"cmd/sessiond/main.go", "cmd/sessionctl/main.go", "redisstore/scripts/insert.lua"} {
		if !slices.Contains(need, p) {
			need = append(need, p) // the binaries may not exist yet in this tree
		}
	}
	for _, p := range need {
		if excluded(p) {
			t.Errorf(".dockerignore leaves out %s, which go build needs", p)
		}
	}
}

// loadCompose loads docker-compose.yml with the Compose specification
// loader, interpolating from .env.example as docker compose would from .env.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{repo("docker-compose.yml")},
		cli.WithWorkingDirectory(repo()), cli.WithEnvFiles(repo(".env.example")), cli.WithDotEnv,
		cli.WithName("sessiondb"), cli.WithResolvedPaths(true), cli.WithConsistency(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

func TestCompose(t *testing.T) {
	p := loadCompose(t)
	redis, err := p.GetService("redis")
	if err != nil {
		t.Fatal(err)
	}
	sessiond, err := p.GetService("sessiond")
	if err != nil {
		t.Fatal(err)
	}

	// Redis: the conf, the ACL, a volume for the AOF, a health check.
	abs := func(parts ...string) string {
		a, err := filepath.Abs(repo(parts...))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	mounts := map[string]types.ServiceVolumeConfig{}
	for _, v := range redis.Volumes {
		mounts[v.Target] = v
	}
	if m := mounts["/usr/local/etc/redis/redis.conf"]; m.Source != abs("deploy", "redis", "redis.conf") || !m.ReadOnly {
		t.Errorf("redis.conf mount = %+v, want deploy/redis/redis.conf read-only", m)
	}
	if m := mounts["/data"]; m.Type != types.VolumeTypeVolume || p.Volumes[m.Source].Name == "" {
		t.Errorf("/data mount = %+v, want a named volume for the AOF", m)
	}
	if got := strings.Join(redis.Command, " "); got != "redis-server /usr/local/etc/redis/redis.conf" {
		t.Errorf("redis command = %q", got)
	}
	secretTargets := map[string]string{}
	for _, s := range redis.Secrets {
		secretTargets[s.Source] = s.Target
	}
	if secretTargets["redis_users_acl"] != "/usr/local/etc/redis/users.acl" {
		t.Errorf("users.acl secret mounted at %q, want where redis.conf's aclfile points", secretTargets["redis_users_acl"])
	}
	if f := p.Secrets["redis_users_acl"].File; f != abs("secrets", "users.acl") {
		t.Errorf("redis_users_acl comes from %q, want secrets/users.acl (deploy/make-secrets.sh)", f)
	}
	if hc := redis.HealthCheck; hc == nil || len(hc.Test) < 2 || !strings.Contains(strings.Join(hc.Test, " "), "ping") {
		t.Errorf("redis health check = %+v, want a PING", redis.HealthCheck)
	} else if !strings.Contains(hc.Test[1], "$(cat /run/secrets/redis_probe_password)") {
		t.Errorf("redis health check %q does not read the probe password file (a single $ must survive interpolation)", hc.Test[1])
	}

	// sessiond waits for a healthy Redis and is configured from .env.
	if dep, ok := sessiond.DependsOn["redis"]; !ok || dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("sessiond depends_on redis = %+v, want condition service_healthy", sessiond.DependsOn)
	}
	if sessiond.Build == nil || sessiond.Build.Context != abs() {
		t.Errorf("sessiond build = %+v, want the repository's Dockerfile", sessiond.Build)
	}
	dotenv, err := config.ReadDotEnv(repo(".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for k, v := range sessiond.Environment {
		if v == nil {
			t.Errorf("sessiond environment %s has no value", k)
			continue
		}
		env[k] = *v
		if secretish.MatchString(k) && !strings.HasSuffix(k, "_FILE") {
			t.Errorf("sessiond environment %s looks like a secret; use a secret file", k)
		}
	}
	for k, v := range dotenv {
		if _, passed := env[k]; passed && env[k] != v {
			t.Errorf("sessiond %s = %q, .env says %q", k, env[k], v)
		}
	}
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("sessiond environment: %v", err)
	}
	if cfg.RedisHost != "redis" || cfg.RedisUsername != "sessiond" {
		t.Errorf("sessiond reaches Redis at %q as %q, want the redis service as sessiond", cfg.RedisHost, cfg.RedisUsername)
	}
	mounted := map[string]bool{}
	for _, s := range sessiond.Secrets {
		target := s.Target
		if target == "" {
			target = "/run/secrets/" + s.Source
		}
		mounted[target] = true
	}
	for _, k := range []string{"REDIS_PASSWORD_FILE", "SESSIOND_API_KEYS_FILE"} {
		if !mounted[env[k]] {
			t.Errorf("%s = %q is not a secret mounted into sessiond", k, env[k])
		}
	}
	if hc := sessiond.HealthCheck; hc == nil || !slices.Contains(hc.Test, "-healthcheck") {
		t.Errorf("sessiond health check = %+v", sessiond.HealthCheck)
	}

	// Both run as non-root, read-only, without capabilities, reachable from
	// this machine only.
	for _, s := range []types.ServiceConfig{redis, sessiond} {
		if s.User == "" || strings.HasPrefix(s.User, "0") || strings.HasPrefix(s.User, "root") {
			t.Errorf("%s runs as %q", s.Name, s.User)
		}
		if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: read_only %v, cap_drop %v, security_opt %v", s.Name, s.ReadOnly, s.CapDrop, s.SecurityOpt)
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes port %d on %q, want 127.0.0.1", s.Name, port.Target, port.HostIP)
			}
		}
	}

	// The same Redis image as Kubernetes (which pins its digest).
	if k8s, _, _ := strings.Cut(redisContainer(t, render(t)).Image, "@"); redis.Image != k8s {
		t.Errorf("compose runs %s, Kubernetes %s", redis.Image, k8s)
	}
}

// TestEnvExample: .env.example defines every variable docker-compose.yml
// interpolates, and reads cleanly with the library's loader.
func TestEnvExample(t *testing.T) {
	vars, err := config.ReadDotEnv(repo(".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile(repo("docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)`).FindAllSubmatch(compose, -1) {
		if _, ok := vars[string(m[1])]; !ok {
			t.Errorf("docker-compose.yml uses ${%s}, which .env.example does not define", m[1])
		}
	}
	for k := range vars {
		if secretish.MatchString(k) && !strings.HasSuffix(k, "_DIR") && !strings.HasSuffix(k, "_FILE") {
			t.Errorf(".env.example defines %s: secrets belong in SECRETS_DIR", k)
		}
	}
	if _, err := config.FromEnv(func(k string) string { return vars[k] }); err != nil {
		t.Errorf(".env.example: %v", err)
	}
}

// TestMakeSecrets runs deploy/make-secrets.sh and starts Redis with the ACL
// file it wrote: the new passwords work, the development ones do not, and a
// rotation accepts the old and the new password at once.
func TestMakeSecrets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	run := func() string {
		t.Helper()
		out, err := exec.Command("bash", "make-secrets.sh", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("make-secrets.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	run()
	aclInode := inode(t, filepath.Join(dir, "users.acl"))
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("secrets directory mode = %v, %v; want 0700", st.Mode(), err)
	}
	keys := read("sessiond-api-keys")
	if !regexp.MustCompile(`(?m)^app:[A-Za-z0-9]{40}$`).MatchString(keys) || !regexp.MustCompile(`(?m)^admin:[A-Za-z0-9]{40}$`).MatchString(keys) {
		t.Errorf("sessiond-api-keys lacks an app and an admin key of 40 characters")
	}
	acl := read("users.acl")
	tb, err := os.ReadFile(repo("deploy", "redis", "users.acl"))
	if err != nil {
		t.Fatal(err)
	}
	template := string(tb)
	for _, line := range strings.Split(strings.TrimSpace(template), "\n") {
		// Same rules, other hashes.
		stripped := regexp.MustCompile(`#[0-9a-f]{64}`).ReplaceAllString(line, "#")
		found := false
		for _, got := range strings.Split(acl, "\n") {
			found = found || regexp.MustCompile(`#[0-9a-f]{64}`).ReplaceAllString(got, "#") == stripped
		}
		if !found {
			t.Errorf("users.acl lost the rule %q", stripped)
		}
		if h := regexp.MustCompile(`#[0-9a-f]{64}`).FindString(line); h != "" && strings.Contains(acl, h) {
			t.Errorf("users.acl still holds the development hash %s", h)
		}
	}

	s := startConf(t, filepath.Join(dir, "users.acl"))
	pw := map[string]string{}
	for user := range devPasswords {
		pw[user] = read("redis-" + user + "-password")
		if len(pw[user]) != 40 {
			t.Errorf("%s password has %d characters, want 40", user, len(pw[user]))
		}
		if got, err := do(s.client(t, user, pw[user]), "PING").ToString(); err != nil || got != "PONG" {
			t.Errorf("PING as %s with the generated password = %q, %v", user, got, err)
		}
	}
	if _, err := redistest.Do(s.addr(), "AUTH", "sessiond", devPasswords["sessiond"]); err == nil {
		t.Error("the development password of sessiond still works")
	}

	// Rotation: the old password stays valid next to the new one.
	if err := os.Rename(filepath.Join(dir, "redis-sessiond-password"), filepath.Join(dir, "redis-sessiond-password.old")); err != nil {
		t.Fatal(err)
	}
	if out := run(); !strings.Contains(out, "made") {
		t.Errorf("second run made no new password:\n%s", out)
	}
	if inode(t, filepath.Join(dir, "users.acl")) != aclInode {
		t.Error("users.acl was replaced, not rewritten: a bind mount of it would keep the old file")
	}
	if read("redis-operator-password") != pw["operator"] {
		t.Error("a second run changed the operator password")
	}
	// ACL LOAD closes every connection (each user is replaced): a fresh
	// client per call.
	aclLoad := func() {
		t.Helper()
		copyFile(t, filepath.Join(dir, "users.acl"), filepath.Join(s.dir, "users.acl"))
		if err := do(s.client(t, "operator", pw["operator"]), "ACL", "LOAD").Error(); err != nil {
			t.Fatalf("ACL LOAD as operator: %v", err)
		}
	}
	aclLoad()
	newPW := read("redis-sessiond-password")
	for _, p := range []string{pw["sessiond"], newPW} {
		if _, err := redistest.Do(s.addr(), "AUTH", "sessiond", p); err != nil {
			t.Errorf("AUTH sessiond during the rotation: %v", err)
		}
	}
	// Finishing the rotation drops the old password.
	if err := os.Remove(filepath.Join(dir, "redis-sessiond-password.old")); err != nil {
		t.Fatal(err)
	}
	run()
	aclLoad()
	if _, err := redistest.Do(s.addr(), "AUTH", "sessiond", pw["sessiond"]); err == nil {
		t.Error("the old sessiond password works after the rotation")
	}
	if _, err := redistest.Do(s.addr(), "AUTH", "sessiond", newPW); err != nil {
		t.Errorf("the new sessiond password: %v", err)
	}
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}
