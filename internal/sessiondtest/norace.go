//go:build !race

package sessiondtest

const raceEnabled = false
