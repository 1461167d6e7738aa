//go:build !eqgatedebug

package shard

// debugBuild turns on owner-goroutine assertions (see owner.go).
const debugBuild = false
