package storetest

// Every kind of call racing on a few users.

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sessiondb/sessiondb"
)

func testMixedConcurrent(e *env) {
	// Creates, validations, refreshes, rotations and invalidations race on a
	// few users; the store must stay consistent (checked at the end) and the
	// limit must hold.
	const workers, rounds = 8, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			user := fmt.Sprintf("mix-%d", w%3)
			for i := range rounds {
				s, err := e.m.Create(e.ctx, user, time.Hour, map[string]string{"ip": "203.0.113.9"})
				if err != nil {
					e.t.Errorf("Create: %v", err)
					return
				}
				tok := s.Token
				switch i % 4 {
				case 0:
					_, err = e.m.Validate(e.ctx, string(tok))
				case 1:
					_, err = e.m.Refresh(e.ctx, string(tok), 0)
				case 2:
					var r *sessiondb.Session
					if r, err = e.m.Rotate(e.ctx, string(tok)); err == nil {
						err = e.m.Invalidate(e.ctx, string(r.Token))
					}
				case 3:
					_, err = e.m.InvalidateUser(e.ctx, user, s.ID)
				}
				if err != nil && !errors.Is(err, sessiondb.ErrNotFound) {
					e.t.Errorf("op %d: %v", i%4, err)
				}
			}
		})
	}
	wg.Wait()
	for u := range 3 {
		if ids := e.userIDs(fmt.Sprintf("mix-%d", u)); len(ids) > 3 {
			e.t.Errorf("user mix-%d has %d sessions, over the limit of 3", u, len(ids))
		}
	}
	st := e.stats()
	if st.Created != workers*rounds || st.Total != st.Active || st.Total > 9 {
		e.t.Fatalf("Stats = %+v", st)
	}
}
