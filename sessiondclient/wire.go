package sessiondclient

import (
	"time"

	"github.com/sessiondb/sessiondb"
)

// wireSession is the session object of the API: exactly id, user_id,
// created_at, expires_at, last_seen_at and metadata, plus token in the
// answers of create and rotate.
type wireSession struct {
	ID         string            `json:"id"`
	UserID     string            `json:"user_id"`
	CreatedAt  time.Time         `json:"created_at"`
	ExpiresAt  time.Time         `json:"expires_at"`
	LastSeenAt time.Time         `json:"last_seen_at"`
	Metadata   map[string]string `json:"metadata"`
	Token      string            `json:"token"`
}

// session converts the wire shape to the library's type. ExpiresAt is the
// effective end that sessiond reports; TTL and IdleTimeout are not on the
// wire and stay zero, so that EffectiveExpiry returns ExpiresAt. Metadata is
// nil when empty, as the library keeps it.
func (w *wireSession) session() *sessiondb.Session {
	s := &sessiondb.Session{
		Record: sessiondb.Record{
			ID:         w.ID,
			UserID:     w.UserID,
			CreatedAt:  w.CreatedAt.UTC(),
			ExpiresAt:  w.ExpiresAt.UTC(),
			LastSeenAt: w.LastSeenAt.UTC(),
			Metadata:   w.Metadata,
		},
		Token: sessiondb.Token(w.Token),
	}
	if len(s.Metadata) == 0 {
		s.Metadata = nil
	}
	return s
}

// createRequest is the body of POST /v1/sessions.
type createRequest struct {
	UserID     string            `json:"user_id"`
	TTLSeconds int64             `json:"ttl_seconds,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
}

// tokenRequest is the body of validate, rotate and invalidate.
type tokenRequest struct {
	Token string `json:"token"`
}

// refreshRequest is the body of POST /v1/sessions/refresh.
type refreshRequest struct {
	Token      string `json:"token"`
	TTLSeconds int64  `json:"ttl_seconds,omitempty"`
}

// metadataRequest is the body of POST /v1/sessions/metadata: a JSON merge
// patch of the metadata, where a nil value deletes the key.
type metadataRequest struct {
	Token    string             `json:"token"`
	Metadata map[string]*string `json:"metadata"`
}

// patchRequest is the body of PATCH /v1/sessions/{id}.
type patchRequest struct {
	Metadata map[string]*string `json:"metadata"`
}

type sessionList struct {
	Sessions []*wireSession `json:"sessions"`
}

type invalidatedCount struct {
	Invalidated int `json:"invalidated"`
}

type cleanedCount struct {
	Cleaned int `json:"cleaned"`
}

type wireStats struct {
	Total       int64 `json:"total_sessions"`
	Active      int64 `json:"active_sessions"`
	Expired     int64 `json:"expired_sessions"`
	Users       int64 `json:"users"`
	Created     int64 `json:"created"`
	Invalidated int64 `json:"invalidated"`
	Evicted     int64 `json:"evicted"`
	MemoryUsed  int64 `json:"memory_used_bytes"`
	MemoryMax   int64 `json:"memory_max_bytes"`

	EventEntries    int64 `json:"event_entries"`
	EventBytes      int64 `json:"event_memory_bytes"`
	Revocations     int64 `json:"revocations"`
	RevocationBytes int64 `json:"revocation_memory_bytes"`
}
