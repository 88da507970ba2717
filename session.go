package sessiondb

import (
	"maps"
	"time"
)

// Record is a session as stores keep it: everything but the token.
type Record struct {
	ID          string            // public id, derived from the token by a one-way hash
	UserID      string            // owner
	CreatedAt   time.Time         // creation time; kept by Rotate
	ExpiresAt   time.Time         // absolute expiry; moved only by Refresh
	LastSeenAt  time.Time         // last validation, refresh or rotation (updated at most once per touch interval)
	TTL         time.Duration     // lifetime asked for at creation; the default for Refresh
	IdleTimeout time.Duration     // 0: no idle timeout
	Metadata    map[string]string // caller's data (ip, user agent, ...); nil when empty
}

// EffectiveExpiry is when the session ends: the earlier of ExpiresAt and, with
// an idle timeout, LastSeenAt + IdleTimeout.
func (r *Record) EffectiveExpiry() time.Time {
	if r.IdleTimeout > 0 {
		if idle := r.LastSeenAt.Add(r.IdleTimeout); idle.Before(r.ExpiresAt) {
			return idle
		}
	}
	return r.ExpiresAt
}

// Live reports whether the session is still valid at now.
func (r *Record) Live(now time.Time) bool { return now.Before(r.EffectiveExpiry()) }

// Clone returns a deep copy of r.
func (r *Record) Clone() *Record {
	c := *r
	c.Metadata = maps.Clone(r.Metadata)
	return &c
}

// Equal reports whether two records hold the same data.
func (r *Record) Equal(o *Record) bool {
	return r.ID == o.ID && r.UserID == o.UserID &&
		r.CreatedAt.Equal(o.CreatedAt) && r.ExpiresAt.Equal(o.ExpiresAt) &&
		r.LastSeenAt.Equal(o.LastSeenAt) && r.TTL == o.TTL && r.IdleTimeout == o.IdleTimeout &&
		maps.Equal(r.Metadata, o.Metadata)
}

// Session is a session as the Manager returns it. Token is set only in the
// results of Create and Rotate: it is shown once and never stored.
type Session struct {
	Record
	Token Token
}
