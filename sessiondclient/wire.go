package sessiondclient

// The request bodies and the small answers of the API. The session object
// itself is internal/wire's, shared with sessiond and sessionctl.

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
