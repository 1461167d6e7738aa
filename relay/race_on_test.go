//go:build race

package relay

// raceEnabled skips allocation tests: the race detector allocates.
const raceEnabled = true
