// Package browsertest drives a real headless Chromium for the tests of the
// project's web pages (sessiond's console, the login service example): it
// starts the browser with a fresh profile, opens tabs in separate browser
// contexts (each its own cookie jar), checks a page with the axe-core
// accessibility checker, and writes screenshots.
//
// Chromium is Debian's package (apt-get install chromium); scripts/test.sh
// installs it. Without it the tests fail and say how to install it, unless
// SESSIONDB_SKIP_BROWSER=1 is set, which makes them skip instead. The
// browser is started with no network but loopback in mind: no background
// networking, component updates, sync or QUIC, so it contacts nothing on
// its own.
package browsertest

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// SkipEnv is the environment variable that makes a missing Chromium skip
// the browser tests instead of failing them.
const SkipEnv = "SESSIONDB_SKIP_BROWSER"

// ScreenshotsEnv names a directory where Screenshot writes PNG files; unset,
// no screenshot is written.
const ScreenshotsEnv = "SESSIONDB_SCREENSHOTS"

// BinaryEnv names a Chromium binary to use instead of the one on PATH.
const BinaryEnv = "SESSIONDB_CHROMIUM"

// axeSource is axe-core's minified build (testdata/axe-core/README.md).
//
//go:embed testdata/axe-core/axe.min.js
var axeSource string

// Binary returns the path of Chromium, or ends the test: it fails with how
// to install Chromium, or skips when SESSIONDB_SKIP_BROWSER=1.
func Binary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv(BinaryEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "Chromium is needed by the browser tests and is not installed.\n" +
		"Install it:  sudo apt-get install -y chromium   (Debian; ./scripts/test.sh does it when run as root)\n" +
		"or set " + SkipEnv + "=1 to skip the browser tests."
	if os.Getenv(SkipEnv) == "1" {
		tb.Skip(msg)
	}
	tb.Fatal(msg)
	return ""
}

// Browser is a running headless Chromium.
type Browser struct {
	ctx context.Context // the browser's first tab; parent of every tab
}

// Start runs Chromium with a fresh profile in a temporary directory and
// stops it when the test ends.
func Start(tb testing.TB) *Browser {
	tb.Helper()
	bin := Binary(tb)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("font-render-hinting", "none"),
		chromedp.WindowSize(1280, 900),
	}
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox refuses to run as root
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	// Start the browser now, so that a broken install fails here, bounded.
	// (The first action's context owns the browser: it must not be one
	// that ends sooner.)
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	var err error
	select {
	case err = <-started:
	case <-time.After(60 * time.Second):
		err = errors.New("no answer within 60s")
	}
	if err != nil {
		cancel()
		cancelAlloc()
		tb.Fatalf("browsertest: starting %s: %v", bin, err)
	}
	tb.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return &Browser{ctx: ctx}
}

// Tab is a tab of its own browser context: cookies and storage are not
// shared with other tabs, as with another browser profile.
type Tab struct {
	tb  testing.TB
	Ctx context.Context // the context to pass to chromedp; bounded by the tab's deadline
}

// NewTab opens a tab of a new browser context with a viewport of width by
// height CSS pixels. Every action in it must end within timeout; the tab is
// closed when the test ends. Console errors and exceptions of its pages
// (a script error, a Content-Security-Policy violation) fail the test.
func (b *Browser) NewTab(tb testing.TB, width, height int64, timeout time.Duration) *Tab {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	watched := make(chan struct{})
	tb.Cleanup(func() {
		cancelTimeout()
		cancel()
		<-watched
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height)); err != nil {
		close(watched)
		tb.Fatalf("browsertest: new tab: %v", err)
	}
	go func() {
		defer close(watched)
		for msg, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			// Scripts that throw and Content-Security-Policy refusals are
			// defects; failed loads (a 401 page, a stopped server) are not.
			if msg.IsException() || strings.Contains(msg.Text, "Content Security Policy") {
				tb.Errorf("browser console: %s", msg.String())
			}
		}
	}()
	return &Tab{tb: tb, Ctx: ctx}
}

// With returns the tab for a subtest: its failures are the subtest's.
func (t *Tab) With(tb testing.TB) *Tab { return &Tab{tb: tb, Ctx: t.Ctx} }

// Fatalf fails the tab's test.
func (t *Tab) Fatalf(format string, args ...any) {
	t.tb.Helper()
	t.tb.Fatalf(format, args...)
}

// Do runs chromedp actions in the tab and fails the test on an error,
// naming what was being done.
func (t *Tab) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	t.tb.Helper()
	if err := chromedp.Do(t.Ctx, steps...); err != nil {
		t.tb.Fatalf("browser: %s: %v", what, err)
	}
}

// Load runs actions that load a new page (a click on a link, a form sent)
// and waits until the new page has loaded, so that what follows reads the
// new page, not the old one.
func (t *Tab) Load(what string, steps ...chromedp.Action[chromedp.Void]) {
	t.tb.Helper()
	t.Do(what+": mark the old page", chromedp.Evaluate[chromedp.Void](`window.__browsertestOldPage = true`))
	t.Do(what, steps...)
	t.WaitFor(what+": the new page", `!window.__browsertestOldPage && document.readyState === 'complete'`)
}

// Text returns the visible text of the first element matching sel, waiting
// for it to be visible.
func (t *Tab) Text(sel string) string {
	t.tb.Helper()
	t.Do("wait for "+sel, chromedp.WaitVisible(sel))
	s, err := chromedp.Run(t.Ctx, chromedp.Text(sel))
	if err != nil {
		t.tb.Fatalf("browser: text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// Eval evaluates a JavaScript expression in the page and decodes its value
// into a T.
func Eval[T any](t *Tab, expr string) T {
	t.tb.Helper()
	v, err := chromedp.Run(t.Ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.tb.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// WaitFor evaluates a JavaScript expression every 50 ms until it is true,
// across page loads, and fails the test with what was awaited when the tab's
// deadline passes first.
func (t *Tab) WaitFor(what, expr string) {
	t.tb.Helper()
	var last error
	for {
		ok, err := chromedp.Run(t.Ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if err != nil {
			last = err
		}
		select {
		case <-t.Ctx.Done():
			t.tb.Fatalf("browser: waiting for %s (%s): %v (last error: %v)", what, expr, t.Ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Violation is one failed axe-core rule.
type Violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
		Failed string `json:"failureSummary"`
	} `json:"nodes"`
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    %v %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.Failed, "\n", "\n      "))
	}
	return b.String()
}

// CheckAccessibility runs axe-core in the current page (Violations) and
// fails the test for every violation.
func (t *Tab) CheckAccessibility(page string) {
	t.tb.Helper()
	for _, v := range t.Violations(page) {
		t.tb.Errorf("accessibility of %s: %s", page, v)
	}
}

// Violations runs axe-core in the current page, with the rules of WCAG 2.1
// levels A and AA and axe's best practices, and returns what fails. The
// checker is evaluated through the DevTools protocol, which the page's
// Content-Security-Policy does not apply to; the page itself never loads it.
func (t *Tab) Violations(page string) []Violation {
	t.tb.Helper()
	if _, err := chromedp.Run(t.Ctx, chromedp.Evaluate[chromedp.Void](axeSource)); err != nil {
		t.tb.Fatalf("browser: loading axe-core into %s: %v", page, err)
	}
	raw, err := chromedp.Run(t.Ctx, chromedp.Evaluate[[]byte](
		`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}, resultTypes: ['violations']}).then(r => r.violations)`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.tb.Fatalf("browser: running axe-core on %s: %v", page, err)
	}
	var vs []Violation
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.tb.Fatalf("browser: axe-core's answer on %s: %v", page, err)
	}
	return vs
}

// Screenshot writes a PNG of the whole page to $SESSIONDB_SCREENSHOTS/name.png
// when that variable names a directory; otherwise it does nothing.
func (t *Tab) Screenshot(name string) {
	t.tb.Helper()
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		return
	}
	png, err := chromedp.Run(t.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.tb.Fatalf("browser: screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.tb.Fatal(err)
	}
}
