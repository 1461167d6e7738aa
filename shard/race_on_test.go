//go:build race

package shard

// raceEnabled skips allocation tests: the race detector allocates.
const raceEnabled = true
