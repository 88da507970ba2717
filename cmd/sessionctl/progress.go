package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress draws a progress bar on a terminal, at most ten times a second.
// A nil *progress, or one without a writer, draws nothing. It is safe for
// concurrent use.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	unit  string // "sessions" or "bytes"
	total int64  // 0: unknown
	n     int64
	start time.Time
	last  time.Time
}

// newProgress returns a progress bar on the app's stderr when it is a
// terminal and bars are not disabled; otherwise one that draws nothing.
func (a *app) newProgress(disabled bool, label, unit string, total int64) *progress {
	p := &progress{label: label, unit: unit, total: total, start: time.Now()}
	if !disabled && isTerminal(a.stderr) {
		p.w = a.stderr
	}
	return p
}

func (p *progress) add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += n
	if p.w == nil || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.drawLocked()
}

// done draws the final state and ends the line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w == nil {
		return
	}
	p.drawLocked()
	fmt.Fprint(p.w, "\n")
	p.w = nil
}

func (p *progress) drawLocked() {
	const width = 30
	count := p.amount(p.n)
	line := p.label + " "
	if p.total > 0 {
		frac := min(float64(p.n)/float64(p.total), 1)
		fill := int(frac * width)
		line += "[" + strings.Repeat("#", fill) + strings.Repeat("-", width-fill) + "] " +
			fmt.Sprintf("%3.0f%% ", 100*frac)
		if p.unit == "bytes" {
			line += count + " of " + p.amount(p.total)
		} else {
			line += fmt.Sprintf("%d/%d %s", p.n, p.total, p.unit)
		}
	} else {
		line += count
	}
	if secs := time.Since(p.start).Seconds(); secs > 0.5 && p.unit == "sessions" {
		line += fmt.Sprintf(", %.0f/s", float64(p.n)/secs)
	}
	fmt.Fprint(p.w, "\r"+line+"\x1b[K")
}

func (p *progress) amount(n int64) string {
	if p.unit == "bytes" {
		return bytesText(n)
	}
	return fmt.Sprintf("%d %s", n, p.unit)
}

// countingReader counts the bytes read through it into a progress bar, and
// stops with ctx's error once ctx is done.
type countingReader struct {
	ctx context.Context
	r   io.Reader
	p   *progress
}

func (c countingReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(b)
	c.p.add(int64(n))
	return n, err
}
