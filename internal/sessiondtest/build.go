package sessiondtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// BinaryEnv names a sessiond binary to use instead of building one from the
// tree (to test a release build, say).
const BinaryEnv = "SESSIONDB_SESSIOND"

const (
	pkgPath     = "github.com/sessiondb/sessiondb/cmd/sessiond"
	buildPrefix = "sessiondtest-"
)

var build struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of a sessiond built from the tree, building it on
// the first call of the test binary (with -race when the tests run with it).
// The build goes to a temporary directory named after the test process;
// directories of test processes that have ended are removed on the next
// build.
func Binary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv(BinaryEnv); p != "" {
		return p
	}
	build.once.Do(func() { build.path, build.err = buildSessiond() })
	if build.err != nil {
		tb.Fatalf("sessiondtest: %v", build.err)
	}
	return build.path
}

func buildSessiond() (string, error) {
	removeStaleBuilds()
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("the go command is not on PATH: it is needed to build sessiond for the tests")
	}
	dir, err := os.MkdirTemp("", buildPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "sessiond")
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, pkgPath)
	cmd := exec.Command(goBin, args...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return out, nil
}

// removeStaleBuilds removes the build directories of test processes that no
// longer run.
func removeStaleBuilds() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), buildPrefix+"*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), buildPrefix)
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}
