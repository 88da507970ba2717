package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/sessiondb/sessiondb"
)

// CheckConsistency verifies that the indexes and counters agree with the
// records. It implements storetest.Checker.
func (s *Store) CheckConsistency(ctx context.Context, now time.Time) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	n := 0
	for user, u := range s.byUser {
		if len(u) == 0 {
			return fmt.Errorf("user %q has an empty index", user)
		}
		for id, e := range u {
			if s.byID[id] != e || e.rec.UserID != user {
				return fmt.Errorf("index of user %q holds %s, which is not its record", user, id)
			}
			n++
		}
	}
	if n != len(s.byID) {
		return fmt.Errorf("%d records, %d indexed", len(s.byID), n)
	}
	drained := 0
	for id, e := range s.byID {
		if !e.exp.Equal(e.rec.EffectiveExpiry()) {
			return fmt.Errorf("record %s: stale expiry", id)
		}
		if _, ok := s.drained[id]; ok != e.drained {
			return fmt.Errorf("record %s: drained set disagrees", id)
		}
		if e.drained {
			drained++
			if e.exp.After(now) {
				return fmt.Errorf("record %s counted as expired before its expiry", id)
			}
		}
	}
	if int64(drained) != s.expired {
		return fmt.Errorf("expired counter %d, %d drained records", s.expired, drained)
	}
	return nil
}

var _ interface {
	CheckConsistency(context.Context, time.Time) error
} = (*Store)(nil)

var _ sessiondb.Store = (*Store)(nil)
