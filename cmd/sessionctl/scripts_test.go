package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/internal/redistest"
)

// The wrapper scripts at the original's paths, run as an operator would.

var repoRoot = func() string { p, _ := filepath.Abs("../.."); return p }()

func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH to build sessionctl")
	}
	return p
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// sessionctlBin builds sessionctl once into a directory that the wrapper
// tests put on PATH, as an installed release would be.
func sessionctlBin(t *testing.T) string {
	t.Helper()
	gobin := goTool(t)
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "sessionctl-bin-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command(gobin, "build", "-o", filepath.Join(binDir, "sessionctl"), ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// script runs a wrapper script with a clean environment: PATH (with path
// in front), HOME, the Go cache settings, and vars. It runs in a temporary
// directory, so no .env is read.
func script(t *testing.T, path string, name string, vars []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", name), args...)
	cmd.Dir = t.TempDir()
	pathVar := os.Getenv("PATH")
	if path != "" {
		pathVar = path + string(os.PathListSeparator) + pathVar
	}
	cmd.Env = []string{"PATH=" + pathVar}
	for _, k := range []string{"HOME", "GOCACHE", "GOPATH", "GOMODCACHE", "GOFLAGS", "GOPROXY", "GOTOOLCHAIN", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Env = append(cmd.Env, vars...)
	var out, errw bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errw
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return result{code, out.String(), errw.String()}
}

func TestWrapperScripts(t *testing.T) {
	bin := sessionctlBin(t)
	srv := redistest.Start(t)
	url := "REDIS_URL=" + srv.URL()
	timeout := "REDIS_TIMEOUT_MS=" + slow
	m := manager(t, redisEnv(srv))
	fill(t, m.Store(), "u", 200, 20, time.Hour)

	t.Run("health", func(t *testing.T) {
		r := script(t, bin, "jobHelpers/session-health-check.sh", []string{url, timeout}, "--timeout", "20s").want(t, exitOK)
		oneLineOut(t, r, "ok: redis at "+srv.Addr())
		stopped := redistest.Start(t)
		stopped.Stop()
		r = script(t, bin, "jobHelpers/session-health-check.sh", []string{"REDIS_URL=" + stopped.URL()}, "--timeout", "1s").want(t, exitUnavailable)
		oneLineOut(t, r, "unhealthy: ")
		script(t, bin, "jobHelpers/session-health-check.sh", nil).want(t, exitUsage)
	})

	t.Run("backup", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "backups")
		r := script(t, bin, "dbManagement/backup-sessions.sh", []string{url, timeout, "BACKUP_DIR=" + dir}).want(t, exitOK)
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || !regexp.MustCompile(`^sessions-\d{8}T\d{6}Z\.jsonl$`).MatchString(entries[0].Name()) {
			t.Fatalf("backup directory holds %v, want one sessions-<time>.jsonl\n%s", entries, r)
		}
		file := filepath.Join(dir, entries[0].Name())
		if !strings.HasPrefix(r.stdout, "backed up 200 sessions to "+file) {
			t.Errorf("backup wrapper output:\n%s", r)
		}
		if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
			t.Errorf("backup directory mode %v, want 0700", fi.Mode().Perm())
		}
		ctl(t, nil, "restore", "--dry-run", file).want(t, exitOK)
		// An explicit file, and flags.
		file = filepath.Join(t.TempDir(), "explicit.jsonl")
		script(t, bin, "dbManagement/backup-sessions.sh", []string{url, timeout}, file, "--no-progress").want(t, exitOK)
		r = ctl(t, nil, "restore", "--dry-run", file).want(t, exitOK)
		if !strings.Contains(r.stdout, "200 sessions") {
			t.Errorf("backup with an explicit file:\n%s", r)
		}
		script(t, bin, "dbManagement/backup-sessions.sh", []string{url, timeout}, file).want(t, exitUsage) // exists
		r = script(t, bin, "dbManagement/backup-sessions.sh", []string{url, timeout}, "-").want(t, exitOK)
		if strings.Count(r.stdout, "\n") != 202 {
			t.Errorf("backup to standard output: %d lines", strings.Count(r.stdout, "\n"))
		}
	})

	t.Run("monitor", func(t *testing.T) {
		r := script(t, bin, "dbManagement/monitor-sessions.sh", []string{url, timeout}, "--count", "2", "--interval", "50ms").want(t, exitOK)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 2 || fields(t, lines[1])["active"] != "200" {
			t.Errorf("monitor wrapper:\n%s", r)
		}
	})

	t.Run("connect", func(t *testing.T) {
		cli := redistest.Binary(t, "redis-cli")
		pwSrv := startWithPassword(t, "wrapper-pw")
		vars := []string{"REDIS_URL=" + pwSrv.URL(), "REDIS_PASSWORD=wrapper-pw", timeout}
		r := script(t, bin+string(os.PathListSeparator)+filepath.Dir(cli), "dbManagement/redis-connect.sh", vars, "--", "PING").want(t, exitOK)
		if strings.TrimSpace(r.stdout) != "PONG" {
			t.Errorf("redis-connect.sh -- PING:\n%s", r)
		}
		r = script(t, bin, "dbManagement/redis-connect.sh", vars, "--print").want(t, exitOK)
		if strings.Contains(r.stdout, "wrapper-pw") || !strings.HasPrefix(r.stdout, "redis-cli -h 127.0.0.1 -p ") {
			t.Errorf("redis-connect.sh --print:\n%s", r)
		}
	})

	t.Run("SESSIONCTL", func(t *testing.T) {
		r := script(t, "", "jobHelpers/session-health-check.sh", []string{url, timeout, "SESSIONCTL=" + filepath.Join(bin, "sessionctl")}, "--timeout", "20s").want(t, exitOK)
		oneLineOut(t, r, "ok: ")
	})

	t.Run("built from the repository", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds sessionctl; skipped in -short mode")
		}
		if _, err := exec.LookPath("sessionctl"); err == nil {
			t.Skip("a sessionctl is installed on PATH")
		}
		goTool(t)
		// PATH without sessionctl: the wrapper builds bin/sessionctl.
		r := script(t, filepath.Dir(goTool(t)), "jobHelpers/session-health-check.sh", []string{url, timeout}, "--timeout", "20s").want(t, exitOK)
		oneLineOut(t, r, "ok: ")
		if _, err := os.Stat(filepath.Join(repoRoot, "bin", "sessionctl")); err != nil {
			t.Errorf("bin/sessionctl not built: %v", err)
		}
		r = script(t, filepath.Dir(goTool(t)), "jobHelpers/session-health-check.sh", []string{"REDIS_URL=redis://127.0.0.1:1"}, "--timeout", "1s")
		if r.code != exitUnavailable {
			t.Errorf("the built sessionctl's exit code is not passed on: %d, want 3\n%s", r.code, r)
		}
	})
}

func TestBuildImageScript(t *testing.T) {
	// A copy of the script in a repository of its own, with a stand-in
	// for docker that records its arguments.
	repo := t.TempDir()
	dir := filepath.Join(repo, "scripts", "containerManagement")
	os.MkdirAll(dir, 0o755)
	src, err := os.ReadFile(filepath.Join(repoRoot, "scripts", "containerManagement", "build-image.sh"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "build-image.sh"), src, 0o755)
	bin := t.TempDir()
	argsFile := filepath.Join(bin, "args")
	os.WriteFile(filepath.Join(bin, "docker"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > "+argsFile+"\n"), 0o755)

	run := func(vars []string, args ...string) result {
		cmd := exec.Command(filepath.Join(dir, "build-image.sh"), args...)
		cmd.Env = append([]string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}, vars...)
		var out, errw bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errw
		code := 0
		if err := cmd.Run(); err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatal(err)
			}
			code = ee.ExitCode()
		}
		return result{code, out.String(), errw.String()}
	}
	dockerArgs := func() string {
		b, _ := os.ReadFile(argsFile)
		os.Remove(argsFile)
		return strings.Join(strings.Fields(string(b)), " ")
	}

	r := run(nil).want(t, exitError)
	if !strings.Contains(r.stderr, "no Dockerfile in "+repo) {
		t.Errorf("without a Dockerfile:\n%s", r)
	}
	os.WriteFile(filepath.Join(repo, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	df := filepath.Join(repo, "Dockerfile")
	tests := []struct {
		vars []string
		args []string
		want string
	}{
		{nil, nil, "build -t sessiondb:dev -f " + df + " " + repo},
		{nil, []string{"registry.example/sessiondb:1.2"}, "build -t registry.example/sessiondb:1.2 -f " + df + " " + repo},
		{[]string{"IMAGE_TAG=team/sessiondb:ci"}, []string{"--pull", "--platform", "linux/arm64"}, "build -t team/sessiondb:ci -f " + df + " --pull --platform linux/arm64 " + repo},
		{nil, []string{"x:y", "--no-cache"}, "build -t x:y -f " + df + " --no-cache " + repo},
	}
	for _, tt := range tests {
		run(tt.vars, tt.args...).want(t, exitOK)
		if got := dockerArgs(); got != tt.want {
			t.Errorf("build-image.sh %v:\n got docker %s\nwant docker %s", tt.args, got, tt.want)
		}
	}
	r = run([]string{"DOCKER=no-such-docker"}).want(t, 127)
	if !strings.Contains(r.stderr, "no-such-docker not found") {
		t.Errorf("missing docker:\n%s", r)
	}
}

// TestScriptsShellcheck runs shellcheck over the scripts when it is
// installed (Debian: apt-get install shellcheck).
func TestScriptsShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck not installed")
	}
	files, _ := filepath.Glob(filepath.Join(repoRoot, "scripts", "*", "*.sh"))
	if len(files) < 6 {
		t.Fatalf("found %d scripts, want the 5 wrappers and their library", len(files))
	}
	var mine []string
	for _, f := range files {
		if !strings.HasSuffix(f, "/scripts/test.sh") {
			mine = append(mine, f)
		}
	}
	out, err := exec.Command(sc, append([]string{"-x"}, mine...)...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
