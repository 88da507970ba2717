package sessiondb

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults, as in the original description.
const (
	DefaultTTL                = time.Hour
	DefaultMaxTTL             = 30 * 24 * time.Hour
	DefaultMaxSessionsPerUser = 5
	DefaultMaxMetadataBytes   = 4096
	DefaultCleanupInterval    = 5 * time.Minute
	DefaultTouchInterval      = time.Minute

	// MaxUserIDBytes is the longest user id accepted.
	MaxUserIDBytes = 256
)

// Options configure a Manager. The zero value is valid: every zero field means
// the documented default, and a negative value means none where a field says
// so (see "Zero values" in the package documentation).
type Options struct {
	// TTL is the lifetime of a session created without one. Default 1h.
	TTL time.Duration
	// MaxTTL caps every TTL, and the absolute lifetime of a session counted
	// from its creation: Refresh never extends a session past CreatedAt+MaxTTL.
	// Default 30 days.
	MaxTTL time.Duration
	// IdleTimeout, when positive, ends a session that has not been validated,
	// refreshed or rotated for that long. Default 0: off.
	IdleTimeout time.Duration
	// TouchInterval is how stale LastSeenAt may get before Validate writes it
	// back. Validate writes nothing in between, so the common case is one read.
	// Default: 1 minute, or IdleTimeout/10 when that is shorter.
	TouchInterval time.Duration
	// MaxSessionsPerUser is the per-user limit of live sessions. Default 5;
	// negative (NoLimit) means no limit.
	MaxSessionsPerUser int
	// LimitPolicy says what Create does at the limit. Default PolicyEvictOldest.
	LimitPolicy Policy
	// MaxMetadataBytes caps a session's metadata, serialized as JSON. Default 4096.
	MaxMetadataBytes int
	// CleanupInterval is the period of RunCleaner. Default 5 minutes.
	CleanupInterval time.Duration
	// Clock returns the current time. Default time.Now. Tests inject a fake.
	Clock func() time.Time
	// Logger receives the manager's few log lines (cleanup failures). Default: discard.
	Logger *slog.Logger
}

// withDefaults fills zero fields and checks the result.
func (o Options) withDefaults() (Options, error) {
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxTTL == 0 {
		o.MaxTTL = DefaultMaxTTL
	}
	if o.MaxSessionsPerUser == 0 {
		o.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	if o.MaxSessionsPerUser < 0 {
		o.MaxSessionsPerUser = NoLimit
	}
	if o.LimitPolicy == "" {
		o.LimitPolicy = PolicyEvictOldest
	}
	if o.MaxMetadataBytes == 0 {
		o.MaxMetadataBytes = DefaultMaxMetadataBytes
	}
	if o.CleanupInterval == 0 {
		o.CleanupInterval = DefaultCleanupInterval
	}
	if o.TouchInterval == 0 {
		o.TouchInterval = DefaultTouchInterval
		if o.IdleTimeout > 0 && o.IdleTimeout/10 < o.TouchInterval {
			o.TouchInterval = max(o.IdleTimeout/10, time.Millisecond)
		}
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.TTL < time.Second:
		return o, fmt.Errorf("sessiondb: TTL %v is below one second", o.TTL)
	case o.MaxTTL < o.TTL:
		return o, fmt.Errorf("sessiondb: MaxTTL %v is below TTL %v", o.MaxTTL, o.TTL)
	case o.IdleTimeout < 0:
		return o, fmt.Errorf("sessiondb: negative IdleTimeout %v", o.IdleTimeout)
	case o.TouchInterval < 0:
		return o, fmt.Errorf("sessiondb: negative TouchInterval %v", o.TouchInterval)
	case o.MaxMetadataBytes < 0:
		return o, fmt.Errorf("sessiondb: negative MaxMetadataBytes %d", o.MaxMetadataBytes)
	case o.CleanupInterval < 0:
		return o, fmt.Errorf("sessiondb: negative CleanupInterval %v", o.CleanupInterval)
	}
	if _, err := ParsePolicy(string(o.LimitPolicy)); err != nil {
		return o, err
	}
	return o, nil
}
