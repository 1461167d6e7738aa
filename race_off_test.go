//go:build !race

package eqgate

const raceEnabled = false
