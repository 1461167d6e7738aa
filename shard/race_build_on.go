//go:build race

package shard

// raceEnabled: the race detector is on. Counter writes are atomic then,
// so that it sees them as such, and allocation tests skip (it allocates).
const raceEnabled = true
