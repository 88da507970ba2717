package sessiondclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// hangGuard bounds the wait for a call that must return: it fails the test
// instead of letting it hang until go test's timeout.
const hangGuard = 30 * time.Second

// callAsync runs fn in a goroutine and returns its result, or fails the test
// if it does not return within hangGuard.
func callAsync(t *testing.T, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hangGuard):
		t.Fatalf("%s did not return within %v", what, hangGuard)
		return nil
	}
}

// TestContext: against a sessiond that hangs (SIGSTOP), a call returns when
// its context is cancelled or its deadline passes, or when Options.Timeout
// does, with an error matching both the context's error and ErrUnavailable.
func TestContext(t *testing.T) {
	d := sessiondtest.Start(t, nil)
	c := mustNew(t, d.URL, sessiondclient.Options{Timeout: -1})
	ctx := context.Background()
	s, err := c.Create(ctx, "u", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Pause()

	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	err = callAsync(t, "Validate with a cancelled context", func() error {
		_, err := c.Validate(cctx, string(s.Token))
		return err
	})
	if !errors.Is(err, context.Canceled) || !errors.Is(err, sessiondb.ErrUnavailable) {
		t.Errorf("Validate cancelled = %v, want context.Canceled and ErrUnavailable", err)
	}

	dctx, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	err = callAsync(t, "Create with a deadline", func() error {
		_, err := c.Create(dctx, "u", 0, nil)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sessiondb.ErrUnavailable) {
		t.Errorf("Create past its deadline = %v, want context.DeadlineExceeded and ErrUnavailable", err)
	}

	bounded := mustNew(t, d.URL, sessiondclient.Options{Timeout: 300 * time.Millisecond})
	err = callAsync(t, "Stats with Options.Timeout", func() error {
		_, err := bounded.Stats(ctx)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sessiondb.ErrUnavailable) {
		t.Errorf("Stats past Options.Timeout = %v, want context.DeadlineExceeded and ErrUnavailable", err)
	}

	d.Resume()
	if _, err := c.Validate(ctx, string(s.Token)); err != nil {
		t.Errorf("Validate after the resume: %v", err)
	}
}
