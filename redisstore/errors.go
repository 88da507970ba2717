package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
)

// wrap maps Redis and network errors onto the sessiondb sentinels.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	if rueidis.IsRedisNil(err) {
		return sessiondb.ErrNotFound
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		msg := re.Error()
		code, _, _ := strings.Cut(msg, " ")
		switch code {
		case "LIMIT":
			return sessiondb.ErrSessionLimit
		case "EXISTS":
			return sessiondb.ErrExists
		case "OOM":
			return fmt.Errorf("%w: %s", sessiondb.ErrStoreFull, msg)
		case "LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS", "MOVED", "ASK":
			return fmt.Errorf("%w: %s", sessiondb.ErrUnavailable, msg)
		case "NOAUTH", "WRONGPASS", "NOPERM":
			return fmt.Errorf("%w: %s", sessiondb.ErrStoreAuth, msg)
		}
		return fmt.Errorf("redisstore: %s", msg)
	}
	if errors.Is(err, sessiondb.ErrClosed) || errors.Is(err, rueidis.ErrClosing) {
		return sessiondb.ErrClosed
	}
	if msg, ok := refusal(err); ok {
		// A refused handshake on a reconnection.
		return fmt.Errorf("%w: %s", sessiondb.ErrStoreAuth, msg)
	}
	if errors.Is(err, sessiondb.ErrUnavailable) {
		return err // said already (replicas did not confirm)
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up: not a failure of the store. The memory store
		// answers the same (storetest's CancelledContext).
		return err
	}
	// Network errors and timeouts: the store did not answer.
	return fmt.Errorf("%w: %w", sessiondb.ErrUnavailable, err)
}

// refusal reports whether err is Redis refusing the credentials or a
// command (NOAUTH, WRONGPASS, NOPERM), as a reply or as the error of a
// connection handshake, and returns Redis's message.
func refusal(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	msg := err.Error()
	if re, ok := rueidis.IsRedisErr(err); ok {
		msg = re.Error()
	}
	// rueidis adds a line of advice about client-side caching to a refused
	// CLIENT TRACKING; Redis's own message is the first line.
	msg, _, _ = strings.Cut(msg, "\n")
	switch code, _, _ := strings.Cut(msg, " "); code {
	case "NOAUTH", "WRONGPASS", "NOPERM":
		return msg, true
	}
	return "", false
}
