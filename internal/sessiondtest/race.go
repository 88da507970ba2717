//go:build race

package sessiondtest

// raceEnabled is set when the tests run with -race; sessiond is then built
// with the race detector too, so that client tests also look for data races
// in the server.
const raceEnabled = true
