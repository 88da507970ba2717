package storetest

// A closed store answers ErrClosed.

import (
	"errors"
	"time"

	"github.com/sessiondb/sessiondb"
)

func testClosed(e *env) {
	s := e.create("closer", time.Hour, nil)
	if err := e.store.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	if _, err := e.m.Validate(e.ctx, string(s.Token)); !errors.Is(err, sessiondb.ErrClosed) {
		e.t.Fatalf("Validate after Close = %v, want ErrClosed", err)
	}
	if _, err := e.m.Create(e.ctx, "closer", time.Hour, nil); !errors.Is(err, sessiondb.ErrClosed) {
		e.t.Fatalf("Create after Close = %v, want ErrClosed", err)
	}
}
