//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/sessiondb/sessiondb/internal/redistest"
)

// openPTY opens a pseudo-terminal and returns its controlling side and the
// terminal a program writes to.
func openPTY(t *testing.T) (ptmx, tty *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatalf("unlock the pty: %v", errno)
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatalf("pty number: %v", errno)
	}
	tty, err = os.OpenFile("/dev/pts/"+itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close(); ptmx.Close() })
	return ptmx, tty
}

// lockedBuffer is a buffer written by one goroutine and read by another.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestMonitorScreenCount: on a terminal, --count N draws N screens.
func TestMonitorScreenCount(t *testing.T) {
	srv := redistest.Start(t)
	env := redisEnv(srv)
	ptmx, tty := openPTY(t)
	out := &lockedBuffer{}
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(out, ptmx) })
	defer wg.Wait()
	defer ptmx.Close()
	for i, n := range []int{1, 3} {
		var errw bytes.Buffer
		code := run(t.Context(), []string{"monitor", "--count", itoa(n), "--interval", "50ms"}, func(k string) string { return env[k] },
			strings.NewReader(""), tty, &errw)
		if code != exitOK {
			t.Fatalf("monitor --count %d on a terminal: exit %d\n%s", n, code, errw.String())
		}
		// The terminal keeps the order: once this mark is read, so is
		// everything monitor wrote before it.
		mark := "end of run " + itoa(i)
		fmt.Fprintln(tty, mark)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), mark) {
			if time.Now().After(deadline) {
				t.Fatalf("the terminal's output never showed %q", mark)
			}
			time.Sleep(10 * time.Millisecond)
		}
		run, _, _ := strings.Cut(out.String(), mark)
		if i > 0 {
			_, run, _ = strings.Cut(run, "end of run "+itoa(i-1))
		}
		if got := strings.Count(run, "\x1b[H\x1b[2J"); got != n {
			t.Errorf("monitor --count %d drew %d screens:\n%q", n, got, run)
		}
		if !strings.Contains(run, "sessionctl monitor: redis at") {
			t.Errorf("monitor on a terminal did not draw its screen:\n%q", run)
		}
	}
	tty.Close()
}
