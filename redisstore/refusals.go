package redisstore

import (
	"context"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// Under the reject policy a user at the limit is refused without a write,
// but insert.lua still costs Redis a script call. When a user is refused
// again and again (a credential-stuffing burst, or a client retrying a
// login), that is more than a validate costs. So the store remembers users
// it refused lately, and their next create first reads the live part of
// their index with one plain ZRANGE: when it shows the user still at the
// limit, the create is refused on that read, which decides exactly what
// insert.lua's refusal decides (live entries ≥ the limit, the mark of
// counted expirations not later than now). Otherwise the script runs as
// always, and decides.

const (
	refusalMemory = time.Minute // how long a refused user is checked first
	refusalUsers  = 4096        // users remembered at most
)

// refusals holds, per user index key, when a create of that user was last
// refused at the limit.
type refusals struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (r *refusals) add(key string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at == nil {
		r.at = make(map[string]time.Time)
	}
	if _, ok := r.at[key]; !ok && len(r.at) >= refusalUsers {
		for k, t := range r.at {
			if now.Sub(t) >= refusalMemory {
				delete(r.at, k)
			}
		}
		for k := range r.at {
			if len(r.at) < refusalUsers {
				break
			}
			delete(r.at, k) // any one: forgetting costs a script call, no more
		}
	}
	r.at[key] = now
}

// recent reports whether the user of key was refused within refusalMemory.
func (r *refusals) recent(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.at[key]
	if ok && now.Sub(t) >= refusalMemory {
		delete(r.at, key)
		return false
	}
	return ok
}

func (r *refusals) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.at, key)
}

// atLimit reads the live entries of the user index uidx and reports whether
// they alone refuse a create under the reject policy with limit max. false
// means only that the script must decide: the user has room, or the mark is
// later than now (a clock behind the one that counted), or the read failed.
func (s *Store) atLimit(ctx context.Context, c rueidis.Client, uidx string, max int, now time.Time) bool {
	live, err := s.reads.do(ctx, c, c.B().Zrange().Key(uidx).Min("("+ms(now)).Max("+inf").Byscore().Build()).AsStrSlice()
	if err != nil {
		return false
	}
	for _, m := range live {
		if m == mark {
			return false
		}
	}
	return len(live) >= max
}
