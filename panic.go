package eqgate

import (
	"errors"
	"sync/atomic"

	"github.com/eqgate/eqgate/shard"
)

// PanicPolicy is what the engine does when a Handler callback panics
// (Config.HandlerPanic).
type PanicPolicy uint8

const (
	// PanicCrash, the zero value, lets the panic run its course, as in any
	// Go program: the process dies with the panic and its stack. Handler
	// state a panic has left half-updated is never used again.
	PanicCrash PanicPolicy = iota
	// PanicClose recovers the panic in the callback, counts it
	// (eqgate_handler_panics_total, ShardStats.HandlerPanics) and closes
	// the session with ClosePanic (OnClose follows, with that reason; a
	// panic in OnClose itself is only counted). The shard and its other
	// sessions carry on. A handler that keeps state shared across sessions
	// must be able to survive one callback stopping half-way.
	PanicClose
	numPanicPolicies
)

var panicNames = [numPanicPolicies]string{PanicCrash: "crash", PanicClose: "close"}

// ErrBadPanicPolicy is what UnmarshalText returns for an unknown name.
var ErrBadPanicPolicy = errors.New("eqgate: handler panic policy: want crash or close")

func (p PanicPolicy) String() string {
	if p < numPanicPolicies {
		return panicNames[p]
	}
	return "unknown"
}

// MarshalText makes a PanicPolicy a flag.TextVar under its String name.
func (p PanicPolicy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText parses "crash" or "close".
func (p *PanicPolicy) UnmarshalText(b []byte) error {
	for v := range numPanicPolicies {
		if panicNames[v] == string(b) {
			*p = v
			return nil
		}
	}
	return ErrBadPanicPolicy
}

// guard applies a PanicPolicy around Handler callbacks and counts what it
// caught, per shard (each count written only by its shard goroutine).
type guard struct {
	recover bool
	counts  []atomic.Uint64
}

func newGuard(p PanicPolicy, shards int) *guard {
	return &guard{recover: p == PanicClose, counts: make([]atomic.Uint64, shards)}
}

// caught is deferred around a callback of session id when the policy
// recovers: it stops the panic, counts it and closes the session.
func (g *guard) caught(sh *shard.Shard, id shard.ID) {
	if recover() == nil {
		return
	}
	c := &g.counts[sh.Index()]
	c.Store(c.Load() + 1) // the shard goroutine is the only writer
	// ErrNoSession when the panic was in OnClose: the session is gone.
	_ = sh.CloseSessionWith(id, ClosePanic)
}

func (g *guard) count(shard int) uint64 { return g.counts[shard].Load() }
