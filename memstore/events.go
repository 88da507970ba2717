package memstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sessiondb/sessiondb"
)

// This file holds the embedded store's event log (sessiondb.EventLog) and
// its memory of why sessions ended. Both change under the store's lock, in
// the same step as the sessions they describe. The log keeps, like Redis,
// one list of entries per bucket of users, each bounded to
// EventOptions.PerBucket entries; entry ids come from one counter for the
// whole store (the later of the last id's millisecond and the caller's
// clock), so every event is final as soon as it is written.

// Options configure a Store made with NewWithOptions. The zero value is a
// store without events, as New makes.
type Options struct {
	// Events, when not nil, makes the store record events and remember why
	// sessions ended (sessiondb.EventLog), with these bounds.
	Events *sessiondb.EventOptions
}

// NewWithOptions returns an empty store configured by opt.
func NewWithOptions(opt Options) (*Store, error) {
	s := New()
	if opt.Events != nil {
		o, err := opt.Events.WithDefaults()
		if err != nil {
			return nil, err
		}
		s.ev = &eventLog{opt: o, perBucket: o.PerBucket(), tombs: make(map[string]tomb)}
	}
	return s, nil
}

type eventLog struct {
	opt       sessiondb.EventOptions
	perBucket int
	buckets   [sessiondb.Buckets][]memEntry
	last      sessiondb.EventCursor // the last event written
	entries   int64
	bytes     int64

	tombs     map[string]tomb // session id -> why and when it ended
	tombQ     []tombAt        // the same, in the order they were written
	tombBytes int64
}

type memEntry struct {
	at     time.Time // the change's time, by the caller's clock
	ms     int64
	seq    uint64
	events []sessiondb.Event
	bytes  int64
}

type tomb struct {
	reason sessiondb.EndReason
	at     time.Time
}

type tombAt struct {
	id string
	at time.Time
}

// tombBytes is what one remembered end costs, about: map entry, id, queue.
const tombCost = 120

// note appends the events of one change of a user in bucket b. The caller
// holds the store's lock.
func (l *eventLog) note(now time.Time, actor string, b int, evs []sessiondb.Event) {
	if l == nil || len(evs) == 0 {
		return
	}
	ms := now.UnixMilli()
	seq := uint64(0)
	if ms <= l.last.Millis {
		ms, seq = l.last.Millis, l.last.Seq+1
	}
	e := memEntry{at: now, ms: ms, seq: seq, events: evs, bytes: 64}
	t := time.UnixMilli(now.UnixMilli()).UTC()
	for i := range evs {
		c := sessiondb.EventCursor{Millis: ms, Seq: seq, Bucket: b, Index: i}
		evs[i].ID, evs[i].Time, evs[i].Actor = c.String(), t, actor
		l.last = c
		e.bytes += eventCost(&evs[i])
	}
	l.buckets[b] = append(l.buckets[b], e)
	l.entries++
	l.bytes += e.bytes
	l.trim(b, now)
}

// eventCost is what an event costs in memory, about.
func eventCost(e *sessiondb.Event) int64 {
	n := 160 + len(e.ID) + len(e.SessionID) + len(e.NewSessionID) + len(e.UserID) + len(e.Actor)
	for k, v := range e.Metadata {
		n += 48 + len(k) + len(v)
	}
	return int64(n)
}

// trim drops the oldest entries of bucket b beyond the bound of entries and
// those older than MaxAge.
func (l *eventLog) trim(b int, now time.Time) {
	list := l.buckets[b]
	cut := 0
	for cut < len(list) && (len(list)-cut > l.perBucket || now.Sub(list[cut].at) > l.opt.MaxAge) {
		l.entries--
		l.bytes -= list[cut].bytes
		cut++
	}
	if cut > 0 {
		clear(list[:cut])
		l.buckets[b] = list[cut:]
	}
}

// ended remembers why the session id ended. The caller holds the lock.
func (l *eventLog) ended(now time.Time, id string, r sessiondb.EndReason) {
	if l == nil || l.opt.RevocationMemory <= 0 {
		return
	}
	if _, ok := l.tombs[id]; !ok {
		l.tombBytes += tombCost
	}
	l.tombs[id] = tomb{reason: r, at: now}
	l.tombQ = append(l.tombQ, tombAt{id: id, at: now})
	l.forget(now)
}

// forget drops what is older than the revocation memory.
func (l *eventLog) forget(now time.Time) {
	cut := 0
	for cut < len(l.tombQ) && now.Sub(l.tombQ[cut].at) > l.opt.RevocationMemory {
		q := l.tombQ[cut]
		if t, ok := l.tombs[q.id]; ok && t.at.Equal(q.at) {
			delete(l.tombs, q.id)
			l.tombBytes -= tombCost
		}
		cut++
	}
	if cut > 0 {
		clear(l.tombQ[:cut])
		l.tombQ = l.tombQ[cut:]
	}
}

// expire ages out events and remembered ends; Cleanup calls it.
func (l *eventLog) expire(now time.Time) {
	if l == nil {
		return
	}
	for b := range l.buckets {
		l.trim(b, now)
	}
	l.forget(now)
}

// The events of changes, built by the store's methods.

func ev(t sessiondb.EventType, rec *sessiondb.Record) sessiondb.Event {
	return sessiondb.Event{Type: t, SessionID: rec.ID, UserID: rec.UserID}
}

func evMeta(t sessiondb.EventType, rec *sessiondb.Record) sessiondb.Event {
	e := ev(t, rec)
	if len(rec.Metadata) > 0 {
		e.Metadata = make(map[string]string, len(rec.Metadata))
		for k, v := range rec.Metadata {
			e.Metadata[k] = v
		}
	}
	return e
}

func bucketOf(id string) int {
	b, _ := sessiondb.ParseID(id)
	return b
}

// EventsEnabled implements sessiondb.EventLog.
func (s *Store) EventsEnabled() bool { return s.ev != nil }

// ReadEvents implements sessiondb.EventLog. Every event of the embedded
// store is final as soon as it is written.
func (s *Store) ReadEvents(ctx context.Context, after sessiondb.EventCursor, userID string, limit int, now time.Time) ([]sessiondb.Event, sessiondb.EventCursor, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, after, false, err
	}
	if err := s.lock(); err != nil {
		return nil, after, false, err
	}
	defer s.mu.Unlock()
	l := s.ev
	if l == nil {
		return nil, after, false, sessiondb.ErrEventsOff
	}
	if limit <= 0 {
		return nil, after, false, fmt.Errorf("memstore: limit %d", limit)
	}
	buckets := make([]int, 0, sessiondb.Buckets)
	if userID != "" {
		buckets = append(buckets, sessiondb.UserShard(userID).Bucket)
	} else {
		for b := range sessiondb.Buckets {
			buckets = append(buckets, b)
		}
	}
	oldest := now.Add(-l.opt.MaxAge)
	var out []sessiondb.Event
	var keys []sessiondb.EventCursor
	for _, b := range buckets {
		list := l.buckets[b]
		start, _ := slices.BinarySearchFunc(list, after, func(e memEntry, c sessiondb.EventCursor) int {
			return sessiondb.EventCursor{Millis: e.ms, Seq: e.seq, Bucket: b, Index: len(e.events) - 1}.Compare(c)
		})
		for _, e := range list[start:] {
			if e.at.Before(oldest) {
				continue
			}
			for i := range e.events {
				k := sessiondb.EventCursor{Millis: e.ms, Seq: e.seq, Bucket: b, Index: i}
				if k.Compare(after) <= 0 || (userID != "" && e.events[i].UserID != userID) {
					continue
				}
				out = append(out, cloneEvent(e.events[i]))
				keys = append(keys, k)
			}
		}
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return keys[a].Compare(keys[b]) })
	n := min(limit, len(idx))
	sorted := make([]sessiondb.Event, n)
	for i := range n {
		sorted[i] = out[idx[i]]
	}
	if len(idx) > limit {
		return sorted, keys[idx[limit-1]], true, nil
	}
	next := after
	if l.last.Compare(next) > 0 {
		next = l.last
	}
	return sorted, next, false, nil
}

func cloneEvent(e sessiondb.Event) sessiondb.Event {
	if e.Metadata != nil {
		md := make(map[string]string, len(e.Metadata))
		for k, v := range e.Metadata {
			md[k] = v
		}
		e.Metadata = md
	}
	return e
}

// EndReason implements sessiondb.EventLog.
func (s *Store) EndReason(ctx context.Context, id string, now time.Time) (sessiondb.EndReason, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := s.lock(); err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	if s.ev == nil {
		return "", nil
	}
	t, ok := s.ev.tombs[id]
	if !ok || now.Sub(t.at) > s.ev.opt.RevocationMemory {
		return "", nil
	}
	return t.reason, nil
}

var _ sessiondb.EventLog = (*Store)(nil)
