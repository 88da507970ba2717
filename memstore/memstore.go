// Package memstore is the embedded in-process session store: the default when
// no Redis is configured. It keeps everything in memory, so sessions last as
// long as the process; use package redisstore to share sessions between
// processes or keep them across restarts.
package memstore

import (
	"cmp"
	"container/heap"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/sessiondb/sessiondb"
)

// Store is an in-memory sessiondb.Store. Its zero value is not usable; call New.
// It is safe for concurrent use: one mutex guards everything, and every method
// is atomic.
type Store struct {
	mu      sync.Mutex
	closed  bool
	byID    map[string]*entry
	byUser  map[string]map[string]*entry
	byExp   expHeap             // every entry's effective expiry, with stale items
	drained map[string]struct{} // ids of expired entries counted in expired, awaiting Cleanup

	expired, created, invalidated, evicted int64
	gen                                    uint64

	ev *eventLog // nil without events (see events.go)
}

type entry struct {
	rec     *sessiondb.Record
	exp     time.Time // rec.EffectiveExpiry()
	gen     uint64    // changes whenever exp changes, to spot stale heap items
	drained bool
}

var _ sessiondb.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		byID:    make(map[string]*entry),
		byUser:  make(map[string]map[string]*entry),
		drained: make(map[string]struct{}),
	}
}

func (s *Store) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return sessiondb.ErrClosed
	}
	return nil
}

// add indexes rec; the caller holds the lock and has checked the id is free.
func (s *Store) add(rec *sessiondb.Record) {
	s.gen++
	e := &entry{rec: rec.Clone(), exp: rec.EffectiveExpiry(), gen: s.gen}
	s.byID[rec.ID] = e
	u := s.byUser[rec.UserID]
	if u == nil {
		u = make(map[string]*entry)
		s.byUser[rec.UserID] = u
	}
	u[rec.ID] = e
	heap.Push(&s.byExp, expItem{exp: e.exp, id: rec.ID, gen: e.gen})
}

// remove drops e from every index; the caller holds the lock.
func (s *Store) remove(e *entry) {
	id := e.rec.ID
	delete(s.byID, id)
	if u := s.byUser[e.rec.UserID]; u != nil {
		delete(u, id)
		if len(u) == 0 {
			delete(s.byUser, e.rec.UserID)
		}
	}
	if e.drained {
		delete(s.drained, id)
		s.expired--
	}
}

// drain counts entries that expired by now; the caller holds the lock.
func (s *Store) drain(now time.Time) {
	for len(s.byExp) > 0 && !s.byExp[0].exp.After(now) {
		it := heap.Pop(&s.byExp).(expItem)
		e := s.byID[it.id]
		if e == nil || e.gen != it.gen || e.drained {
			continue // stale item
		}
		e.drained = true
		s.drained[it.id] = struct{}{}
		s.expired++
	}
}

// Insert implements sessiondb.Store.
func (s *Store) Insert(ctx context.Context, rec *sessiondb.Record, lim sessiondb.Limit, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if _, ok := s.byID[rec.ID]; ok {
		return 0, sessiondb.ErrExists
	}
	max, limited := lim.Sessions()
	if !limited {
		// No limit to check: leave the user's expired entries to Cleanup
		// rather than visit every session of a user who may have many.
		s.add(rec)
		s.created++
		if s.ev != nil {
			s.ev.note(now, sessiondb.ChangeFrom(ctx).Actor, bucketOf(rec.ID), []sessiondb.Event{evMeta(sessiondb.EventCreated, rec)})
		}
		return 0, nil
	}
	var live []*entry
	for _, e := range s.byUser[rec.UserID] {
		if now.Before(e.exp) {
			live = append(live, e)
		}
	}
	evict := 0
	if len(live) >= max {
		if lim.Policy == sessiondb.PolicyReject {
			return 0, sessiondb.ErrSessionLimit
		}
		evict = len(live) - max + 1
	}
	// Past the checks: from here on nothing fails.
	var evs []sessiondb.Event
	if s.ev != nil {
		evs = append(evs, evMeta(sessiondb.EventCreated, rec))
	}
	var gone []*entry
	for _, e := range s.byUser[rec.UserID] {
		if !now.Before(e.exp) {
			s.remove(e) // self-healing: the user's expired entries go now
			gone = append(gone, e)
		}
	}
	slices.SortFunc(live, func(a, b *entry) int {
		return cmp.Or(a.rec.CreatedAt.Compare(b.rec.CreatedAt), cmp.Compare(a.rec.ID, b.rec.ID))
	})
	for _, e := range live[:evict] {
		s.remove(e)
		s.evicted++
		if s.ev != nil {
			evs = append(evs, ev(sessiondb.EventEvicted, e.rec))
			s.ev.ended(now, e.rec.ID, sessiondb.EndEvicted)
		}
	}
	s.add(rec)
	s.created++
	if s.ev != nil {
		for _, e := range gone {
			evs = append(evs, ev(sessiondb.EventExpired, e.rec))
			s.ev.ended(now, e.rec.ID, sessiondb.EndExpired)
		}
		s.ev.note(now, sessiondb.ChangeFrom(ctx).Actor, bucketOf(rec.ID), evs)
	}
	return evict, nil
}

// Get implements sessiondb.Store.
func (s *Store) Get(ctx context.Context, id string, now time.Time) (*sessiondb.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	e := s.byID[id]
	if e == nil || !now.Before(e.exp) {
		return nil, sessiondb.ErrNotFound
	}
	return e.rec.Clone(), nil
}

// Replace implements sessiondb.Store.
func (s *Store) Replace(ctx context.Context, old, rec *sessiondb.Record, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	e := s.byID[old.ID]
	if e == nil || !now.Before(e.exp) {
		return sessiondb.ErrNotFound
	}
	if !e.rec.Equal(old) {
		return sessiondb.ErrConflict
	}
	if rec.ID != old.ID {
		if _, taken := s.byID[rec.ID]; taken {
			return sessiondb.ErrExists
		}
	}
	s.remove(e)
	s.add(rec)
	if s.ev != nil {
		ch := sessiondb.ChangeFrom(ctx)
		var x sessiondb.Event
		switch {
		case rec.ID != old.ID:
			x = ev(sessiondb.EventRotated, old)
			x.NewSessionID = rec.ID
			s.ev.ended(now, old.ID, sessiondb.EndRotated)
		case ch.Event == sessiondb.EventRefreshed:
			x = ev(sessiondb.EventRefreshed, rec)
		case ch.Event == sessiondb.EventUpdated:
			x = evMeta(sessiondb.EventUpdated, rec)
		default:
			return nil // a touch: no event
		}
		s.ev.note(now, ch.Actor, bucketOf(rec.ID), []sessiondb.Event{x})
	}
	return nil
}

// Delete implements sessiondb.Store.
func (s *Store) Delete(ctx context.Context, id string, now time.Time) (*sessiondb.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	e := s.byID[id]
	if e == nil {
		return nil, sessiondb.ErrNotFound
	}
	s.remove(e)
	if !now.Before(e.exp) {
		if s.ev != nil {
			s.ev.note(now, sessiondb.ChangeFrom(ctx).Actor, bucketOf(id), []sessiondb.Event{ev(sessiondb.EventExpired, e.rec)})
			s.ev.ended(now, id, sessiondb.EndExpired)
		}
		return nil, sessiondb.ErrNotFound // it had expired: removing it was cleanup
	}
	s.invalidated++
	if s.ev != nil {
		ch := sessiondb.ChangeFrom(ctx)
		x := ev(sessiondb.EventInvalidated, e.rec)
		x.Cause = ch.Cause
		if x.Cause != sessiondb.CauseLogout {
			x.Cause = sessiondb.CauseAdmin
		}
		s.ev.note(now, ch.Actor, bucketOf(id), []sessiondb.Event{x})
		s.ev.ended(now, id, sessiondb.EndRevoked)
	}
	return e.rec.Clone(), nil
}

// ListUser implements sessiondb.Store.
func (s *Store) ListUser(ctx context.Context, userID string, now time.Time) ([]*sessiondb.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []*sessiondb.Record
	for _, e := range s.byUser[userID] {
		if now.Before(e.exp) {
			out = append(out, e.rec.Clone())
		}
	}
	return out, nil
}

// DeleteUser implements sessiondb.Store.
func (s *Store) DeleteUser(ctx context.Context, userID, except string, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	cause := sessiondb.CauseRevokeAll
	if except != "" {
		cause = sessiondb.CauseRevokeOthers
	}
	var evs []sessiondb.Event
	for id, e := range s.byUser[userID] {
		if id == except {
			continue
		}
		s.remove(e)
		live := now.Before(e.exp)
		if live {
			n++
		}
		if s.ev != nil {
			if live {
				x := ev(sessiondb.EventInvalidated, e.rec)
				x.Cause = cause
				evs = append(evs, x)
				s.ev.ended(now, id, sessiondb.EndRevoked)
			} else {
				evs = append(evs, ev(sessiondb.EventExpired, e.rec))
				s.ev.ended(now, id, sessiondb.EndExpired)
			}
		}
	}
	s.invalidated += int64(n)
	if len(evs) > 0 {
		s.ev.note(now, sessiondb.ChangeFrom(ctx).Actor, sessiondb.UserShard(userID).Bucket, evs)
	}
	return n, nil
}

// Cleanup implements sessiondb.Store.
func (s *Store) Cleanup(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	s.drain(now)
	n := 0
	var evs map[int][]sessiondb.Event // bucket -> events
	if s.ev != nil && len(s.drained) > 0 {
		evs = make(map[int][]sessiondb.Event)
	}
	for id := range s.drained {
		e := s.byID[id]
		s.remove(e)
		n++
		if evs != nil {
			b := bucketOf(id)
			evs[b] = append(evs[b], ev(sessiondb.EventExpired, e.rec))
			s.ev.ended(now, id, sessiondb.EndExpired)
		}
	}
	if s.ev != nil {
		actor := sessiondb.ChangeFrom(ctx).Actor
		for b := range sessiondb.Buckets {
			s.ev.note(now, actor, b, evs[b])
		}
		s.ev.expire(now)
	}
	return n, nil
}

// Stats implements sessiondb.Store.
func (s *Store) Stats(ctx context.Context, now time.Time) (sessiondb.StoreStats, error) {
	if err := ctx.Err(); err != nil {
		return sessiondb.StoreStats{}, err
	}
	if err := s.lock(); err != nil {
		return sessiondb.StoreStats{}, err
	}
	defer s.mu.Unlock()
	s.drain(now)
	st := sessiondb.StoreStats{
		Total:       int64(len(s.byID)),
		Expired:     s.expired,
		Users:       int64(len(s.byUser)),
		Created:     s.created,
		Invalidated: s.invalidated,
		Evicted:     s.evicted,
	}
	if s.ev != nil {
		st.EventEntries, st.EventBytes = s.ev.entries, s.ev.bytes
		st.Revocations, st.RevocationBytes = int64(len(s.ev.tombs)), s.ev.tombBytes
	}
	return st, nil
}

// Walk implements sessiondb.Store. It copies the live records under the lock
// and calls fn without holding it.
func (s *Store) Walk(ctx context.Context, now time.Time, fn func(*sessiondb.Record) error) error {
	if err := s.lock(); err != nil {
		return err
	}
	var recs []*sessiondb.Record
	for _, e := range s.byID {
		if now.Before(e.exp) {
			recs = append(recs, e.rec.Clone())
		}
	}
	s.mu.Unlock()
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Restore implements sessiondb.Store.
func (s *Store) Restore(ctx context.Context, rec *sessiondb.Record, now time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := s.lock(); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	if _, ok := s.byID[rec.ID]; ok || !rec.Live(now) {
		return false, nil
	}
	s.add(rec)
	if s.ev != nil {
		s.ev.note(now, sessiondb.ChangeFrom(ctx).Actor, bucketOf(rec.ID), []sessiondb.Event{evMeta(sessiondb.EventRestored, rec)})
	}
	return true, nil
}

// Ping implements sessiondb.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// Close implements sessiondb.Store. Later calls return sessiondb.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

type expItem struct {
	exp time.Time
	id  string
	gen uint64
}

type expHeap []expItem

func (h expHeap) Len() int           { return len(h) }
func (h expHeap) Less(i, j int) bool { return h[i].exp.Before(h[j].exp) }
func (h expHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expHeap) Push(x any)        { *h = append(*h, x.(expItem)) }
func (h *expHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
