package sessionstest

import (
	"strconv"
	"time"

	"github.com/sessiondb/sessiondb"
)

// Options returns the Manager options that cfg describes.
func (cfg Config) Options() sessiondb.Options {
	return sessiondb.Options{
		MaxSessionsPerUser: cfg.MaxSessionsPerUser,
		LimitPolicy:        cfg.LimitPolicy,
		IdleTimeout:        cfg.IdleTimeout,
	}
}

// Env returns the sessiond environment that cfg describes. The background
// cleanup is pushed out of the test's way (hourly), so that the counts of
// expired sessions and of Cleanup are the test's own.
func (cfg Config) Env() map[string]string {
	env := map[string]string{"CLEANUP_INTERVAL_SECONDS": "3600"}
	switch {
	case cfg.MaxSessionsPerUser > 0:
		env["MAX_SESSIONS_PER_USER"] = strconv.Itoa(cfg.MaxSessionsPerUser)
	case cfg.MaxSessionsPerUser < 0:
		env["MAX_SESSIONS_PER_USER"] = "0" // sessiond's "no limit"
	}
	if cfg.LimitPolicy != "" {
		env["SESSION_LIMIT_POLICY"] = string(cfg.LimitPolicy)
	}
	if cfg.IdleTimeout > 0 {
		env["SESSION_IDLE_TIMEOUT_SECONDS"] = strconv.FormatInt(int64(cfg.IdleTimeout/time.Second), 10)
	}
	return env
}
