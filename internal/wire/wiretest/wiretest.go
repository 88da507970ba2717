// Package wiretest holds the session that testdata/session.json shows, so
// that the tests of sessiond, sessionctl, the Go client and the Python
// client check their session objects against one file.
package wiretest

import (
	_ "embed"
	"time"

	"github.com/sessiondb/sessiondb"
)

// Golden is testdata/session.json: the session object of Session, as the
// API writes it. The Python client's tests read the same file.
//
//go:embed testdata/session.json
var Golden []byte

// Session returns the session Golden shows. Its idle timeout ends it before
// its absolute expiry, so Golden's expires_at is the idle deadline; its
// times carry microseconds, which the wire form cuts to milliseconds.
func Session() *sessiondb.Session {
	created := time.Date(2026, 1, 2, 3, 4, 5, 678_901_000, time.UTC)
	return &sessiondb.Session{
		Record: sessiondb.Record{
			ID:          "2a7Xq1d9vVb2mWw7tHk",
			UserID:      "user \"1\" é",
			CreatedAt:   created,
			ExpiresAt:   created.Add(time.Hour),
			LastSeenAt:  created.Add(time.Second),
			TTL:         time.Hour,
			IdleTimeout: 10 * time.Minute,
			Metadata:    map[string]string{"ip": "192.0.2.1", "user_agent": "Mozilla/5.0 <x> & y\n"},
		},
		Token: "sdb_not_in_the_golden_file",
	}
}
