// Package sessiondclient is a Go client of sessiond, sessiondb's HTTP
// session service. Its [Client] has the methods of *sessiondb.Manager, with
// the same signatures, results and error values, and both satisfy
// [sessiondb.Sessions]: code written against that interface runs on the
// embedded library or on a remote sessiond, and switching is a matter of one
// constructor.
//
//	func openSessions() (sessiondb.Sessions, error) {
//		if url := os.Getenv("SESSIOND_URL"); url != "" {
//			return sessiondclient.New(url, sessiondclient.Options{APIKey: os.Getenv("SESSIOND_API_KEY")})
//		}
//		return sessiondb.New(memstore.New(), sessiondb.Options{})
//	}
//
// # Quick start
//
// Start sessiond (go run ./cmd/sessiond serves on 127.0.0.1:8080 with the
// embedded store and no API keys), then:
//
//	c, err := sessiondclient.New("http://127.0.0.1:8080", sessiondclient.Options{})
//	if err != nil {
//		return err
//	}
//	s, err := c.Create(ctx, "user123", time.Hour, map[string]string{"ip": "192.0.2.1"})
//	if err != nil {
//		return err
//	}
//	token := string(s.Token) // give it to the user's client, once
//
//	s, err = c.Validate(ctx, token) // on every request
//	if errors.Is(err, sessiondb.ErrNotFound) {
//		// not logged in: unknown, expired or revoked
//	}
//
// # Errors
//
// Errors match the library's: errors.Is(err, sessiondb.ErrNotFound) works the
// same over HTTP, as does errors.As(err, &ended) for the
// *sessiondb.EndedError that tells why a token's session ended, bad input is a *sessiondb.InvalidArgumentError naming the
// field, and an unreachable or failing sessiond (or store) matches
// sessiondb.ErrUnavailable. Two errors are the client's own: [ErrUnauthorized]
// (a missing or unknown API key) and [ErrForbidden] (an app key on an admin
// call). An error answer of sessiond, or no answer at all, is an [*Error],
// which holds the status, the API's error code and a 503's Retry-After; bad
// arguments found before any request are the library's own errors. Tokens are sent in
// request bodies only, never in URLs, and never appear in errors; printing a
// Client or its Options shows no API key.
//
// # Differences from the Manager
//
//   - Sessions read over HTTP carry what the API's session object carries:
//     id, user id, times at millisecond precision, metadata. Record.ExpiresAt
//     is the effective end sessiond reports (the earlier of the absolute
//     expiry and the idle deadline); Record.TTL and Record.IdleTimeout are not
//     on the wire and are zero, so Record.EffectiveExpiry returns ExpiresAt.
//   - TTLs travel as whole seconds; one that is not is rounded up.
//   - UpdateMetadata reads the session, calls change on a copy and sends the
//     difference as a JSON merge patch, which sessiond applies with a
//     compare-and-swap: concurrent updates of different keys all survive, and
//     for the same key the last write wins (the Manager instead calls change
//     again on the newer metadata).
//   - Ping asks sessiond's readiness probe, which checks its store but not
//     the API key.
//
// # Retries, timeouts, connections
//
// Calls that are safe to repeat (all but Create and Rotate) are retried a
// few times when sessiond answers 503 or does not answer, with backoff and
// jitter, or after the Retry-After sessiond asks for; each call is bounded by
// [Options.Timeout] and by its context. A Client keeps keep-alive connections
// to sessiond and is safe for concurrent use: make one and share it.
package sessiondclient
