// Package hardening holds the long end-to-end checks behind the hardening
// figures of docs/reliability.md, all through a real sessiond (built from
// the tree by internal/sessiondtest) on a real redis-server
// (internal/redistest):
//
//   - TestSoak: a bounded mixed load with sessiond's heap, goroutines and
//     open file descriptors sampled every second: no errors, no growth
//     trend. One minute by default; SESSIONDB_SOAK=10m for the full run.
//   - TestRevokeAllRacesLogins and TestLogoutRacesValidations: revocations
//     racing logins and validations, with and without the client-side
//     cache, through two sessiond processes on one Redis. 200 and 100
//     iterations by default; SESSIONDB_RACE_ITERATIONS=10000 for the full
//     runs.
//
// The package has no code of its own: only these tests.
package hardening
