package webhooks

import (
	"context"
	"slices"
	"sync"
	"time"
)

// MemState is State in the process's memory, for sessiond on the embedded
// store: its events live in the same memory and end with the process, and
// so does the delivery state. The zero value is not usable: call
// NewMemState.
type MemState struct {
	mu      sync.Mutex
	now     func() time.Time
	names   []string
	eps     map[string]*memEndpoint
	maxDead int // MaxDeadLetters; lower in tests
}

type memEndpoint struct {
	owner  string
	until  time.Time
	cursor string
	dead   []*DeadLetter // oldest first
	queued []*DeadLetter // in the order queued
	paused string
}

var _ State = (*MemState)(nil)

// NewMemState returns an empty MemState that judges leases by clock (nil:
// time.Now).
func NewMemState(clock func() time.Time) *MemState {
	if clock == nil {
		clock = time.Now
	}
	return &MemState{now: clock, eps: map[string]*memEndpoint{}, maxDead: MaxDeadLetters}
}

func (s *MemState) ep(name string) *memEndpoint {
	e := s.eps[name]
	if e == nil {
		e = &memEndpoint{}
		s.eps[name] = e
	}
	return e
}

// held reports whether owner holds e's lease; s.mu is held.
func (s *MemState) held(e *memEndpoint, owner string) bool {
	return e.owner == owner && s.now().Before(e.until)
}

func (s *MemState) Register(_ context.Context, names []string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		if !slices.Contains(s.names, n) {
			s.names = append(s.names, n)
		}
		s.ep(n)
	}
	return nil
}

func (s *MemState) Acquire(_ context.Context, ep, owner string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.ep(ep)
	if e.owner != "" && e.owner != owner && s.now().Before(e.until) {
		return false, nil
	}
	e.owner, e.until = owner, s.now().Add(ttl)
	return true, nil
}

func (s *MemState) Renew(_ context.Context, ep, owner string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.ep(ep)
	if !s.held(e, owner) {
		return false, nil
	}
	e.until = s.now().Add(ttl)
	return true, nil
}

func (s *MemState) Release(_ context.Context, ep, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.ep(ep); e.owner == owner {
		e.owner, e.until = "", time.Time{}
	}
	return nil
}

func (s *MemState) Start(_ context.Context, ep, start string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.ep(ep)
	if e.cursor == "" {
		e.cursor = start
	}
	return e.cursor, nil
}

func (s *MemState) Advance(_ context.Context, ep, owner string, ttl time.Duration, cursor string, dead *DeadLetter) (bool, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.ep(ep)
	if !s.held(e, owner) {
		return false, 0, nil
	}
	e.until = s.now().Add(ttl)
	e.cursor = cursor
	return true, e.addDead(dead, s.maxDead), nil
}

// addDead adds d (if not nil) to the dead letters, replacing one of the
// same id, and returns how many of the oldest it dropped.
func (e *memEndpoint) addDead(d *DeadLetter, maxDead int) int {
	if d == nil {
		return 0
	}
	c := *d
	e.dead = slices.DeleteFunc(e.dead, func(x *DeadLetter) bool { return x.ID == d.ID })
	e.dead = append(e.dead, &c)
	if n := len(e.dead) - maxDead; n > 0 {
		e.dead = slices.Delete(e.dead, 0, n)
		return n
	}
	return 0
}

func (s *MemState) Peek(_ context.Context, ep string) (string, *DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.ep(ep)
	if len(e.queued) == 0 {
		return e.paused, nil, nil
	}
	c := *e.queued[0]
	return e.paused, &c, nil
}

func (s *MemState) FinishRetry(_ context.Context, ep, owner string, ttl time.Duration, id string, dead *DeadLetter) (bool, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.ep(ep)
	if !s.held(e, owner) {
		return false, 0, nil
	}
	e.until = s.now().Add(ttl)
	e.queued = slices.DeleteFunc(e.queued, func(x *DeadLetter) bool { return x.ID == id })
	return true, e.addDead(dead, s.maxDead), nil
}

func (s *MemState) Pause(_ context.Context, ep, owner string, ttl time.Duration, reason string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.ep(ep)
	if !s.held(e, owner) {
		return false, nil
	}
	e.until = s.now().Add(ttl)
	e.paused = reason
	return true, nil
}

func (s *MemState) Endpoints(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(slices.Values(s.names)), nil
}

func (s *MemState) Status(_ context.Context, ep string, now time.Time) (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.eps[ep]
	if !ok {
		return Status{}, ErrUnknownEndpoint
	}
	st := Status{Endpoint: ep, Cursor: e.cursor, Dead: int64(len(e.dead)), Queued: int64(len(e.queued)), Paused: e.paused}
	if e.owner != "" && now.Before(e.until) {
		st.Holder, st.LeaseSeconds = e.owner, e.until.Sub(now).Seconds()
	}
	return st, nil
}

func (s *MemState) Dead(_ context.Context, ep string) ([]DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.eps[ep]
	if !ok {
		return nil, ErrUnknownEndpoint
	}
	out := make([]DeadLetter, len(e.dead))
	for i, d := range e.dead {
		out[i] = *d
	}
	return out, nil
}

func (s *MemState) Retry(_ context.Context, ep string, ids []string, _ time.Time) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.eps[ep]
	if !ok {
		return nil, ErrUnknownEndpoint
	}
	var moved []string
	e.dead = slices.DeleteFunc(e.dead, func(d *DeadLetter) bool {
		if ids != nil && !slices.Contains(ids, d.ID) {
			return false
		}
		e.queued = append(e.queued, d)
		moved = append(moved, d.ID)
		return true
	})
	return moved, nil
}

func (s *MemState) Resume(_ context.Context, ep string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.eps[ep]
	if !ok {
		return false, ErrUnknownEndpoint
	}
	was := e.paused != ""
	e.paused = ""
	return was, nil
}
