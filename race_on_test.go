//go:build race

package eqgate

// raceEnabled skips allocation tests: the race detector allocates.
const raceEnabled = true
