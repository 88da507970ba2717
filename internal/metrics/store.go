package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiondb/sessiondb"
)

// The store operations, as the op label names them.
const (
	opInsert = iota
	opGet
	opReplace
	opDelete
	opListUser
	opDeleteUser
	opCleanup
	opStats
	opWalk
	opRestore
	opPing
	numOps
)

var opNames = [numOps]string{"insert", "get", "replace", "delete", "list_user", "delete_user", "cleanup", "stats", "walk", "restore", "ping"}

// Store is a sessiondb.Store that times every call of the store it wraps and
// counts its failures. It is safe for concurrent use if the wrapped store is.
type Store struct {
	next sessiondb.Store
	dur  [numOps]prometheus.Observer
	m    *Metrics
}

var _ sessiondb.Store = (*Store)(nil)

// InstrumentStore wraps st so that its calls are measured in m.
func (m *Metrics) InstrumentStore(st sessiondb.Store) *Store {
	s := &Store{next: st, m: m}
	for op, name := range opNames {
		s.dur[op] = m.storeDuration.WithLabelValues(name)
		for _, reason := range []string{"unavailable", "full", "auth"} {
			m.storeErrors.WithLabelValues(name, reason) // export zeros from the start
		}
	}
	return s
}

// Unwrap returns the wrapped store: the Manager looks through it for the
// store's event log (sessiondb.EventLog).
func (s *Store) Unwrap() sessiondb.Store { return s.next }

func (s *Store) done(op int, start time.Time, err error) {
	s.dur[op].Observe(time.Since(start).Seconds())
	if reason := errorReason(err); reason != "" {
		s.m.storeErrors.WithLabelValues(opNames[op], reason).Inc()
	}
}

// errorReason classifies a store error for the reason label; outcomes that
// are not failures (not found, limit reached, conflicts) give "".
func errorReason(err error) string {
	switch {
	case err == nil,
		errors.Is(err, sessiondb.ErrNotFound),
		errors.Is(err, sessiondb.ErrSessionLimit),
		errors.Is(err, sessiondb.ErrConflict),
		errors.Is(err, sessiondb.ErrExists),
		errors.Is(err, sessiondb.ErrInvalidArgument):
		return ""
	case errors.Is(err, sessiondb.ErrStoreFull):
		return "full"
	case errors.Is(err, sessiondb.ErrStoreAuth):
		return "auth"
	case errors.Is(err, sessiondb.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, sessiondb.ErrClosed):
		return "closed"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "other"
}

// Insert implements sessiondb.Store.
func (s *Store) Insert(ctx context.Context, rec *sessiondb.Record, lim sessiondb.Limit, now time.Time) (int, error) {
	start := time.Now()
	n, err := s.next.Insert(ctx, rec, lim, now)
	s.done(opInsert, start, err)
	return n, err
}

// Get implements sessiondb.Store.
func (s *Store) Get(ctx context.Context, id string, now time.Time) (*sessiondb.Record, error) {
	start := time.Now()
	rec, err := s.next.Get(ctx, id, now)
	s.done(opGet, start, err)
	return rec, err
}

// Replace implements sessiondb.Store.
func (s *Store) Replace(ctx context.Context, old, rec *sessiondb.Record, now time.Time) error {
	start := time.Now()
	err := s.next.Replace(ctx, old, rec, now)
	s.done(opReplace, start, err)
	return err
}

// Delete implements sessiondb.Store.
func (s *Store) Delete(ctx context.Context, id string, now time.Time) (*sessiondb.Record, error) {
	start := time.Now()
	rec, err := s.next.Delete(ctx, id, now)
	s.done(opDelete, start, err)
	return rec, err
}

// ListUser implements sessiondb.Store.
func (s *Store) ListUser(ctx context.Context, userID string, now time.Time) ([]*sessiondb.Record, error) {
	start := time.Now()
	recs, err := s.next.ListUser(ctx, userID, now)
	s.done(opListUser, start, err)
	return recs, err
}

// DeleteUser implements sessiondb.Store.
func (s *Store) DeleteUser(ctx context.Context, userID, except string, now time.Time) (int, error) {
	start := time.Now()
	n, err := s.next.DeleteUser(ctx, userID, except, now)
	s.done(opDeleteUser, start, err)
	return n, err
}

// Cleanup implements sessiondb.Store.
func (s *Store) Cleanup(ctx context.Context, now time.Time) (int, error) {
	start := time.Now()
	n, err := s.next.Cleanup(ctx, now)
	s.done(opCleanup, start, err)
	return n, err
}

// Stats implements sessiondb.Store.
func (s *Store) Stats(ctx context.Context, now time.Time) (sessiondb.StoreStats, error) {
	start := time.Now()
	st, err := s.next.Stats(ctx, now)
	s.done(opStats, start, err)
	return st, err
}

// Walk implements sessiondb.Store.
func (s *Store) Walk(ctx context.Context, now time.Time, fn func(*sessiondb.Record) error) error {
	start := time.Now()
	err := s.next.Walk(ctx, now, fn)
	s.done(opWalk, start, err)
	return err
}

// Restore implements sessiondb.Store.
func (s *Store) Restore(ctx context.Context, rec *sessiondb.Record, now time.Time) (bool, error) {
	start := time.Now()
	ok, err := s.next.Restore(ctx, rec, now)
	s.done(opRestore, start, err)
	return ok, err
}

// Ping implements sessiondb.Store.
func (s *Store) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.next.Ping(ctx)
	s.done(opPing, start, err)
	return err
}

// Close implements sessiondb.Store.
func (s *Store) Close() error { return s.next.Close() }
