//go:build race

package proto

// raceEnabled skips allocation tests: the race detector allocates.
const raceEnabled = true
