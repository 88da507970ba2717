package deploy

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb/internal/redistest"
)

// TestLocalRecipe runs the lines of "Run it locally" in deploy/redis/README.md
// as written, but for the port, the data directory and "go run", replaced
// by a free port, a temporary directory and binaries built from the
// repository: redis-server from the shipped files, sessiond as the sessiond
// user, sessionctl stats as the operator and sessionctl health as the probe
// user.
func TestLocalRecipe(t *testing.T) {
	redistest.Binary(t, "redis-server")
	readme := repo("deploy", "redis", "README.md")
	blocks := docBlocks(t, readme, "## Run it locally")
	if len(blocks) != 2 {
		t.Fatalf("%s: want 2 sh blocks under Run it locally, found %d", readme, len(blocks))
	}
	root, err := filepath.Abs(repo())
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(redistest.FreePort(t))
	dir := filepath.Join(t.TempDir(), "data")
	bins := t.TempDir()
	for _, c := range []string{"sessiond", "sessionctl"} {
		build := exec.Command("go", "build", "-o", filepath.Join(bins, c), "./cmd/"+c)
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/%s: %v\n%s", c, err, out)
		}
	}
	local := func(line string) string {
		line = strings.ReplaceAll(line, "6380", port)
		line = strings.ReplaceAll(line, "/tmp/sessiondb-redis", dir)
		line = strings.ReplaceAll(line, "go run ./cmd/sessiond", filepath.Join(bins, "sessiond"))
		return strings.ReplaceAll(line, "go run ./cmd/sessionctl", filepath.Join(bins, "sessionctl"))
	}
	start := func(line string, env ...string) *exec.Cmd {
		t.Helper()
		cmd := exec.Command("sh", "-c", local(line))
		cmd.Dir = root
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PWD=" + root}, env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		log, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			log.Close()
		})
		return cmd
	}
	run := func(line string) string {
		t.Helper()
		cmd := exec.Command("sh", "-c", local(line))
		cmd.Dir = root
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PWD=" + root}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		return string(out)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	if len(blocks[0]) != 1 {
		t.Fatalf("the Redis recipe is %d lines, want one", len(blocks[0]))
	}
	start(blocks[0][0])
	waitFor("redis-server answers", func() bool {
		_, err := redistest.Do("127.0.0.1:"+port, "PING")
		return err != nil && strings.HasPrefix(err.Error(), "NOAUTH")
	})
	if _, err := os.Stat(filepath.Join(dir, "appendonlydir")); err != nil {
		t.Errorf("Redis does not keep its append-only file in the recipe's directory: %v", err)
	}

	var sessiond, events string
	for _, line := range blocks[1] {
		switch {
		case strings.Contains(line, "./cmd/sessiond "), strings.HasSuffix(line, "./cmd/sessiond"):
			sessiond = line
		case strings.HasSuffix(line, " events"):
			events = line // once sessiond has made a session
		case strings.HasSuffix(line, " stats"):
			if out := run(line); !strings.Contains(out, "active sessions") {
				t.Errorf("%s:\n%s", line, out)
			}
		case strings.HasSuffix(line, " health"):
			if out := run(line); !strings.HasPrefix(out, "ok: ") {
				t.Errorf("%s:\n%s", line, out)
			}
		default:
			t.Errorf("a line TestLocalRecipe does not know: %s", line)
		}
	}
	if sessiond == "" {
		t.Fatal("no sessiond line")
	}
	addr := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
	start(sessiond, "SESSIOND_ADDR="+addr)
	waitFor("sessiond is ready", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	resp, err := http.Post("http://"+addr+"/v1/sessions", "application/json", strings.NewReader(`{"user_id":"local"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Errorf("create through the local sessiond: %s", resp.Status)
	}
	if events == "" {
		t.Fatal("no sessionctl events line")
	}
	// The event of that create, read by the operator once it is final (a
	// second after the change).
	waitFor("sessionctl events shows the create", func() bool {
		out := run(events)
		return strings.Contains(out, " created ") && strings.Contains(out, " local ") && strings.Contains(out, "1 event(s)")
	})
	op, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:" + port}, Username: "operator",
		Password: devPasswords["operator"], ForceSingleClient: true, DisableCache: true, ClientSetInfo: rueidis.DisableClientSetInfo})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	// (sessionctl health as probe tries INFO and CLUSTER SLOTS, and does
	// without.)
	for _, e := range aclLog(t, op) {
		if !strings.HasPrefix(e, "user=probe ") {
			t.Errorf("Redis refused a command of the recipe's sessiond or sessionctl: %s", e)
		}
	}
}

// docBlocks returns the lines of every ```sh block between the heading line
// of a Markdown file and the next heading of the same or a higher level.
func docBlocks(t *testing.T, path, heading string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no heading %q", path, heading)
	}
	level := strings.SplitN(heading, " ", 2)[0]
	for _, l := range []string{"\n# ", "\n## ", "\n### "} {
		if len(l)-2 <= len(level) {
			section, _, _ = strings.Cut(section, l)
		}
	}
	var out [][]string
	for {
		var block string
		_, section, ok = strings.Cut(section, "```sh\n")
		if !ok {
			return out
		}
		block, section, _ = strings.Cut(section, "```")
		var lines []string
		for line := range strings.SplitSeq(strings.TrimSpace(block), "\n") {
			lines = append(lines, strings.TrimSpace(line))
		}
		out = append(out, lines)
	}
}
