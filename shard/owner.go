package shard

import (
	"runtime"
	"strconv"
	"sync/atomic"
)

// ownerChecks turns on the owner-goroutine assertions: every owner-only
// method then panics when called off the shard goroutine. The checks parse
// runtime.Stack, so they are for tests (SetOwnerChecks) and debug builds
// (build tag eqgatedebug), never production.
var ownerChecks atomic.Bool

func init() {
	if debugBuild {
		ownerChecks.Store(true)
	}
}

// SetOwnerChecks turns the owner-goroutine assertions on or off and returns
// the previous setting. Test hook; it affects shards started afterwards.
func SetOwnerChecks(on bool) bool { return ownerChecks.Swap(on) }

// ownerCheck records the shard goroutine's id while it runs.
type ownerCheck struct {
	on bool
	id atomic.Uint64 // 0 when the shard is not running
}

func (o *ownerCheck) enter() {
	o.on = ownerChecks.Load()
	if o.on {
		o.id.Store(goid())
	}
}

func (o *ownerCheck) leave() {
	if o.on {
		o.id.Store(0)
	}
}

// check panics when called from a goroutine other than the running shard.
// Calls before the shard starts (construction, tests driving it directly)
// pass.
func (o *ownerCheck) check() {
	if !o.on {
		return
	}
	if id := o.id.Load(); id != 0 && id != goid() {
		panic("shard: owner-only method called off the shard goroutine")
	}
}

// goid parses the current goroutine's id from runtime.Stack ("goroutine N [").
func goid() uint64 {
	var b [64]byte
	n := runtime.Stack(b[:], false)
	s := b[len("goroutine "):n]
	for i, c := range s {
		if c == ' ' {
			id, _ := strconv.ParseUint(string(s[:i]), 10, 64)
			return id
		}
	}
	return 0
}
